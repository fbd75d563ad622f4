package integration

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/pgveil/pgveil/integration/harness"
	"github.com/pgveil/pgveil/internal/democrm"
	"github.com/pgveil/pgveil/internal/stack"
	"github.com/pgveil/pgveil/proxy"
)

// wiretap records every byte a client receives, for the leak check.
type wiretap struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

type tappedConn struct {
	net.Conn
	tap *wiretap
}

func (c tappedConn) Read(p []byte) (int, error) {
	n, err := c.Conn.Read(p)
	c.tap.mu.Lock()
	c.tap.buf.Write(p[:n])
	c.tap.mu.Unlock()
	return n, err
}

func (w *wiretap) bytes() []byte {
	w.mu.Lock()
	defer w.mu.Unlock()
	return bytes.Clone(w.buf.Bytes())
}

// connectTapped connects with pgx through a wiretap.
func connectTapped(t *testing.T, dsn string, mode pgx.QueryExecMode, tap *wiretap) *pgx.Conn {
	t.Helper()
	cfg, err := pgx.ParseConfig(dsn)
	if err != nil {
		t.Fatal(err)
	}
	cfg.DefaultQueryExecMode = mode
	dial := cfg.DialFunc
	cfg.DialFunc = func(ctx context.Context, network, addr string) (net.Conn, error) {
		c, err := dial(ctx, network, addr)
		if err != nil {
			return nil, err
		}
		return tappedConn{c, tap}, nil
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	conn, err := pgx.ConnectConfig(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close(context.Background()) })
	return conn
}

// leakForms returns the encodings of a seeded value a leak check looks
// for: raw, hex, base64, reversed, and digits only.
func leakForms(v string) []string {
	forms := []string{v, hex.EncodeToString([]byte(v)), base64.StdEncoding.EncodeToString([]byte(v)), reverse(v)}
	var digits strings.Builder
	for _, r := range v {
		if r >= '0' && r <= '9' {
			digits.WriteRune(r)
		}
	}
	if digits.Len() >= 8 && digits.String() != v {
		forms = append(forms, digits.String())
	}
	return forms
}

func reverse(s string) string {
	r := []rune(s)
	for i, j := 0, len(r)-1; i < j; i, j = i+1, j-1 {
		r[i], r[j] = r[j], r[i]
	}
	return string(r)
}

// assertNoLeak fails if any seeded personal value reaches the client.
// The seed name 张伟 is left out: it is common enough that a pseudonym
// may legitimately be the same two characters.
func assertNoLeak(t *testing.T, received []byte) {
	t.Helper()
	for _, v := range democrm.SeedPII() {
		if v == democrm.SeedName {
			continue
		}
		for _, form := range leakForms(v) {
			if bytes.Contains(received, []byte(form)) {
				t.Errorf("seeded value %q leaked to the masked client (as %q)", v, form)
			}
		}
	}
}

func pgCode(err error) string {
	var pe *pgconn.PgError
	if errors.As(err, &pe) {
		return pe.Code
	}
	return ""
}

var (
	maskedPhone = regexp.MustCompile(`^1\d{2}\*{4}\d{4}$`)
	maskedEmail = regexp.MustCompile(`^[^@*]\*\*\*@[a-z0-9.]+$`)
)

