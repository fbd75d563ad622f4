// Package stack assembles a complete pgveil deployment on one machine: a
// PostgreSQL server holding the sample CRM (a throwaway one, or an existing
// one named by PGVEIL_TEST_DSN), a configuration with a local and an
// overseas user, and the proxy in front. `pgveil demo` and the integration
// tests both stand on it.
package stack

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"

	"github.com/jackc/pgx/v5/pgconn"

	"github.com/pgveil/pgveil/auth"
	"github.com/pgveil/pgveil/internal/democrm"
	"github.com/pgveil/pgveil/internal/pgserver"
	"github.com/pgveil/pgveil/proxy"
	"github.com/pgveil/pgveil/proxy/masking"
	"github.com/pgveil/pgveil/rules"
)

// ExternalDSNEnv names an existing PostgreSQL superuser DSN to use instead
// of starting a throwaway server.
const ExternalDSNEnv = "PGVEIL_TEST_DSN"

// ReaderPasswordEnv and CatalogPasswordEnv are the environment variables
// the generated config tells pgveil to read upstream passwords from.
const (
	ReaderPasswordEnv  = "PGVEIL_DEMO_READER_PASSWORD"
	CatalogPasswordEnv = "PGVEIL_DEMO_CATALOG_PASSWORD"
)

// Upstream is a PostgreSQL server with the CRM loaded.
type Upstream struct {
	Host            string
	Port            int
	SuperUser       string
	SuperPassword   string
	Database        string // "crm"
	ReaderPassword  string // crm_reader's password
	CatalogPassword string // pgveil_catalog's password
	KeyFile         string // a token key for the generated config

	pg  *pgserver.Server // nil for an external server
	dir string           // holds KeyFile
}

// UpstreamOptions size the sample data.
type UpstreamOptions struct {
	Customers, Orders int
	Seed              int64
	Logf              func(format string, args ...any)
}

// StartUpstream starts (or, with PGVEIL_TEST_DSN, connects to) PostgreSQL,
// creates the crm database and its roles, and loads the sample CRM.
func StartUpstream(ctx context.Context, opts UpstreamOptions) (*Upstream, error) {
	if opts.Customers == 0 {
		opts.Customers, opts.Orders = 1000, 5000
	}
	u := &Upstream{Database: democrm.Database, ReaderPassword: randomHex(12), CatalogPassword: randomHex(12)}
	dir, err := os.MkdirTemp("", "pgveil-stack-")
	if err != nil {
		return nil, err
	}
	u.dir, u.KeyFile = dir, filepath.Join(dir, "token.key")
	if err := os.WriteFile(u.KeyFile, []byte(randomHex(32)+"\n"), 0o600); err != nil {
		os.RemoveAll(dir)
		return nil, err
	}
	if dsn := os.Getenv(ExternalDSNEnv); dsn != "" {
		pc, err := pgconn.ParseConfig(dsn)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", ExternalDSNEnv, err)
		}
		u.Host, u.Port, u.SuperUser, u.SuperPassword = pc.Host, int(pc.Port), pc.User, pc.Password
	} else {
		pg, err := pgserver.Start(ctx, pgserver.Options{Logf: opts.Logf})
		if err != nil {
			return nil, err
		}
		u.pg = pg
		u.Host, u.Port, u.SuperUser, u.SuperPassword = pg.Host, pg.Port, pg.SuperUser, pg.SuperPassword
	}
	if err := u.load(ctx, opts); err != nil {
		u.Stop()
		return nil, err
	}
	return u, nil
}

func (u *Upstream) load(ctx context.Context, opts UpstreamOptions) error {
	admin, err := pgconn.Connect(ctx, u.DSN(u.SuperUser, u.SuperPassword, "postgres"))
	if err != nil {
		return fmt.Errorf("connect as superuser: %w", err)
	}
	defer admin.Close(context.Background())
	if _, err := admin.Exec(ctx, "DROP DATABASE IF EXISTS "+democrm.Database+" WITH (FORCE)").ReadAll(); err != nil {
		return err
	}
	if _, err := admin.Exec(ctx, democrm.CreateDatabaseSQL).ReadAll(); err != nil {
		return err
	}
	crm, err := pgconn.Connect(ctx, u.DSN(u.SuperUser, u.SuperPassword, democrm.Database))
	if err != nil {
		return err
	}
	defer crm.Close(context.Background())
	if err := democrm.Load(ctx, crm, opts.Customers, opts.Orders, opts.Seed); err != nil {
		return err
	}
	if _, err := crm.Exec(ctx, democrm.SetupSQL(u.ReaderPassword, u.CatalogPassword)).ReadAll(); err != nil {
		return fmt.Errorf("create roles: %w", err)
	}
	return nil
}

// DSN is a libpq connection string straight to the upstream server.
func (u *Upstream) DSN(user, password, database string) string {
	return fmt.Sprintf("host=%s port=%d user=%s password=%s dbname=%s sslmode=disable", u.Host, u.Port, user, password, database)
}

// ReaderDSN connects directly as crm_reader: the baseline that pgveil's
// clear sessions must be indistinguishable from.
func (u *Upstream) ReaderDSN() string {
	return u.DSN(democrm.ReaderRole, u.ReaderPassword, u.Database)
}

