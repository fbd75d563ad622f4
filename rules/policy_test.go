package rules

import (
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

// policyConfig exercises classification specificity and policy order. %s
// is the key file.
const policyConfig = `
[tokens]
key_file = %q

[[classify]]
columns = ["crm.customers.mobile", "*.*.phone"]
kind = "phone"

[[classify]]
columns = ["crm.customers.phone"]
kind = "contact"

[[classify]]
columns = ["crm.orders.*", "crm.orders.name"]
kind = "address"

[[classify]]
columns = ["crm.customers.name", "crm.*.name", "*.*.email", "sales.*.email"]
kind = "person_name"

[[policy]]
name = "china-staff"
when = { region = ["CN"] }
default = "clear"

[[policy]]
name = "auditor"
when = { users = ["audit.bot"] }
default = "clear"
[policy.row_filter]
"crm.customers" = "consent_cross_border"

[[policy]]
name = "overseas-analysts"
when = { region = ["EU", "US"], roles = ["analyst"] }
default = "redact"
read_only = true
deny_tables = ["crm.staff_notes"]
predicates = "allow_tokens"
[policy.mask]
phone = "partial(3,4)"
person_name = "pseudonym"

[[policy]]
name = "china-analysts"
when = { region = ["CN"], roles = ["analyst"] }
default = "redact"

[[policy]]
name = "hq-all-clear"
when = { region = ["US"], users = ["boss"] }
default = "redact"
[policy.mask]
phone = "clear"
contact = "clear"
address = "clear"
person_name = "clear"
` + base

func writeKey(t *testing.T) string {
	t.Helper()
	file := filepath.Join(t.TempDir(), "token.key")
	if err := os.WriteFile(file, []byte(KeyGen()+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	return file
}

func loadPolicyConfig(t *testing.T) *Config {
	t.Helper()
	cfg, err := Parse("policy.toml", fmt.Appendf(nil, policyConfig, writeKey(t)))
	if err != nil {
		t.Fatal(err)
	}
	return cfg
}

func TestKind(t *testing.T) {
	cfg := loadPolicyConfig(t)
	for _, tt := range []struct {
		col  string
		kind string // "" for not classified
	}{
		{"crm.customers.mobile", "phone"},          // exact
		{"crm.customers.phone", "contact"},         // exact beats *.*.phone
		{"sales.leads.phone", "phone"},             // *.*.phone
		{"crm.orders.phone", "address"},            // crm.orders.* (one *) beats *.*.phone (two)
		{"crm.orders.ship_address", "address"},     // crm.orders.*
		{"crm.customers.name", "person_name"},      // exact and crm.*.name agree
		{"crm.staff.name", "person_name"},          // crm.*.name
		{"sales.leads.email", "person_name"},       // sales.*.email
		{"crm.customers.id", ""},                   // nothing matches
		{"crm.customers.Mobile", ""},               // names are compared exactly
		{"CRM.customers.mobile", ""},               // ... in every part
		{"public.crm.customers", ""},               // parts do not shift
		{"crm.customers.mobile.extra", ""},         // not a column either
		{"", ""},                                   // nor this
		{"crm..phone", "phone"},                    // an empty table name is still a name
		{"hr.staff.phone", "phone"},                // *.*.phone again
		{"crm.customers_archive.mobile", ""},       // no prefix matching
		{"crm.orders.name", "address"},             // exact: settles crm.orders.* against crm.*.name
		{"crm.orders_archive.name", "person_name"}, // crm.*.name
	} {
		parts := strings.SplitN(tt.col, ".", 3)
		for len(parts) < 3 {
			parts = append(parts, "")
		}
		kind, ok := cfg.Kind(parts[0], parts[1], parts[2])
		if kind != tt.kind || ok != (tt.kind != "") {
			t.Errorf("Kind(%s) = %q, %v; want %q, %v", tt.col, kind, ok, tt.kind, tt.kind != "")
		}
	}
	if got, want := cfg.Kinds(), []string{"address", "contact", "person_name", "phone"}; !reflect.DeepEqual(got, want) {
		t.Errorf("Kinds() = %q, want %q", got, want)
	}
	if kind, ok := (*Config)(nil).Kind("crm", "customers", "mobile"); ok || kind != "" {
		t.Errorf("nil Config: Kind = %q, %v", kind, ok)
	}
}

// TestKindOverlap: patterns of equal specificity that would give a column
// two kinds are refused at load, so Kind never has to guess.
func TestKindOverlap(t *testing.T) {
	_, err := Parse("t.toml", []byte(`[[classify]]
columns = ["crm.*.name"]
kind = "person_name"
[[classify]]
columns = ["crm.orders.*"]
kind = "address"
`+base))
	want := `t.toml:5: [[classify]] #2 columns: "crm.orders.*" (kind "address") and "crm.*.name" on line 2 (kind "person_name") both match crm.orders.name and are equally specific: classify the columns they share by an exact or more specific pattern, or drop one`
	if err == nil || err.Error() != want {
		t.Errorf("got %v\nwant %s", err, want)
	}
}

// TestKindHandBuilt: a Config made in Go rather than by Parse classifies
// the same way.
func TestKindHandBuilt(t *testing.T) {
	cfg := &Config{
		Classify: []Classification{
			{Columns: []string{"*.*.phone"}, Kind: "phone"},
			{Columns: []string{"crm.customers.phone"}, Kind: "contact"},
			{Columns: []string{"not a pattern"}, Kind: "ignored"},
		},
		Policy: []Policy{{Name: "p", Default: "redact", Mask: map[string]string{"phone": "partial(3,4)", "contact": "nonsense"}}},
	}
	for col, want := range map[[3]string]string{
		{"crm", "customers", "phone"}: "contact",
		{"crm", "orders", "phone"}:    "phone",
	} {
		if got, _ := cfg.Kind(col[0], col[1], col[2]); got != want {
			t.Errorf("Kind(%v) = %q, want %q", col, got, want)
		}
	}
	sp := cfg.Session(Identity{})
	if d := sp.Decide("crm", "orders", "phone"); d.Transform.String() != "partial(3,4)" {
		t.Errorf("hand-built: %+v", d)
	}
	// A transform that does not parse, which Parse refuses, fails closed.
	if d := sp.Decide("crm", "customers", "phone"); d.Transform.Name != TransformRedact {
		t.Errorf("hand-built, bad transform: %+v", d)
	}
}

func TestSession(t *testing.T) {
	cfg := loadPolicyConfig(t)
	for _, tt := range []struct {
		desc     string
		id       Identity
		policy   string
		allClear bool
	}{
		{"region CN", Identity{User: "li.na", Roles: []string{"sales"}, Region: "CN"}, "china-staff", true},
		{"first match wins over a later, narrower one", Identity{User: "wang", Roles: []string{"analyst"}, Region: "CN"}, "china-staff", true},
		{"user list; row filter means not all clear", Identity{User: "audit.bot", Region: "EU"}, "auditor", false},
		{"region and one of the roles", Identity{User: "anna", Roles: []string{"bi", "analyst"}, Region: "EU"}, "overseas-analysts", false},
		{"second region of the list", Identity{User: "bob", Roles: []string{"analyst"}, Region: "US"}, "overseas-analysts", false},
		{"region and user, every kind clear", Identity{User: "boss", Region: "US"}, "hq-all-clear", true},
		{"role missing", Identity{User: "anna", Roles: []string{"bi"}, Region: "EU"}, "", false},
		{"no roles", Identity{User: "anna", Region: "EU"}, "", false},
		{"region unknown", Identity{User: "anna", Roles: []string{"analyst"}, Region: RegionUnknown}, "", false},
		{"regions are compared exactly", Identity{User: "li.na", Region: "cn"}, "", false},
		{"users are compared exactly", Identity{User: "Audit.Bot", Region: "EU"}, "", false},
	} {
		sp := cfg.Session(tt.id)
		if sp == nil {
			t.Fatalf("%s: Session returned nil", tt.desc)
		}
		if sp.Name != tt.policy || sp.AllClear != tt.allClear {
			t.Errorf("%s: Session(%+v) = %q (AllClear %v), want %q (AllClear %v)", tt.desc, tt.id, sp.Name, sp.AllClear, tt.policy, tt.allClear)
		}
	}

	sp := cfg.Session(Identity{Roles: []string{"analyst"}, Region: "EU"})
	want := &SessionPolicy{
		Name:       "overseas-analysts",
		ReadOnly:   true,
		DenyTables: []string{"crm.staff_notes"},
		Predicates: "allow_tokens",
		Default:    Redact,
		Mask: map[string]Transform{
			"phone":       {Name: "partial", Args: []float64{3, 4}},
			"person_name": {Name: "pseudonym"},
		},
	}
	got := *sp
	got.cfg, got.cls, got.decisions, got.reasons, got.unmatched = nil, nil, nil, nil, ""
	if !reflect.DeepEqual(&got, want) {
		t.Errorf("overseas-analysts:\n got %+v\nwant %+v", got, *want)
	}
	if sp.Config() != cfg {
		t.Error("SessionPolicy.Config() is not the Config it came from")
	}
	if p := cfg.Session(Identity{Region: "CN"}); p.Predicates != "deny" {
		t.Errorf("unset predicates = %q, want \"deny\"", p.Predicates)
	}
	if p := cfg.Session(Identity{Region: "EU"}); p.Predicates != "deny" || p.ReadOnly || p.Default.Name != TransformRedact || p.Config() != cfg {
		t.Errorf("no match: %+v", p)
	}

	// A configuration without policies fails closed, even with nothing
	// classified; so does a nil one.
	for _, c := range []*Config{{}, nil} {
		sp := c.Session(Identity{Region: "CN"})
		if sp == nil || sp.Name != "" || sp.AllClear {
			t.Errorf("Session on %v: %+v", c, sp)
		}
	}
}

func TestDecide(t *testing.T) {
	cfg := loadPolicyConfig(t)
	overseas := cfg.Session(Identity{Roles: []string{"analyst"}, Region: "EU"})
	china := cfg.Session(Identity{Region: "CN"})
	nobody := cfg.Session(Identity{Roles: []string{"bi", "sales"}, Region: RegionUnknown})
	for _, tt := range []struct {
		sp   *SessionPolicy
		col  [3]string
		want Decision
	}{{
		overseas, [3]string{"crm", "customers", "mobile"},
		Decision{Transform{"partial", []float64{3, 4}}, "phone", "overseas-analysts",
			`column crm.customers.mobile is "phone"; policy "overseas-analysts" masks phone with partial(3,4)`},
	}, {
		overseas, [3]string{"sales", "leads", "phone"},
		Decision{Transform{"partial", []float64{3, 4}}, "phone", "overseas-analysts",
			`column sales.leads.phone is "phone"; policy "overseas-analysts" masks phone with partial(3,4)`},
	}, {
		overseas, [3]string{"crm", "customers", "name"},
		Decision{Transform{Name: "pseudonym"}, "person_name", "overseas-analysts",
			`column crm.customers.name is "person_name"; policy "overseas-analysts" masks person_name with pseudonym`},
	}, {
		overseas, [3]string{"crm", "orders", "phone"},
		Decision{Redact, "address", "overseas-analysts",
			`column crm.orders.phone is "address"; kind not named in policy "overseas-analysts": default redact`},
	}, {
		overseas, [3]string{"crm", "customers", "phone"},
		Decision{Redact, "contact", "overseas-analysts",
			`column crm.customers.phone is "contact"; kind not named in policy "overseas-analysts": default redact`},
	}, {
		overseas, [3]string{"crm", "customers", "id"},
		Decision{Clear, "", "", "not classified"},
	}, {
		china, [3]string{"crm", "customers", "mobile"},
		Decision{Clear, "phone", "china-staff",
			`column crm.customers.mobile is "phone"; kind not named in policy "china-staff": default clear`},
	}, {
		china, [3]string{"crm", "customers", "id"},
		Decision{Clear, "", "", "not classified"},
	}, {
		nobody, [3]string{"crm", "customers", "mobile"},
		Decision{Redact, "phone", "",
			`no policy matches region "unknown", roles [bi sales]: classified columns are redacted`},
	}, {
		nobody, [3]string{"hr", "staff", "phone"},
		Decision{Redact, "phone", "",
			`no policy matches region "unknown", roles [bi sales]: classified columns are redacted`},
	}, {
		nobody, [3]string{"crm", "customers", "id"},
		Decision{Clear, "", "", "not classified"},
	}, {
		nil, [3]string{"crm", "customers", "id"},
		Decision{Redact, "", "", "no session policy: every column is redacted"},
	}, {
		(*Config)(nil).Session(Identity{Region: "EU"}), [3]string{"crm", "customers", "mobile"},
		Decision{Clear, "", "", "not classified"},
	}} {
		got := tt.sp.Decide(tt.col[0], tt.col[1], tt.col[2])
		if !reflect.DeepEqual(got, tt.want) {
			name := "<nil>"
			if tt.sp != nil {
				name = tt.sp.Name
			}
			t.Errorf("policy %q: Decide(%s):\n got %+v\nwant %+v", name, strings.Join(tt.col[:], "."), got, tt.want)
		}
	}
	if got := overseas.Transform("phone").String(); got != "partial(3,4)" {
		t.Errorf("Transform(phone) = %s", got)
	}
	if got := nobody.Transform("phone").String(); got != "redact" {
		t.Errorf("no match: Transform(phone) = %s", got)
	}
}

// TestExampleDecisions: the shared example configuration decides as its
// comments say.
func TestExampleDecisions(t *testing.T) {
	cfg, err := Load("testdata/example.toml", SkipKeyFile)
	if err != nil {
		t.Fatal(err)
	}
	anna := cfg.Session(Identity{User: "anna.keller", Roles: []string{"analyst"}, Region: "EU"})
	lina := cfg.Session(Identity{User: "li.na", Roles: []string{"sales"}, Region: "CN"})
	if anna.Name != "overseas-analysts" || anna.AllClear || lina.Name != "china-staff" || !lina.AllClear {
		t.Fatalf("sessions: anna %q (AllClear %v), li.na %q (AllClear %v)", anna.Name, anna.AllClear, lina.Name, lina.AllClear)
	}
	for col, want := range map[string]string{
		"crm.customers.name":          "pseudonym",
		"crm.customers.mobile":        "partial(3,4)",
		"crm.orders.ship_phone":       "partial(3,4)",
		"crm.staff.phone":             "partial(3,4)",
		"crm.customers.email":         "email",
		"crm.customers.id_number":     "token",
		"crm.customers.birthday":      "year",
		"crm.orders.ship_address":     "redact",
		"crm.customers.wechat_openid": "hash",
		"crm.customers.qq_number":     "hash",
		"crm.customers.id":            "clear",
	} {
		p := strings.Split(col, ".")
		if got := anna.Decide(p[0], p[1], p[2]).Transform.String(); got != want {
			t.Errorf("anna: %s gets %s, want %s", col, got, want)
		}
		if got := lina.Decide(p[0], p[1], p[2]).Transform.String(); got != "clear" {
			t.Errorf("li.na: %s gets %s, want clear", col, got)
		}
	}
}

// TestDecideAllocs: decisions happen per column per statement.
func TestDecideAllocs(t *testing.T) {
	cfg := loadPolicyConfig(t)
	overseas := cfg.Session(Identity{Roles: []string{"analyst"}, Region: "EU"})
	nobody := cfg.Session(Identity{Region: RegionUnknown})
	anna := Identity{User: "anna", Roles: []string{"bi", "analyst"}, Region: "EU"}
	for _, tt := range []struct {
		desc string
		f    func()
	}{
		{"Decide, exact pattern", func() { overseas.Decide("crm", "customers", "mobile") }},
		{"Decide, not classified", func() { overseas.Decide("crm", "customers", "id") }},
		{"Decide, no policy, wildcard", func() { nobody.Decide("hr", "staff", "phone") }},
		{"Kind, wildcard", func() { cfg.Kind("hr", "staff", "phone") }},
		{"Session, matching", func() { cfg.Session(anna) }},
	} {
		if n := testing.AllocsPerRun(100, tt.f); n != 0 {
			t.Errorf("%s: %v allocations, want 0", tt.desc, n)
		}
	}
}

func BenchmarkDecide(b *testing.B) {
	cfg, err := Load("testdata/example.toml", SkipKeyFile)
	if err != nil {
		b.Fatal(err)
	}
	sp := cfg.Session(Identity{Roles: []string{"analyst"}, Region: "EU"})
	for _, col := range [][3]string{{"crm", "customers", "mobile"}, {"crm", "customers", "id"}, {"crm", "staff", "phone"}} {
		b.Run(strings.Join(col[:], "."), func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				sp.Decide(col[0], col[1], col[2])
			}
		})
	}
}

// TestPolicyValidation pins the messages of the checks on [[classify]]
// patterns, transforms, kinds and the key file.
func TestPolicyValidation(t *testing.T) {
	dir := t.TempDir()
	goodKey := writeKey(t)
	badKey := filepath.Join(dir, "bad.key")
	if err := os.WriteFile(badKey, []byte("00ff\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	missing := filepath.Join(dir, "missing.key")
	const classify = "[[classify]]\ncolumns = [\"crm.customers.mobile\"]\nkind = \"phone\"\n"
	for _, tt := range []struct {
		desc string
		src  string
		opts []Option
		want string
	}{{
		desc: "unknown kind, with suggestion",
		src:  classify + "[[policy]]\nname = \"x\"\ndefault = \"redact\"\n[policy.mask]\nphon = \"partial(3,4)\"\n",
		want: `t.toml:8: unknown kind "phon" in [policy.mask] of policy "x"; did you mean "phone"?`,
	}, {
		desc: "unknown kind, no suggestion",
		src:  classify + "[[policy]]\nname = \"x\"\ndefault = \"redact\"\nmask = { salary = \"redact\" }\n",
		want: `t.toml:7: unknown kind "salary" in [policy.mask] of policy "x": no [[classify]] declares it (kinds: phone)`,
	}, {
		desc: "unknown kind, nothing classified",
		src:  "[[policy]]\nname = \"x\"\ndefault = \"redact\"\nmask = { phone = \"redact\" }\n",
		want: `t.toml:4: unknown kind "phone" in [policy.mask] of policy "x": no [[classify]] declares any kind`,
	}, {
		desc: "bad mask transform",
		src:  classify + "[[policy]]\nname = \"x\"\ndefault = \"redact\"\n[policy.mask]\nphone = \"partial(3)\"\n",
		want: `t.toml:8: [[policy]] #1 "x" mask.phone: transform "partial(3)": partial takes 2 arguments, partial(first,last), e.g. partial(3,4)`,
	}, {
		desc: "bad default transform",
		src:  "[[policy]]\nname = \"x\"\ndefault = \"mask\"\n",
		want: `t.toml:3: [[policy]] #1 "x" default: unknown transform "mask": use one of clear, redact, null, partial(first,last), email, hash, token, pseudonym, year, month, bucket(width), noise(pct)`,
	}, {
		desc: "default null is redact",
		src:  "[[policy]]\nname = \"x\"\ndefault = \"null\"\n",
	}, {
		desc: "pattern with two parts",
		src:  "[[classify]]\ncolumns = [\"customers.mobile\"]\nkind = \"phone\"\n",
		want: `t.toml:2: [[classify]] #1 columns: "customers.mobile" is not schema.table.column: write three names separated by dots, e.g. "crm.customers.phone" or "*.*.phone"`,
	}, {
		desc: "pattern with four parts",
		src:  "[[classify]]\ncolumns = [\n  \"crm.customers.mobile\",\n  \"db.crm.customers.mobile\",\n]\nkind = \"phone\"\n",
		want: `t.toml:4: [[classify]] #1 columns: "db.crm.customers.mobile" is not schema.table.column: write three names separated by dots, e.g. "crm.customers.phone" or "*.*.phone"`,
	}, {
		desc: "pattern with an empty part",
		src:  "[[classify]]\ncolumns = [\"crm.customers.\"]\nkind = \"phone\"\n",
		want: `t.toml:2: [[classify]] #1 columns: "crm.customers." has an empty name: write schema.table.column, e.g. "crm.customers.phone"`,
	}, {
		desc: "pattern with a partial wildcard",
		src:  "[[classify]]\ncolumns = [\"crm.customers.mob*\"]\nkind = \"phone\"\n",
		want: `t.toml:2: [[classify]] #1 columns: "crm.customers.mob*": * stands for a whole name, as in "crm.*.phone"`,
	}, {
		desc: "pattern with blanks",
		src:  "[[classify]]\ncolumns = [\"crm. customers.mobile\"]\nkind = \"phone\"\n",
		want: `t.toml:2: [[classify]] #1 columns: "crm. customers.mobile" has blanks around a name: names are matched exactly as PostgreSQL stores them`,
	}, {
		desc: "overlap of equal specificity, different kinds",
		src:  "[[classify]]\ncolumns = [\"crm.*.phone\"]\nkind = \"phone\"\n[[classify]]\ncolumns = [\"crm.orders.*\"]\nkind = \"address\"\n",
		want: `t.toml:5: [[classify]] #2 columns: "crm.orders.*" (kind "address") and "crm.*.phone" on line 2 (kind "phone") both match crm.orders.phone and are equally specific: classify the columns they share by an exact or more specific pattern, or drop one`,
	}, {
		desc: "overlap of two wildcards each",
		src:  "[[classify]]\ncolumns = [\"*.*.phone\"]\nkind = \"phone\"\n[[classify]]\ncolumns = [\"hr.*.*\"]\nkind = \"hr\"\n",
		want: `t.toml:5: [[classify]] #2 columns: "hr.*.*" (kind "hr") and "*.*.phone" on line 2 (kind "phone") both match hr.*.phone and are equally specific: classify the columns they share by an exact or more specific pattern, or drop one`,
	}, {
		desc: "overlap settled by a more specific pattern",
		src:  "[[classify]]\ncolumns = [\"*.*.phone\"]\nkind = \"phone\"\n[[classify]]\ncolumns = [\"hr.*.*\"]\nkind = \"hr\"\n[[classify]]\ncolumns = [\"hr.*.phone\"]\nkind = \"hr\"\n",
	}, {
		desc: "overlap of equal specificity, same kind",
		src:  "[[classify]]\ncolumns = [\"crm.*.phone\", \"crm.orders.*\"]\nkind = \"phone\"\n",
	}, {
		desc: "overlap of different specificity",
		src:  "[[classify]]\ncolumns = [\"*.*.phone\"]\nkind = \"phone\"\n[[classify]]\ncolumns = [\"crm.orders.*\", \"crm.orders.phone\"]\nkind = \"address\"\n",
	}, {
		desc: "no overlap",
		src:  "[[classify]]\ncolumns = [\"crm.*.phone\"]\nkind = \"phone\"\n[[classify]]\ncolumns = [\"hr.staff.*\"]\nkind = \"hr\"\n",
	}, {
		desc: "key needed, key_file unset",
		src:  classify + "[[policy]]\nname = \"x\"\ndefault = \"redact\"\nmask = { phone = \"token\" }\n",
		want: "t.toml:7: [[policy]] #1 \"x\" mask.phone: policy \"x\" masks phone with token, which needs a key: set [tokens] key_file to a file from `pgveil keygen`",
	}, {
		desc: "key needed by the default, key_file unset, SkipKeyFile does not help",
		src:  "[[policy]]\nname = \"x\"\ndefault = \"noise(5)\"\n",
		opts: []Option{SkipKeyFile},
		want: "t.toml:3: [[policy]] #1 \"x\" default: policy \"x\" uses noise as its default, which needs a key: set [tokens] key_file to a file from `pgveil keygen`",
	}, {
		desc: "key needed, file missing",
		src:  fmt.Sprintf("[tokens]\nkey_file = %q\n", missing) + classify + "[[policy]]\nname = \"x\"\ndefault = \"hash\"\n",
		want: fmt.Sprintf("t.toml:2: [tokens] key_file: %q: no such file; create one with `pgveil keygen`", missing),
	}, {
		desc: "key needed, file missing, SkipKeyFile",
		src:  fmt.Sprintf("[tokens]\nkey_file = %q\n", missing) + classify + "[[policy]]\nname = \"x\"\ndefault = \"hash\"\n",
		opts: []Option{SkipKeyFile},
	}, {
		desc: "key needed, file holds no key",
		src:  fmt.Sprintf("[tokens]\nkey_file = %q\n", badKey) + classify + "[[policy]]\nname = \"x\"\ndefault = \"redact\"\nmask = { phone = \"pseudonym\" }\n",
		want: fmt.Sprintf("t.toml:2: [tokens] key_file: %q must hold 32 random bytes as 64 hex digits (`pgveil keygen` writes one), not 4 characters", badKey),
	}, {
		desc: "key needed, good file",
		src:  fmt.Sprintf("[tokens]\nkey_file = %q\n", goodKey) + classify + "[[policy]]\nname = \"x\"\ndefault = \"redact\"\nmask = { phone = \"pseudonym\" }\n",
	}, {
		desc: "key not needed: key_file is optional and not read",
		src:  fmt.Sprintf("[tokens]\nkey_file = %q\n", missing) + classify + "[[policy]]\nname = \"x\"\ndefault = \"redact\"\nmask = { phone = \"partial(3,4)\" }\n",
	}} {
		t.Run(tt.desc, func(t *testing.T) {
			_, err := Parse("t.toml", []byte(tt.src+base), tt.opts...)
			got := ""
			if err != nil {
				got = err.Error()
			}
			if got != tt.want {
				t.Errorf("Parse:\n%s\n got error:\n%s\nwant:\n%s", tt.src, got, tt.want)
			}
		})
	}
}
