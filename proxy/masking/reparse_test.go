package masking

import (
	"testing"

	"github.com/jackc/pgx/v5/pgproto3"

	"github.com/pgveil/pgveil/proxy/track"
)

// TestRowsOfUnfilteredTextAreNotTrusted: if the server runs a text that,
// as the catalog now stands, needs a row filter pgveil did not add (a
// prepared statement PostgreSQL re-parsed after DDL or a search_path
// change), its rows go out all NULL; rows of the text pgveil sent with
// the filter are masked as usual, also after the plan cache was purged.
func TestRowsOfUnfilteredTextAreNotTrusted(t *testing.T) {
	s := sessionWith(t, "[policy.row_filter]\n\"crm.customers\" = \"consent_cross_border\"\n")
	const sql = "SELECT id, mobile FROM crm.customers"
	p := s.plan(sql)
	if p.refusal != nil || p.rewritten == "" {
		t.Fatalf("plan: refusal %v, rewritten %q", p.refusal, p.rewritten)
	}
	row, _ := (&pgproto3.DataRow{Values: [][]byte{[]byte("1"), []byte("13812345678")}}).Encode(nil)
	rowOf := func(text string) [][]byte {
		t.Helper()
		out, err := s.Server(nil, row, track.Attribution{Origin: track.OriginExecute, Statement: &track.Statement{SQL: text}})
		if err != nil {
			t.Fatal(err)
		}
		var d pgproto3.DataRow
		if err := d.Decode(out[5:]); err != nil {
			t.Fatal(err)
		}
		s.Server(nil, []byte{'Z', 0, 0, 0, 5, 'I'}, track.Attribution{}) // end of result
		return d.Values
	}
	if v := rowOf(sql); v[0] != nil || v[1] != nil {
		t.Errorf("rows of the unfiltered text: %q, want all NULL", v)
	}
	if v := rowOf(p.rewritten); string(v[0]) != "1" || string(v[1]) == "13812345678" || v[1] == nil {
		t.Errorf("rows of pgveil's filtered text: %q, want id and a masked mobile", v)
	}
	s.e.Invalidate("crm") // DDL: plans are re-made, the filtered text is wrapped again
	if v := rowOf(p.rewritten); string(v[0]) != "1" || v[1] == nil {
		t.Errorf("after invalidation, rows of pgveil's filtered text: %q, want id and a masked mobile", v)
	}
}
