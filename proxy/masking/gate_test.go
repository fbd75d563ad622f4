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
		{"SET search_path = crm", true},
		{"SET standard_conforming_strings = off", true},
		{"SHOW my.secret", true},
		{"SELECT set_config('my.x', email, false) FROM crm.customers", true},
		{"SELECT current_setting('my.x')", true},
		{"SELECT pg_notify('c', email) FROM crm.customers", true},
		{"SELECT * FROM query_to_xml('select 1', true, true, '')", true},
		{"SELECT pg_catalog.lo_get(1)", true},
		{"INSERT INTO t VALUES (1)", true},
		{"CREATE TEMP VIEW v AS SELECT 1", true},
		{"DO $$BEGIN END$$", true},
		{"COPY crm.customers TO STDOUT", true},
		{"DECLARE c CURSOR FOR SELECT 1", true},
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