// TestMaskingOverseasAnalyst runs the analyst's everyday queries through
// the overseas listener in every pgx query mode and checks the masked
// shapes of the example policy, the refusals, and that no seeded value
// reaches the client in any byte.
func TestMaskingOverseasAnalyst(t *testing.T) {
	p := harness.StartProxy(t, nil)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()

	direct, err := pgx.Connect(ctx, p.Up.ReaderDSN())
	if err != nil {
		t.Fatal(err)
	}
	defer direct.Close(ctx)

	for _, mode := range []pgx.QueryExecMode{pgx.QueryExecModeSimpleProtocol, pgx.QueryExecModeExec, pgx.QueryExecModeCacheStatement, pgx.QueryExecModeDescribeExec} {
		t.Run(mode.String(), func(t *testing.T) {
			tap := &wiretap{}
			conn := connectTapped(t, p.DSN(harness.Overseas), mode, tap)

			// The everyday query: masked shapes, clear metadata, row filter.
			const q = "SELECT id, name, mobile, email, id_number, birthday, city, address FROM crm.customers ORDER BY id LIMIT 50"
			for round := 0; round < 2; round++ { // twice: cached statements run without Describe
				rows, err := conn.Query(ctx, q)
				if err != nil {
					t.Fatalf("everyday query: %v", err)
				}
				n := 0
				for rows.Next() {
					n++
					var id int64
					var name, mobile, email, idNumber, city *string
					var address *string
					var birthday *time.Time
					if err := rows.Scan(&id, &name, &mobile, &email, &idNumber, &birthday, &city, &address); err != nil {
						t.Fatalf("scan: %v", err)
					}
					if id == democrm.SeedCustomerID {
						t.Errorf("customer %d has no cross-border consent but was returned", id)
					}
					var realCity, realMobile, realEmail string
					var consent bool
					if err := direct.QueryRow(ctx, "SELECT city, mobile, coalesce(email, ''), consent_cross_border FROM crm.customers WHERE id = $1", id).Scan(&realCity, &realMobile, &realEmail, &consent); err != nil {
						t.Fatal(err)
					}
					if !consent {
						t.Errorf("customer %d without consent returned", id)
					}
					if city == nil || *city != realCity {
						t.Errorf("customer %d: city %v, want %q in clear", id, city, realCity)
					}
					if mobile == nil || !maskedPhone.MatchString(*mobile) || *mobile == realMobile ||
						(*mobile)[:3] != realMobile[:3] || (*mobile)[7:] != realMobile[7:] {
						t.Errorf("customer %d: mobile %v is not partial(3,4) of the real one", id, mobile)
					}
					// Not an email (empty here): the transform fails closed to NULL.
					if realEmail == "" && email != nil || realEmail != "" && (email == nil || !maskedEmail.MatchString(*email)) {
						t.Errorf("customer %d: email %v is not masked like z***@qq.com", id, email)
					}
					if idNumber == nil || !strings.HasPrefix(*idNumber, "tok_") {
						t.Errorf("customer %d: id_number %v is not a token", id, idNumber)
					}
					if birthday == nil || birthday.Month() != time.January || birthday.Day() != 1 {
						t.Errorf("customer %d: birthday %v is not year-only", id, birthday)
					}
					if name == nil || !utf8.ValidString(*name) || *name == "" {
						t.Errorf("customer %d: name %v is not a pseudonym", id, name)
					}
					if address != nil {
						t.Errorf("customer %d: address %q, want NULL (redact)", id, *address)
					}
				}
				if err := rows.Err(); err != nil {
					t.Fatalf("everyday query: %v", err)
				}
				if n == 0 {
					t.Fatal("no consenting customers returned")
				}
			}

			// Order 1 ships to the seed customer's phone and address.
			var shipPhone, shipAddress *string
			if err := conn.QueryRow(ctx, "SELECT ship_phone, ship_address FROM crm.orders WHERE id = 1").Scan(&shipPhone, &shipAddress); err != nil {
				t.Fatal(err)
			}
			if shipPhone == nil || *shipPhone != "138****5678" || shipAddress != nil {
				t.Errorf("order 1: ship_phone %v ship_address %v, want 138****5678 and NULL", shipPhone, shipAddress)
			}

			// Grouping by a tokenized column works: groups of tokens.
			rows, err := conn.Query(ctx, "SELECT id_number, count(*) FROM crm.customers GROUP BY id_number")
			if err != nil {
				t.Fatalf("GROUP BY a token column: %v", err)
			}
			groups := 0
			for rows.Next() {
				var tok *string
				var n int64
				if err := rows.Scan(&tok, &n); err != nil {
					t.Fatal(err)
				}
				if tok != nil && !strings.HasPrefix(*tok, "tok_") {
					t.Errorf("group key %q is not a token", *tok)
				}
				groups++
			}
			if rows.Err() != nil || groups == 0 {
				t.Fatalf("GROUP BY a token column: %d groups, %v", groups, rows.Err())
			}

			// Aggregates that carry no data stay allowed.
			var cnt int64
			if err := conn.QueryRow(ctx, "SELECT count(o.ship_phone) OVER () FROM crm.orders o WHERE o.id = 1").Scan(&cnt); err != nil || cnt != 1 {
				t.Errorf("count over a masked column: %d, %v; want 1", cnt, err)
			}

			// Refusals name the policy and echo no data; the session goes on.
			assertRefused(t, ctx, conn,
				"SELECT note FROM crm.staff_notes",
				"SELECT id FROM crm.orders WHERE ship_phone = '13812345678'",
				"SELECT ship_phone FROM crm.orders ORDER BY ship_phone",
				"SELECT lower(o.ship_phone || '') FROM crm.orders o WHERE o.id = 1",
				"SELECT ship_phone, count(*) FROM crm.orders GROUP BY ship_phone",
				"SELECT id_number FROM crm.customers ORDER BY id_number",
			)
			var one int
			if err := conn.QueryRow(ctx, "SELECT 1").Scan(&one); err != nil || one != 1 {
				t.Fatalf("session unusable after refusals: %v", err)
			}

			assertNoLeak(t, tap.bytes())
		})
	}
}

