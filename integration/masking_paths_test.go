package integration

import (
	"context"
	"encoding/binary"
	"fmt"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgproto3"

	"github.com/pgveil/pgveil/integration/harness"
	"github.com/pgveil/pgveil/internal/democrm"
)

// The masking-path tests drive the overseas analyst's session through the
// protocol paths a client can take (multi-statement simple queries,
// row-limited portals, binary formats, batches, errors, views) and check
// both the masked shapes and, over every byte the client received, that no
// seeded personal value leaked.

var (
	hexHash      = regexp.MustCompile(`^[0-9a-f]{64}$`)
	maskedYearRe = regexp.MustCompile(`^\d{4}-01-01$`)
)

// connectTappedPgconn connects with pgconn through a wiretap.
func connectTappedPgconn(t *testing.T, dsn string, tap *wiretap) *pgconn.PgConn {
	t.Helper()
	return connectTapped(t, dsn, pgx.QueryExecModeSimpleProtocol, tap).PgConn()
}

func connectDirect(t *testing.T, p *harness.Proxy) *pgx.Conn {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	conn, err := pgx.Connect(ctx, p.Up.ReaderDSN())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close(context.Background()) })
	return conn
}

func pathsCtx(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 45*time.Second)
	t.Cleanup(cancel)
	return ctx
}

// isPartialOf reports whether masked is partial(3,4) of the real phone.
func isPartialOf(masked, real string) bool {
	return maskedPhone.MatchString(masked) && len(real) == 11 && masked[:3] == real[:3] && masked[7:] == real[7:]
}

// 1. Several statements in one simple Query: each result is masked by its
// own statement's plan.
func TestMaskingPathsMultiStatement(t *testing.T) {
	t.Parallel()
	p := harness.StartProxy(t, nil)
	ctx := pathsCtx(t)
	direct := connectDirect(t, p)
	tap := &wiretap{}
	conn := connectTappedPgconn(t, p.DSN(harness.Overseas), tap)

	var realCity string
	if err := direct.QueryRow(ctx, "SELECT city FROM crm.orders WHERE id = 1").Scan(&realCity); err != nil {
		t.Fatal(err)
	}

	for round := 0; round < 2; round++ { // the second from the plan cache
		results, err := conn.Exec(ctx, "SELECT ship_phone FROM crm.orders WHERE id = 1; SELECT city FROM crm.orders WHERE id = 1; SELECT ship_address FROM crm.orders WHERE id = 2").ReadAll()
		if err != nil {
			t.Fatal(err)
		}
		if len(results) != 3 {
			t.Fatalf("%d results, want 3", len(results))
		}
		for i, r := range results {
			if len(r.Rows) != 1 || len(r.Rows[0]) != 1 {
				t.Fatalf("result %d: rows %q, want one row of one column", i, r.Rows)
			}
		}
		if got := results[0].Rows[0][0]; string(got) != "138****5678" {
			t.Errorf("ship_phone of order 1 = %q, want 138****5678", got)
		}
		if got := results[1].Rows[0][0]; got == nil || string(got) != realCity {
			t.Errorf("city of order 1 = %q, want %q in clear", got, realCity)
		}
		if got := results[2].Rows[0][0]; got != nil {
			t.Errorf("ship_address of order 2 = %q, want NULL", got)
		}
		if got := results[2].CommandTag.String(); got != "SELECT 1" {
			t.Errorf("third command tag %q", got)
		}
	}
	assertNoLeak(t, tap.bytes())
}

