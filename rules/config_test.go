package rules

import (
	"errors"
	"flag"
	"fmt"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"
)

var update = flag.Bool("update", false, "rewrite golden files in testdata")

// base is appended to the snippets of TestParseErrors, after them, so that
// the snippets' line numbers are their own and only their problems show.
const base = `
[upstream]
host = "db.internal"

[[listen]]
address = ":6432"
`

func TestLoadExample(t *testing.T) {
	cfg, err := Load("testdata/example.toml", SkipKeyFile)
	if err != nil {
		t.Fatalf("the example configuration must load as it stands:\n%v", err)
	}
	check := func(what string, got, want any) {
		t.Helper()
		if !reflect.DeepEqual(got, want) {
			t.Errorf("%s = %#v, want %#v", what, got, want)
		}
	}
	check("Path", cfg.Path, "testdata/example.toml")
	check("Server.TLS", cfg.Server.TLS, "required")
	check("Server.ClientCA", cfg.Server.ClientCA, "/etc/pgveil/clients-ca.crt")
	check("Server.AdminListen", cfg.Server.AdminListen, "127.0.0.1:9187")
	check("Server.MaxConnections", cfg.Server.MaxConnections, 2000)
	check("Server.AuditLog", cfg.Server.AuditLog, "/var/log/pgveil/audit.jsonl")
	check("Server.MaxMessageSize", cfg.Server.MaxMessageSize, 64*MiB)
	check("Server.AuthTimeout", cfg.Server.AuthTimeout.Duration, 60*time.Second)
	check("Upstream.Host", cfg.Upstream.Host, "crm-db.sh.internal")
	check("Upstream.Port", cfg.Upstream.Port, 5432)
	check("Upstream.SSLMode", cfg.Upstream.SSLMode, "verify-full")
	check("Upstream.CatalogPasswordEnv", cfg.Upstream.CatalogPasswordEnv, "PGVEIL_CATALOG_PASSWORD")
	check("Tokens.KeyFile", cfg.Tokens.KeyFile, "/etc/pgveil/token.key")
	check("Listen", cfg.Listen, []Listener{{Address: "0.0.0.0:6432"}, {Address: "0.0.0.0:6433", Region: "EU"}})
	check("Networks", cfg.Networks, map[string][]string{
		"CN": {"10.10.0.0/16", "10.11.0.0/16"},
		"EU": {"10.20.0.0/16"},
		"US": {"10.30.0.0/16"},
	})
	check("len(Users)", len(cfg.Users), 3)
	check("metabase-hq", *cfg.User("metabase-hq"), User{
		Name: "metabase-hq", Cert: true, Roles: []string{"analyst", "bi"},
		UpstreamUser: "crm_reader", UpstreamPasswordEnv: "CRM_READER_PASSWORD",
	})
	check("len(Classify)", len(cfg.Classify), 7)
	check("Classify[1]", cfg.Classify[1], Classification{
		Columns: []string{"crm.customers.mobile", "crm.orders.ship_phone", "*.*.phone"}, Kind: "phone",
	})
	check("Policy[0]", cfg.Policy[0], Policy{Name: "china-staff", When: When{Region: []string{"CN"}}, Default: "clear"})
	check("Policy[1]", cfg.Policy[1], Policy{
		Name:       "overseas-analysts",
		When:       When{Region: []string{"EU", "US"}, Roles: []string{"analyst"}},
		Default:    "redact",
		ReadOnly:   true,
		DenyTables: []string{"crm.staff_notes"},
		Predicates: "deny",
		Mask: map[string]string{
			"person_name": "pseudonym", "phone": "partial(3,4)", "email": "email",
			"national_id": "token", "birth_date": "year", "address": "redact", "account_id": "hash",
		},
		RowFilter: map[string]string{"crm.customers": "consent_cross_border"},
	})
}

func TestDefaults(t *testing.T) {
	cfg, err := Load("testdata/minimal.toml")
	if err != nil {
		t.Fatal(err)
	}
	want := Config{
		Path: "testdata/minimal.toml",
		Server: Server{
			TLS:             "disabled",
			MaxConnections:  1000,
			MaxMessageSize:  64 * MiB,
			AuthTimeout:     Duration{60 * time.Second},
			ShutdownTimeout: Duration{30 * time.Second},
			TCPKeepalive:    Duration{60 * time.Second},
			LogLevel:        "info",
			LogFormat:       "text",
		},
		Upstream: Upstream{
			Host:           "db.internal",
			Port:           5432,
			SSLMode:        "require",
			ConnectTimeout: Duration{10 * time.Second},
		},
		Listen: []Listener{{Address: ":6432"}},
	}
	if !reflect.DeepEqual(*cfg, want) {
		t.Errorf("defaults:\n got %#v\nwant %#v", *cfg, want)
	}

	// A certificate alone makes TLS optional; explicit zeros stay zero.
	cfg, err = Parse("tls.toml", []byte(`[server]
tls_cert = "/c"
tls_key = "/k"
idle_timeout = 0
tcp_keepalive = 0
shutdown_timeout = "0s"
`+base))
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Server.TLS != "optional" || cfg.Server.TCPKeepalive.Duration != 0 || cfg.Server.ShutdownTimeout.Duration != 0 {
		t.Errorf("got TLS %q, keepalive %v, shutdown %v; want optional, 0s, 0s",
			cfg.Server.TLS, cfg.Server.TCPKeepalive, cfg.Server.ShutdownTimeout)
	}
}

