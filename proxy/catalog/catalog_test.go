package catalog_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgconn"

	"github.com/pgveil/pgveil/internal/pgserver"
	"github.com/pgveil/pgveil/internal/stack"
	"github.com/pgveil/pgveil/proxy/catalog"
	"github.com/pgveil/pgveil/rewrite"
)

// up is the shared upstream; nil when PostgreSQL is not installed.
var up *stack.Upstream

func TestMain(m *testing.M) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	u, err := stack.StartUpstream(ctx, stack.UpstreamOptions{Customers: 20, Orders: 40})
	cancel()
	switch {
	case errors.Is(err, pgserver.ErrNotInstalled):
		fmt.Fprintln(os.Stderr, "catalog tests: PostgreSQL not installed; skipping")
	case err != nil:
		fmt.Fprintln(os.Stderr, "catalog tests: start upstream:", err)
		os.Exit(1)
	default:
		up = u
	}
	code := m.Run()
	if up != nil {
		up.Stop()
	}
	os.Exit(code)
}

func dsn(t testing.TB) string {
	t.Helper()
	if up == nil {
		t.Skip("PostgreSQL not installed")
	}
	return up.DSN(up.SuperUser, up.SuperPassword, "crm")
}

// dialer counts dials and remembers the last connection.
type dialer struct {
	dsn   string
	dials atomic.Int64
	down  atomic.Bool
	delay time.Duration
	mu    sync.Mutex
	last  *pgconn.PgConn
}

func (d *dialer) Connect(ctx context.Context) (*pgconn.PgConn, error) {
	d.dials.Add(1)
	if d.delay > 0 {
		time.Sleep(d.delay)
	}
	if d.down.Load() {
		return nil, errors.New("upstream down (test)")
	}
	conn, err := pgconn.Connect(ctx, d.dsn)
	if err == nil {
		d.mu.Lock()
		d.last = conn
		d.mu.Unlock()
	}
	return conn, err
}

func newCatalog(t testing.TB, opts catalog.Options) (*catalog.Catalog, *dialer) {
	t.Helper()
	d := &dialer{dsn: dsn(t)}
	if opts.Connect == nil {
		opts.Connect = d.Connect
	}
	c := catalog.New(opts)
	t.Cleanup(func() { c.Close() })
	return c, d
}

// admin runs SQL as the superuser.
func admin(t testing.TB, sql string) {
	t.Helper()
	ctx := context.Background()
	conn, err := pgconn.Connect(ctx, dsn(t))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	if _, err := conn.Exec(ctx, sql).ReadAll(); err != nil {
		t.Fatalf("%s: %v", sql, err)
	}
}

func mustRelation(t *testing.T, c *catalog.Catalog, schema, name string, path []string) *rewrite.Relation {
	t.Helper()
	rel, err := c.Relation(context.Background(), schema, name, path)
	if err != nil {
		t.Fatalf("Relation(%q, %q, %q): %v", schema, name, path, err)
	}
	return rel
}

func columnTypes(rel *rewrite.Relation) map[string]uint32 {
	m := make(map[string]uint32)
	for _, col := range rel.Columns {
		m[col.Name] = col.TypeOID
	}
	return m
}

func TestResolveCustomers(t *testing.T) {
	c, _ := newCatalog(t, catalog.Options{})
	byName := mustRelation(t, c, "crm", "customers", nil)
	if byName.Schema != "crm" || byName.Name != "customers" || byName.Kind != 'r' || byName.OID == 0 || byName.ViewDef != "" {
		t.Fatalf("crm.customers = %+v", byName)
	}
	for _, path := range [][]string{{"crm"}, {"public", "crm"}, {"$user", "public", "crm"}, {"pg_temp", "crm"}, {"crm", "pg_catalog"}} {
		rel := mustRelation(t, c, "", "customers", path)
		if rel.OID != byName.OID || rel.Schema != "crm" {
			t.Errorf("customers via %q = %s.%s (%d), want crm.customers (%d)", path, rel.Schema, rel.Name, rel.OID, byName.OID)
		}
	}
	if _, err := c.Relation(context.Background(), "", "customers", []string{"public"}); !errors.Is(err, rewrite.ErrUnknownRelation) {
		t.Errorf("customers via [public]: err = %v, want ErrUnknownRelation", err)
	}

	// Columns, in attnum order, with their types.
	want := []struct {
		name string
		typ  uint32
	}{
		{"id", 20}, {"name", 25}, {"name_pinyin", 25}, {"mobile", 25}, {"email", 25}, {"id_number", 25},
		{"birthday", 1082}, {"gender", 25}, {"city", 25}, {"province", 25}, {"address", 25},
		{"wechat_openid", 25}, {"qq_number", 25}, {"vip_level", 23}, {"consent_cross_border", 16}, {"created_at", 1184},
	}
	if len(byName.Columns) != len(want) {
		t.Fatalf("customers has %d columns, want %d: %+v", len(byName.Columns), len(want), byName.Columns)
	}
	for i, w := range want {
		col := byName.Columns[i]
		if col.Name != w.name || col.TypeOID != w.typ || col.AttNum != int16(i+1) {
			t.Errorf("column %d = %+v, want %s type %d attnum %d", i, col, w.name, w.typ, i+1)
		}
	}
	orders := columnTypes(mustRelation(t, c, "crm", "orders", nil))
	if orders["amount"] != 1700 || orders["created_at"] != 1184 || orders["customer_id"] != 20 {
		t.Errorf("orders column types = %v", orders)
	}
}