// TestMaskingLocalStaffSeeClear checks the other side: the China user gets
// the same rows in clear, byte for byte as a direct connection.
func TestMaskingLocalStaffSeeClear(t *testing.T) {
	p := harness.StartProxy(t, nil)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	conn, err := pgx.Connect(ctx, p.DSN(harness.Local))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	var mobile, idNumber string
	if err := conn.QueryRow(ctx, "SELECT mobile, id_number FROM crm.customers WHERE id = 1").Scan(&mobile, &idNumber); err != nil {
		t.Fatal(err)
	}
	if mobile != democrm.SeedMobile || idNumber != democrm.SeedIDNumber {
		t.Fatalf("local staff see %q %q, want the real values", mobile, idNumber)
	}
}

// TestMaskingCursorsAndPrepared: rows fetched from SQL cursors and
// returned by EXECUTE are masked with the plan of the query they were
// declared with; the checks on that query (predicates, deny_tables) apply
// at DECLARE/PREPARE.
func TestMaskingCursorsAndPrepared(t *testing.T) {
	p := harness.StartProxy(t, nil)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	tap := &wiretap{}
	conn := connectTapped(t, p.DSN(harness.Overseas), pgx.QueryExecModeSimpleProtocol, tap).PgConn()

	results, err := conn.Exec(ctx, `BEGIN;
DECLARE c CURSOR FOR SELECT id, ship_phone, ship_address FROM crm.orders ORDER BY id;
FETCH 2 FROM c; MOVE 1 IN c; FETCH 3 FROM c; CLOSE c;
DECLARE h CURSOR WITH HOLD FOR SELECT ship_phone FROM crm.orders WHERE id = 1;
COMMIT;
FETCH ALL FROM h; CLOSE h;
PREPARE p AS SELECT ship_phone, city FROM crm.orders WHERE id = $1;
EXECUTE p(1); DEALLOCATE p`).ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	var phones []string
	for _, r := range results {
		for _, row := range r.Rows {
			for i, f := range r.FieldDescriptions {
				if f.Name == "ship_phone" {
					phones = append(phones, string(row[i]))
				}
				if f.Name == "ship_address" && row[i] != nil {
					t.Errorf("ship_address %q through a cursor, want NULL", row[i])
				}
			}
		}
	}
	if len(phones) != 7 {
		t.Fatalf("got %d ship_phone values, want 7 (2+3 fetched, 1 held, 1 executed): %q", len(phones), phones)
	}
	for _, ph := range phones {
		if ph != "" && !maskedPhone.MatchString(ph) {
			t.Errorf("ship_phone %q is not masked", ph)
		}
	}
	if phones[5] != "138****5678" || phones[6] != "138****5678" {
		t.Errorf("order 1 via held cursor and EXECUTE: %q %q, want 138****5678", phones[5], phones[6])
	}

	// The declared query is checked like any SELECT.
	for _, sql := range []string{
		"BEGIN; DECLARE x CURSOR FOR SELECT id FROM crm.orders WHERE ship_phone LIKE '138%'",
		"PREPARE q AS SELECT note FROM crm.staff_notes",
	} {
		_, err := conn.Exec(ctx, sql).ReadAll()
		if err == nil || !strings.Contains(err.Error(), "42501") {
			t.Errorf("%s: err = %v, want a 42501 refusal", sql, err)
		}
		conn.Exec(ctx, "ROLLBACK").ReadAll()
	}
	assertNoLeak(t, tap.bytes())
}

