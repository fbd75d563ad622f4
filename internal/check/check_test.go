package check

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgconn"

	"github.com/pgveil/pgveil/internal/pgserver"
	"github.com/pgveil/pgveil/internal/stack"
	"github.com/pgveil/pgveil/rules"
)

// up is the shared upstream; nil when PostgreSQL is not installed.
var up *stack.Upstream

func TestMain(m *testing.M) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	u, err := stack.StartUpstream(ctx, stack.UpstreamOptions{Customers: 20, Orders: 40})
	cancel()
	switch {
	case errors.Is(err, pgserver.ErrNotInstalled):
		fmt.Fprintln(os.Stderr, "check tests: PostgreSQL not installed; skipping")
	case err != nil:
		fmt.Fprintln(os.Stderr, "check tests: start upstream:", err)
		os.Exit(1)
	default:
		up = u
		os.Setenv(stack.ReaderPasswordEnv, u.ReaderPassword)
		os.Setenv(stack.CatalogPasswordEnv, u.CatalogPassword)
	}
	code := m.Run()
	if up != nil {
		up.Stop()
	}
	os.Exit(code)
}

var listen = [2]string{"127.0.0.1:0", "127.0.0.1:0"}

// configText is the demo configuration, with users.
func configText(t *testing.T, users []stack.User) string {
	t.Helper()
	if up == nil {
		t.Skip("PostgreSQL not installed")
	}
	text, err := stack.ConfigText(up, listen, users)
	if err != nil {
		t.Fatal(err)
	}
	return text
}

// run parses text and checks it, returning the problem count and output.
func run(t *testing.T, text string) (int, string) {
	t.Helper()
	cfg, err := rules.Parse("t.toml", []byte(text))
	if err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	n, err := Run(ctx, cfg, &out)
	if err != nil {
		t.Fatalf("Run: %v\n%s", err, out.String())
	}
	if strings.Contains(out.String(), up.ReaderPassword) || strings.Contains(out.String(), up.CatalogPassword) || strings.Contains(out.String(), "SCRAM-SHA-256$") {
		t.Fatalf("output contains a secret:\n%s", out.String())
	}
	return n, out.String()
}

func wantLines(t *testing.T, out string, want ...string) {
	t.Helper()
	for _, w := range want {
		if !strings.Contains(out, w) {
			t.Errorf("output lacks %q:\n%s", w, out)
		}
	}
}

func admin(t *testing.T, sql string) {
	t.Helper()
	ctx := context.Background()
	conn, err := pgconn.Connect(ctx, up.DSN(up.SuperUser, up.SuperPassword, "crm"))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	if _, err := conn.Exec(ctx, sql).ReadAll(); err != nil {
		t.Fatalf("%s: %v", sql, err)
	}
}

// The demo CRM keeps PostgreSQL's defaults: crm_reader gets TEMP and the
// PUBLIC function grants, so the check fails with warnings about them.
func TestDemoDefaultsAreReported(t *testing.T) {
	n, out := run(t, configText(t, stack.DefaultUsers))
	t.Logf("\n%s", out)
	if n == 0 {
		t.Fatal("no problems reported for a role with default privileges")
	}
	wantLines(t, out,
		"OK      connected to ",
		"OK      crm.customers.mobile (kind \"phone\") exists",
		"OK      policy \"overseas-analysts\": row_filter on crm.customers is valid",
		"WARNING role crm_reader (upstream_user of li.na, anna.keller) has TEMP on database crm",
		"may EXECUTE lo_from_bytea(oid,bytea), lo_get(oid),",
		"query_to_xml(text,boolean,boolean,text)",
		fmt.Sprintf("\n%d problem(s) found\n", n),
	)
	// Since PostgreSQL 11 the server-side lo_import/lo_export have no
	// PUBLIC grant; everything else is PUBLIC by default.
	if strings.Contains(out, "lo_import(") || strings.Contains(out, "lo_export(") {
		t.Errorf("lo_import/lo_export reported though PUBLIC may not run them:\n%s", out)
	}
	if strings.Contains(out, "ERROR") || strings.Contains(out, "SUPERUSER") || strings.Contains(out, "pg_read_server_files") || strings.Contains(out, " owns ") {
		t.Errorf("unexpected findings:\n%s", out)
	}
}

func TestMissingColumnsAndBadFiltersAreReported(t *testing.T) {
	text := configText(t, nil)
	text = strings.Replace(text, `"crm.customers" = "consent_cross_border"`,
		`"crm.customers" = "consent_cross_border AND no_such_column"
"crm.gone" = "true"
"crm.orders" = "amount > 0; DROP TABLE crm.orders"`, 1)
	text = strings.Replace(text, "[[policy]]", `[[classify]]
columns = ["crm.customers.fax_number", "*.*.no_column_like_this"]
kind = "fax"

[[policy]]`, 1)
	n, out := run(t, text)
	t.Logf("\n%s", out)
	wantLines(t, out,
		"ERROR   crm.customers.fax_number (kind \"fax\"): no such column upstream",
		"WARNING *.*.no_column_like_this (kind \"fax\") matches no column upstream",
		"ERROR   policy \"overseas-analysts\": row_filter on crm.customers is not a valid condition on the table: column \"no_such_column\" does not exist",
		"ERROR   policy \"overseas-analysts\": row_filter table crm.gone does not exist upstream",
		"ERROR   policy \"overseas-analysts\": row_filter on crm.orders is not a valid condition",
	)
	if n != 5 {
		t.Errorf("%d problems, want 5", n)
	}
	admin(t, "SELECT 1 FROM crm.orders LIMIT 1") // the injected DROP did not run
}

