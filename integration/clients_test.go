package integration

// End-to-end transparency tests with real client libraries and tools: pgx
// in every query execution mode, batches and pipelines, COPY, large
// values, pgbench and query cancellation. A clear session through pgveil
// must give exactly what a direct connection as the same upstream role
// gives; the direct connection is the oracle.

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgconn/ctxwatch"

	"github.com/pgveil/pgveil/integration/harness"
)

// clientsPair is one connection through pgveil and one direct connection
// as the same upstream role, with the notices each received.
type clientsPair struct {
	proxy, direct    *pgx.Conn
	proxyN, directN  *clientsNotices
	proxyDSN, dirDSN string
}

type clientsNotices struct {
	mu   sync.Mutex
	list []string
}

func (n *clientsNotices) take() []string {
	n.mu.Lock()
	defer n.mu.Unlock()
	l := n.list
	n.list = nil
	return l
}

// clientsConnect opens a pgx connection with mode as its default query
// execution mode. Notices are recorded; a cancelled context sends a
// CancelRequest (rather than closing the socket, pgx's default), so that
// cancellation keeps the connection usable, as in libpq.
func clientsConnect(t testing.TB, dsn string, mode pgx.QueryExecMode) (*pgx.Conn, *clientsNotices) {
	t.Helper()
	cfg, err := pgx.ParseConfig(dsn)
	if err != nil {
		t.Fatal(err)
	}
	cfg.DefaultQueryExecMode = mode
	notices := &clientsNotices{}
	cfg.OnNotice = func(_ *pgconn.PgConn, n *pgconn.Notice) {
		notices.mu.Lock()
		notices.list = append(notices.list, clientsFormatPgError((*pgconn.PgError)(n)))
		notices.mu.Unlock()
	}
	cfg.BuildContextWatcherHandler = func(pc *pgconn.PgConn) ctxwatch.Handler {
		return &pgconn.CancelRequestContextWatcherHandler{Conn: pc, DeadlineDelay: 10 * time.Second}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	conn, err := pgx.ConnectConfig(ctx, cfg)
	if err != nil {
		t.Fatalf("connect: %v", err)
	}
	t.Cleanup(func() { conn.Close(context.Background()) })
	return conn, notices
}

func clientsConnectPair(t testing.TB, p *harness.Proxy, mode pgx.QueryExecMode) *clientsPair {
	t.Helper()
	c := &clientsPair{proxyDSN: p.DSN(harness.Local), dirDSN: p.Up.ReaderDSN()}
	c.proxy, c.proxyN = clientsConnect(t, c.proxyDSN, mode)
	c.direct, c.directN = clientsConnect(t, c.dirDSN, mode)
	return c
}

// clientsFormatPgError renders every field of an error or notice, so that
// any difference shows.
func clientsFormatPgError(e *pgconn.PgError) string {
	return fmt.Sprintf("%s/%s %s %q detail=%q hint=%q pos=%d ipos=%d iq=%q where=%q schema=%q table=%q column=%q type=%q constraint=%q at=%s:%d %s",
		e.Severity, e.Code, e.SeverityUnlocalized, e.Message, e.Detail, e.Hint, e.Position, e.InternalPosition, e.InternalQuery,
		e.Where, e.SchemaName, e.TableName, e.ColumnName, e.DataTypeName, e.ConstraintName, e.File, e.Line, e.Routine)
}

func clientsFormatErr(err error) string {
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) {
		return "ERROR " + clientsFormatPgError(pgErr)
	}
	return "ERROR (client) " + err.Error()
}

func clientsFormatFields(fds []pgconn.FieldDescription) string {
	var b strings.Builder
	for _, f := range fds {
		fmt.Fprintf(&b, "F %q table=%d att=%d type=%d size=%d mod=%d fmt=%d\n",
			f.Name, f.TableOID, f.TableAttributeNumber, f.DataTypeOID, f.DataTypeSize, f.TypeModifier, f.Format)
	}
	return b.String()
}

func clientsFormatRow(vals [][]byte) string {
	var b strings.Builder
	b.WriteString("R")
	for _, v := range vals {
		if v == nil {
			b.WriteString(" NULL")
		} else {
			fmt.Fprintf(&b, " %q", v)
		}
	}
	b.WriteString("\n")
	return b.String()
}

// clientsRecord runs one pgx query and renders everything the client can
// see of it: field descriptions, raw row bytes, command tag, error.
func clientsRecord(ctx context.Context, conn *pgx.Conn, sql string, args ...any) string {
	var b strings.Builder
	rows, err := conn.Query(ctx, sql, args...)
	if err != nil {
		b.WriteString(clientsFormatErr(err) + "\n")
		return b.String()
	}
	b.WriteString(clientsFormatFields(rows.FieldDescriptions()))
	for rows.Next() {
		b.WriteString(clientsFormatRow(rows.RawValues()))
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		b.WriteString(clientsFormatErr(err) + "\n")
	}
	fmt.Fprintf(&b, "C %q\n", rows.CommandTag().String())
	return b.String()
}

// clientsCompare fails the test if got (through pgveil) differs from want
// (direct), with a short diff.
func clientsCompare(t *testing.T, what, want, got string) {
	t.Helper()
	if want != got {
		t.Errorf("%s: pgveil differs from direct (-direct +pgveil):\n%s", what, transparencyDiff([]byte(want), []byte(got), 2, 20))
	}
}

