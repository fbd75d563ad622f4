package masking

import "testing"

func TestGate(t *testing.T) {
	cases := []struct {
		sql     string
		refused bool
	}{
		{"SELECT name FROM crm.customers", false},
		{"BEGIN; SELECT 1; COMMIT", false},
		{"SET DateStyle = ISO, MDY", false},
		{"SET extra_float_digits = 3", false},
		{"RESET ALL", false},
		{"SET TRANSACTION ISOLATION LEVEL REPEATABLE READ", false},
		{"SHOW transaction_isolation", false},
		{"SAVEPOINT a; ROLLBACK TO a; RELEASE a", false},
		{"DISCARD ALL", false},
		{"SET search_path = crm", false}, // tracked by the session
		{"SET search_path TO crm, public, \"$user\"", false},
		{"SET LOCAL search_path = crm", true},
		{"SET search_path = 'crm, pg_temp'", true},
		{"SET search_path = \"Crm\"", true},
		{"SET search_path = pg_temp, crm", true},
		{"SET standard_conforming_strings = off", true},
		{"SHOW my.secret", true},
		{"SELECT set_config('my.x', email, false) FROM crm.customers", true},
		{"SELECT current_setting('my.x')", true},
		{"SELECT pg_notify('c', email) FROM crm.customers", true},
		{"SELECT * FROM query_to_xml('select 1', true, true, '')", true},
		{"SELECT pg_catalog.lo_get(1)", true},
		{"INSERT INTO t VALUES (1)", false}, // the planner decides (read_only, shadows)
		{"CREATE TEMP VIEW v AS SELECT 1", true},
		{"DO $$BEGIN END$$", true},
		{"COPY crm.customers TO STDOUT", false}, // the planner refuses it for its row filter
		{"COPY (SELECT 1) TO STDOUT WITH (FORMAT csv, HEADER)", false},
		{"COPY crm.customers TO STDOUT WITH (FORMAT binary)", true},
		{"COPY crm.customers TO STDOUT BINARY", true},
		{"COPY crm.customers FROM STDIN", true},
		{"COPY crm.customers TO '/tmp/x'", true},
		{"COPY crm.customers TO PROGRAM 'cat'", true},
		{"COPY (SELECT pg_notify('c', email) FROM crm.customers) TO STDOUT", true},
		{"DECLARE c CURSOR FOR SELECT 1", false},
		{"DECLARE c CURSOR FOR SELECT pg_notify('x', email) FROM crm.customers", true},
		{"LISTEN x", true},
		{"PREPARE TRANSACTION 'x'", true},
		{"SELEC 1", true},
	}
	for _, c := range cases {
		reason := gate(c.sql)
		if (reason != "") != c.refused {
			t.Errorf("%s: reason %q, refused want %v", c.sql, reason, c.refused)
		}
	}
}

func TestFacts(t *testing.T) {
	f := facts("DECLARE c CURSOR WITH HOLD FOR SELECT 1; DECLARE d CURSOR FOR SELECT 1; PREPARE p AS SELECT 1; EXECUTE p; DEALLOCATE ALL; DEALLOCATE p; CLOSE ALL; DISCARD ALL")
	want := []stmtFacts{{holdable: true}, {}, {prepare: "p"}, {execute: "p"}, {dealloc: "*"}, {dealloc: "p"}, {closeAll: true}, {discard: true, pathReset: true}}
	if len(f) != len(want) {
		t.Fatalf("%d facts", len(f))
	}
	for i := range want {
		if f[i] != want[i] {
			t.Errorf("statement %d: %+v, want %+v", i+1, f[i], want[i])
		}
	}
}