func TestUnknownIsCachedNegative(t *testing.T) {
	c, _ := newCatalog(t, catalog.Options{})
	admin(t, `DROP TABLE IF EXISTS crm.later; DROP SCHEMA IF EXISTS neg CASCADE`)
	for i := 0; i < 3; i++ {
		_, err := c.Relation(context.Background(), "", "later", []string{"crm"})
		if !errors.Is(err, rewrite.ErrUnknownRelation) {
			t.Fatalf("err = %v, want ErrUnknownRelation", err)
		}
	}
	if q := c.Queries(); q != 1 {
		t.Errorf("%d queries for a repeated unknown name, want 1", q)
	}
	// An unknown schema is unknown too.
	if _, err := c.Relation(context.Background(), "neg", "customers", nil); !errors.Is(err, rewrite.ErrUnknownRelation) {
		t.Fatalf("neg.customers: err = %v, want ErrUnknownRelation", err)
	}

	admin(t, `CREATE TABLE crm.later (x int)`)
	t.Cleanup(func() { admin(t, `DROP TABLE IF EXISTS crm.later`) })
	if _, err := c.Relation(context.Background(), "", "later", []string{"crm"}); !errors.Is(err, rewrite.ErrUnknownRelation) {
		t.Fatalf("after CREATE, before Invalidate: err = %v, want the cached ErrUnknownRelation", err)
	}
	c.Invalidate()
	rel := mustRelation(t, c, "", "later", []string{"crm"})
	if rel.Schema != "crm" || len(rel.Columns) != 1 || rel.Columns[0].TypeOID != 23 {
		t.Fatalf("crm.later = %+v", rel)
	}
	if q := c.Queries(); q != 3 {
		t.Errorf("%d queries, want 3", q)
	}
}

func TestPgCatalogImplicitlyFirst(t *testing.T) {
	c, _ := newCatalog(t, catalog.Options{})
	admin(t, `DROP TABLE IF EXISTS crm.pg_class; CREATE TABLE crm.pg_class (shadow int)`)
	t.Cleanup(func() { admin(t, `DROP TABLE IF EXISTS crm.pg_class`) })

	for _, path := range [][]string{nil, {"crm"}, {"public", "crm"}, {"pg_catalog", "crm"}} {
		rel := mustRelation(t, c, "", "pg_class", path)
		if rel.Schema != "pg_catalog" || rel.Kind != 'r' || rel.OID != 1259 {
			t.Errorf("pg_class via %q = %s.%s oid %d, want pg_catalog.pg_class 1259", path, rel.Schema, rel.Name, rel.OID)
		}
	}
	// Named explicitly after crm, pg_catalog is searched at that position.
	rel := mustRelation(t, c, "", "pg_class", []string{"crm", "pg_catalog"})
	if rel.Schema != "crm" || len(rel.Columns) != 1 || rel.Columns[0].Name != "shadow" {
		t.Errorf("pg_class via [crm pg_catalog] = %+v, want crm.pg_class", rel)
	}
}