var clientsModes = []struct {
	name string
	mode pgx.QueryExecMode
}{
	{"simple", pgx.QueryExecModeSimpleProtocol},
	{"exec", pgx.QueryExecModeExec},
	{"describe_exec", pgx.QueryExecModeDescribeExec},
	{"cache_statement", pgx.QueryExecModeCacheStatement},
	{"cache_describe", pgx.QueryExecModeCacheDescribe},
}

type clientsQuery struct {
	sql  string
	args []any
}

// clientsQueries covers the common types (text and binary), NULLs,
// parameters, CRM data, errors and odd statements.
var clientsQueries = []clientsQuery{
	{sql: `select 1::int2, -32768::int2, 2147483647::int4, (-9223372036854775808)::int8, 0::int8`},
	{sql: `select 4.5::numeric, 'NaN'::numeric, 'Infinity'::numeric, '-Infinity'::numeric, 10::numeric ^ 300, factorial(60), 1e-300::numeric, -0.000001::numeric(10,6), 0::numeric, 123.450::numeric(10,3)`},
	{sql: `select 1.5::float4, 'Infinity'::float8, '-Infinity'::float4, '-0'::float8, 'NaN'::float8, 1e-320::float8, 0.1::float8 + 0.2::float8, 3.4028235e38::float4`},
	{sql: `select ''::text, 'abc'::char(5), 'x'::varchar(3), '张伟 😀', E'tab\there\nnewline', 'a'::name, 'c'::"char", null::text`},
	{sql: `select '\xdeadbeef'::bytea, ''::bytea, decode(repeat('ab', 1000), 'hex'), E'\\000'::bytea`},
	{sql: `select true, false, null::bool, 'a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11'::uuid, 12.34::money, -0.01::money, B'1010', B'101'::varbit, B''::varbit`},
	{sql: `select point(1.5, -2), '<(1,1),5>'::circle, '((0,0),(1,1))'::box, '[(0,0),(1,1)]'::path, '((0,0),(1,1),(1,0))'::polygon, '{1,-1,0}'::line, '((0,0),(1,1))'::lseg`},
	{sql: `select '2024-02-29'::date, 'infinity'::date, '-infinity'::date, '4713-01-01 BC'::date, '-infinity'::timestamp, 'infinity'::timestamptz, '2024-06-01 12:34:56.123456+08'::timestamptz, '2024-06-01 12:34:56.5'::timestamp`},
	{sql: `select '04:05:06.789'::time, '24:00'::time, '04:05:06+08'::timetz, interval '1 year 2 mons -3 days 04:05:06.789', interval '0', interval '-178000000 years'`},
	{sql: `select '{"b": 1,  "a": [1, 2]}'::json, '{"b": 1, "a": [1, 2]}'::jsonb, 'null'::jsonb, '[]'::json, '"\u4e2d"'::jsonb, '1.50'::jsonb`},
	{sql: `select array[1, null, 3], array[[1, 2], [3, 4]], '[0:2]={1,2,3}'::int[], array['a', 'b c', null, 'NULL', '', '"q"', 'back\slash'], '{}'::text[], array[1.5, 'NaN']::numeric[], array[[null::int]]`},
	{sql: `select array['2024-01-01'::date, 'infinity'], array['a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11'::uuid], array['\xde'::bytea, null], array['{"a":1}'::jsonb], array[true, null], array['1 day'::interval], array[1::int8], array[1.5::float4, 'NaN']`},
	{sql: `select '192.168.1.5/24'::inet, '::1'::inet, '10.0.0.0/8'::cidr, '2001:db8::/32'::cidr, '08:00:2b:01:02:03'::macaddr, '08:00:2b:01:02:03:04:05'::macaddr8`},
	{sql: `select int4range(1, 10), 'empty'::int4range, '(,)'::int8range, numrange(1.5, null), daterange('2024-01-01', 'infinity'), tstzrange('2024-01-01 00:00+00', '2024-02-01 00:00+00'), '{[1,3),[5,8)}'::int4multirange, '{}'::nummultirange`},
	{sql: `select 'crm.customers'::regclass, 42::oid, 'int4'::regtype, '(1,2)'::tid, '0/16B3748'::pg_lsn, 'fat & rat'::tsquery, 'a fat cat'::tsvector, '<a>x</a>'::xml, 123::xid8, 7::xid, 9::cid`},
	{sql: `select null, null::int, null::bytea, null::int[], null::jsonb, null::date, null::uuid, null::numeric`},
	{sql: `select * from crm.customers order by id limit 50`},
	{sql: `select * from crm.orders order by id limit 100`},
	{sql: `select * from crm.staff_notes order by id limit 20`},
	{sql: `select * from crm.customer_contacts order by id limit 10`},
	{sql: `select c.city, count(*), sum(o.amount), avg(o.amount), min(o.created_at) from crm.customers c join crm.orders o on o.customer_id = c.id group by c.city order by c.city`},
	{sql: `select id, city, vip_level, rank() over (partition by city order by vip_level desc, id), sum(vip_level) over (order by id rows 2 preceding) from crm.customers order by id limit 40`},
	{sql: `select $1::int8 + 1, $2::text, $3::bytea, $4::numeric, $5::float8, $6::bool`, args: []any{int64(41), "张伟", []byte{0, 1, 255}, "12.5", 1.25, true}},
	{sql: `select $1::int is null, $2::text is null, $3::bytea`, args: []any{nil, nil, nil}},
	{sql: `select id, name, mobile from crm.customers where id = $1`, args: []any{int64(5)}},
	{sql: `select id, name from crm.customers where city = $1 order by id limit 20`, args: []any{"北京市"}},
	{sql: `select $1::date, $2::timestamptz, $3::int[], $4::text[]`, args: []any{"2024-06-15", time.Date(2024, 6, 15, 12, 0, 0, 0, time.UTC), []int32{1, 2, 3}, []string{"a", "b c", ""}}},
	{sql: `select g, md5(g::text) from generate_series(1, 5000) g`},
	{sql: `select * from crm.customers where false`},
	{sql: `select`},
	{sql: `select current_user, session_user, current_database(), current_setting('application_name'), current_setting('DateStyle'), current_setting('TimeZone'), current_setting('extra_float_digits'), current_setting('client_encoding'), current_setting('search_path')`},
	{sql: `do $$ begin raise notice 'notice %', 1 using detail = 'the detail', hint = 'the hint'; raise warning 'warning 张伟'; end $$`},
	{sql: `select 1/0`},
	{sql: `select nosuchcol from crm.customers`},
	{sql: `select * from nosuchtable`},
	{sql: `select 'abc'::int`},
	{sql: `selec 1`},
	{sql: `select 1; select 2`},
	{sql: `insert into crm.customers (id, name) values (-1, 'x')`},
	{sql: `select 1 / (g - 3) from generate_series(1, 5) g`},
	{sql: `show TimeZone`},
	{sql: `explain (costs off) select * from crm.customers where id = 1`},
	{sql: `values (1, 'one'), (2, null)`},
	{sql: ``},
	{sql: `-- only a comment`},
}