// TestParseErrors pins the text of each class of error: the file name, the
// line, and a message a DBA can act on.
func TestParseErrors(t *testing.T) {
	tests := []struct {
		desc   string
		src    string
		noBase bool // src is the whole file
		want   string
	}{{
		desc: "unknown top-level table, with suggestion",
		src:  "[serverr]\nmax_connections = 5\n",
		want: `t.toml:1: unknown table [serverr] (did you mean [server]?)`,
	}, {
		desc: "unknown array of tables, with suggestion",
		src:  "[[user]]\nname = \"x\"\n",
		want: `t.toml:1: unknown table [[user]] (did you mean [[users]]?)`,
	}, {
		desc: "unknown top-level table, nothing close",
		src:  "[logging]\nlevel = \"debug\"\n",
		want: `t.toml:1: unknown table [logging]`,
	}, {
		desc: "key at the top level that belongs in a table",
		src:  "port = 5433\n",
		want: `t.toml:1: unknown key "port" (it belongs in [upstream])`,
	}, {
		desc: "unknown key in [server], with line and suggestion",
		src:  "[server]\nmax_connections = 5\n\ntls_crt = \"/etc/pgveil/server.crt\"\n",
		want: `t.toml:4: unknown key "tls_crt" in [server] (did you mean "tls_cert"?)`,
	}, {
		desc: "keys are case-sensitive",
		src:  "[server]\nMax_Connections = 5\n",
		want: `t.toml:2: unknown key "Max_Connections" in [server] (did you mean "max_connections"?)`,
	}, {
		desc: "unknown key in [[users]] #2",
		src: `[[users]]
name = "a"
cert = true
upstream_user = "u"

[[users]]
nmae = "b"
cert = true
upstream_user = "u"
[server]
client_ca = "/ca"
tls_cert = "/c"
tls_key = "/k"
`,
		want: `t.toml:6: [[users]] #2: name is required: the user name clients log in with
t.toml:7: unknown key "nmae" in [[users]] #2 (did you mean "name"?)`,
	}, {
		desc: "unknown key in an inline table",
		src:  "[[policy]]\nname = \"p\"\ndefault = \"redact\"\nwhen = { region = [\"EU\"], role = [\"analyst\"] }\n",
		want: `t.toml:4: unknown key "when.role" in [[policy]] #1 "p" (did you mean "when.roles"?)`,
	}, {
		desc: "mask and row_filter take any key",
		src: `[[classify]]
columns = ["a.b.c"]
kind = "anything_at_all"
[[classify]]
columns = ["a.b.d"]
kind = "with.dots"
[[policy]]
name = "p"
default = "redact"
[policy.mask]
anything_at_all = "email"
"with.dots" = "partial(1,1)"
[policy.row_filter]
"crm.customers" = "consent"
`,
		want: ``,
	}, {
		desc: "CRLF line ends and a byte order mark",
		src:  "\ufeff[server]\r\nlog_level = \"info\"\r\n\r\ntls_crt = \"/c\"\r\n",
		want: `t.toml:4: unknown key "tls_crt" in [server] (did you mean "tls_cert"?)`,
	}, {
		desc: "TOML syntax error",
		src:  "[server]\nmax_connections = = 5\n",
		want: `t.toml:2: TOML syntax: expected value but found '=' instead`,
	}, {
		desc: "type error: string where an integer belongs",
		src:  "[server]\nmax_connections = \"many\"\n",
		want: `t.toml:2: [server] max_connections: must be an integer, not a string`,
	}, {
		desc: "type errors are all reported, at the right element",
		src: `[[users]]
name = "a"
cert = "yes"

[[users]]
name = "b"
cert = "no"
roles = "analyst"
`,
		want: `t.toml:3: [[users]] #1 "a" cert: must be true or false, not a string
t.toml:7: [[users]] #2 "b" cert: must be true or false, not a string
t.toml:8: [[users]] #2 "b" roles: must be an array, not a string`,
	}, {
		desc: "bad duration",
		src:  "[server]\nauth_timeout = \"5 minutes\"\n",
		want: `t.toml:2: [server] auth_timeout: invalid duration "5 minutes": use e.g. "30s", "5m", "1h30m" or a number of seconds`,
	}, {
		desc: "integer seconds and durations",
		src:  "[server]\nauth_timeout = 5\nidle_timeout = \"1h30m\"\n",
		want: ``,
	}, {
		desc:   "negative duration",
		src:    "[upstream]\nhost = \"db\"\nconnect_timeout = -1\n[[listen]]\naddress = \":6432\"\n",
		noBase: true,
		want:   `t.toml:3: [upstream] connect_timeout: duration -1 is negative`,
	}, {
		desc: "bad size",
		src:  "[server]\nmax_message_size = \"64MB\"\n",
		want: `t.toml:2: [server] max_message_size: invalid size "64MB": write units as KiB, MiB or GiB (powers of 1024)`,
	}, {
		desc: "size out of range",
		src:  "[server]\nmax_message_size = 1024\n",
		want: `t.toml:2: [server] max_message_size: 1KiB is outside the allowed range 1MiB to 1GiB`,
	}, {
		desc: "bad CIDR",
		src:  "[networks]\nCN = [\"10.10.0.0/16\",\n  \"10.11.0.0/33\"]\n",
		want: `t.toml:3: [networks] CN: "10.11.0.0/33" is not a CIDR such as "10.20.0.0/16" or "fd00:20::/48"`,
	}, {
		desc: "CIDR with host bits",
		src:  "[networks]\nCN = [\"10.10.0.1/16\"]\n",
		want: `t.toml:2: [networks] CN: "10.10.0.1/16" has bits set after the prefix length: did you mean "10.10.0.0/16"?`,
	}, {
		desc: "proxy_protocol_from: bad CIDR, host bits, duplicate",
		src:  "[server]\nproxy_protocol_from = [\"10.0.0.5/32\",\n  \"10.0.0.5\",\n  \"fd00::1/64\",\n  \"10.0.0.5/32\"]\n",
		want: `t.toml:3: [server] proxy_protocol_from: "10.0.0.5" is not a CIDR such as "10.0.0.5/32" or "fd00::/64"
t.toml:4: [server] proxy_protocol_from: "fd00::1/64" has bits set after the prefix length: did you mean "fd00::/64"?
t.toml:5: [server] proxy_protocol_from: "10.0.0.5/32" is listed twice`,
	}, {
		desc: "one network in two regions",
		src:  "[networks]\nCN = [\"fd00:20::/48\"]\nEU = [\"10.20.0.0/16\", \"fd00:20::/48\"]\n",
		want: `t.toml:3: [networks] EU: "fd00:20::/48" is also in region "CN": an address can have only one region`,
	}, {
		desc: "duplicate user",
		src: `[[users]]
name = "li.na"
password = "SCRAM-SHA-256$4096:..."
upstream_user = "crm_reader"

[[users]]
name = "li.na"
password = "SCRAM-SHA-256$4096:..."
upstream_user = "crm_reader"
`,
		want: `t.toml:7: [[users]] #2 "li.na" name: user "li.na" is already defined on line 2`,
	}, {
		desc: "cleartext password",
		src:  "[[users]]\nname = \"a\"\npassword = \"hunter2\"\nupstream_user = \"u\"\n",
		want: "t.toml:3: [[users]] #1 \"a\" password: looks like a cleartext password: use `pgveil passwd` to make a SCRAM-SHA-256 verifier",
	}, {
		desc: "user with neither password nor certificate",
		src:  "[[users]]\nname = \"a\"\nupstream_user = \"u\"\nupstream_password_env = \"A\"\nupstream_password_file = \"/b\"\n",
		want: "t.toml:1: [[users]] #1 \"a\": needs a password (a SCRAM-SHA-256 verifier from `pgveil passwd`) or cert = true\n" +
			`t.toml:5: [[users]] #1 "a" upstream_password_file: set upstream_password_env or upstream_password_file, not both`,
	}, {
		desc: "certificate user without a client CA",
		src:  "[[users]]\nname = \"bi\"\ncert = true\nupstream_user = \"u\"\n",
		want: `t.toml:3: [[users]] #1 "bi" cert: needs [server] client_ca to verify client certificates`,
	}, {
		desc:   "sslmode prefer",
		src:    "[upstream]\nhost = \"db\"\nsslmode = \"prefer\"\n[[listen]]\naddress = \":6432\"\n",
		noBase: true,
		want:   `t.toml:3: [upstream] sslmode: "prefer" is not accepted: it falls back to cleartext without telling anyone; use "require", "verify-ca" or "verify-full" (or "disable" to say so)`,
	}, {
		desc:   "sslmode misspelt",
		src:    "[upstream]\nhost = \"db\"\nsslmode = \"verify_full\"\n[[listen]]\naddress = \":6432\"\n",
		noBase: true,
		want:   `t.toml:3: [upstream] sslmode: "verify_full" is not one of "disable", "require", "verify-ca", "verify-full"`,
	}, {
		desc:   "missing listen and upstream",
		src:    "[server]\nlog_level = \"debug\"\n",
		noBase: true,
		want: `t.toml: [upstream]: host is required: the PostgreSQL server to forward to
t.toml: no [[listen]]: pgveil needs at least one address to accept connections on, e.g. [[listen]] address = "0.0.0.0:6432"`,
	}, {
		desc:   "empty file",
		src:    "",
		noBase: true,
		want: `t.toml: [upstream]: host is required: the PostgreSQL server to forward to
t.toml: no [[listen]]: pgveil needs at least one address to accept connections on, e.g. [[listen]] address = "0.0.0.0:6432"`,
	}, {
		desc: "listen addresses",
		src: `[[listen]]
address = "[::1]:6432"
[[listen]]
address = "[::1]:6432"
[[listen]]
address = "::1:6433"
[[listen]]
address = "localhost"
[[listen]]
address = "db:postgres"
[[listen]]
region = "EU"
`,
		want: `t.toml:4: [[listen]] #2 address: "[::1]:6432" is already a listener on line 2
t.toml:6: [[listen]] #3 address: "::1:6433": an IPv6 address needs brackets, e.g. "[::]:6432"
t.toml:8: [[listen]] #4 address: "localhost": missing port: write host:port, e.g. "0.0.0.0:6432"
t.toml:10: [[listen]] #5 address: "db:postgres": port "postgres" is not a number from 0 to 65535
t.toml:11: [[listen]] #6: address is required: where clients connect, e.g. "0.0.0.0:6432"`,
	}, {
		desc: "TLS required without a certificate",
		src:  "[server]\ntls = \"required\"\n",
		want: `t.toml:2: [server] tls: "required" needs tls_cert and tls_key`,
	}, {
		desc: "policies",
		src: `[[policy]]
name = "p"
predicates = "allow"

[[policy]]
name = "p"
default = "clear"
`,
		want: `t.toml:1: [[policy]] #1 "p": default is required: the transform for classified columns that mask does not name, e.g. "redact"
t.toml:3: [[policy]] #1 "p" predicates: "allow" is not one of "deny", "allow_tokens"
t.toml:6: [[policy]] #2 "p" name: policy "p" is already defined on line 2`,
	}, {
		desc: "classifications",
		src: `[[classify]]
columns = ["crm.customers.email"]

[[classify]]
columns = []
kind = "email"
`,
		want: `t.toml:1: [[classify]] #1: kind is required: the kind of personal data these columns hold, e.g. "email"
t.toml:5: [[classify]] #2 columns: must not be empty: the columns of this kind, e.g. ["crm.customers.email"]`,
	}, {
		desc: "users as an inline array",
		src:  "users = [\n  { name = \"a\", cert = true, upstream_user = \"u\" },\n  { name = \"b\", crt = true, upstream_user = \"u\" },\n]\n[server]\nclient_ca = \"/ca\"\ntls_cert = \"/c\"\ntls_key = \"/k\"\n",
		want: `t.toml:3: unknown key "crt" in [[users]] #2 "b" (did you mean "cert"?)
t.toml:3: [[users]] #2 "b": needs a password (a SCRAM-SHA-256 verifier from ` + "`pgveil passwd`" + `) or cert = true`,
	}}
	for _, tt := range tests {
		t.Run(tt.desc, func(t *testing.T) {
			src := tt.src
			if !tt.noBase {
				src += base
			}
			_, err := Parse("t.toml", []byte(src))
			got := ""
			if err != nil {
				got = err.Error()
			}
			if got != tt.want {
				t.Errorf("Parse:\n%s\n got error:\n%s\nwant:\n%s", src, got, tt.want)
			}
		})
	}
}