// 2. Portals executed a few rows at a time inside a transaction, one in
// text and one in binary result format, interleaved.
func TestMaskingPathsPortalRowLimits(t *testing.T) {
	t.Parallel()
	p := harness.StartProxy(t, nil)
	ctx := pathsCtx(t)
	direct := connectDirect(t, p)

	const q = "SELECT id, ship_phone FROM crm.orders ORDER BY id LIMIT 10"
	type order struct {
		id    int64
		phone *string
	}
	var want []order
	rows, err := direct.Query(ctx, q)
	if err != nil {
		t.Fatal(err)
	}
	for rows.Next() {
		var o order
		if err := rows.Scan(&o.id, &o.phone); err != nil {
			t.Fatal(err)
		}
		want = append(want, o)
	}
	if err := rows.Err(); err != nil || len(want) != 10 {
		t.Fatalf("direct: %d rows, %v", len(want), err)
	}

	tap := &wiretap{}
	conn := connectTappedPgconn(t, p.DSN(harness.Overseas), tap)
	hc, err := conn.Hijack()
	if err != nil {
		t.Fatal(err)
	}
	defer hc.Conn.Close()
	fe := hc.Frontend
	fe.Send(&pgproto3.Query{String: "BEGIN"})
	fe.Send(&pgproto3.Parse{Name: "s", Query: q})
	fe.Send(&pgproto3.Bind{DestinationPortal: "p_text", PreparedStatement: "s"})
	fe.Send(&pgproto3.Bind{DestinationPortal: "p_bin", PreparedStatement: "s", ResultFormatCodes: []int16{1, 1}})
	const executes = 4 // 3+3+3+1 rows
	for i := 0; i < executes; i++ {
		fe.Send(&pgproto3.Execute{Portal: "p_text", MaxRows: 3})
		fe.Send(&pgproto3.Execute{Portal: "p_bin", MaxRows: 3})
	}
	fe.Send(&pgproto3.Sync{})
	fe.Send(&pgproto3.Query{String: "COMMIT"})
	if err := fe.Flush(); err != nil {
		t.Fatal(err)
	}
	hc.Conn.SetDeadline(time.Now().Add(20 * time.Second))

	// Every Execute ends in PortalSuspended or CommandComplete; they come
	// in the order sent, alternating text and binary.
	type execResult struct {
		rows [][][]byte
		end  string
	}
	var results []execResult
	var cur execResult
	inExtended := false
	for ready := 0; ready < 3; {
		m, err := fe.Receive()
		if err != nil {
			t.Fatal(err)
		}
		switch m := m.(type) {
		case *pgproto3.ReadyForQuery:
			ready++
			inExtended = ready == 1
		case *pgproto3.ErrorResponse:
			t.Fatalf("server error: %s %s", m.Code, m.Message)
		case *pgproto3.DataRow:
			row := make([][]byte, len(m.Values))
			for i, v := range m.Values {
				if v != nil {
					row[i] = append([]byte{}, v...)
				}
			}
			cur.rows = append(cur.rows, row)
		case *pgproto3.PortalSuspended:
			cur.end = "suspended"
			results = append(results, cur)
			cur = execResult{}
		case *pgproto3.CommandComplete:
			if inExtended {
				cur.end = string(m.CommandTag)
				results = append(results, cur)
				cur = execResult{}
			}
		}
	}
	if len(results) != 2*executes {
		t.Fatalf("%d Execute results, want %d", len(results), 2*executes)
	}
	for portal, binaryFmt := range []bool{false, true} {
		var got [][][]byte
		for i := 0; i < executes; i++ {
			r := results[2*i+portal]
			wantEnd := "suspended"
			if i == executes-1 {
				wantEnd = "SELECT 1"
			}
			if r.end != wantEnd {
				t.Errorf("binary=%v execute %d ended with %q, want %q", binaryFmt, i, r.end, wantEnd)
			}
			got = append(got, r.rows...)
		}
		if len(got) != len(want) {
			t.Fatalf("binary=%v: %d rows, want %d", binaryFmt, len(got), len(want))
		}
		for i, row := range got {
			var id int64
			if binaryFmt {
				if len(row[0]) != 8 {
					t.Fatalf("binary id %x", row[0])
				}
				id = int64(binary.BigEndian.Uint64(row[0]))
			} else {
				fmt.Sscan(string(row[0]), &id)
			}
			if id != want[i].id {
				t.Errorf("binary=%v row %d: id %d, want %d", binaryFmt, i, id, want[i].id)
			}
			real := want[i].phone
			switch {
			case real == nil || *real == "":
				if row[1] != nil && len(row[1]) != 0 {
					t.Errorf("binary=%v order %d: ship_phone %q for an empty one", binaryFmt, id, row[1])
				}
			case row[1] == nil || !isPartialOf(string(row[1]), *real):
				t.Errorf("binary=%v order %d: ship_phone %q is not partial(3,4) of the real one", binaryFmt, id, row[1])
			}
		}
	}
	assertNoLeak(t, tap.bytes())
}