// TestPgxQueryModes runs the query set in every pgx execution mode, with
// pgx's own choice of result formats and with all-text and all-binary
// results forced, through pgveil and directly, and compares everything
// the client sees, byte for byte.
func TestPgxQueryModes(t *testing.T) {
	t.Parallel()
	p := harness.StartProxy(t, nil)
	for _, m := range clientsModes {
		t.Run(m.name, func(t *testing.T) {
			t.Parallel()
			ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
			defer cancel()
			c := clientsConnectPair(t, p, m.mode)
			variants := []struct {
				name string
				opts []any
			}{{"default", nil}}
			if m.mode != pgx.QueryExecModeSimpleProtocol {
				variants = append(variants,
					struct {
						name string
						opts []any
					}{"text", []any{pgx.QueryResultFormats{pgx.TextFormatCode}}},
					struct {
						name string
						opts []any
					}{"binary", []any{pgx.QueryResultFormats{pgx.BinaryFormatCode}}})
			}
			for _, v := range variants {
				for i, q := range clientsQueries {
					if q.sql == "" && len(v.opts) > 0 {
						continue // pgx runs "" over the simple protocol regardless
					}
					args := append(append([]any{}, v.opts...), q.args...)
					want := clientsRecord(ctx, c.direct, q.sql, args...)
					want += strings.Join(c.directN.take(), "\n")
					got := clientsRecord(ctx, c.proxy, q.sql, args...)
					got += strings.Join(c.proxyN.take(), "\n")
					clientsCompare(t, fmt.Sprintf("%s/%s query %d %.60q", m.name, v.name, i, q.sql), want, got)
					if os.Getenv("PGVEIL_CLIENTS_LOG") != "" {
						t.Logf("%s/%s query %d %q:\n%s", m.name, v.name, i, q.sql, transparencyClip(want, 2000))
					}
					if strings.Contains(want, "ERROR (client)") {
						t.Errorf("%s/%s query %d %q: pgx failed directly, the test is wrong:\n%s", m.name, v.name, i, q.sql, want)
					}
				}
			}
			// The connections are still in step after all the errors.
			for _, conn := range []*pgx.Conn{c.direct, c.proxy} {
				var one int
				if err := conn.QueryRow(ctx, "select 1").Scan(&one); err != nil || one != 1 {
					t.Errorf("select 1 after the query set: %d, %v", one, err)
				}
			}
		})
	}
}

// TestPgxParameterStatus compares the ParameterStatus values a client
// sees at login and after SETs, and the transaction status.
func TestPgxParameterStatus(t *testing.T) {
	t.Parallel()
	p := harness.StartProxy(t, nil)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	c := clientsConnectPair(t, p, pgx.QueryExecModeSimpleProtocol)
	names := []string{"application_name", "client_encoding", "DateStyle", "default_transaction_read_only", "in_hot_standby",
		"integer_datetimes", "IntervalStyle", "is_superuser", "server_encoding", "server_version", "session_authorization",
		"standard_conforming_strings", "TimeZone"}
	status := func(conn *pgx.Conn) string {
		var b strings.Builder
		for _, n := range names {
			fmt.Fprintf(&b, "%s=%q\n", n, conn.PgConn().ParameterStatus(n))
		}
		fmt.Fprintf(&b, "tx=%c\n", conn.PgConn().TxStatus())
		return b.String()
	}
	clientsCompare(t, "ParameterStatus at login", status(c.direct), status(c.proxy))
	for _, sql := range []string{
		"set TimeZone = 'Asia/Shanghai'",
		"set DateStyle = 'German'",
		"set IntervalStyle = 'iso_8601'",
		"set application_name = 'pgveil-test 张伟'",
		"set client_encoding = 'LATIN1'",
		"begin",
		"set local TimeZone = 'Europe/Berlin'",
		"select 1/0",
		"rollback",
		"reset all",
	} {
		for _, conn := range []*pgx.Conn{c.direct, c.proxy} {
			conn.PgConn().Exec(ctx, sql).ReadAll()
		}
		clientsCompare(t, "ParameterStatus after "+sql, status(c.direct), status(c.proxy))
	}
}