func TestView(t *testing.T) {
	c, _ := newCatalog(t, catalog.Options{})
	rel := mustRelation(t, c, "", "customer_contacts", []string{"crm"})
	if rel.Kind != 'v' || rel.Schema != "crm" {
		t.Fatalf("customer_contacts = %+v", rel)
	}
	// The catalog connection runs with an empty search_path, so the
	// definition names its base table with the schema.
	if !strings.Contains(rel.ViewDef, "crm.customers") {
		t.Errorf("ViewDef = %q, want it to mention crm.customers", rel.ViewDef)
	}
	got := columnTypes(rel)
	if len(rel.Columns) != 4 || got["id"] != 20 || got["name"] != 25 || got["mobile"] != 25 || got["email"] != 25 {
		t.Errorf("view columns = %+v", rel.Columns)
	}

	admin(t, `DROP MATERIALIZED VIEW IF EXISTS crm.mv; CREATE MATERIALIZED VIEW crm.mv AS SELECT id, birthday FROM crm.customers`)
	t.Cleanup(func() { admin(t, `DROP MATERIALIZED VIEW IF EXISTS crm.mv`) })
	mv := mustRelation(t, c, "crm", "mv", nil)
	if mv.Kind != 'm' || !strings.Contains(mv.ViewDef, "crm.customers") || columnTypes(mv)["birthday"] != 1082 {
		t.Errorf("crm.mv = %+v", mv)
	}
}

func TestDroppedColumnsLeftOut(t *testing.T) {
	c, _ := newCatalog(t, catalog.Options{})
	admin(t, `DROP TABLE IF EXISTS crm.dropcol; CREATE TABLE crm.dropcol (a int, b text, c date); ALTER TABLE crm.dropcol DROP COLUMN b`)
	t.Cleanup(func() { admin(t, `DROP TABLE IF EXISTS crm.dropcol`) })
	rel := mustRelation(t, c, "crm", "dropcol", nil)
	if len(rel.Columns) != 2 || rel.Columns[0] != (rewrite.Column{Name: "a", AttNum: 1, TypeOID: 23}) ||
		rel.Columns[1] != (rewrite.Column{Name: "c", AttNum: 3, TypeOID: 1082}) {
		t.Errorf("columns = %+v", rel.Columns)
	}
}

func TestOtherKindsAreUnsupported(t *testing.T) {
	c, _ := newCatalog(t, catalog.Options{})
	admin(t, `DROP SCHEMA IF EXISTS shadow CASCADE; CREATE SCHEMA shadow; CREATE SEQUENCE shadow.customers;
		CREATE INDEX IF NOT EXISTS customers_city_idx ON crm.customers (city)`)
	t.Cleanup(func() { admin(t, `DROP SCHEMA IF EXISTS shadow CASCADE; DROP INDEX IF EXISTS crm.customers_city_idx`) })

	// A sequence earlier on the path shadows the table, as in PostgreSQL:
	// the answer is not the table further down.
	_, err := c.Relation(context.Background(), "", "customers", []string{"shadow", "crm"})
	if !errors.Is(err, catalog.ErrUnsupported) || errors.Is(err, rewrite.ErrUnknownRelation) {
		t.Errorf("customers via [shadow crm]: err = %v, want ErrUnsupported", err)
	}
	if _, err := c.Relation(context.Background(), "crm", "customers_city_idx", nil); !errors.Is(err, catalog.ErrUnsupported) {
		t.Errorf("index: err = %v, want ErrUnsupported", err)
	}
	if _, err := c.Relation(context.Background(), "pg_temp", "customers", nil); !errors.Is(err, catalog.ErrUnsupported) {
		t.Errorf("pg_temp.customers: err = %v, want ErrUnsupported", err)
	}
	// Other kinds are definitive answers and cached.
	before := c.Queries()
	c.Relation(context.Background(), "", "customers", []string{"shadow", "crm"})
	if c.Queries() != before {
		t.Errorf("unsupported answer not cached")
	}
}