// Stop stops a throwaway server (an external one is left alone) and
// removes the key file.
func (u *Upstream) Stop() error {
	if u.dir != "" {
		os.RemoveAll(u.dir)
	}
	if u.pg != nil {
		return u.pg.Stop()
	}
	return nil
}

// User is a pgveil login of the generated configuration.
type User struct {
	Name, Password string
	Roles          []string
	Listener       int // index into the config's listeners
}

// DefaultUsers are the demo's two people: a sales rep in China and an
// analyst at headquarters abroad.
var DefaultUsers = []User{
	{Name: "li.na", Password: "li.na-demo", Roles: []string{"sales"}, Listener: 0},
	{Name: "anna.keller", Password: "anna.keller-demo", Roles: []string{"analyst"}, Listener: 1},
}

// ConfigText renders a pgveil configuration for u with two listeners: the
// first in region CN (local staff), the second in EU (overseas). Addresses
// may use port 0.
func ConfigText(u *Upstream, listen [2]string, users []User) (string, error) {
	var b strings.Builder
	fmt.Fprintf(&b, `# Generated by pgveil for the sample CRM.
[server]
tls = "disabled"
max_connections = 2000

[upstream]
host = %q
port = %d
database = %q
sslmode = "disable"
catalog_user = %q
catalog_password_env = %q

[tokens]
key_file = %q

# Local staff in China connect here.
[[listen]]
address = %q
region = "CN"

# The cross-border link from headquarters arrives here.
[[listen]]
address = %q
region = "EU"

`, u.Host, u.Port, u.Database, democrm.CatalogRole, CatalogPasswordEnv, u.KeyFile, listen[0], listen[1])
	for _, usr := range users {
		v, err := auth.NewVerifier(usr.Password)
		if err != nil {
			return "", err
		}
		fmt.Fprintf(&b, "[[users]]\nname = %q\npassword = %q\nroles = [%s]\nupstream_user = %q\nupstream_password_env = %q\n\n",
			usr.Name, v.String(), quoteList(usr.Roles), democrm.ReaderRole, ReaderPasswordEnv)
	}
	b.WriteString(classifyAndPolicies)
	return b.String(), nil
}

// classifyAndPolicies declares the CRM's personal data and who sees what,
// as in the example configuration.
const classifyAndPolicies = `[[classify]]
columns = ["crm.customers.name", "crm.customers.name_pinyin"]
kind = "person_name"

[[classify]]
columns = ["crm.customers.mobile", "crm.orders.ship_phone"]
kind = "phone"

[[classify]]
columns = ["crm.customers.email"]
kind = "email"

[[classify]]
columns = ["crm.customers.id_number"]
kind = "national_id"

[[classify]]
columns = ["crm.customers.birthday"]
kind = "birth_date"

[[classify]]
columns = ["crm.customers.address", "crm.orders.ship_address"]
kind = "address"

[[classify]]
columns = ["crm.customers.wechat_openid", "crm.customers.qq_number"]
kind = "account_id"

[[policy]]
name = "china-staff"
when = { region = ["CN"] }
default = "clear"

[[policy]]
name = "overseas-analysts"
when = { region = ["EU", "US"], roles = ["analyst"] }
default = "redact"
read_only = true
deny_tables = ["crm.staff_notes"]
predicates = "deny"
[policy.mask]
person_name = "pseudonym"
phone = "partial(3,4)"
email = "email"
national_id = "token"
birth_date = "year"
address = "redact"
account_id = "hash"
[policy.row_filter]
"crm.customers" = "consent_cross_border"
`

func quoteList(xs []string) string {
	q := make([]string, len(xs))
	for i, x := range xs {
		q[i] = fmt.Sprintf("%q", x)
	}
	return strings.Join(q, ", ")
}

// StartProxy parses text, lets mutate adjust the config, and opens a proxy's
// listeners in this process; the caller runs its Serve. The upstream password is put in the
// environment variable the config names.
func StartProxy(u *Upstream, text string, mutate func(*rules.Config), opts proxy.Options) (*proxy.Server, *rules.Config, error) {
	os.Setenv(ReaderPasswordEnv, u.ReaderPassword)
	os.Setenv(CatalogPasswordEnv, u.CatalogPassword)
	cfg, err := rules.Parse("pgveil.toml", []byte(text))
	if err != nil {
		return nil, nil, err
	}
	if mutate != nil {
		mutate(cfg)
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	if opts.Filter == nil {
		// The catalog connections live as long as the process; stacks
		// are for the demo and tests.
		engine, _, err := masking.Setup(cfg, opts.Logger)
		if err != nil {
			return nil, nil, err
		}
		opts.Filter = masking.FilterFunc(engine)
		opts.OnDDL = masking.OnDDL(engine)
	}
	srv, err := proxy.NewServer(cfg, opts)
	if err != nil {
		return nil, nil, err
	}
	if err := srv.Listen(context.Background()); err != nil {
		return nil, nil, err
	}
	return srv, cfg, nil
}

func randomHex(n int) string {
	b := make([]byte, n)
	rand.Read(b)
	return hex.EncodeToString(b)
}