// TestGolden checks everything Parse reports for a file full of mistakes.
func TestGolden(t *testing.T) {
	_, err := Load("testdata/bad.toml")
	if err == nil {
		t.Fatal("testdata/bad.toml loaded without error")
	}
	got := err.Error() + "\n"
	if *update {
		if err := os.WriteFile("testdata/bad.golden", []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile("testdata/bad.golden")
	if err != nil {
		t.Fatal(err)
	}
	if got != string(want) {
		t.Errorf("errors for testdata/bad.toml differ from testdata/bad.golden (go test -run Golden -update):\n got:\n%s\nwant:\n%s", got, want)
	}
}

func TestProblems(t *testing.T) {
	_, err := Parse("t.toml", []byte("[server]\ntls_crt = 1\nmax_connections = 0\n"+base))
	var p *Problem
	if !errors.As(err, &p) {
		t.Fatalf("error %v does not contain a *Problem", err)
	}
	if p.File != "t.toml" || p.Line != 2 {
		t.Errorf("first problem at %s:%d, want t.toml:2", p.File, p.Line)
	}
	if n := len(err.(interface{ Unwrap() []error }).Unwrap()); n != 2 {
		t.Errorf("got %d problems, want 2", n)
	}
}

// TestNoSecrets: neither errors nor printed configurations show password
// verifiers, cleartext passwords or what the environment holds.
func TestNoSecrets(t *testing.T) {
	const secret = "Tr0ub4dor"
	for _, src := range []string{
		"[[users]]\nname = \"a\"\npassword = \"" + secret + "\"\nupstream_user = \"u\"\n",
		"[[users]]\nname = \"a\"\npassword = " + secret + "\n",
		"[[users]]\nname = \"a\"\npassword = \"" + secret + "\n",
		"[[users]]\nname = \"a\"\npassword = '" + secret + "' x\n",
		"users = [{ name = \"a\", password = " + secret + " }]\n",
		"[[users]]\nname = \"a\"\npassword = 5\npasword = \"" + secret + "\"\n",
		"[[users]]\nname = \"a\"\npassword = [\"" + secret + "\"]\n",
	} {
		_, err := Parse("t.toml", []byte(src+base))
		if err == nil {
			t.Errorf("Parse(%q) succeeded", src)
		} else if strings.Contains(err.Error(), secret[:4]) {
			t.Errorf("Parse(%q) error shows the secret: %v", src, err)
		}
	}

	const verifier = "SCRAM-SHA-256$4096:c2FsdHNhbHRzYWx0$e5cZ" + secret + "=:kd0Z=="
	cfg, err := Parse("t.toml", []byte(`[[users]]
name = "a"
password = "`+verifier+`"
upstream_user = "u"
upstream_password_env = "PGVEIL_TEST_SECRET"
`+base))
	if err != nil {
		t.Fatal(err)
	}
	t.Setenv("PGVEIL_TEST_SECRET", secret)
	for _, s := range []string{
		cfg.Redacted(), cfg.String(),
		fmt.Sprint(cfg), fmt.Sprintf("%+v", cfg), fmt.Sprintf("%#v", cfg),
		fmt.Sprint(*cfg), fmt.Sprintf("%+v", *cfg), fmt.Sprintf("%#v", *cfg),
		fmt.Sprint(cfg.Users), fmt.Sprintf("%+v", cfg.Users), fmt.Sprintf("%#v", cfg.Users),
		fmt.Sprint(cfg.User("a")), fmt.Sprintf("%#v", *cfg.User("a")),
	} {
		if strings.Contains(s, secret) || strings.Contains(s, "SCRAM") {
			t.Errorf("printed configuration shows a secret:\n%s", s)
		}
	}
	if cfg.Users[0].Password != verifier {
		t.Error("Redacted changed the configuration")
	}
	if !strings.Contains(cfg.Redacted(), `password = "<redacted>"`) {
		t.Errorf("Redacted does not say a password is set:\n%s", cfg.Redacted())
	}
}

func TestRedactedParses(t *testing.T) {
	cfg, err := Load("testdata/example.toml", SkipKeyFile)
	if err != nil {
		t.Fatal(err)
	}
	// The printed form is TOML for the same configuration, passwords aside.
	printed := strings.ReplaceAll(cfg.Redacted(), "<redacted>", "SCRAM-SHA-256$...")
	again, err := Parse("printed.toml", []byte(printed), SkipKeyFile)
	if err != nil {
		t.Fatalf("printed configuration does not load:\n%v\n%s", err, printed)
	}
	again.Path, again.networks = cfg.Path, cfg.networks
	for i := range again.Users {
		again.Users[i].Password = cfg.Users[i].Password
	}
	if !reflect.DeepEqual(again, cfg) {
		t.Errorf("printed configuration loads differently:\n%s", printed)
	}
}

func TestRegion(t *testing.T) {
	cfg, err := Parse("t.toml", []byte(`
[upstream]
host = "db"

[[listen]]
address = ":6432"

[[listen]]
address = ":6433"
region = "EU"

[networks]
CN = ["10.0.0.0/8", "fd00:10::/32"]
HK = ["10.1.0.0/16"]
HK-office = ["10.1.2.0/24"]
EU = ["fd00:20::/48", "192.0.2.7/32"]
`))
	if err != nil {
		t.Fatal(err)
	}
	plain, eu := &cfg.Listen[0], &cfg.Listen[1]
	tests := []struct {
		desc     string
		listener *Listener
		addr     string
		want     string
	}{
		{"listener region wins over networks", eu, "10.1.2.3", "EU"},
		{"listener region wins over unknown", eu, "203.0.113.9", "EU"},
		{"no listener", nil, "10.9.9.9", "CN"},
		{"broad network", plain, "10.9.9.9", "CN"},
		{"longer prefix wins", plain, "10.1.9.9", "HK"},
		{"longest prefix wins", plain, "10.1.2.3", "HK-office"},
		{"host route", plain, "192.0.2.7", "EU"},
		{"IPv6", plain, "fd00:20::1", "EU"},
		{"IPv6 other network", plain, "fd00:10:1::1", "CN"},
		{"IPv6 with zone", plain, "fd00:20::1%eth0", "EU"},
		{"IPv4-mapped IPv6", plain, "::ffff:10.1.2.3", "HK-office"},
		{"unknown IPv4", plain, "192.0.2.8", "unknown"},
		{"unknown IPv6", plain, "2001:db8::1", "unknown"},
		{"invalid address", plain, "", "unknown"},
	}
	for _, tt := range tests {
		t.Run(tt.desc, func(t *testing.T) {
			var addr netip.Addr
			if tt.addr != "" {
				addr = netip.MustParseAddr(tt.addr)
			}
			if got := cfg.Region(tt.listener, addr); got != tt.want {
				t.Errorf("Region(%v, %s) = %q, want %q", tt.listener, tt.addr, got, tt.want)
			}
		})
	}

	// A Config built by hand (tests elsewhere do) works the same; equal
	// prefixes, which Parse refuses, go by region name.
	hand := &Config{Networks: map[string][]string{"B": {"10.0.0.0/8"}, "A": {"10.0.0.0/8"}, "C": {"10.1.0.0/16", "bad"}}}
	for addr, want := range map[string]string{"10.2.0.1": "A", "10.1.0.1": "C", "11.0.0.1": "unknown"} {
		if got := hand.Region(nil, netip.MustParseAddr(addr)); got != want {
			t.Errorf("hand-built Region(%s) = %q, want %q", addr, got, want)
		}
	}
	if got := (&Config{}).Region(nil, netip.MustParseAddr("10.0.0.1")); got != RegionUnknown {
		t.Errorf("Region with no networks = %q, want %q", got, RegionUnknown)
	}
}

func TestUser(t *testing.T) {
	cfg, err := Load("testdata/example.toml", SkipKeyFile)
	if err != nil {
		t.Fatal(err)
	}
	if u := cfg.User("anna.keller"); u == nil || u.Roles[0] != "analyst" {
		t.Errorf("User(anna.keller) = %v", u)
	}
	if u := cfg.User("Anna.Keller"); u != nil {
		t.Errorf("User(Anna.Keller) = %v, want nil: names are case-sensitive", u)
	}
	if u := cfg.User(""); u != nil {
		t.Errorf("User(\"\") = %v, want nil", u)
	}
}

func TestSecrets(t *testing.T) {
	const secret = "s3cret pass"
	dir := t.TempDir()
	file := filepath.Join(dir, "pass")
	if err := os.WriteFile(file, []byte(secret+"\r\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	empty := filepath.Join(dir, "empty")
	if err := os.WriteFile(empty, []byte("\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	t.Setenv("PGVEIL_TEST_PASS", secret)
	t.Setenv("PGVEIL_TEST_EMPTY", "")

	tests := []struct {
		desc    string
		user    User
		want    string
		wantErr string
	}{
		{"from the environment", User{UpstreamPasswordEnv: "PGVEIL_TEST_PASS"}, secret, ""},
		{"from a file, newline trimmed", User{UpstreamPasswordFile: file}, secret, ""},
		{"none", User{}, "", ""},
		{"unset variable", User{Name: "a", UpstreamPasswordEnv: "PGVEIL_TEST_UNSET"},
			"", `user "a": upstream password: environment variable PGVEIL_TEST_UNSET is not set`},
		{"empty variable", User{Name: "a", UpstreamPasswordEnv: "PGVEIL_TEST_EMPTY"},
			"", `user "a": upstream password: environment variable PGVEIL_TEST_EMPTY is empty`},
		{"missing file", User{Name: "a", UpstreamPasswordFile: filepath.Join(dir, "nope")},
			"", `user "a": upstream password: open ` + filepath.Join(dir, "nope") + `: no such file or directory`},
		{"empty file", User{Name: "a", UpstreamPasswordFile: empty},
			"", `user "a": upstream password: file ` + empty + ` is empty`},
	}
	for _, tt := range tests {
		t.Run(tt.desc, func(t *testing.T) {
			got, err := tt.user.UpstreamPassword()
			errText := ""
			if err != nil {
				errText = err.Error()
			}
			if got != tt.want || errText != tt.wantErr {
				t.Errorf("UpstreamPassword() = %q, %q; want %q, %q", got, errText, tt.want, tt.wantErr)
			}
		})
	}

	cfg := &Config{Upstream: Upstream{CatalogPasswordFile: file}}
	if got, err := cfg.CatalogPassword(); got != secret || err != nil {
		t.Errorf("CatalogPassword() = %q, %v", got, err)
	}
	cfg = &Config{Upstream: Upstream{CatalogPasswordEnv: "PGVEIL_TEST_UNSET"}}
	if _, err := cfg.CatalogPassword(); err == nil || err.Error() != "catalog password: environment variable PGVEIL_TEST_UNSET is not set" {
		t.Errorf("CatalogPassword() error = %v", err)
	}
}

func TestDuration(t *testing.T) {
	tests := []struct {
		in      any
		want    time.Duration
		wantErr string
	}{
		{"30s", 30 * time.Second, ""},
		{"5m", 5 * time.Minute, ""},
		{"1h30m", 90 * time.Minute, ""},
		{"0", 0, ""},
		{int64(45), 45 * time.Second, ""},
		{int64(0), 0, ""},
		{"30", 0, `invalid duration "30": use e.g. "30s", "5m", "1h30m" or a number of seconds`},
		{"-5s", 0, `duration "-5s" is negative`},
		{int64(-5), 0, `duration -5 is negative`},
		{int64(1) << 40, 0, `duration of 1099511627776 seconds is too long`},
		{1.5, 0, `must be a duration such as "30s" or a number of seconds, not a float`},
		{true, 0, `must be a duration such as "30s" or a number of seconds, not a boolean`},
	}
	for _, tt := range tests {
		var d Duration
		err := d.UnmarshalTOML(tt.in)
		errText := ""
		if err != nil {
			errText = err.Error()
		}
		if d.Duration != tt.want || errText != tt.wantErr {
			t.Errorf("UnmarshalTOML(%#v) = %v, %q; want %v, %q", tt.in, d.Duration, errText, tt.want, tt.wantErr)
		}
	}
}

func TestByteSize(t *testing.T) {
	tests := []struct {
		in      any
		want    ByteSize
		wantErr string
	}{
		{"64MiB", 64 << 20, ""},
		{"512KiB", 512 << 10, ""},
		{"1GiB", 1 << 30, ""},
		{"1048576", 1 << 20, ""},
		{"2048B", 2048, ""},
		{" 64 MiB ", 64 << 20, ""},
		{int64(1048576), 1 << 20, ""},
		{"64MB", 0, `invalid size "64MB": write units as KiB, MiB or GiB (powers of 1024)`},
		{"64mib", 0, `invalid size "64mib": write units as KiB, MiB or GiB (powers of 1024)`},
		{"1.5GiB", 0, `invalid size "1.5GiB": use e.g. "64MiB", "512KiB", "1GiB" or a number of bytes`},
		{"MiB", 0, `invalid size "MiB": use e.g. "64MiB", "512KiB", "1GiB" or a number of bytes`},
		{"", 0, `invalid size "": use e.g. "64MiB", "512KiB", "1GiB" or a number of bytes`},
		{"99999999999TiB", 0, `size "99999999999TiB" is too large`},
		{"99999999999999999999", 0, `size "99999999999999999999" is too large`},
		{int64(-1), 0, `size -1 is negative`},
		{false, 0, `must be a size such as "64MiB" or a number of bytes, not a boolean`},
	}
	for _, tt := range tests {
		var b ByteSize
		err := b.UnmarshalTOML(tt.in)
		errText := ""
		if err != nil {
			errText = err.Error()
		}
		if b != tt.want || errText != tt.wantErr {
			t.Errorf("UnmarshalTOML(%#v) = %d, %q; want %d, %q", tt.in, b, errText, tt.want, tt.wantErr)
		}
	}
	for b, want := range map[ByteSize]string{64 * MiB: "64MiB", 1536: "1536", 2048: "2KiB", GiB: "1GiB", 0: "0"} {
		if got := b.String(); got != want {
			t.Errorf("ByteSize(%d).String() = %q, want %q", int64(b), got, want)
		}
	}
}

func TestSuggest(t *testing.T) {
	keys := []string{"tls_cert", "tls_key", "tls", "client_ca", "name", "roles", "cert"}
	for key, want := range map[string]string{
		"tls_crt":   "tls_cert",
		"TLS_CERT":  "tls_cert",
		"nmae":      "name",
		"role":      "roles",
		"clientca":  "client_ca",
		"password":  "",
		"tsl":       "tls",
		"verbosity": "",
	} {
		if got := suggest(key, keys); got != want {
			t.Errorf("suggest(%q) = %q, want %q", key, got, want)
		}
	}
}

// TestLocator checks the line finder on TOML that a line-by-line reader
// would get wrong.
func TestLocator(t *testing.T) {
	src := `# comment with key = 1
title = """
fake = 1
[fake]
"""
[a]
x = [
  1,
  { y = 2 },  # z = 3
]
"dotted.key" = 'v'
b.c = 1

[[arr]]
k = 1
[arr.sub]
m = 1
[[arr]]
k = 2
w = { p = { q = 1 } }
date = 1979-05-27 07:32:00
after = 1
`
	l := newLocator(src)
	tests := []struct {
		path []string
		want int
	}{
		{[]string{"title"}, 2},
		{[]string{"fake"}, 0},
		{[]string{"a"}, 6},
		{[]string{"a", "x"}, 7},
		{[]string{"a", "x", idx(1)}, 9},
		{[]string{"a", "x", idx(1), "y"}, 9},
		{[]string{"a", "dotted.key"}, 11},
		{[]string{"a", "b", "c"}, 12},
		{[]string{"a", "z"}, 6}, // absent: the table's line
		{[]string{"arr", idx(0)}, 14},
		{[]string{"arr", idx(0), "k"}, 15},
		{[]string{"arr", idx(0), "sub", "m"}, 17},
		{[]string{"arr", idx(1)}, 18},
		{[]string{"arr", idx(1), "k"}, 19},
		{[]string{"arr", idx(1), "w", "p", "q"}, 20},
		{[]string{"arr", idx(1), "after"}, 22},
	}
	for _, tt := range tests {
		if got := l.line(tt.path); got != tt.want {
			t.Errorf("line(%q) = %d, want %d", canonical(tt.path), got, tt.want)
		}
	}
}

// TestNoNetworkImports keeps this package off the network: it may parse
// addresses with net/netip and nothing more.
func TestNoNetworkImports(t *testing.T) {
	gobin := filepath.Join(os.Getenv("GOROOT"), "bin", "go")
	if _, err := os.Stat(gobin); err != nil {
		if gobin, err = exec.LookPath("go"); err != nil {
			t.Skip("no go command")
		}
	}
	out, err := exec.Command(gobin, "list", "-deps", ".").Output()
	if err != nil {
		t.Skipf("go list: %v", err)
	}
	for _, pkg := range strings.Fields(string(out)) {
		switch {
		case pkg == "net/netip":
		case pkg == "net" || strings.HasPrefix(pkg, "net/"),
			pkg == "crypto/tls", pkg == "os/exec", pkg == "syscall/js":
			t.Errorf("package rules depends on %s", pkg)
		}
	}
}

// FuzzParse: Parse must never panic, and whatever it returns must be
// usable: errors one problem per line, each naming the file, and a loaded
// configuration printable.
func FuzzParse(f *testing.F) {
	files, _ := filepath.Glob("testdata/*.toml")
	for _, file := range files {
		data, err := os.ReadFile(file)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(data)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		cfg, err := Parse("fuzz.toml", data, SkipKeyFile)
		if err != nil {
			if cfg != nil {
				t.Fatal("Parse returned a config and an error")
			}
			for _, line := range strings.Split(err.Error(), "\n") {
				if !strings.HasPrefix(line, "fuzz.toml") {
					t.Fatalf("error line does not name the file: %q", line)
				}
			}
			return
		}
		_ = cfg.Redacted()
		_ = cfg.Region(nil, netip.MustParseAddr("10.1.2.3"))
		_ = cfg.Region(nil, netip.MustParseAddr("fd00::1"))
		for i := range cfg.Users {
			_ = cfg.User(cfg.Users[i].Name)
		}
		for _, c := range cfg.Classify {
			for _, col := range c.Columns {
				if parts := strings.Split(col, "."); len(parts) == 3 {
					if kind, ok := cfg.Kind(parts[0], parts[1], parts[2]); !ok || kind == "" {
						t.Fatalf("column %q of kind %q: Kind = %q, %v", col, c.Kind, kind, ok)
					}
				}
			}
		}
		for i := range cfg.Policy {
			p := cfg.Policy[i]
			id := Identity{Roles: p.When.Roles}
			if len(p.When.Region) > 0 {
				id.Region = p.When.Region[0]
			}
			if len(p.When.Users) > 0 {
				id.User = p.When.Users[0]
			}
			_ = cfg.Session(id).Decide("crm", "customers", "mobile")
		}
		_ = cfg.Session(Identity{Region: RegionUnknown}).Decide("a", "b", "c")
	})
}

// Tests and the demo ask for free ports with port 0 on several listeners.
func TestListenPortZeroMayRepeat(t *testing.T) {
	text := `
[upstream]
host = "127.0.0.1"
[[listen]]
address = "127.0.0.1:0"
[[listen]]
address = "127.0.0.1:0"
region = "EU"
`
	if _, err := Parse("t.toml", []byte(text)); err != nil {
		t.Fatalf("two listeners on port 0: %v", err)
	}
}

func TestProxyProtocolPrefixes(t *testing.T) {
	cfg, err := Parse("t.toml", []byte("[server]\nproxy_protocol_from = [\"10.0.0.5/32\", \"fd00::/64\", \"::ffff:192.168.0.0/120\"]\n"+base))
	if err != nil {
		t.Fatal(err)
	}
	want := []netip.Prefix{
		netip.MustParsePrefix("10.0.0.5/32"),
		netip.MustParsePrefix("fd00::/64"),
		netip.MustParsePrefix("192.168.0.0/24"),
	}
	if got := cfg.ProxyProtocolPrefixes(); !slices.Equal(got, want) {
		t.Errorf("ProxyProtocolPrefixes() = %v, want %v", got, want)
	}
	none, err := Parse("t.toml", []byte(base))
	if err != nil {
		t.Fatal(err)
	}
	if got := none.ProxyProtocolPrefixes(); got != nil {
		t.Errorf("unset: ProxyProtocolPrefixes() = %v, want nil", got)
	}
	// Edited after Parse, as tests do: the strings are parsed on demand.
	none.Server.ProxyProtocolFrom = []string{"127.0.0.1/32"}
	if got := none.ProxyProtocolPrefixes(); !slices.Equal(got, []netip.Prefix{netip.MustParsePrefix("127.0.0.1/32")}) {
		t.Errorf("edited: ProxyProtocolPrefixes() = %v", got)
	}
}