// clientsBatch queues 60 queries, the 31st of which fails at run time.
func clientsBatch() *pgx.Batch {
	b := &pgx.Batch{}
	for i := range 60 {
		switch {
		case i == 30:
			b.Queue("select 1 / ($1::int - $1::int) as boom", i)
		case i%10 == 5:
			b.Queue("select id, name, city, birthday from crm.customers where id = $1", int64(i))
		case i%10 == 7:
			b.Queue("select $1::text || '-' || repeat('b', $2::int) as s, null::int as n", fmt.Sprint("row ", i), i*10)
		default:
			b.Queue("select $1::int as n, $1::int * $1::int as sq, array[$1::int, null] as arr", i)
		}
	}
	return b
}

func clientsRunBatch(ctx context.Context, conn *pgx.Conn, b *pgx.Batch) string {
	var w strings.Builder
	br := conn.SendBatch(ctx, b)
	for i := range b.Len() {
		rows, err := br.Query()
		if err != nil {
			fmt.Fprintf(&w, "%d: %s\n", i, clientsFormatErr(err))
			continue
		}
		w.WriteString(clientsFormatFields(rows.FieldDescriptions()))
		for rows.Next() {
			w.WriteString(clientsFormatRow(rows.RawValues()))
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			fmt.Fprintf(&w, "%d: %s\n", i, clientsFormatErr(err))
		}
		fmt.Fprintf(&w, "%d: C %q\n", i, rows.CommandTag().String())
	}
	if err := br.Close(); err != nil {
		fmt.Fprintf(&w, "close: %s\n", clientsFormatErr(err))
	}
	var one int
	err := conn.QueryRow(ctx, "select 1").Scan(&one)
	fmt.Fprintf(&w, "after: %d %v\n", one, err)
	return w.String()
}

// TestPgxBatch sends pgx batches (pipelined extended-protocol messages
// with one Sync, or one multi-statement simple query) with a failure in
// the middle and compares every result with a direct connection.
func TestPgxBatch(t *testing.T) {
	t.Parallel()
	p := harness.StartProxy(t, nil)
	for _, m := range clientsModes {
		t.Run(m.name, func(t *testing.T) {
			t.Parallel()
			ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
			defer cancel()
			c := clientsConnectPair(t, p, m.mode)
			want := clientsRunBatch(ctx, c.direct, clientsBatch())
			got := clientsRunBatch(ctx, c.proxy, clientsBatch())
			clientsCompare(t, "batch with a run-time error", want, got)
			if !strings.Contains(want, "22012") {
				t.Errorf("the batch's division by zero was not reported:\n%s", transparencyClip(want, 3000))
			}

			// A statement that fails to parse: in the caching modes pgx
			// prepares every statement first and the whole batch fails.
			bad := func() *pgx.Batch {
				b := &pgx.Batch{}
				b.Queue("select 1 as a")
				b.Queue("select nosuchcol from crm.customers")
				b.Queue("select 3 as c")
				return b
			}
			clientsCompare(t, "batch with a parse error", clientsRunBatch(ctx, c.direct, bad()), clientsRunBatch(ctx, c.proxy, bad()))

			// A transaction in a batch.
			tx := func() *pgx.Batch {
				b := &pgx.Batch{}
				b.Queue("begin")
				b.Queue("create temp table bt (a int)")
				b.Queue("insert into bt select generate_series(1, 100)")
				b.Queue("select count(*), sum(a) from bt")
				b.Queue("rollback")
				return b
			}
			clientsCompare(t, "batch with a transaction", clientsRunBatch(ctx, c.direct, tx()), clientsRunBatch(ctx, c.proxy, tx()))
		})
	}
}