// 3. Every transform in binary (pgx's cached statements ask binary for
// date and timestamptz) and in text format.
func TestMaskingPathsFormats(t *testing.T) {
	t.Parallel()
	p := harness.StartProxy(t, nil)
	ctx := pathsCtx(t)
	direct := connectDirect(t, p)

	const q = "SELECT id, birthday, id_number, wechat_openid, qq_number, created_at, city, vip_level FROM crm.customers ORDER BY id LIMIT 40"
	type customer struct {
		id                            int64
		birthday, createdAt           *time.Time
		idNumber, openID, qq, city    *string
		vip                           int32
		rawBirthday, rawCreated       string
		birthdayFormat, createdFormat int16
	}
	read := func(t *testing.T, conn *pgx.Conn, where string) map[int64]customer {
		t.Helper()
		rows, err := conn.Query(ctx, strings.Replace(q, "ORDER BY", where+" ORDER BY", 1))
		if err != nil {
			t.Fatal(err)
		}
		defer rows.Close()
		out := map[int64]customer{}
		for rows.Next() {
			var c customer
			if err := rows.Scan(&c.id, &c.birthday, &c.idNumber, &c.openID, &c.qq, &c.createdAt, &c.city, &c.vip); err != nil {
				t.Fatal(err)
			}
			fds := rows.FieldDescriptions()
			c.birthdayFormat, c.createdFormat = fds[1].Format, fds[5].Format
			for i, oid := range []uint32{2: 25, 3: 25, 4: 25} {
				if oid != 0 && fds[i].DataTypeOID != oid {
					t.Errorf("column %s has type %d, want %d", fds[i].Name, fds[i].DataTypeOID, oid)
				}
			}
			raw := rows.RawValues()
			c.rawBirthday, c.rawCreated = string(raw[1]), string(raw[5])
			out[c.id] = c
		}
		if err := rows.Err(); err != nil {
			t.Fatal(err)
		}
		return out
	}
	real := read(t, direct, "WHERE consent_cross_border")

	byMode := map[pgx.QueryExecMode]map[int64]customer{}
	tap := &wiretap{}
	for _, mode := range []pgx.QueryExecMode{pgx.QueryExecModeCacheStatement, pgx.QueryExecModeSimpleProtocol} {
		conn := connectTapped(t, p.DSN(harness.Overseas), mode, tap)
		for round := 0; round < 2; round++ {
			got := read(t, conn, "")
			byMode[mode] = got
			if len(got) != len(real) {
				t.Errorf("%v: %d customers, want the %d consenting ones", mode, len(got), len(real))
			}
			for id, c := range got {
				r, ok := real[id]
				if !ok {
					t.Errorf("%v: customer %d returned but not consenting", mode, id)
					continue
				}
				if mode == pgx.QueryExecModeCacheStatement && (c.birthdayFormat != 1 || c.createdFormat != 1) {
					t.Errorf("%v: birthday/created_at in format %d/%d, the test wants binary", mode, c.birthdayFormat, c.createdFormat)
				}
				if mode == pgx.QueryExecModeSimpleProtocol && !maskedYearRe.MatchString(c.rawBirthday) {
					t.Errorf("%v: customer %d birthday text %q, want YYYY-01-01", mode, id, c.rawBirthday)
				}
				if c.birthday == nil || r.birthday == nil || c.birthday.Year() != r.birthday.Year() ||
					c.birthday.Month() != time.January || c.birthday.Day() != 1 {
					t.Errorf("%v: customer %d birthday %v, want Jan 1 of the year of %v", mode, id, c.birthday, r.birthday)
				}
				if c.idNumber == nil || !strings.HasPrefix(*c.idNumber, "tok_") || *c.idNumber == *r.idNumber {
					t.Errorf("%v: customer %d id_number %v is not a token", mode, id, c.idNumber)
				}
				for _, h := range []struct {
					name      string
					got, real *string
				}{{"wechat_openid", c.openID, r.openID}, {"qq_number", c.qq, r.qq}} {
					switch {
					case h.real == nil:
						if h.got != nil {
							t.Errorf("%v: customer %d %s %q for NULL", mode, id, h.name, *h.got)
						}
					case h.got == nil || !hexHash.MatchString(*h.got):
						t.Errorf("%v: customer %d %s %v is not a 64-hex hash", mode, id, h.name, h.got)
					}
				}
				if c.createdAt == nil || !c.createdAt.Equal(*r.createdAt) {
					t.Errorf("%v: customer %d created_at %v, want %v", mode, id, c.createdAt, r.createdAt)
				}
				if c.city == nil || *c.city != *r.city || c.vip != r.vip {
					t.Errorf("%v: customer %d city/vip %v/%d, want %q/%d", mode, id, c.city, c.vip, *r.city, r.vip)
				}
			}
		}
	}
	// Keyed transforms hash the canonical text, so both formats agree.
	bin, text := byMode[pgx.QueryExecModeCacheStatement], byMode[pgx.QueryExecModeSimpleProtocol]
	for id, b := range bin {
		tx := text[id]
		if deref(b.idNumber) != deref(tx.idNumber) || deref(b.openID) != deref(tx.openID) || deref(b.qq) != deref(tx.qq) {
			t.Errorf("customer %d: binary and text sessions disagree: %v/%v/%v vs %v/%v/%v", id,
				deref(b.idNumber), deref(b.openID), deref(b.qq), deref(tx.idNumber), deref(tx.openID), deref(tx.qq))
		}
	}
	assertNoLeak(t, tap.bytes())
}