// TestMaskingTokenPredicates: an analyst filters by a token a report gave
// them; pgveil swaps in the cleartext upstream. Anything that is not
// exactly "token-masked column = issued token(s)" stays refused.
func TestMaskingTokenPredicates(t *testing.T) {
	p := harness.StartProxy(t, nil)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	for _, mode := range []pgx.QueryExecMode{pgx.QueryExecModeSimpleProtocol, pgx.QueryExecModeExec} {
		t.Run(mode.String(), func(t *testing.T) {
			tap := &wiretap{}
			conn := connectTapped(t, p.DSN(harness.Overseas), mode, tap)
			if _, err := conn.Exec(ctx, "SELECT id FROM crm.customers WHERE id_number IS NOT NULL"); pgCode(err) != "42501" {
				t.Fatalf("IS NOT NULL on a token column: %v, want a 42501 refusal (not an issued-token comparison)", err)
			}
			type cust struct {
				id  int64
				tok string
			}
			var cs []cust
			rows, err := conn.Query(ctx, "SELECT id, id_number FROM crm.customers ORDER BY id LIMIT 2")
			if err != nil {
				t.Fatal(err)
			}
			for rows.Next() {
				var c cust
				if err := rows.Scan(&c.id, &c.tok); err != nil {
					t.Fatal(err)
				}
				cs = append(cs, c)
			}
			if rows.Err() != nil || len(cs) != 2 {
				t.Fatalf("tokens: %v %v", cs, rows.Err())
			}

			var id int64
			var tok string
			if err := conn.QueryRow(ctx, "SELECT id, id_number FROM crm.customers WHERE id_number = '"+cs[0].tok+"'").Scan(&id, &tok); err != nil {
				t.Fatalf("filter by an issued token: %v", err)
			}
			if id != cs[0].id || tok != cs[0].tok {
				t.Errorf("filter by token: got customer %d %q, want %d %q", id, tok, cs[0].id, cs[0].tok)
			}
			var n int
			if err := conn.QueryRow(ctx, "SELECT count(*) FROM crm.customers WHERE id_number IN ('"+cs[0].tok+"', '"+cs[1].tok+"')").Scan(&n); err != nil || n != 2 {
				t.Errorf("IN two issued tokens: %d, %v; want 2", n, err)
			}

			forged := "tok_" + strings.Repeat("a", len(cs[0].tok)-4)
			assertRefused(t, ctx, conn,
				"SELECT id FROM crm.customers WHERE id_number = '"+forged+"'",
				"SELECT id FROM crm.customers WHERE id_number = '"+cs[0].tok+"' OR id_number = '"+democrm.SeedIDNumber+"'",
				"SELECT id FROM crm.customers WHERE id_number IN ('"+cs[0].tok+"', '"+democrm.SeedIDNumber+"')",
				"SELECT id FROM crm.customers WHERE id_number = '"+democrm.SeedIDNumber+"'",
				"SELECT id FROM crm.customers WHERE id_number > '"+cs[0].tok+"'",
			)
			assertNoLeak(t, tap.bytes())
		})
	}
}