// clientsRunPipeline drives pgconn's pipeline API: named prepares, bound
// executions with text and binary results, a flush request, errors at
// execution and at parse time mid-pipeline, and recovery at each Sync.
func clientsRunPipeline(ctx context.Context, pc *pgconn.PgConn) string {
	var w strings.Builder
	pl := pc.StartPipeline(ctx)
	pl.SendPrepare("s_lookup", "select id, name, city, created_at from crm.customers where id = $1", nil)
	pl.SendPrepare("s_div", "select 100 / $1::int as q", nil)
	pl.SendQueryPrepared("s_lookup", [][]byte{[]byte("1")}, nil, nil)
	pl.SendQueryPrepared("s_lookup", [][]byte{[]byte("2")}, nil, []int16{1})
	pl.SendQueryParams("select $1::text || 'x' as t, $2::int8 as i", [][]byte{[]byte("a"), {0, 0, 0, 0, 0, 0, 0, 7}}, []uint32{25, 20}, []int16{0, 1}, []int16{1})
	pl.SendFlushRequest()
	pl.SendPipelineSync()
	pl.SendQueryPrepared("s_div", [][]byte{[]byte("5")}, nil, nil)
	pl.SendQueryPrepared("s_div", [][]byte{[]byte("0")}, nil, nil) // division by zero
	pl.SendQueryPrepared("s_lookup", [][]byte{[]byte("3")}, nil, nil)
	pl.SendQueryParams("select 'skipped'", nil, nil, nil, nil)
	pl.SendPipelineSync()
	pl.SendQueryPrepared("s_lookup", [][]byte{[]byte("4")}, nil, nil)
	pl.SendPrepare("s_bad", "select nosuchcol from crm.customers", nil)
	pl.SendQueryParams("select 'skipped too'", nil, nil, nil, nil)
	pl.SendPipelineSync()
	for i := range 200 {
		pl.SendQueryParams("select $1::int as n, md5($1::text) as h", [][]byte{[]byte(strconv.Itoa(i))}, nil, nil, nil)
	}
	pl.SendPipelineSync()
	pl.SendDeallocate("s_div")
	pl.SendQueryPrepared("s_div", [][]byte{[]byte("1")}, nil, nil) // no longer exists
	pl.SendPipelineSync()
	pl.SendQueryParams("begin", nil, nil, nil, nil)
	pl.SendQueryParams("create temp table pt (a int)", nil, nil, nil, nil)
	pl.SendQueryParams("insert into pt values (1), (2)", nil, nil, nil, nil)
	pl.SendQueryParams("select count(*) from pt", nil, nil, nil, []int16{1})
	pl.SendQueryParams("rollback", nil, nil, nil, nil)
	pl.SendPipelineSync()
	if err := pl.Flush(); err != nil {
		fmt.Fprintf(&w, "flush: %v\n", err)
	}
	for n := 0; n < 1000; n++ {
		res, err := pl.GetResults()
		if err != nil {
			fmt.Fprintf(&w, "%s\n", clientsFormatErr(err))
			if !errors.As(err, new(*pgconn.PgError)) {
				break
			}
			continue
		}
		if res == nil {
			break
		}
		switch r := res.(type) {
		case *pgconn.StatementDescription:
			fmt.Fprintf(&w, "prepared %q params %v\n%s", r.Name, r.ParamOIDs, clientsFormatFields(r.Fields))
		case *pgconn.ResultReader:
			w.WriteString(clientsFormatFields(r.FieldDescriptions()))
			for r.NextRow() {
				w.WriteString(clientsFormatRow(r.Values()))
			}
			tag, err := r.Close()
			if err != nil {
				fmt.Fprintf(&w, "%s\n", clientsFormatErr(err))
			}
			fmt.Fprintf(&w, "C %q\n", tag.String())
		case *pgconn.PipelineSync:
			w.WriteString("sync\n")
		case *pgconn.CloseComplete:
			w.WriteString("close complete\n")
		default:
			fmt.Fprintf(&w, "%T\n", r)
		}
	}
	if err := pl.Close(); err != nil {
		fmt.Fprintf(&w, "pipeline close: %s\n", clientsFormatErr(err))
	}
	res, err := pc.Exec(ctx, "select 1").ReadAll()
	if err != nil {
		fmt.Fprintf(&w, "after: %s\n", clientsFormatErr(err))
	} else {
		fmt.Fprintf(&w, "after: %q\n", res[0].Rows)
	}
	return w.String()
}

// TestPgxPipeline compares pgconn's pipeline mode through pgveil with a
// direct connection.
func TestPgxPipeline(t *testing.T) {
	t.Parallel()
	p := harness.StartProxy(t, nil)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	c := clientsConnectPair(t, p, pgx.QueryExecModeCacheStatement)
	want := clientsRunPipeline(ctx, c.direct.PgConn())
	got := clientsRunPipeline(ctx, c.proxy.PgConn())
	clientsCompare(t, "pipeline", want, got)
	for _, code := range []string{"22012", "42703", "26000"} {
		if !strings.Contains(want, code) {
			t.Errorf("direct pipeline did not report %s:\n%s", code, transparencyClip(want, 4000))
		}
	}
	if n := strings.Count(want, "sync\n"); n != 6 {
		t.Errorf("direct pipeline saw %d syncs, want 6", n)
	}
}

// TestPgxStreaming100k streams a 100k-row result through pgveil in the
// simple and the extended protocol and compares a digest of every raw
// value with the direct connection's.
func TestPgxStreaming100k(t *testing.T) {
	t.Parallel()
	p := harness.StartProxy(t, nil)
	const sql = `select g, md5(g::text) as h, repeat('r', g % 200) as pad, c.name, c.city, g * 1.5 as f
	             from generate_series(1, 100000) g join crm.customers c on c.id = g % 1000 + 1 order by g`
	for _, m := range []struct {
		name string
		mode pgx.QueryExecMode
	}{{"simple", pgx.QueryExecModeSimpleProtocol}, {"cache_statement", pgx.QueryExecModeCacheStatement}} {
		t.Run(m.name, func(t *testing.T) {
			t.Parallel()
			ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
			defer cancel()
			c := clientsConnectPair(t, p, m.mode)
			digest := func(conn *pgx.Conn) (string, int) {
				rows, err := conn.Query(ctx, sql)
				if err != nil {
					t.Fatal(err)
				}
				defer rows.Close()
				h := sha256.New()
				h.Write([]byte(clientsFormatFields(rows.FieldDescriptions())))
				n := 0
				for rows.Next() {
					for _, v := range rows.RawValues() {
						fmt.Fprintf(h, "%d:", len(v))
						h.Write(v)
					}
					n++
				}
				if err := rows.Err(); err != nil {
					t.Fatal(err)
				}
				fmt.Fprintf(h, "%s", rows.CommandTag())
				return hex.EncodeToString(h.Sum(nil)), n
			}
			wantD, wantN := digest(c.direct)
			start := time.Now()
			gotD, gotN := digest(c.proxy)
			t.Logf("100k rows through pgveil (%s) in %v", m.name, time.Since(start).Round(time.Millisecond))
			if wantN != 100000 || gotN != wantN || gotD != wantD {
				t.Errorf("100k rows: direct %d rows digest %s, pgveil %d rows digest %s", wantN, wantD, gotN, gotD)
			}
		})
	}
}