func TestQuoting(t *testing.T) {
	c, _ := newCatalog(t, catalog.Options{})
	const schema, odd = "Sch", `we"ird,{sch}\ x`
	admin(t, `DROP SCHEMA IF EXISTS "Sch" CASCADE; DROP SCHEMA IF EXISTS "we""ird,{sch}\ x" CASCADE;
		CREATE SCHEMA "Sch"; CREATE TABLE "Sch"."Weird Name" ("Mixed Col" text, "x""y" int);
		CREATE SCHEMA "we""ird,{sch}\ x"; CREATE TABLE "we""ird,{sch}\ x"."it's" (v bool)`)
	t.Cleanup(func() {
		admin(t, `DROP SCHEMA IF EXISTS "Sch" CASCADE; DROP SCHEMA IF EXISTS "we""ird,{sch}\ x" CASCADE`)
	})

	for _, path := range [][]string{nil, {"public", schema}} {
		s := schema
		if path != nil {
			s = ""
		}
		rel := mustRelation(t, c, s, "Weird Name", path)
		if rel.Schema != schema || rel.Name != "Weird Name" || len(rel.Columns) != 2 ||
			rel.Columns[0].Name != "Mixed Col" || rel.Columns[1].Name != `x"y` {
			t.Errorf("Sch.Weird Name via %q = %+v", path, rel)
		}
	}
	// Case matters: names are as stored.
	if _, err := c.Relation(context.Background(), "sch", "Weird Name", nil); !errors.Is(err, rewrite.ErrUnknownRelation) {
		t.Errorf("sch.\"Weird Name\": err = %v, want ErrUnknownRelation", err)
	}
	if _, err := c.Relation(context.Background(), "Sch", "weird name", nil); !errors.Is(err, rewrite.ErrUnknownRelation) {
		t.Errorf("Sch.\"weird name\": err = %v, want ErrUnknownRelation", err)
	}
	for _, path := range [][]string{nil, {"crm", odd}, {odd, `"`, `\`, "{", "}", ","}} {
		s := odd
		if path != nil {
			s = ""
		}
		rel := mustRelation(t, c, s, "it's", path)
		if rel.Schema != odd || rel.Name != "it's" || len(rel.Columns) != 1 || rel.Columns[0].TypeOID != 16 {
			t.Errorf("odd schema via %q = %+v", path, rel)
		}
	}
	// Something that looks like injection is just a name that does not exist.
	if _, err := c.Relation(context.Background(), "", "customers' OR '1'='1", []string{"crm"}); !errors.Is(err, rewrite.ErrUnknownRelation) {
		t.Errorf("injection-looking name: err = %v", err)
	}
	if _, err := c.Relation(context.Background(), "", "customers", []string{"crm\x00"}); err == nil || errors.Is(err, rewrite.ErrUnknownRelation) {
		t.Errorf("NUL in search path: err = %v, want a lookup error", err)
	}
}

// TestMatchesPostgreSQL compares resolution with PostgreSQL's own, via
// to_regclass under the same search_path.
func TestMatchesPostgreSQL(t *testing.T) {
	c, _ := newCatalog(t, catalog.Options{})
	admin(t, `DROP SCHEMA IF EXISTS s1 CASCADE; DROP SCHEMA IF EXISTS s2 CASCADE;
		CREATE SCHEMA s1; CREATE SCHEMA s2;
		CREATE TABLE s1.t (a int); CREATE TABLE s2.t (b int); CREATE VIEW s2.only2 AS SELECT 1 AS one;
		CREATE TABLE s2.pg_type (x int); CREATE TABLE public.pubtab (p int)`)
	t.Cleanup(func() {
		admin(t, `DROP SCHEMA IF EXISTS s1 CASCADE; DROP SCHEMA IF EXISTS s2 CASCADE; DROP TABLE IF EXISTS public.pubtab`)
	})
	ctx := context.Background()
	conn, err := pgconn.Connect(ctx, dsn(t))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)

	paths := [][]string{nil, {"s1"}, {"s2"}, {"s1", "s2"}, {"s2", "s1"}, {"public"}, {"$user", "public"},
		{"nosuch", "s2"}, {"s2", "pg_catalog"}, {"pg_catalog", "s2"}, {"s1", "s1", "s2"}}
	names := []string{"t", "only2", "pg_type", "pubtab", "customers", "missing"}
	for _, path := range paths {
		quoted := make([]string, len(path))
		for i, s := range path {
			if s == "$user" {
				quoted[i] = s
			} else {
				quoted[i] = `"` + strings.ReplaceAll(s, `"`, `""`) + `"`
			}
		}
		for _, name := range names {
			res := conn.ExecParams(ctx, `SELECT set_config('search_path', $1, false), to_regclass($2)::oid`,
				[][]byte{[]byte(strings.Join(quoted, ", ")), []byte(`"` + name + `"`)}, nil, nil, nil).Read()
			if res.Err != nil {
				t.Fatal(res.Err)
			}
			want := string(res.Rows[0][1])
			rel, err := c.Relation(ctx, "", name, path)
			var got string
			switch {
			case errors.Is(err, rewrite.ErrUnknownRelation):
			case err != nil:
				t.Fatalf("%s via %q: %v", name, path, err)
			default:
				got = fmt.Sprint(rel.OID)
			}
			if got != want {
				t.Errorf("%s via %q: catalog says oid %q, PostgreSQL %q", name, path, got, want)
			}
		}
	}
}