// TestMaskingSeesDDLThroughPgveil: the catalog and plans are cached, but
// DDL that any session runs through pgveil invalidates them at once.
func TestMaskingSeesDDLThroughPgveil(t *testing.T) {
	p := harness.StartProxy(t, nil)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	admin := adminConn(t, ctx, p)
	if _, err := admin.Exec(ctx, "DROP TABLE IF EXISTS crm.ddl_probe; GRANT CREATE ON SCHEMA crm TO crm_reader").ReadAll(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		admin.Exec(context.Background(), "DROP TABLE IF EXISTS crm.ddl_probe; REVOKE CREATE ON SCHEMA crm FROM crm_reader").ReadAll()
	})

	analyst, err := pgconn.Connect(ctx, p.DSN(harness.Overseas))
	if err != nil {
		t.Fatal(err)
	}
	defer analyst.Close(ctx)
	if _, err := analyst.Exec(ctx, "SELECT a FROM crm.ddl_probe").ReadAll(); err == nil {
		t.Fatal("query on a missing table succeeded")
	}

	local, err := pgconn.Connect(ctx, p.DSN(harness.Local))
	if err != nil {
		t.Fatal(err)
	}
	defer local.Close(ctx)
	if _, err := local.Exec(ctx, "CREATE TABLE crm.ddl_probe (a text); INSERT INTO crm.ddl_probe VALUES ('x')").ReadAll(); err != nil {
		t.Fatal(err)
	}
	res, err := analyst.Exec(ctx, "SELECT a FROM crm.ddl_probe").ReadAll()
	if err != nil {
		t.Fatalf("after CREATE TABLE through pgveil: %v (stale catalog?)", err)
	}
	if len(res[0].Rows) != 1 || string(res[0].Rows[0][0]) != "x" {
		t.Fatalf("rows %q", res[0].Rows)
	}
}

// TestMaskingSameKindJoins: an equality join between two masked columns
// of the same kind and transform is allowed (it reveals only that masked
// values are equal); any other comparison of them stays refused.
func TestMaskingSameKindJoins(t *testing.T) {
	p := harness.StartProxy(t, nil)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	tap := &wiretap{}
	conn := connectTapped(t, p.DSN(harness.Overseas), pgx.QueryExecModeExec, tap)
	direct, err := pgx.Connect(ctx, p.Up.ReaderDSN())
	if err != nil {
		t.Fatal(err)
	}
	defer direct.Close(ctx)

	const join = "SELECT count(*) FROM crm.orders o JOIN crm.customers c ON c.mobile = o.ship_phone"
	var got, want int64
	if err := conn.QueryRow(ctx, join).Scan(&got); err != nil {
		t.Fatalf("same-kind join: %v", err)
	}
	if err := direct.QueryRow(ctx, join+" WHERE c.consent_cross_border").Scan(&want); err != nil {
		t.Fatal(err)
	}
	if got != want {
		t.Errorf("same-kind join counted %d rows, direct (consenting customers) %d", got, want)
	}
	assertRefused(t, ctx, conn,
		"SELECT count(*) FROM crm.orders o JOIN crm.customers c ON c.mobile = o.ship_address",
		"SELECT count(*) FROM crm.orders o JOIN crm.customers c ON c.mobile = o.city",
		"SELECT count(*) FROM crm.orders o JOIN crm.customers c ON c.mobile = o.ship_phone OR c.mobile = '13812345678'",
		"SELECT count(*) FROM crm.orders o JOIN crm.customers c ON c.mobile > o.ship_phone",
	)
	assertNoLeak(t, tap.bytes())
}