// Without users, the demo configuration matches its database: no problems.
func TestMatchingConfigPasses(t *testing.T) {
	n, out := run(t, configText(t, nil))
	if n != 0 || !strings.Contains(out, "\nno problems found\n") {
		t.Fatalf("%d problems:\n%s", n, out)
	}
}

// A hardened role passes; dangerous attributes, roles and ownership are
// each reported.
func TestHardenedRolePassesAndRiskyOnesAreReported(t *testing.T) {
	text := configText(t, stack.DefaultUsers)
	revoke := `DO $$DECLARE f regprocedure; BEGIN
  FOR f IN SELECT oid::regprocedure FROM pg_proc WHERE pronamespace = 'pg_catalog'::regnamespace
    AND proname IN ('lo_import','lo_export','lo_get','lo_put','lo_from_bytea','loread','lowrite',
      'query_to_xml','query_to_xml_and_xmlschema','table_to_xml','table_to_xml_and_xmlschema','cursor_to_xml',
      'schema_to_xml','schema_to_xml_and_xmlschema','database_to_xml','database_to_xml_and_xmlschema')
  LOOP EXECUTE format('REVOKE EXECUTE ON FUNCTION %s FROM PUBLIC', f); END LOOP; END$$;
REVOKE TEMP ON DATABASE crm FROM PUBLIC`
	admin(t, revoke)
	t.Cleanup(func() {
		admin(t, `DO $$DECLARE f regprocedure; BEGIN
  FOR f IN SELECT oid::regprocedure FROM pg_proc WHERE pronamespace = 'pg_catalog'::regnamespace
    AND proname IN ('lo_get','lo_put','lo_from_bytea','loread','lowrite',
      'query_to_xml','query_to_xml_and_xmlschema','table_to_xml','table_to_xml_and_xmlschema','cursor_to_xml',
      'schema_to_xml','schema_to_xml_and_xmlschema','database_to_xml','database_to_xml_and_xmlschema')
  LOOP EXECUTE format('GRANT EXECUTE ON FUNCTION %s TO PUBLIC', f); END LOOP; END$$;
GRANT TEMP ON DATABASE crm TO PUBLIC`)
	})
	n, out := run(t, text)
	if n != 0 {
		t.Fatalf("hardened role: %d problems:\n%s", n, out)
	}
	wantLines(t, out, "OK      role crm_reader (upstream_user of li.na, anna.keller): no TEMP")

	admin(t, `ALTER ROLE crm_reader BYPASSRLS REPLICATION; GRANT pg_read_server_files, pg_execute_server_program TO crm_reader;
ALTER TABLE crm.orders OWNER TO crm_reader`)
	t.Cleanup(func() {
		admin(t, `ALTER ROLE crm_reader NOBYPASSRLS NOREPLICATION; REVOKE pg_read_server_files, pg_execute_server_program FROM crm_reader;
ALTER TABLE crm.orders OWNER TO `+up.SuperUser)
	})
	n, out = run(t, text)
	t.Logf("\n%s", out)
	wantLines(t, out,
		"has REPLICATION",
		"has BYPASSRLS",
		"is a member of pg_read_server_files",
		"is a member of pg_execute_server_program",
		"owns crm.orders (owner crm_reader), which holds classified columns",
	)
	if n != 5 {
		t.Errorf("%d problems, want 5", n)
	}
}

func TestMissingRoleIsReported(t *testing.T) {
	text := configText(t, stack.DefaultUsers[:1])
	text = strings.Replace(text, `upstream_user = "crm_reader"`, `upstream_user = "no_such_role"`, 1)
	n, out := run(t, text)
	wantLines(t, out, "ERROR   role no_such_role (upstream_user of li.na) does not exist upstream")
	if n != 1 {
		t.Errorf("%d problems, want 1:\n%s", n, out)
	}
}

// An unreachable upstream is a reported problem, not an error of Run, and
// the failed login echoes no password.
func TestWrongCatalogPasswordIsReported(t *testing.T) {
	text := configText(t, nil)
	t.Setenv(stack.CatalogPasswordEnv, "wrong-password-xyzzy")
	cfg, err := rules.Parse("t.toml", []byte(text))
	if err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	n, err := Run(context.Background(), cfg, &out)
	if err != nil || n != 1 {
		t.Fatalf("Run = %d, %v:\n%s", n, err, out.String())
	}
	wantLines(t, out.String(), "ERROR   cannot connect to ", "as catalog_user pgveil_catalog", "\n1 problem(s) found\n")
	if strings.Contains(out.String(), "xyzzy") {
		t.Fatalf("password echoed:\n%s", out.String())
	}
}