func deref(s *string) string {
	if s == nil {
		return "<NULL>"
	}
	return *s
}

// 4. Tokens and pseudonyms are stable across sessions and proxies that
// share a key, and distinguish customers.
func TestMaskingPathsDeterminism(t *testing.T) {
	t.Parallel()
	p1 := harness.StartProxy(t, nil)
	p2 := harness.StartProxy(t, nil)
	ctx := pathsCtx(t)
	direct := connectDirect(t, p1)

	const q = "SELECT id, name, id_number FROM crm.customers ORDER BY id LIMIT 60"
	type masked struct{ name, token string }
	read := func(conn *pgx.Conn) map[int64]masked {
		rows, err := conn.Query(ctx, q)
		if err != nil {
			t.Fatal(err)
		}
		defer rows.Close()
		out := map[int64]masked{}
		for rows.Next() {
			var id int64
			var name, token *string
			if err := rows.Scan(&id, &name, &token); err != nil {
				t.Fatal(err)
			}
			out[id] = masked{deref(name), deref(token)}
		}
		if err := rows.Err(); err != nil {
			t.Fatal(err)
		}
		return out
	}
	real := map[int64]masked{}
	rows, err := direct.Query(ctx, "SELECT id, name, id_number FROM crm.customers WHERE consent_cross_border ORDER BY id LIMIT 60")
	if err != nil {
		t.Fatal(err)
	}
	for rows.Next() {
		var id int64
		var m masked
		if err := rows.Scan(&id, &m.name, &m.token); err != nil {
			t.Fatal(err)
		}
		real[id] = m
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}

	tap := &wiretap{}
	sessions := []map[int64]masked{
		read(connectTapped(t, p1.DSN(harness.Overseas), pgx.QueryExecModeSimpleProtocol, tap)),
		read(connectTapped(t, p1.DSN(harness.Overseas), pgx.QueryExecModeCacheStatement, tap)),
		read(connectTapped(t, p2.DSN(harness.Overseas), pgx.QueryExecModeExec, tap)),
	}
	base := sessions[0]
	if len(base) != len(real) {
		t.Fatalf("%d customers, want %d", len(base), len(real))
	}
	for i, s := range sessions[1:] {
		for id, m := range base {
			if s[id] != m {
				t.Errorf("session %d: customer %d masked as %+v, first session %+v", i+1, id, s[id], m)
			}
		}
	}
	tokens := map[string]int64{}
	pseudonyms := map[string]bool{}
	names := map[string]bool{}
	for id, m := range base {
		if !strings.HasPrefix(m.token, "tok_") || m.name == "<NULL>" || m.name == real[id].name {
			t.Errorf("customer %d: %+v is not a token and a pseudonym", id, m)
		}
		if other, dup := tokens[m.token]; dup && real[other].token != real[id].token {
			t.Errorf("customers %d and %d have different ID numbers but the same token %s", other, id, m.token)
		}
		tokens[m.token] = id
		pseudonyms[m.name] = true
		names[real[id].name] = true
		for other, om := range base {
			if real[other].name == real[id].name && om.name != m.name {
				t.Errorf("customers %d and %d share a name but got pseudonyms %q and %q", id, other, m.name, om.name)
			}
		}
	}
	if len(pseudonyms) < len(names)/2 {
		t.Errorf("%d distinct pseudonyms for %d distinct names", len(pseudonyms), len(names))
	}
	assertNoLeak(t, tap.bytes())
}