// TestPgxCopyTo compares COPY TO STDOUT output byte for byte, in text, CSV
// and binary format, and a COPY that fails midway.
func TestPgxCopyTo(t *testing.T) {
	t.Parallel()
	p := harness.StartProxy(t, nil)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	c := clientsConnectPair(t, p, pgx.QueryExecModeCacheStatement)
	for _, sql := range []string{
		`copy (select g, md5(g::text), c.name, c.address, null::text, E'tab\t\\back' from generate_series(1, 100000) g join crm.customers c on c.id = g % 1000 + 1 order by g) to stdout`,
		`copy crm.customers to stdout with (format csv, header)`,
		`copy (select * from crm.orders order by id) to stdout with (format binary)`,
		`copy (select '\xdeadbeef'::bytea, 'NaN'::numeric, array[1, null], '{"a": 1}'::jsonb, 'infinity'::timestamptz, int4range(1, 2)) to stdout with (format binary)`,
		`copy (select 1 / (g - 50000) from generate_series(1, 100000) g) to stdout`,
		`copy crm.nosuch to stdout`,
	} {
		run := func(conn *pgx.Conn) (string, []byte) {
			var buf bytes.Buffer
			tag, err := conn.PgConn().CopyTo(ctx, &buf, sql)
			s := fmt.Sprintf("tag %q", tag.String())
			if err != nil {
				s += " " + clientsFormatErr(err)
			}
			return s, buf.Bytes()
		}
		wantS, wantB := run(c.direct)
		gotS, gotB := run(c.proxy)
		clientsCompare(t, fmt.Sprintf("%.70q", sql), wantS, gotS)
		if !bytes.Equal(wantB, gotB) {
			t.Errorf("%.70q: COPY data differs: direct %d bytes, pgveil %d bytes, first difference at byte %d", sql, len(wantB), len(gotB), clientsFirstDiff(wantB, gotB))
		}
	}
	var one int
	if err := c.proxy.QueryRow(ctx, "select 1").Scan(&one); err != nil {
		t.Errorf("select 1 after COPY TO: %v", err)
	}
}

func clientsFirstDiff(a, b []byte) int {
	for i := range min(len(a), len(b)) {
		if a[i] != b[i] {
			return i
		}
	}
	return min(len(a), len(b))
}

// clientsCopyRows generates n rows of COPY text format lazily.
type clientsCopyRows struct {
	n, next int
	badAt   int // row number to write a malformed row at (0: none)
	failAt  int // row number at which Read returns an error (0: none)
	buf     []byte
	err     error // returned at failAt
}

func (r *clientsCopyRows) Read(p []byte) (int, error) {
	for len(r.buf) < len(p) && r.next < r.n {
		r.next++
		if r.next == r.failAt {
			r.err = errors.New("client gave up")
			break
		}
		if r.next == r.badAt {
			r.buf = append(r.buf, "not-a-number\tbad\t\\N\n"...)
			continue
		}
		r.buf = fmt.Appendf(r.buf, "%d\trow %d 张伟\t%s\n", r.next, r.next, strings.Repeat("p", r.next%300))
	}
	if len(r.buf) == 0 {
		if r.err != nil {
			return 0, r.err
		}
		return 0, io.EOF
	}
	n := copy(p, r.buf)
	r.buf = r.buf[n:]
	return n, nil
}

// TestPgxCopyFrom streams COPY FROM STDIN through pgveil into a temporary
// table (a clear session may write its own temp tables), then reads it
// back; also a COPY with a malformed row and one the client aborts.
func TestPgxCopyFrom(t *testing.T) {
	t.Parallel()
	p := harness.StartProxy(t, nil)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	c := clientsConnectPair(t, p, pgx.QueryExecModeCacheStatement)
	run := func(conn *pgx.Conn) string {
		var w strings.Builder
		pc := conn.PgConn()
		if _, err := pc.Exec(ctx, "create temp table cf (a int, b text, c text)").ReadAll(); err != nil {
			t.Fatal(err)
		}
		for _, src := range []*clientsCopyRows{{n: 100000}, {n: 1000, badAt: 500}, {n: 1000, failAt: 700}} {
			tag, err := pc.CopyFrom(ctx, src, "copy cf from stdin")
			fmt.Fprintf(&w, "copy: %q", tag.String())
			if err != nil {
				fmt.Fprintf(&w, " %s", clientsFormatErr(err))
			}
			w.WriteString("\n")
		}
		w.WriteString(clientsRecord(ctx, conn, "select count(*), sum(a), md5(string_agg(b || c, ',' order by a)) from cf"))

		// pgx's CopyFrom uses the binary COPY format.
		rows := make([][]any, 5000)
		for i := range rows {
			rows[i] = []any{int32(i), fmt.Sprint("bin ", i), nil}
		}
		n, err := conn.CopyFrom(ctx, pgx.Identifier{"cf"}, []string{"a", "b", "c"}, pgx.CopyFromRows(rows))
		fmt.Fprintf(&w, "pgx.CopyFrom: %d %v\n", n, err)
		w.WriteString(clientsRecord(ctx, conn, "select count(*), sum(a), count(c) from cf"))
		if _, err := pc.Exec(ctx, "drop table cf").ReadAll(); err != nil {
			t.Fatal(err)
		}
		return w.String()
	}
	want := run(c.direct)
	got := run(c.proxy)
	clientsCompare(t, "COPY FROM", want, got)
	if !strings.Contains(want, `"COPY 100000"`) || !strings.Contains(want, "22P02") || !strings.Contains(want, "57014") {
		t.Errorf("unexpected direct COPY FROM results:\n%s", want)
	}
	// And a permanent table is out of reach, as directly.
	for _, conn := range []*pgx.Conn{c.direct, c.proxy} {
		_, err := conn.PgConn().CopyFrom(ctx, strings.NewReader("1\tx\n"), "copy crm.customers (id, name) from stdin")
		var pgErr *pgconn.PgError
		if !errors.As(err, &pgErr) || pgErr.Code != "42501" {
			t.Errorf("COPY into crm.customers: %v, want permission denied", err)
		}
	}
}

