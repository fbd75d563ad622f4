package integration

import (
	"bytes"
	"context"
	"encoding/csv"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/pgveil/pgveil/integration/harness"
)

// TestMaskingCopyTo: COPY ... TO STDOUT in text and CSV is masked like the
// SELECT it copies; binary, COPY FROM, and COPY of a table with a row
// filter are refused; no seeded value reaches the client.
func TestMaskingCopyTo(t *testing.T) {
	p := harness.StartProxy(t, nil)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()

	direct, err := pgx.Connect(ctx, p.Up.ReaderDSN())
	if err != nil {
		t.Fatal(err)
	}
	defer direct.Close(ctx)
	realCity := map[string]string{}
	rows, err := direct.Query(ctx, "SELECT o.id::text, coalesce(o.city, '') FROM crm.orders o ORDER BY o.id LIMIT 20")
	if err != nil {
		t.Fatal(err)
	}
	for rows.Next() {
		var id, city string
		if err := rows.Scan(&id, &city); err != nil {
			t.Fatal(err)
		}
		realCity[id] = city
	}
	if rows.Err() != nil || len(realCity) != 20 {
		t.Fatalf("direct: %d orders, %v", len(realCity), rows.Err())
	}

	tap := &wiretap{}
	conn := connectTapped(t, p.DSN(harness.Overseas), pgx.QueryExecModeSimpleProtocol, tap).PgConn()
	copyTo := func(sql string) (string, error) {
		var buf bytes.Buffer
		_, err := conn.CopyTo(ctx, &buf, sql)
		return buf.String(), err
	}
	checkOrder := func(sql string, id, phone string, address *string, city string) {
		t.Helper()
		if phone != "" && !maskedPhone.MatchString(phone) {
			t.Errorf("%s: order %s: ship_phone %q is not masked", sql, id, phone)
		}
		if id == "1" && phone != "138****5678" {
			t.Errorf("%s: order 1: ship_phone %q, want 138****5678", sql, phone)
		}
		if address != nil && *address != "" {
			t.Errorf("%s: order %s: ship_address %q, want NULL", sql, id, *address)
		}
		if want, ok := realCity[id]; !ok || city != want {
			t.Errorf("%s: order %s: city %q, want %q in clear", sql, id, city, want)
		}
	}

	// Text format.
	const q = "SELECT id, ship_phone, ship_address, city FROM crm.orders ORDER BY id LIMIT 20"
	out, err := copyTo("COPY (" + q + ") TO STDOUT")
	if err != nil {
		t.Fatalf("COPY text: %v", err)
	}
	lines := strings.Split(strings.TrimSuffix(out, "\n"), "\n")
	if len(lines) != 20 {
		t.Fatalf("COPY text: %d lines, want 20: %q", len(lines), out)
	}
	for _, l := range lines {
		f := strings.Split(l, "\t")
		if len(f) != 4 {
			t.Fatalf("COPY text: line %q has %d fields", l, len(f))
		}
		var addr *string
		if f[2] != `\N` {
			addr = &f[2]
		}
		checkOrder("COPY text", f[0], f[1], addr, f[3])
	}

	// CSV with a header.
	out, err = copyTo("COPY (" + q + ") TO STDOUT WITH (FORMAT csv, HEADER)")
	if err != nil {
		t.Fatalf("COPY csv: %v", err)
	}
	recs, err := csv.NewReader(strings.NewReader(out)).ReadAll()
	if err != nil {
		t.Fatalf("COPY csv: %v: %q", err, out)
	}
	if len(recs) != 21 || strings.Join(recs[0], ",") != "id,ship_phone,ship_address,city" {
		t.Fatalf("COPY csv: %d records, header %q", len(recs), recs[0])
	}
	for _, r := range recs[1:] {
		checkOrder("COPY csv", r[0], r[1], &r[2], r[3])
	}

	// A table with a column list; a clear table in full.
	out, err = copyTo("COPY crm.orders (id, ship_phone) TO STDOUT")
	if err != nil {
		t.Fatalf("COPY table (cols): %v", err)
	}
	n := 0
	for _, l := range strings.Split(strings.TrimSuffix(out, "\n"), "\n") {
		id, phone, ok := strings.Cut(l, "\t")
		if !ok || strings.Contains(phone, "\t") {
			t.Fatalf("COPY table (cols): line %q", l)
		}
		if phone != `\N` && !maskedPhone.MatchString(phone) || id == "1" && phone != "138****5678" {
			t.Errorf("COPY table (cols): order %s: ship_phone %q is not masked", id, phone)
		}
		n++
	}
	if n < 20 {
		t.Errorf("COPY table (cols): %d rows", n)
	}

	// COPY (SELECT ...) of the filtered table is filtered.
	out, err = copyTo("COPY (SELECT id, mobile FROM crm.customers) TO STDOUT WITH (FORMAT csv)")
	if err != nil {
		t.Fatalf("COPY (SELECT) of a filtered table: %v", err)
	}
	var consenting int
	if err := direct.QueryRow(ctx, "SELECT count(*) FROM crm.customers WHERE consent_cross_border").Scan(&consenting); err != nil {
		t.Fatal(err)
	}
	if got := strings.Count(out, "\n"); got != consenting {
		t.Errorf("COPY (SELECT) of crm.customers: %d rows, want the %d consenting", got, consenting)
	}

	// Refusals.
	for _, sql := range []string{
		"COPY crm.customers TO STDOUT",                                            // row filter
		"COPY crm.customers (id, city) TO STDOUT",                                 // row filter
		"COPY crm.orders TO STDOUT WITH (FORMAT binary)",                          // binary
		"COPY crm.orders TO STDOUT BINARY",                                        // binary, old syntax
		"COPY crm.staff_notes TO STDOUT",                                          // denied table
		"COPY (SELECT id FROM crm.orders WHERE ship_phone LIKE '138%') TO STDOUT", // predicate
		"COPY (SELECT lower(ship_phone) FROM crm.orders) TO STDOUT",               // computed
		"COPY crm.orders TO '/tmp/pgveil_copy'",
	} {
		_, err := copyTo(sql)
		if pgCode(err) != "42501" {
			t.Errorf("%s: err = %v, want 42501", sql, err)
		}
	}
	if _, err := conn.CopyFrom(ctx, strings.NewReader("1\n"), "COPY crm.orders (id) FROM STDIN"); pgCode(err) != "42501" {
		t.Errorf("COPY FROM: err = %v, want 42501", err)
	}

	// The session goes on.
	res, err := conn.Exec(ctx, "SELECT 1").ReadAll()
	if err != nil || len(res) != 1 || len(res[0].Rows) != 1 {
		t.Fatalf("session unusable after COPY: %v", err)
	}
	assertNoLeak(t, tap.bytes())
}