// 5. Refusals leave the session usable, in the extended protocol and in
// batches too.
func TestMaskingPathsRefusalsExtended(t *testing.T) {
	t.Parallel()
	p := harness.StartProxy(t, nil)
	ctx := pathsCtx(t)
	tap := &wiretap{}
	for _, mode := range []pgx.QueryExecMode{pgx.QueryExecModeExec, pgx.QueryExecModeCacheStatement} {
		t.Run(mode.String(), func(t *testing.T) {
			conn := connectTapped(t, p.DSN(harness.Overseas), mode, tap)
			shipPhone := func(t *testing.T) {
				t.Helper()
				var phone *string
				if err := conn.QueryRow(ctx, "SELECT ship_phone FROM crm.orders WHERE id = $1", 1).Scan(&phone); err != nil {
					t.Fatalf("normal query: %v", err)
				}
				if phone == nil || *phone != "138****5678" {
					t.Errorf("ship_phone %v, want 138****5678", phone)
				}
			}
			refused := []string{
				"SELECT note FROM crm.staff_notes WHERE id = $1",
				"SELECT id FROM crm.orders WHERE ship_phone = $1",
			}
			shipPhone(t)
			for _, sql := range refused {
				_, err := conn.Exec(ctx, sql, "1")
				if pgCode(err) != "42501" || !strings.Contains(err.Error(), "overseas-analysts") {
					t.Errorf("%s: err = %v, want 42501", sql, err)
				}
				shipPhone(t)
			}

			// A batch: results before the refusal arrive, the refusal is
			// 42501, the rest is skipped, and the session goes on.
			b := &pgx.Batch{}
			b.Queue("SELECT ship_phone FROM crm.orders WHERE id = 1")
			b.Queue("SELECT note FROM crm.staff_notes")
			b.Queue("SELECT city FROM crm.orders WHERE id = 1")
			br := conn.SendBatch(ctx, b)
			var phone *string
			err := br.QueryRow().Scan(&phone)
			if mode == pgx.QueryExecModeCacheStatement {
				// pgx prepares every statement of the batch before it
				// executes any: the refused Parse fails the whole batch.
				if pgCode(err) != "42501" {
					t.Errorf("batch first: %v, %v; want the refusal from the prepare phase", deref(phone), err)
				}
				br.Close()
				shipPhone(t)
				return
			}
			if err != nil || phone == nil || *phone != "138****5678" {
				t.Errorf("batch first: %v, %v; want 138****5678", deref(phone), err)
			}
			var note *string
			if err := br.QueryRow().Scan(&note); pgCode(err) != "42501" {
				t.Errorf("batch refused statement: %v, %v; want 42501", note, err)
			}
			var city *string
			if err := br.QueryRow().Scan(&city); err == nil {
				t.Errorf("batch statement after the refusal returned %v, want an error (skipped)", deref(city))
			}
			br.Close()
			shipPhone(t)

			// In a transaction a refusal aborts it, as any error would.
			tx, err := conn.Begin(ctx)
			if err != nil {
				t.Fatal(err)
			}
			if _, err := tx.Exec(ctx, "SELECT note FROM crm.staff_notes"); pgCode(err) != "42501" {
				t.Errorf("refusal in a transaction: %v", err)
			}
			if _, err := tx.Exec(ctx, "SELECT 1"); pgCode(err) != "25P02" {
				t.Errorf("after a refusal in a transaction: %v, want 25P02", err)
			}
			if err := tx.Rollback(ctx); err != nil {
				t.Fatal(err)
			}
			shipPhone(t)
		})
	}
	assertNoLeak(t, tap.bytes())
}