func TestTTL(t *testing.T) {
	// A TTL long enough that a loaded machine cannot outrun it between
	// the two lookups below.
	c, _ := newCatalog(t, catalog.Options{TTL: 3 * time.Second})
	admin(t, `DROP TABLE IF EXISTS crm.ttl; CREATE TABLE crm.ttl (a int)`)
	t.Cleanup(func() { admin(t, `DROP TABLE IF EXISTS crm.ttl`) })
	if n := len(mustRelation(t, c, "crm", "ttl", nil).Columns); n != 1 {
		t.Fatalf("%d columns", n)
	}
	admin(t, `ALTER TABLE crm.ttl ADD COLUMN b text`)
	if n := len(mustRelation(t, c, "crm", "ttl", nil).Columns); n != 1 {
		t.Fatalf("within TTL: %d columns, want the cached 1", n)
	}
	if q := c.Queries(); q != 1 {
		t.Fatalf("%d queries within TTL, want 1", q)
	}
	time.Sleep(3200 * time.Millisecond)
	if n := len(mustRelation(t, c, "crm", "ttl", nil).Columns); n != 2 {
		t.Fatalf("after TTL: %d columns, want 2", n)
	}
	if q := c.Queries(); q != 2 {
		t.Fatalf("%d queries, want 2", q)
	}
}

func TestInvalidate(t *testing.T) {
	c, _ := newCatalog(t, catalog.Options{})
	admin(t, `DROP TABLE IF EXISTS crm.inv; CREATE TABLE crm.inv (a int)`)
	t.Cleanup(func() { admin(t, `DROP TABLE IF EXISTS crm.inv`) })
	first := mustRelation(t, c, "", "inv", []string{"crm"})
	admin(t, `DROP TABLE crm.inv; CREATE TABLE crm.inv (a int, b int)`)
	if again := mustRelation(t, c, "", "inv", []string{"crm"}); again != first {
		t.Fatalf("cached answer changed before Invalidate")
	}
	c.Invalidate()
	fresh := mustRelation(t, c, "", "inv", []string{"crm"})
	if fresh.OID == first.OID || len(fresh.Columns) != 2 {
		t.Fatalf("after Invalidate: %+v (old oid %d)", fresh, first.OID)
	}
}

func TestUpstreamDownNotCached(t *testing.T) {
	c, d := newCatalog(t, catalog.Options{})
	d.down.Store(true)
	for i := 0; i < 2; i++ {
		_, err := c.Relation(context.Background(), "crm", "customers", nil)
		if err == nil || errors.Is(err, rewrite.ErrUnknownRelation) || !strings.Contains(err.Error(), "upstream down") {
			t.Fatalf("upstream down: err = %v", err)
		}
	}
	if n := d.dials.Load(); n != 2 {
		t.Errorf("%d dials while down, want 2 (the error is not cached)", n)
	}
	d.down.Store(false)
	if rel := mustRelation(t, c, "crm", "customers", nil); rel.Name != "customers" {
		t.Fatalf("after recovery: %+v", rel)
	}

	// A pooled connection that dies is replaced transparently.
	d.mu.Lock()
	pid := d.last.PID()
	d.mu.Unlock()
	admin(t, fmt.Sprintf(`SELECT pg_terminate_backend(%d)`, pid))
	time.Sleep(100 * time.Millisecond)
	c.Invalidate()
	if rel := mustRelation(t, c, "crm", "orders", nil); rel.Name != "orders" {
		t.Fatalf("after backend terminated: %+v", rel)
	}
	if n := d.dials.Load(); n != 4 {
		t.Errorf("%d dials, want 4", n)
	}

	// A dead connection with the upstream also down: error, not cached.
	d.mu.Lock()
	pid = d.last.PID()
	d.mu.Unlock()
	admin(t, fmt.Sprintf(`SELECT pg_terminate_backend(%d)`, pid))
	time.Sleep(100 * time.Millisecond)
	d.down.Store(true)
	if _, err := c.Relation(context.Background(), "crm", "staff_notes", nil); err == nil || errors.Is(err, rewrite.ErrUnknownRelation) {
		t.Fatalf("dead connection, upstream down: err = %v", err)
	}
	d.down.Store(false)
	if rel := mustRelation(t, c, "crm", "staff_notes", nil); rel.Name != "staff_notes" {
		t.Fatalf("after recovery: %+v", rel)
	}
}

