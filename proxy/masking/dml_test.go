package masking

import (
	"testing"

	"github.com/jackc/pgx/v5/pgproto3"

	"github.com/pgveil/pgveil/proxy/track"
)

// TestPlanDML: writes in a masked session whose policy is not read_only.
// RETURNING rows are masked like a SELECT; values written may not derive
// from masked columns; WHERE follows the predicate rule.
func TestPlanDML(t *testing.T) {
	cases := []struct {
		sql     string
		refused bool
		masked  []bool // per RETURNING column
	}{
		{"UPDATE crm.customers SET city = 'x' WHERE id = 1 RETURNING id, mobile", false, []bool{false, true}},
		{"DELETE FROM crm.customers WHERE id = 1 RETURNING name, city", false, []bool{true, false}},
		{"INSERT INTO crm.customers (id, city, mobile) VALUES (9, 'x', '13900000000') RETURNING mobile", false, []bool{true}},
		{"UPDATE crm.customers SET mobile = '13900000000' WHERE id = 1", false, []bool{false}},
		{"UPDATE crm.customers SET city = mobile WHERE id = 1", true, nil},
		{"UPDATE crm.customers SET city = upper(email) WHERE id = 1", true, nil},
		{"UPDATE crm.customers SET city = 'x' WHERE mobile = '13812345678'", true, nil},
		{"DELETE FROM crm.customers WHERE mobile LIKE '138%'", true, nil},
		{"INSERT INTO crm.customers (id, city) SELECT id, mobile FROM crm.customers", true, nil},
		{"INSERT INTO crm.customers (id) VALUES (1) ON CONFLICT DO NOTHING", true, nil},
		{"WITH x AS (SELECT 1) UPDATE crm.customers SET city = 'x'", true, nil},
		{"UPDATE crm.customers SET city = 'x' RETURNING upper(mobile)", true, nil},
		{"SELECT 1; DELETE FROM crm.customers", true, nil},
	}
	for _, c := range cases {
		s := benchSession(t)
		p := s.plan(c.sql)
		if (p.refusal != nil) != c.refused {
			t.Errorf("%s: refusal %v, want refused %v", c.sql, p.refusal, c.refused)
			continue
		}
		if c.refused {
			continue
		}
		vals := make([][]byte, len(c.masked))
		for i := range vals {
			vals[i] = []byte("13812345678")
		}
		row, _ := (&pgproto3.DataRow{Values: vals}).Encode(nil)
		out, err := s.Server(nil, row, track.Attribution{Origin: track.OriginQuery, Statement: &track.Statement{SQL: c.sql}})
		if err != nil {
			t.Fatal(err)
		}
		var d pgproto3.DataRow
		if err := d.Decode(out[5:]); err != nil {
			t.Fatal(err)
		}
		for i, m := range c.masked {
			if got := string(d.Values[i]) != "13812345678"; got != m {
				t.Errorf("%s: RETURNING column %d = %q, masked %v want %v", c.sql, i+1, d.Values[i], got, m)
			}
		}
	}
}