// 6. Values derived from masked columns are NULL; aggregates that carry
// no data are kept.
func TestMaskingPathsDerived(t *testing.T) {
	t.Parallel()
	p := harness.StartProxy(t, nil)
	ctx := pathsCtx(t)
	direct := connectDirect(t, p)
	tap := &wiretap{}
	for _, mode := range []pgx.QueryExecMode{pgx.QueryExecModeSimpleProtocol, pgx.QueryExecModeCacheStatement} {
		t.Run(mode.String(), func(t *testing.T) {
			conn := connectTapped(t, p.DSN(harness.Overseas), mode, tap)
			// Computing on a masked column would evaluate it in cleartext
			// upstream (an oracle for guesses): refused, session goes on.
			for _, sql := range []string{
				"SELECT upper(email), mobile || 'x' FROM crm.customers c ORDER BY id LIMIT 5",
				"SELECT to_jsonb(c)::text FROM crm.customers c ORDER BY id LIMIT 5",
				"SELECT c FROM crm.customers c ORDER BY id LIMIT 5",
				"SELECT length(mobile), concat(name, city), coalesce(address, 'none') FROM crm.customers ORDER BY id LIMIT 5",
				"SELECT min(mobile), max(name), string_agg(email, ','), array_agg(id_number)::text FROM crm.customers",
				"SELECT upper(ship_phone), ship_address || '', substr(ship_phone, 1, 11) FROM crm.orders WHERE id = 1",
				"SELECT (SELECT mobile FROM crm.customers ORDER BY id LIMIT 1) || ''",
			} {
				_, err := conn.Exec(ctx, sql)
				if pgCode(err) != "42501" || !strings.Contains(err.Error(), "overseas-analysts") {
					t.Errorf("%s: err = %v, want a 42501 refusal naming the policy", sql, err)
				}
			}
			var one int
			if err := conn.QueryRow(ctx, "SELECT 1").Scan(&one); err != nil {
				t.Fatalf("session unusable after refusals: %v", err)
			}

			var want, got int64
			if err := direct.QueryRow(ctx, "SELECT count(mobile) FROM crm.customers WHERE consent_cross_border").Scan(&want); err != nil {
				t.Fatal(err)
			}
			var gotP *int64
			if err := conn.QueryRow(ctx, "SELECT count(mobile) FROM crm.customers").Scan(&gotP); err != nil {
				t.Fatal(err)
			}
			if gotP == nil || *gotP != want {
				t.Errorf("count(mobile) = %v, want %d (the consenting customers)", gotP, want)
			}
			if err := conn.QueryRow(ctx, "SELECT count(*) FROM crm.customers").Scan(&got); err != nil || got != want {
				t.Errorf("count(*) = %d, %v, want %d", got, err, want)
			}
		})
	}
	assertNoLeak(t, tap.bytes())
}

