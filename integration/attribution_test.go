package integration

import (
	"context"
	"encoding/binary"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgproto3"

	"github.com/pgveil/pgveil/integration/harness"
	"github.com/pgveil/pgveil/proxy"
	"github.com/pgveil/pgveil/proxy/track"
)

// tagChecker is a Filter that forwards everything unchanged and checks the
// attribution of every DataRow against a real server: each test statement
// returns its own tag ('t17') as its first column, so a row is correctly
// attributed when the statement the tracker names contains that tag.
type tagChecker struct {
	mu     sync.Mutex
	rows   atomic.Int64
	errors []string
}

func (f *tagChecker) Client(pgproto3.FrontendMessage) (pgproto3.FrontendMessage, error) {
	return nil, nil
}
func (f *tagChecker) WantsServer(typ byte) bool { return typ == 'D' }

func (f *tagChecker) Server(dst, msg []byte, a track.Attribution) ([]byte, error) {
	f.rows.Add(1)
	tag := firstColumn(msg)
	var sql string
	if a.Statement != nil {
		sql = a.Statement.SQL
		if a.Origin == track.OriginQuery {
			parts := strings.Split(sql, ";")
			sql = ""
			if a.Index < len(parts) {
				sql = parts[a.Index]
			}
		}
	}
	if !strings.Contains(sql, "'"+tag+"'") {
		f.mu.Lock()
		f.errors = append(f.errors, fmt.Sprintf("row tagged %q attributed to %s %q (portal %q, #%d)", tag, a.Origin, sql, a.PortalName, a.Index))
		f.mu.Unlock()
	}
	return msg, nil
}

// firstColumn returns the first value of a DataRow (text or binary text).
func firstColumn(msg []byte) string {
	body := msg[5:]
	if len(body) < 6 {
		return ""
	}
	n := int32(binary.BigEndian.Uint32(body[2:6]))
	if n < 0 || int(n) > len(body)-6 {
		return ""
	}
	return string(body[6 : 6+n])
}

func (f *tagChecker) check(t *testing.T, minRows int64) {
	t.Helper()
	f.mu.Lock()
	defer f.mu.Unlock()
	for i, e := range f.errors {
		if i == 10 {
			t.Errorf("... and %d more", len(f.errors)-10)
			break
		}
		t.Error(e)
	}
	if got := f.rows.Load(); got < minRows {
		t.Errorf("filter saw %d DataRows, want at least %d", got, minRows)
	}
}

func tagged(i, rows int) string {
	return fmt.Sprintf("SELECT 't%d'::text AS tag, g FROM generate_series(1, %d) g", i, rows)
}

