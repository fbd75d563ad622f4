package masking

import (
	"context"
	"encoding/hex"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5/pgproto3"

	"github.com/pgveil/pgveil/proxy"
	"github.com/pgveil/pgveil/proxy/track"
	"github.com/pgveil/pgveil/rewrite"
	"github.com/pgveil/pgveil/rewrite/transform"
	"github.com/pgveil/pgveil/rules"
)

// fakeCatalog serves the CRM's customers table.
type fakeCatalog struct{}

var customers = &rewrite.Relation{OID: 16384, Schema: "crm", Name: "customers", Kind: 'r', Columns: []rewrite.Column{
	{Name: "id", AttNum: 1, TypeOID: 20}, {Name: "name", AttNum: 2, TypeOID: 25}, {Name: "mobile", AttNum: 3, TypeOID: 25},
	{Name: "email", AttNum: 4, TypeOID: 25}, {Name: "id_number", AttNum: 5, TypeOID: 25}, {Name: "birthday", AttNum: 6, TypeOID: 1082},
	{Name: "city", AttNum: 7, TypeOID: 25}, {Name: "address", AttNum: 8, TypeOID: 25}, {Name: "consent_cross_border", AttNum: 9, TypeOID: 16},
}}

// BuiltinFunctions is a few of PostgreSQL's built-ins, enough for the
// tests' statements.
func (fakeCatalog) BuiltinFunctions(context.Context) (map[string]bool, error) {
	return map[string]bool{"lower": true, "upper": true, "count": true, "min": true, "max": true,
		"length": true, "concat": true, "coalesce": true, "md5": true, "now": true, "generate_series": true}, nil
}

func (fakeCatalog) Relation(_ context.Context, schema, name string, _ []string) (*rewrite.Relation, error) {
	if (schema == "crm" || schema == "") && name == "customers" {
		return customers, nil
	}
	return nil, rewrite.ErrUnknownRelation
}

// benchSession builds a masked session of the example policy over the
// fake catalog.
func benchSession(tb testing.TB) *session {
	tb.Helper()
	return sessionWith(tb, "")
}

// sessionWith is benchSession with more lines for the policy's table
// (e.g. a [policy.row_filter]).
func sessionWith(tb testing.TB, policyExtra string) *session {
	tb.Helper()
	dir := tb.TempDir()
	key := filepath.Join(dir, "token.key")
	os.WriteFile(key, []byte(hex.EncodeToString(make([]byte, 32))), 0o600)
	cfg, err := rules.Parse("bench.toml", []byte(`
[upstream]
host = "127.0.0.1"
[tokens]
key_file = "`+key+`"
[[listen]]
address = "127.0.0.1:0"
[[classify]]
columns = ["crm.customers.name"]
kind = "person_name"
[[classify]]
columns = ["crm.customers.mobile"]
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
columns = ["crm.customers.address"]
kind = "address"
[[policy]]
name = "overseas-analysts"
when = { region = ["EU"] }
default = "redact"
[policy.mask]
person_name = "pseudonym"
phone = "partial(3,4)"
email = "email"
national_id = "token"
birth_date = "year"
address = "redact"
`+policyExtra))
	if err != nil {
		tb.Fatal(err)
	}
	master, _ := cfg.TokenKey()
	keys, err := newKeys(master)
	if err != nil {
		tb.Fatal(err)
	}
	e := NewEngine(cfg, func(string) rewrite.Catalog { return fakeCatalog{} }, keys, slog.New(slog.DiscardHandler))
	f := e.Filter(proxy.SessionInfo{User: "anna", Region: "EU", Database: "crm", SearchPath: []string{"crm"}})
	if f == nil {
		tb.Fatal("no filter for a masked session")
	}
	return f.(*session)
}

const benchQuery = "SELECT id, name, mobile, email, id_number, birthday, city, address FROM crm.customers WHERE id = $1"

// BenchmarkAnalyzeCold is the cost of a statement pgveil has not seen:
// parse with pg_query and lineage analysis.
func BenchmarkAnalyzeCold(b *testing.B) {
	b.ReportAllocs()
	for b.Loop() {
		if _, err := rewrite.Analyze(context.Background(), benchQuery, []string{"crm"}, fakeCatalog{}); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkPlanCacheHit is the cost of a statement seen before (every
// execution of a prepared statement, every repeated BI query).
func BenchmarkPlanCacheHit(b *testing.B) {
	s := benchSession(b)
	if p := s.plan(benchQuery); p.refusal != nil {
		b.Fatal(p.refusal)
	}
	b.ReportAllocs()
	for b.Loop() {
		s.plan(benchQuery)
	}
}

// BenchmarkMaskRow is the per-row cost of rewriting a customer row (6 of
// 8 columns masked: pseudonym, partial, email, token, year, redact).
func BenchmarkMaskRow(b *testing.B) {
	s := benchSession(b)
	row, _ := (&pgproto3.DataRow{Values: [][]byte{
		[]byte("42"), []byte("罗鹏天"), []byte("17382744900"), []byte("pengtian.luo@sina.com"),
		[]byte("440306199909167273"), []byte("1999-09-16"), []byte("长春市"), []byte("吉林省长春市宽城区体育路236号"),
	}}).Encode(nil)
	a := track.Attribution{Origin: track.OriginQuery, Statement: &track.Statement{SQL: benchQuery}}
	buf := make([]byte, 0, 512)
	out, err := s.Server(buf, row, a)
	if err != nil || len(out) == 0 {
		b.Fatal(err)
	}
	b.SetBytes(int64(len(row)))
	b.ReportAllocs()
	for b.Loop() {
		buf, _ = s.Server(buf[:0], row, a)
	}
}

func newKeys(master []byte) (*transform.Keys, error) { return transform.NewKeys(master) }

// BenchmarkMaskRowExtended is BenchmarkMaskRow for an extended-protocol
// result: a portal with binary formats and a long statement text.
func BenchmarkMaskRowExtended(b *testing.B) {
	s := benchSession(b)
	sql := benchQuery + " /* " + strings.Repeat("x", 2000) + " */"
	row, _ := (&pgproto3.DataRow{Values: [][]byte{
		[]byte("42"), []byte("罗鹏天"), []byte("17382744900"), []byte("pengtian.luo@sina.com"),
		[]byte("440306199909167273"), []byte("1999-09-16"), []byte("长春市"), []byte("吉林省长春市宽城区体育路236号"),
	}}).Encode(nil)
	st := &track.Statement{SQL: sql}
	a := track.Attribution{Origin: track.OriginExecute, Statement: st, Portal: &track.Portal{Statement: st, ResultFormats: []int16{0}}}
	buf := make([]byte, 0, 512)
	if out, err := s.Server(buf, row, a); err != nil || len(out) == 0 {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		buf, _ = s.Server(buf[:0], row, a)
	}
}