// 7. Server errors that quote data are withheld; the SQLSTATE is kept.
func TestMaskingPathsErrorsWithheld(t *testing.T) {
	t.Parallel()
	p := harness.StartProxy(t, nil)
	ctx := pathsCtx(t)
	direct := connectDirect(t, p)

	cases := []struct{ sql, code string }{
		{"SELECT mobile::int FROM crm.customers LIMIT 1", "22003"},
		{"SELECT ship_phone::int FROM crm.orders WHERE id = 1", "22003"},
		{"SELECT ship_address::int FROM crm.orders WHERE id = 1", "22P02"},
		{"SELECT ship_phone::date FROM crm.orders WHERE id = 1", ""},
		{"SELECT ship_address::jsonb FROM crm.orders WHERE id = 1", "22P02"},
	}
	tap := &wiretap{}
	for _, mode := range []pgx.QueryExecMode{pgx.QueryExecModeSimpleProtocol, pgx.QueryExecModeExec} {
		t.Run(mode.String(), func(t *testing.T) {
			conn := connectTapped(t, p.DSN(harness.Overseas), mode, tap)
			for _, c := range cases {
				_, derr := direct.Exec(ctx, strings.Replace(c.sql, "FROM crm.customers", "FROM crm.customers WHERE consent_cross_border", 1))
				if derr == nil {
					t.Fatalf("%s: no error directly", c.sql)
				}
				code := pgCode(derr)
				if c.code != "" && code != c.code {
					t.Fatalf("%s: direct SQLSTATE %s, want %s", c.sql, code, c.code)
				}
				// Either refused before it runs (a cast computes on a masked
				// column), or run with the error's text withheld.
				_, err := conn.Exec(ctx, c.sql)
				switch got := pgCode(err); {
				case got == "42501" && strings.Contains(err.Error(), "overseas-analysts"):
				case got != code:
					t.Errorf("%s: SQLSTATE %q (%v), want %s as directly or a 42501 refusal", c.sql, got, err, code)
				case !strings.Contains(err.Error(), "withholds the text"):
					t.Errorf("%s: message %q is not pgveil's generic one", c.sql, err)
				}
				// Whatever value the direct error quotes must not reach us.
				if q := quoted(derr.Error()); q != "" && strings.Contains(string(tap.bytes()), q) {
					t.Errorf("%s: the quoted value %q reached the masked client", c.sql, q)
				}
				var one int
				if err := conn.QueryRow(ctx, "SELECT 1").Scan(&one); err != nil {
					t.Fatalf("session unusable after %s: %v", c.sql, err)
				}
			}
		})
	}
	assertNoLeak(t, tap.bytes())
}

// quoted returns the first "..." in an error message.
func quoted(msg string) string {
	_, rest, ok := strings.Cut(msg, `"`)
	if !ok {
		return ""
	}
	v, _, _ := strings.Cut(rest, `"`)
	return v
}

// 7b. Errors in SQLSTATE classes pgveil treats as safe (42 "syntax error
// or access rule violation", 3F "invalid schema name", 3D "invalid catalog
// name") also quote values read from tables: a masked column cast to an
// object-identifier type, or passed to a has_*_privilege function, is
// looked up by name, and the error names the value.
func TestMaskingPathsErrorsWithheldNameLookups(t *testing.T) {
	t.Parallel()
	p := harness.StartProxy(t, nil)
	ctx := pathsCtx(t)
	tap := &wiretap{}
	cases := []struct{ expr, code string }{
		{"ship_phone::regclass", "42P01"},
		{"ship_address::regclass", "42P01"},
		{"ship_address::regtype", "42704"},
		{"ship_address::regproc", "42883"},
		{"ship_address::regoper", "42883"},
		{"ship_address::regnamespace", "3F000"},
		{"has_table_privilege(ship_phone, 'SELECT')", "42P01"},
		{"has_column_privilege('crm.orders', ship_phone, 'SELECT')", "42703"},
		{"has_schema_privilege(ship_phone, 'USAGE')", "3F000"},
		{"has_database_privilege(ship_phone, 'CONNECT')", "3D000"},
		{"pg_has_role(ship_phone, 'MEMBER')", "42704"},
		{"pg_database_size(ship_phone)", "3D000"},
		{"pg_get_serial_sequence('crm.orders', ship_phone)", "42703"},
	}
	for _, mode := range []pgx.QueryExecMode{pgx.QueryExecModeSimpleProtocol, pgx.QueryExecModeExec} {
		conn := connectTapped(t, p.DSN(harness.Overseas), mode, tap)
		for _, c := range cases {
			sql := "SELECT " + c.expr + " FROM crm.orders WHERE id = 1"
			// Refused before it runs (it computes on a masked column), or
			// run with the server's SQLSTATE and its text withheld.
			_, err := conn.Exec(ctx, sql)
			if got := pgCode(err); got != c.code && got != "42501" {
				t.Errorf("%v: %s: SQLSTATE %q, want %s or a 42501 refusal", mode, sql, got, c.code)
			}
			if err != nil && (strings.Contains(err.Error(), democrm.SeedMobile) || strings.Contains(err.Error(), democrm.SeedAddress)) {
				t.Errorf("%v: %s: error %q quotes order 1's data", mode, sql, err)
			}
		}
	}
	assertNoLeak(t, tap.bytes())
}