// TestPgxLargeValues moves 20 MB values in both directions: results
// (text and binary, simple and extended) and bind parameters, which are
// larger than any of pgveil's buffers and take its streaming path.
func TestPgxLargeValues(t *testing.T) {
	t.Parallel()
	p := harness.StartProxy(t, nil)
	const size = 20_000_000
	bigText := strings.Repeat("x", size-7) + "张伟!" // 20 MB in UTF-8
	bigBytes := make([]byte, size)
	for i := range bigBytes {
		bigBytes[i] = byte(i * 7)
	}
	sum := func(b []byte) string { h := sha256.Sum256(b); return hex.EncodeToString(h[:8]) }
	for _, m := range clientsModes {
		t.Run(m.name, func(t *testing.T) {
			t.Parallel()
			ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
			defer cancel()
			c := clientsConnectPair(t, p, m.mode)
			type q struct {
				sql  string
				args []any
			}
			queries := []q{
				{`select repeat('x', 20000000) as big`, nil},
				{`select decode(repeat('ab', 20000000), 'hex') as big`, nil},
				// Each parameter is used once: the simple protocol inlines
				// it, and a 20 MB bytea is a 40 MB hex literal; twice would
				// exceed pgveil's max_message_size (64 MiB).
				{`with v(t) as (select $1::text) select length(t), md5(t) from v`, []any{bigText}},
				{`select $1::text as echo`, []any{bigText}},
				{`with v(b) as (select $1::bytea) select length(b), md5(b) from v`, []any{bigBytes}},
				{`select $1::bytea as echo`, []any{bigBytes}},
			}
			if m.mode == pgx.QueryExecModeCacheStatement {
				for _, f := range []int16{pgx.TextFormatCode, pgx.BinaryFormatCode} {
					queries = append(queries, q{`select repeat('y', 20000000) || $1::text as big`, []any{pgx.QueryResultFormats{f}, "z"}},
						q{`select $1::bytea as echo`, []any{pgx.QueryResultFormats{f}, bigBytes}})
				}
			}
			for _, qq := range queries {
				record := func(conn *pgx.Conn) string {
					rows, err := conn.Query(ctx, qq.sql, qq.args...)
					if err != nil {
						return clientsFormatErr(err)
					}
					defer rows.Close()
					s := clientsFormatFields(rows.FieldDescriptions())
					for rows.Next() {
						for _, v := range rows.RawValues() {
							if len(v) > 100 {
								s += fmt.Sprintf("V len=%d sha=%s\n", len(v), sum(v))
							} else {
								s += fmt.Sprintf("V %q\n", v)
							}
						}
					}
					if err := rows.Err(); err != nil {
						s += clientsFormatErr(err)
					}
					return s + rows.CommandTag().String()
				}
				want := record(c.direct)
				got := record(c.proxy)
				clientsCompare(t, fmt.Sprintf("%s: %s", m.name, qq.sql), want, got)
				if strings.Contains(want, "ERROR") {
					t.Errorf("%s: %s failed directly: %s", m.name, qq.sql, want)
				}
			}
		})
	}
}