// TestMaskingWritesReturning: with a masked policy that allows writes,
// RETURNING rows are masked like a SELECT, and a write may not copy a
// masked value anywhere. The demo's policy is read_only: writes refused.
func TestMaskingWritesReturning(t *testing.T) {
	p := harness.StartProxy(t, nil)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	ro, err := pgconn.Connect(ctx, p.DSN(harness.Overseas))
	if err != nil {
		t.Fatal(err)
	}
	defer ro.Close(ctx)
	if _, err := ro.Exec(ctx, "UPDATE crm.orders SET status = status WHERE id = 1").ReadAll(); err == nil || !strings.Contains(err.Error(), "read_only") {
		t.Fatalf("write under a read_only policy: %v, want a refusal naming read_only", err)
	}

	// The same policy without read_only, on its own proxy.
	text, err := stack.ConfigText(p.Up, [2]string{"127.0.0.1:0", "127.0.0.1:0"}, stack.DefaultUsers)
	if err != nil {
		t.Fatal(err)
	}
	text = strings.Replace(text, "read_only = true", "read_only = false", 1)
	srv, _, err := stack.StartProxy(p.Up, text, nil, proxy.Options{})
	if err != nil {
		t.Fatal(err)
	}
	go srv.Serve()
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		srv.Shutdown(ctx)
	})
	admin := adminConn(t, ctx, p)
	if _, err := admin.Exec(ctx, "GRANT UPDATE ON crm.orders TO crm_reader").ReadAll(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { admin.Exec(context.Background(), "REVOKE UPDATE ON crm.orders FROM crm_reader").ReadAll() })

	tap := &wiretap{}
	overseas := srv.Addrs()[1].(*net.TCPAddr) // the EU listener
	dsn := fmt.Sprintf("host=127.0.0.1 port=%d user=%s password=%s dbname=crm sslmode=disable",
		overseas.Port, harness.Overseas, harness.Password(harness.Overseas))
	conn := connectTapped(t, dsn, pgx.QueryExecModeExec, tap)
	if _, err := conn.Exec(ctx, "BEGIN"); err != nil {
		t.Fatal(err)
	}
	var id int64
	var phone, city *string
	if err := conn.QueryRow(ctx, "UPDATE crm.orders SET status = status WHERE id = 1 RETURNING id, ship_phone, city").Scan(&id, &phone, &city); err != nil {
		t.Fatalf("UPDATE ... RETURNING: %v", err)
	}
	if id != 1 || phone == nil || *phone != "138****5678" || city == nil || *city == "" {
		t.Errorf("RETURNING id %d, ship_phone %v, city %v: want 1, 138****5678 and the clear city", id, phone, city)
	}
	if _, err := conn.Exec(ctx, "ROLLBACK"); err != nil {
		t.Fatal(err)
	}
	assertRefused(t, ctx, conn,
		"UPDATE crm.orders SET city = ship_phone WHERE id = 1",
		"UPDATE crm.orders SET status = 'x' WHERE ship_phone = '13812345678'",
		"UPDATE crm.orders SET status = 'x' WHERE id = 1 RETURNING upper(ship_address)",
	)
	assertNoLeak(t, tap.bytes())
}

// TestMaskingRefusesParserDifferentials: pgveil parses SQL with
// standard_conforming_strings on, in UTF-8. A masked session started with
// other settings (here through the startup options) is refused outright,
// since the server could read a statement differently from the analysis.
func TestMaskingRefusesParserDifferentials(t *testing.T) {
	p := harness.StartProxy(t, nil)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	for _, params := range []map[string]string{
		{"options": "-c standard_conforming_strings=off"},
		{"client_encoding": "SJIS"},
	} {
		for _, user := range []string{harness.Overseas, harness.Local} {
			cfg, err := pgconn.ParseConfig(p.DSN(user))
			if err != nil {
				t.Fatal(err)
			}
			for k, v := range params {
				cfg.RuntimeParams[k] = v
			}
			conn, err := pgconn.ConnectConfig(ctx, cfg)
			if err != nil {
				t.Fatal(err)
			}
			_, err = conn.Exec(ctx, "SELECT 1").ReadAll()
			conn.Close(ctx)
			if user == harness.Overseas && pgCode(err) != "42501" {
				t.Errorf("masked session with %v: %v, want a 42501 refusal", params, err)
			}
			if user == harness.Local && err != nil {
				t.Errorf("clear session with %v: %v", params, err)
			}
		}
	}
}