// 7c. predicates = "deny" refuses masked columns in WHERE, but a
// condition in the projection that raises an error only for some values
// answers the same question through the SQLSTATE alone.
func TestMaskingPathsErrorOracle(t *testing.T) {
	t.Parallel()
	p := harness.StartProxy(t, nil)
	ctx := pathsCtx(t)
	tap := &wiretap{}
	conn := connectTapped(t, p.DSN(harness.Overseas), pgx.QueryExecModeSimpleProtocol, tap)
	// The refused form of the question, for comparison.
	if _, err := conn.Exec(ctx, "SELECT id FROM crm.orders WHERE id = 1 AND ship_phone = '13812345678'"); pgCode(err) != "42501" {
		t.Errorf("predicate on ship_phone: %v, want 42501", err)
	}
	answer := func(guess string) string {
		_, err := conn.Exec(ctx, "SELECT CASE WHEN ship_phone = '"+guess+"' THEN 1/(id - id) END FROM crm.orders WHERE id = 1")
		return pgCode(err)
	}
	right, wrong := answer(democrm.SeedMobile), answer("13800000000")
	if right != wrong {
		t.Errorf("a masked column compared in the projection answers through the error: SQLSTATE %q for the real ship_phone, %q for another", right, wrong)
	}
	// The same through the row count: a set-returning function in the
	// projection whose argument depends on the masked value.
	rowsFor := func(guess string) int {
		rows, err := conn.Query(ctx, "SELECT generate_series(1, CASE WHEN ship_phone = '"+guess+"' THEN 2 ELSE 1 END) FROM crm.orders WHERE id = 1")
		if err != nil {
			return -1 // refused: no answer
		}
		n := 0
		for rows.Next() {
			n++
		}
		if rows.Err() != nil {
			return -1
		}
		return n
	}
	if right, wrong := rowsFor(democrm.SeedMobile), rowsFor("13800000000"); right != wrong {
		t.Errorf("a masked column compared in a set-returning function's argument answers through the row count: %d rows for the real ship_phone, %d for another", right, wrong)
	}
	assertNoLeak(t, tap.bytes())
}

// 8. A view over a row-filtered table is refused for the analyst; local
// staff read it in clear.
func TestMaskingPathsViews(t *testing.T) {
	t.Parallel()
	p := harness.StartProxy(t, nil)
	ctx := pathsCtx(t)
	tap := &wiretap{}
	for _, mode := range []pgx.QueryExecMode{pgx.QueryExecModeSimpleProtocol, pgx.QueryExecModeExec} {
		conn := connectTapped(t, p.DSN(harness.Overseas), mode, tap)
		_, err := conn.Exec(ctx, "SELECT name, mobile FROM crm.customer_contacts")
		if pgCode(err) != "42501" || !strings.Contains(err.Error(), "overseas-analysts") {
			t.Errorf("%v: view: err = %v, want 42501 naming the policy", mode, err)
		}
		var one int
		if err := conn.QueryRow(ctx, "SELECT 1").Scan(&one); err != nil {
			t.Fatalf("%v: session unusable after the refusal: %v", mode, err)
		}
	}
	assertNoLeak(t, tap.bytes())

	local, err := pgx.Connect(ctx, p.DSN(harness.Local))
	if err != nil {
		t.Fatal(err)
	}
	defer local.Close(ctx)
	var name, mobile string
	if err := local.QueryRow(ctx, "SELECT name, mobile FROM crm.customer_contacts WHERE id = 1").Scan(&name, &mobile); err != nil {
		t.Fatal(err)
	}
	if name != democrm.SeedName || mobile != democrm.SeedMobile {
		t.Errorf("local staff read %q %q from the view, want the seed values", name, mobile)
	}
}