func TestNoConnect(t *testing.T) {
	c := catalog.New(catalog.Options{Connect: func(ctx context.Context) (*pgconn.PgConn, error) {
		return pgconn.Connect(ctx, "host=127.0.0.1 port=1 user=x dbname=x sslmode=disable connect_timeout=2")
	}})
	defer c.Close()
	if _, err := c.Relation(context.Background(), "crm", "customers", nil); err == nil || errors.Is(err, rewrite.ErrUnknownRelation) {
		t.Fatalf("err = %v, want a connection error", err)
	}
}

func TestConcurrentMissesShareOneLookup(t *testing.T) {
	d := &dialer{dsn: dsn(t), delay: 200 * time.Millisecond}
	c, _ := newCatalog(t, catalog.Options{Connect: d.Connect})
	const n = 50
	var (
		wg    sync.WaitGroup
		start = make(chan struct{})
		rels  [n]*rewrite.Relation
		errs  [n]error
	)
	for i := 0; i < n; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			rels[i], errs[i] = c.Relation(context.Background(), "", "customers", []string{"public", "crm"})
		}()
	}
	close(start)
	wg.Wait()
	for i := 0; i < n; i++ {
		if errs[i] != nil || rels[i] != rels[0] {
			t.Fatalf("goroutine %d: %p %v (first %p)", i, rels[i], errs[i], rels[0])
		}
	}
	if q, dials := c.Queries(), d.dials.Load(); q != 1 || dials != 1 {
		t.Errorf("%d goroutines: %d lookups, %d dials; want 1 and 1", n, q, dials)
	}
}

func TestWaiterContext(t *testing.T) {
	d := &dialer{dsn: dsn(t), delay: 300 * time.Millisecond}
	c, _ := newCatalog(t, catalog.Options{Connect: d.Connect})
	leaderDone := make(chan error, 1)
	go func() {
		_, err := c.Relation(context.Background(), "crm", "orders", nil)
		leaderDone <- err
	}()
	time.Sleep(50 * time.Millisecond)
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	if _, err := c.Relation(ctx, "crm", "orders", nil); !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("waiter with short deadline: err = %v", err)
	}
	if err := <-leaderDone; err != nil {
		t.Errorf("leader: %v", err)
	}
}

func TestClose(t *testing.T) {
	c, _ := newCatalog(t, catalog.Options{})
	mustRelation(t, c, "crm", "customers", nil)
	if err := c.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Relation(context.Background(), "crm", "customers", nil); !errors.Is(err, catalog.ErrClosed) {
		t.Errorf("after Close: err = %v", err)
	}
	if err := c.Close(); err != nil {
		t.Errorf("second Close: %v", err)
	}
}

var _ rewrite.Catalog = (*catalog.Catalog)(nil)

func BenchmarkHit(b *testing.B) {
	for _, bc := range []struct {
		name   string
		schema string
		path   []string
	}{
		{"qualified", "crm", nil},
		{"path1", "", []string{"crm"}},
		{"path3", "", []string{"$user", "public", "crm"}},
		{"path6", "", []string{"a", "b", "c", "d", "public", "crm"}},
	} {
		b.Run(bc.name, func(b *testing.B) {
			c, _ := newCatalog(b, catalog.Options{})
			ctx := context.Background()
			if _, err := c.Relation(ctx, bc.schema, "customers", bc.path); err != nil {
				b.Fatal(err)
			}
			b.ReportAllocs()
			b.ResetTimer()
			for b.Loop() {
				if _, err := c.Relation(ctx, bc.schema, "customers", bc.path); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
	b.Run("parallel", func(b *testing.B) {
		c, _ := newCatalog(b, catalog.Options{})
		ctx := context.Background()
		path := []string{"$user", "public", "crm"}
		if _, err := c.Relation(ctx, "", "customers", path); err != nil {
			b.Fatal(err)
		}
		b.ReportAllocs()
		b.ResetTimer()
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				if _, err := c.Relation(ctx, "", "customers", path); err != nil {
					b.Fatal(err)
				}
			}
		})
	})
}

func BenchmarkMiss(b *testing.B) {
	c, _ := newCatalog(b, catalog.Options{})
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		c.Invalidate()
		if _, err := c.Relation(ctx, "", "customers", []string{"public", "crm"}); err != nil {
			b.Fatal(err)
		}
	}
}