// TestAttributionAgainstRealServer drives the protocol patterns drivers use
// through a filtered session and checks that the tracker attributes every
// row to the statement that produced it.
func TestAttributionAgainstRealServer(t *testing.T) {
	checker := &tagChecker{}
	p := harness.StartProxy(t, &harness.Options{Filter: func(proxy.SessionInfo) proxy.Filter { return checker }})
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()

	t.Run("simple query with several statements", func(t *testing.T) {
		conn, err := pgconn.Connect(ctx, p.DSN(harness.Local))
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Close(ctx)
		if _, err := conn.Exec(ctx, tagged(1, 3)+";"+tagged(2, 0)+";"+tagged(3, 5)).ReadAll(); err != nil {
			t.Fatal(err)
		}
		// An error in the middle: the rest of the Query is skipped.
		conn.Exec(ctx, tagged(4, 2)+"; SELECT 1/0;"+tagged(5, 2)).ReadAll()
		if _, err := conn.Exec(ctx, tagged(6, 1)).ReadAll(); err != nil {
			t.Fatal(err)
		}
	})

	for _, mode := range []pgx.QueryExecMode{pgx.QueryExecModeCacheStatement, pgx.QueryExecModeCacheDescribe, pgx.QueryExecModeDescribeExec, pgx.QueryExecModeExec} {
		t.Run("pgx batch "+mode.String(), func(t *testing.T) {
			cfg, err := pgx.ParseConfig(p.DSN(harness.Local))
			if err != nil {
				t.Fatal(err)
			}
			cfg.DefaultQueryExecMode = mode
			conn, err := pgx.ConnectConfig(ctx, cfg)
			if err != nil {
				t.Fatal(err)
			}
			defer conn.Close(ctx)
			// Twice: the second round runs cached statements without Describe.
			for round := 0; round < 2; round++ {
				b := &pgx.Batch{}
				for i := 0; i < 20; i++ {
					b.Queue(tagged(100+i, i%4))
				}
				if err := conn.SendBatch(ctx, b).Close(); err != nil {
					t.Fatal(err)
				}
			}
			// A failing statement in the middle of a batch.
			b := &pgx.Batch{}
			b.Queue(tagged(200, 2))
			b.Queue("SELECT 1/0")
			b.Queue(tagged(201, 2))
			conn.SendBatch(ctx, b).Close()
			var tag string
			var n int
			if err := conn.QueryRow(ctx, "SELECT 't202'::text, count(*) FROM generate_series(1, 3)").Scan(&tag, &n); err != nil || n != 3 {
				t.Fatalf("after failed batch: %d, %v", n, err)
			}
		})
	}

	t.Run("pipeline with several syncs and an error", func(t *testing.T) {
		conn, err := pgconn.Connect(ctx, p.DSN(harness.Local))
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Close(ctx)
		pl := conn.StartPipeline(ctx)
		pl.SendPrepare("a", tagged(300, 2), nil)
		pl.SendPrepare("b", tagged(301, 3), nil)
		pl.SendQueryPrepared("b", nil, nil, nil)
		pl.SendQueryPrepared("a", nil, nil, nil)
		pl.SendQueryParams("SELECT 1/0", nil, nil, nil, nil)
		pl.SendQueryPrepared("b", nil, nil, nil) // skipped by the server
		pl.Sync()
		pl.SendQueryPrepared("a", nil, nil, []int16{1})
		pl.SendQueryParams(tagged(302, 4), nil, nil, nil, nil)
		pl.Sync()
		if err := pl.Close(); err == nil {
			t.Fatal("pipeline with 1/0: no error")
		}
	})

	t.Run("portals with row limits", func(t *testing.T) {
		conn, err := pgconn.Connect(ctx, p.DSN(harness.Local))
		if err != nil {
			t.Fatal(err)
		}
		hc, err := conn.Hijack()
		if err != nil {
			t.Fatal(err)
		}
		defer hc.Conn.Close()
		fe := hc.Frontend
		fe.Send(&pgproto3.Query{String: "BEGIN"})
		fe.Send(&pgproto3.Parse{Name: "s", Query: tagged(400, 10)})
		fe.Send(&pgproto3.Bind{DestinationPortal: "p1", PreparedStatement: "s"})
		fe.Send(&pgproto3.Parse{Name: "s2", Query: tagged(401, 10)})
		fe.Send(&pgproto3.Bind{DestinationPortal: "p2", PreparedStatement: "s2"})
		for i := 0; i < 4; i++ {
			fe.Send(&pgproto3.Execute{Portal: "p1", MaxRows: 3})
			fe.Send(&pgproto3.Execute{Portal: "p2", MaxRows: 2})
		}
		fe.Send(&pgproto3.Sync{})
		fe.Send(&pgproto3.Query{String: "COMMIT"})
		if err := fe.Flush(); err != nil {
			t.Fatal(err)
		}
		hc.Conn.SetDeadline(time.Now().Add(20 * time.Second))
		for ready := 0; ready < 3; {
			m, err := fe.Receive()
			if err != nil {
				t.Fatal(err)
			}
			switch m := m.(type) {
			case *pgproto3.ReadyForQuery:
				ready++
			case *pgproto3.ErrorResponse:
				t.Fatalf("server error: %s", m.Message)
			}
		}
	})

	checker.check(t, 150)
}