// TestMaskingCatalogAndExplain: the catalog BI tools read for metadata
// works in a masked session; statistics and activity views are refused;
// EXPLAIN works without ANALYZE, its query checked like any SELECT.
func TestMaskingCatalogAndExplain(t *testing.T) {
	p := harness.StartProxy(t, nil)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	tap := &wiretap{}
	conn := connectTapped(t, p.DSN(harness.Overseas), pgx.QueryExecModeExec, tap)
	for _, sql := range []string{
		"SELECT c.relname, a.attname, format_type(a.atttypid, a.atttypmod) FROM pg_catalog.pg_class c JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace JOIN pg_catalog.pg_attribute a ON a.attrelid = c.oid WHERE n.nspname = 'crm' AND a.attnum > 0 ORDER BY 1, a.attnum",
		"SELECT table_name, column_name, data_type FROM information_schema.columns WHERE table_schema = 'crm' ORDER BY 1, ordinal_position",
		"SELECT typname FROM pg_type WHERE oid = 25",
		"EXPLAIN SELECT id, ship_phone FROM crm.orders WHERE id < 10",
	} {
		rows, err := conn.Query(ctx, sql)
		if err != nil {
			t.Errorf("%s: %v", sql, err)
			continue
		}
		n := 0
		for rows.Next() {
			n++
			if v := rows.RawValues(); len(v) > 0 && v[0] == nil {
				t.Errorf("%s: NULL in the first column", sql)
			}
		}
		if err := rows.Err(); err != nil || n == 0 {
			t.Errorf("%s: %d rows, %v", sql, n, err)
		}
	}
	assertRefused(t, ctx, conn,
		"SELECT most_common_vals::text FROM pg_stats WHERE tablename = 'orders'",
		"SELECT query FROM pg_stat_activity",
		"SELECT * FROM pg_catalog.pg_statistic",
		"EXPLAIN ANALYZE SELECT id FROM crm.orders",
		"EXPLAIN SELECT id FROM crm.orders WHERE ship_phone = '13812345678'",
	)
	assertNoLeak(t, tap.bytes())
}

// TestMaskingRefusesUserFunctions: a function defined in the database can
// read tables where analysis cannot see, so masked sessions may only call
// PostgreSQL's built-ins; overloading a built-in's name takes it away too.
func TestMaskingRefusesUserFunctions(t *testing.T) {
	p := harness.StartProxy(t, nil)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	admin := adminConn(t, ctx, p)
	if _, err := admin.Exec(ctx, `
CREATE OR REPLACE FUNCTION public.all_mobiles() RETURNS text LANGUAGE sql SECURITY DEFINER AS 'SELECT string_agg(mobile, '','') FROM crm.customers';
GRANT EXECUTE ON FUNCTION public.all_mobiles() TO crm_reader`).ReadAll(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		admin.Exec(context.Background(), "DROP FUNCTION IF EXISTS public.all_mobiles(); DROP FUNCTION IF EXISTS public.upper(integer)").ReadAll()
	})
	tap := &wiretap{}
	conn := connectTapped(t, p.DSN(harness.Overseas), pgx.QueryExecModeSimpleProtocol, tap)
	var s string
	if err := conn.QueryRow(ctx, "SELECT upper(city) FROM crm.orders WHERE id = 1").Scan(&s); err != nil {
		t.Fatalf("a built-in on a clear column: %v", err)
	}
	for _, sql := range []string{"SELECT all_mobiles()", "SELECT public.all_mobiles()", "SELECT id FROM crm.orders WHERE all_mobiles() IS NOT NULL"} {
		if _, err := conn.Exec(ctx, sql); pgCode(err) != "42501" {
			t.Errorf("%s: err = %v, want a 42501 refusal", sql, err)
		}
	}
	// An overload of a built-in name outside pg_catalog (created through
	// the superuser, i.e. around pgveil) counts once the catalog is
	// invalidated; here: a new proxy reads the catalog afresh.
	if _, err := admin.Exec(ctx, "CREATE FUNCTION public.upper(integer) RETURNS text LANGUAGE sql AS 'SELECT ''x''' ").ReadAll(); err != nil {
		t.Fatal(err)
	}
	p2 := harness.StartProxy(t, nil)
	conn2 := connectTapped(t, p2.DSN(harness.Overseas), pgx.QueryExecModeSimpleProtocol, tap)
	if _, err := conn2.Exec(ctx, "SELECT upper(city) FROM crm.orders WHERE id = 1"); pgCode(err) != "42501" {
		t.Errorf("upper() overloaded in public: err = %v, want a 42501 refusal", err)
	}
	assertNoLeak(t, tap.bytes())
}