// TestPgbench runs pgbench's read-only custom script (crm_reader cannot
// pgbench -i) in each protocol mode, directly and through pgveil, and logs
// the throughput. It is not parallel, so that the numbers are comparable.
func TestPgbench(t *testing.T) {
	pgbench := clientsLookPath(t, "pgbench")
	p := harness.StartProxy(t, nil)
	dir := t.TempDir()
	script := filepath.Join(dir, "lookup.sql")
	if err := os.WriteFile(script, []byte("\\set id random(1, 1000)\nSELECT id, name, mobile, email, id_number, birthday FROM crm.customers WHERE id = :id;\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	type result struct {
		tps    float64
		failed int
		txns   int
	}
	run := func(mode string, env []string) result {
		ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
		defer cancel()
		cmd := exec.CommandContext(ctx, pgbench, "-n", "-f", script, "-c", "8", "-j", "2", "-T", "5", "-M", mode)
		cmd.Dir = dir
		cmd.Env = append(clientsBaseEnv(dir), env...)
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("pgbench -M %s: %v\n%s", mode, err, out)
		}
		var r result
		m := regexp.MustCompile(`(?m)^number of failed transactions: (\d+)`).FindSubmatch(out)
		if m == nil {
			t.Fatalf("pgbench -M %s: no \"number of failed transactions\" line:\n%s", mode, out)
		}
		r.failed, _ = strconv.Atoi(string(m[1]))
		m = regexp.MustCompile(`(?m)^number of transactions actually processed: (\d+)`).FindSubmatch(out)
		if m == nil {
			t.Fatalf("pgbench -M %s: no transactions line:\n%s", mode, out)
		}
		r.txns, _ = strconv.Atoi(string(m[1]))
		m = regexp.MustCompile(`(?m)^tps = ([0-9.]+) \(without initial connection time\)`).FindSubmatch(out)
		if m == nil {
			t.Fatalf("pgbench -M %s: no tps line:\n%s", mode, out)
		}
		r.tps, _ = strconv.ParseFloat(string(m[1]), 64)
		if r.failed != 0 || r.txns == 0 {
			t.Errorf("pgbench -M %s: %d failed of %d transactions\n%s", mode, r.failed, r.txns, out)
		}
		return r
	}
	var table []string
	for _, mode := range []string{"simple", "extended", "prepared"} {
		d := run(mode, p.DirectEnv())
		v := run(mode, p.Env(harness.Local))
		table = append(table, fmt.Sprintf("pgbench -M %-8s: direct %8.0f tps, pgveil %8.0f tps (%.2fx)", mode, d.tps, v.tps, v.tps/d.tps))
	}
	t.Logf("pgbench -c 8 -j 2 -T 5, SELECT by primary key (%s):\n%s", "crm.customers", strings.Join(table, "\n"))
}

// TestPgxCancel cancels a running query through pgveil with pgx's cancel
// request: the query must fail with query_canceled promptly, and the
// connection must stay usable.
func TestPgxCancel(t *testing.T) {
	t.Parallel()
	p := harness.StartProxy(t, nil)
	for _, m := range []struct {
		name string
		mode pgx.QueryExecMode
	}{{"simple", pgx.QueryExecModeSimpleProtocol}, {"extended", pgx.QueryExecModeCacheStatement}} {
		t.Run(m.name, func(t *testing.T) {
			t.Parallel()
			conn, _ := clientsConnect(t, p.DSN(harness.Local), m.mode)
			ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
			defer cancel()
			start := time.Now()
			_, err := conn.Exec(ctx, "select pg_sleep(30)")
			elapsed := time.Since(start)
			var pgErr *pgconn.PgError
			if !errors.As(err, &pgErr) || pgErr.Code != "57014" {
				t.Errorf("cancelled pg_sleep: %v, want SQLSTATE 57014 (query_canceled)", err)
			} else if pgErr.Message != "canceling statement due to user request" {
				t.Errorf("cancelled pg_sleep: message %q", pgErr.Message)
			}
			if elapsed > 5*time.Second {
				t.Errorf("cancel took %v", elapsed)
			}
			t.Logf("cancelled after %v", elapsed.Round(time.Millisecond))
			if conn.IsClosed() {
				t.Fatal("connection closed by the cancel")
			}
			ctx2, cancel2 := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel2()
			var one int
			if err := conn.QueryRow(ctx2, "select 1").Scan(&one); err != nil || one != 1 {
				t.Errorf("select 1 after cancel: %d, %v", one, err)
			}
		})
	}
}

// TestPsqlCancel interrupts psql (SIGINT), which sends a CancelRequest
// with the key pgveil gave it.
func TestPsqlCancel(t *testing.T) {
	t.Parallel()
	psql := clientsLookPath(t, "psql")
	p := harness.StartProxy(t, nil)
	dir := t.TempDir()
	// The comment makes the statement easy to find in pg_stat_activity.
	const sql = "select pg_sleep(30) -- pgveil psql cancel test"
	cmd := exec.Command(psql, "-X", "-c", sql)
	cmd.Dir = dir
	cmd.Env = append(clientsBaseEnv(dir), p.Env(harness.Local)...)
	var out bytes.Buffer
	cmd.Stdout = &out
	cmd.Stderr = &out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	select {
	case err := <-done:
		t.Fatalf("psql ended before it was interrupted: %v\n%s", err, out.String())
	case <-time.After(time.Second):
	}
	// Make sure the query is running upstream before interrupting psql, so
	// that a slow start cannot make the test pass or fail by accident.
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	watcher, _ := clientsConnect(t, p.Up.ReaderDSN(), pgx.QueryExecModeSimpleProtocol)
	for {
		var n int
		err := watcher.QueryRow(ctx, "select count(*) from pg_stat_activity where query = $1 and state = 'active'", sql).Scan(&n)
		if err != nil {
			cmd.Process.Kill()
			<-done
			t.Fatalf("waiting for the query to start: %v\n%s", err, out.String())
		}
		if n > 0 {
			break
		}
		time.Sleep(50 * time.Millisecond)
	}
	start := time.Now()
	if err := cmd.Process.Signal(syscall.SIGINT); err != nil {
		t.Fatal(err)
	}
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		cmd.Process.Kill()
		<-done
		t.Fatalf("psql still running 5s after SIGINT:\n%s", out.String())
	}
	t.Logf("psql ended %v after SIGINT: %q", time.Since(start).Round(time.Millisecond), out.String())
	if !strings.Contains(out.String(), "canceling statement due to user request") {
		t.Errorf("psql output lacks the cancel error:\n%s", out.String())
	}
}
