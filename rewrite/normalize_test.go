package rewrite

import (
	"strings"
	"testing"
)

func TestNormalizeHidesLiterals(t *testing.T) {
	n := NewNormalizer(16)
	cases := []struct {
		desc, sql, want string
	}{
		{"string literal", "SELECT * FROM crm.customers WHERE mobile = '13812345678'", "SELECT * FROM crm.customers WHERE mobile = $1"},
		{"numbers and escapes", "select id from t where a = 42 and b = E'\\x41'", "select id from t where a = $1 and b = $2"},
		{"dollar quotes", "SELECT $q$张伟$q$", "SELECT $1"},
		{"several statements", "SELECT 'a'; SELECT 'b'", "SELECT $1; SELECT $2"},
	}
	for _, c := range cases {
		got := n.Normalize(c.sql)
		if got.SQL != c.want || got.ParseError || got.Fingerprint == "" {
			t.Errorf("%s: Normalize(%q) = %+v, want SQL %q", c.desc, c.sql, got, c.want)
		}
	}
}

func TestNormalizeSameFingerprintForDifferentLiterals(t *testing.T) {
	n := NewNormalizer(16)
	a := n.Normalize("SELECT name FROM crm.customers WHERE id = 1")
	b := n.Normalize("SELECT name FROM crm.customers WHERE id = 2")
	if a.Fingerprint != b.Fingerprint {
		t.Fatalf("fingerprints differ: %s vs %s", a.Fingerprint, b.Fingerprint)
	}
}

func TestNormalizeUnparseableRevealsNothing(t *testing.T) {
	n := NewNormalizer(16)
	got := n.Normalize("SELEC '13812345678' FROM")
	if !got.ParseError || got.SQL != "" || strings.Contains(got.Fingerprint, "1381") {
		t.Fatalf("unparseable statement: %+v", got)
	}
}

func BenchmarkNormalizeCacheHit(b *testing.B) {
	n := NewNormalizer(16)
	sql := "SELECT id, name, mobile FROM crm.customers WHERE id = $1"
	n.Normalize(sql)
	b.ReportAllocs()
	for b.Loop() {
		n.Normalize(sql)
	}
}