// assertRefused checks that each statement is refused by the overseas
// policy: SQLSTATE 42501 with the policy's name.
func assertRefused(t *testing.T, ctx context.Context, conn *pgx.Conn, sqls ...string) {
	t.Helper()
	for _, sql := range sqls {
		if _, err := conn.Exec(ctx, sql); pgCode(err) != "42501" || !strings.Contains(err.Error(), "overseas-analysts") {
			t.Errorf("%s: err = %v, want a 42501 refusal naming the policy", sql, err)
		}
	}
}

// adminConn connects to the upstream as its superuser, for tests that
// change the database around pgveil.
func adminConn(t *testing.T, ctx context.Context, p *harness.Proxy) *pgconn.PgConn {
	t.Helper()
	admin, err := pgconn.Connect(ctx, p.Up.DSN(p.Up.SuperUser, p.Up.SuperPassword, p.Up.Database))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { admin.Close(context.Background()) })
	return admin
}

// TestMaskingTracksSearchPath: SET search_path in a masked session is
// followed, so unqualified names resolve as the server resolves them; a
// change that could be rolled back or raced is refused.
func TestMaskingTracksSearchPath(t *testing.T) {
	p := harness.StartProxy(t, nil)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	tap := &wiretap{}
	conn := connectTapped(t, p.DSN(harness.Overseas), pgx.QueryExecModeSimpleProtocol, tap)
	const q = "SELECT ship_phone FROM orders WHERE id = 1"
	assertRefused(t, ctx, conn, q) // login search_path: "$user", public

	if _, err := conn.Exec(ctx, "SET search_path = crm"); err != nil {
		t.Fatalf("SET search_path: %v", err)
	}
	var phone string
	if err := conn.QueryRow(ctx, q).Scan(&phone); err != nil || phone != "138****5678" {
		t.Fatalf("after SET search_path = crm: %q, %v; want the masked phone", phone, err)
	}
	if _, err := conn.Exec(ctx, "BEGIN"); err != nil {
		t.Fatal(err)
	}
	assertRefused(t, ctx, conn, "SET search_path = public") // could be rolled back
	if _, err := conn.Exec(ctx, "ROLLBACK"); err != nil {
		t.Fatal(err)
	}
	assertRefused(t, ctx, conn, "SET search_path = public; SELECT 1", "SET LOCAL search_path = public")
	if err := conn.QueryRow(ctx, q).Scan(&phone); err != nil || phone != "138****5678" {
		t.Fatalf("search_path changed by a refused statement: %q, %v", phone, err)
	}
	if _, err := conn.Exec(ctx, "RESET search_path"); err != nil {
		t.Fatal(err)
	}
	assertRefused(t, ctx, conn, q)

	// Extended protocol: a prepared SET could run later inside a
	// transaction and be rolled back behind pgveil's back.
	ext := connectTapped(t, p.DSN(harness.Overseas), pgx.QueryExecModeExec, tap)
	if _, err := ext.PgConn().Prepare(ctx, "", "SET search_path = crm", nil); pgCode(err) != "42501" {
		t.Errorf("Parse of SET search_path: %v, want a 42501 refusal", err)
	}
	assertNoLeak(t, tap.bytes())
}

// TestMaskingSearchPathWithPreparedStatements: PostgreSQL re-parses a
// prepared statement with the new search_path when it next runs, so a
// change is refused while the session has any; after DEALLOCATE ALL it
// goes through.
func TestMaskingSearchPathWithPreparedStatements(t *testing.T) {
	p := harness.StartProxy(t, nil)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	conn := connectTapped(t, p.DSN(harness.Overseas), pgx.QueryExecModeCacheStatement, &wiretap{})
	var n int64
	if err := conn.QueryRow(ctx, "SELECT count(*) FROM crm.orders WHERE id < $1", 10).Scan(&n); err != nil {
		t.Fatal(err)
	}
	assertRefused(t, ctx, conn, "SET search_path = crm") // pgx holds a named statement
	if _, err := conn.Exec(ctx, "DEALLOCATE ALL"); err != nil {
		t.Fatal(err)
	}
	if _, err := conn.Exec(ctx, "SET search_path = crm"); err != nil {
		t.Fatalf("SET search_path after DEALLOCATE ALL: %v", err)
	}
}
