package masking

import (
	"testing"

	"github.com/jackc/pgx/v5/pgproto3"

	"github.com/pgveil/pgveil/proxy/track"
)

// FuzzPlan drives a masked session's planning with arbitrary SQL: it must
// never panic, and whatever it does not refuse must have a plan for every
// statement whose rows it may forward.
func FuzzPlan(f *testing.F) {
	for _, seed := range []string{
		"SELECT id, name, mobile FROM crm.customers",
		"SELECT c FROM crm.customers c",
		"SELECT upper(email) FROM customers WHERE id = 1",
		"BEGIN; DECLARE x CURSOR FOR SELECT mobile FROM crm.customers; FETCH 2 FROM x; CLOSE x; COMMIT",
		"PREPARE p AS SELECT mobile FROM crm.customers; EXECUTE p",
		"SELECT id FROM crm.customers WHERE id_number = 'tok_aaaa'",
		"SET search_path = public; SELECT 1",
		"SELECT set_config('a.b', mobile, false) FROM crm.customers",
		"WITH RECURSIVE r(n) AS (SELECT 1 UNION ALL SELECT n+1 FROM r) SELECT n FROM r LIMIT 3",
		"COPY (SELECT mobile FROM crm.customers) TO STDOUT",
	} {
		f.Add(seed)
	}
	s := benchSession(f)
	f.Fuzz(func(t *testing.T, sql string) {
		if len(sql) > 2000 {
			return
		}
		repl, err := s.Client(&pgproto3.Query{String: sql})
		if err != nil {
			t.Fatalf("Client: %v", err)
		}
		p := s.plan(sql)
		if p.refusal != nil {
			if repl == nil {
				t.Fatal("refused statement forwarded unchanged")
			}
			return
		}
		// A DataRow attributed to any statement of an accepted query
		// must go through a plan or come out all NULL: never unchanged
		// when the plan masks something.
		row, _ := (&pgproto3.DataRow{Values: [][]byte{[]byte("13812345678")}}).Encode(nil)
		for i := range p.statements {
			out, err := s.Server(nil, row, track.Attribution{Origin: track.OriginQuery, Statement: &track.Statement{SQL: sql}, Index: i})
			if err != nil {
				t.Fatalf("Server: %v", err)
			}
			sp := &p.statements[i]
			if sp.hasRows && !sp.mask.Clear() && string(out) == string(row) && len(sp.mask) == 1 {
				t.Fatalf("statement %d: a masked column passed unchanged", i)
			}
		}
	})
}
