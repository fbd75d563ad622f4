package integration

// End-to-end tests of the client connection lifecycle: TLS, login,
// limits, timeouts, misbehaving clients, cancellation and shutdown,
// against a real PostgreSQL with real clients (pgx/pgconn, psql) and raw
// protocol clients.

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"encoding/binary"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgconn/ctxwatch"
	"github.com/jackc/pgx/v5/pgproto3"

	"github.com/pgveil/pgveil/integration/harness"
	"github.com/pgveil/pgveil/internal/stack"
	"github.com/pgveil/pgveil/rules"
)

// tlsProxy starts a proxy with TLS mode mode ("required" or "optional")
// and returns it with the CA file that signed its certificate.
func tlsProxy(t *testing.T, mode string) (*harness.Proxy, string) {
	t.Helper()
	cert, key, ca := lcCerts(t)
	p := harness.StartProxy(t, &harness.Options{Mutate: func(c *rules.Config) {
		c.Server.TLS = mode
		c.Server.TLSCert = cert
		c.Server.TLSKey = key
	}})
	return p, ca
}

// pgxIsTLS connects with pgx and reports whether the connection is TLS.
func pgxIsTLS(t *testing.T, dsn string) bool {
	t.Helper()
	conn, err := pgx.Connect(lcCtx(t, lcTimeout), dsn)
	if err != nil {
		t.Fatalf("connect %q: %v", lcRedact(dsn), err)
	}
	defer conn.Close(context.Background())
	var n int
	if err := conn.QueryRow(lcCtx(t, lcTimeout), "SELECT count(*) FROM crm.customers").Scan(&n); err != nil {
		t.Fatalf("query: %v", err)
	}
	if n == 0 {
		t.Fatal("no customers")
	}
	_, isTLS := conn.PgConn().Conn().(*tls.Conn)
	return isTLS
}

func TestTLSRequired(t *testing.T) {
	t.Parallel()
	p, ca := tlsProxy(t, "required")

	t.Run("pgx sslmode=disable refused 28000", func(t *testing.T) {
		_, err := pgconn.Connect(lcCtx(t, lcTimeout), p.DSN(harness.Local))
		e := lcWantCode(t, err, "28000")
		if e.Severity != "FATAL" || !strings.Contains(e.Message, "requires TLS") {
			t.Fatalf("unexpected refusal: %s %s", e.Severity, e.Message)
		}
	})
	t.Run("psql sslmode=disable refused", func(t *testing.T) {
		_, stderr, err := lcPsql(t, lcPsqlEnv(p, harness.Local, "PGSSLMODE=disable"), "-c", "SELECT 1")
		if err == nil {
			t.Fatal("psql without TLS was let in")
		}
		if !strings.Contains(stderr, "FATAL") || !strings.Contains(stderr, "requires TLS") {
			t.Fatalf("psql stderr: %s", stderr)
		}
	})
	t.Run("pgx verify-full works", func(t *testing.T) {
		if !pgxIsTLS(t, p.DSN(harness.Local, "sslmode=verify-full", "sslrootcert="+ca)) {
			t.Fatal("connection is not TLS")
		}
	})
	t.Run("psql sslmode=require works", func(t *testing.T) {
		out, stderr, err := lcPsql(t, lcPsqlEnv(p, harness.Local, "PGSSLMODE=require"), "-c", `\conninfo`)
		if err != nil {
			t.Fatalf("psql: %v: %s", err, stderr)
		}
		if !strings.Contains(out, "SSL connection") {
			t.Fatalf(`\conninfo does not mention SSL: %s`, out)
		}
	})
	t.Run("direct TLS with ALPN works", func(t *testing.T) {
		if !pgxIsTLS(t, p.DSN(harness.Local, "sslmode=verify-full", "sslrootcert="+ca, "sslnegotiation=direct")) {
			t.Fatal("connection is not TLS")
		}
	})
	t.Run("direct TLS raw with ALPN", func(t *testing.T) {
		c := lcDial(t, p.Addrs[0])
		tc := tls.Client(c, &tls.Config{ServerName: "localhost", RootCAs: lcPool(t, ca), NextProtos: []string{"postgresql"}})
		if err := tc.Handshake(); err != nil {
			t.Fatalf("handshake: %v", err)
		}
		if got := tc.ConnectionState().NegotiatedProtocol; got != "postgresql" {
			t.Fatalf("ALPN = %q", got)
		}
		fe := lcStartup(t, tc, pgproto3.ProtocolVersion30, lcParams(harness.Local))
		if npv := lcExpectSASL(t, fe); npv != nil {
			t.Fatalf("unexpected NegotiateProtocolVersion %+v", npv)
		}
	})
	t.Run("direct TLS without ALPN refused", func(t *testing.T) {
		directWithoutALPN(t, p.Addrs[0], ca)
	})
	t.Run("cancel over TLS", func(t *testing.T) {
		cfg, err := pgconn.ParseConfig(p.DSN(harness.Local, "sslmode=require"))
		if err != nil {
			t.Fatal(err)
		}
		pc := lcConnectConfig(t, cancelOnCtx(cfg))
		if _, ok := pc.Conn().(*tls.Conn); !ok {
			t.Fatal("not TLS")
		}
		cancelSleep(t, pc)
	})
}

// directWithoutALPN checks that a direct TLS connection that does not
// negotiate ALPN "postgresql" never gets to authenticate, and that the
// client is told so in a way it can read (a TLS alert during the handshake,
// as PostgreSQL 17 sends, or an ErrorResponse inside the TLS session).
func directWithoutALPN(t *testing.T, addr, ca string) {
	c := lcDial(t, addr)
	tc := tls.Client(c, &tls.Config{ServerName: "localhost", RootCAs: lcPool(t, ca)})
	herr := tc.Handshake()
	if herr != nil {
		t.Logf("handshake refused: %v", herr)
		return
	}
	fe := pgproto3.NewFrontend(tc, tc)
	fe.Send(&pgproto3.StartupMessage{ProtocolVersion: pgproto3.ProtocolVersion30, Parameters: lcParams(harness.Local)})
	fe.Flush() // may fail: the proxy may already have given up
	m, err := fe.Receive()
	switch m := m.(type) {
	case *pgproto3.AuthenticationSASL:
		t.Fatal("direct TLS without ALPN reached authentication")
	case *pgproto3.ErrorResponse:
		if m.Severity != "FATAL" || m.Code != "08P01" {
			t.Fatalf("got %s %s: %s", m.Severity, m.Code, m.Message)
		}
		return
	case nil:
		// Refused, but how? Look at the raw bytes the proxy sent after
		// the handshake to describe it.
		t.Errorf("direct TLS without ALPN: handshake completed, then the session failed with %v: "+
			"the client never learns why (PostgreSQL fails the handshake with a no_application_protocol alert)", err)
	default:
		t.Fatalf("unexpected %T", m)
	}
}

func lcPool(t *testing.T, caFile string) *x509.CertPool {
	t.Helper()
	b, err := os.ReadFile(caFile)
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(b) {
		t.Fatal("bad CA PEM")
	}
	return pool
}

func TestTLSOptional(t *testing.T) {
	t.Parallel()
	p, ca := tlsProxy(t, "optional")
	if pgxIsTLS(t, p.DSN(harness.Local)) {
		t.Error("sslmode=disable: connection is TLS")
	}
	if !pgxIsTLS(t, p.DSN(harness.Local, "sslmode=verify-full", "sslrootcert="+ca)) {
		t.Error("sslmode=verify-full: connection is not TLS")
	}
	if !pgxIsTLS(t, p.DSN(harness.Overseas, "sslmode=require", "sslnegotiation=direct")) {
		t.Error("direct TLS: connection is not TLS")
	}
	out, stderr, err := lcPsql(t, lcPsqlEnv(p, harness.Local, "PGSSLMODE=disable"), "-c", `\conninfo`)
	if err != nil || strings.Contains(out, "SSL connection") {
		t.Errorf("psql sslmode=disable: err=%v out=%s stderr=%s", err, out, stderr)
	}
	out, stderr, err = lcPsql(t, lcPsqlEnv(p, harness.Local, "PGSSLMODE=require"), "-c", `\conninfo`)
	if err != nil || !strings.Contains(out, "SSL connection") {
		t.Errorf("psql sslmode=require: err=%v out=%s stderr=%s", err, out, stderr)
	}
	t.Run("direct TLS without ALPN refused", func(t *testing.T) {
		directWithoutALPN(t, p.Addrs[0], ca)
	})
}

func TestTLSDisabled(t *testing.T) {
	t.Parallel()
	p := harness.StartProxy(t, nil)
	// sslmode=prefer sends SSLRequest, gets 'N' and continues in clear.
	if pgxIsTLS(t, p.DSN(harness.Local, "sslmode=prefer")) {
		t.Error("sslmode=prefer on a TLS-less proxy: connection is TLS")
	}
	if _, err := pgconn.Connect(lcCtx(t, lcTimeout), p.DSN(harness.Local, "sslmode=require")); err == nil {
		t.Error("sslmode=require on a TLS-less proxy succeeded")
	}
	// A TLS ClientHello (direct TLS) when TLS is not configured: a clear
	// FATAL 08P01.
	c := lcDial(t, p.Addrs[0])
	if _, err := c.Write([]byte{0x16, 0x03, 0x01, 0x00, 0x40}); err != nil {
		t.Fatal(err)
	}
	e := lcExpectFatal(t, pgproto3.NewFrontend(c, c), "08P01")
	t.Logf("direct TLS without TLS configured: %s", e.Message)
	lcExpectClosed(t, c, 3*time.Second)
}

// TestTLSSSLRequestWithTrailingData: bytes sent after an SSLRequest but
// before the TLS handshake must be refused (CVE-2021-23222).
func TestTLSSSLRequestWithTrailingData(t *testing.T) {
	t.Parallel()
	p, _ := tlsProxy(t, "optional")
	c := lcDial(t, p.Addrs[0])
	req, _ := (&pgproto3.SSLRequest{}).Encode(nil)
	startup, _ := (&pgproto3.StartupMessage{ProtocolVersion: pgproto3.ProtocolVersion30, Parameters: lcParams(harness.Local)}).Encode(nil)
	if _, err := c.Write(append(req, startup...)); err != nil {
		t.Fatal(err)
	}
	lcExpectFatal(t, pgproto3.NewFrontend(c, c), "08P01")
	lcExpectClosed(t, c, 3*time.Second)
}

func TestAuthFailures(t *testing.T) {
	t.Parallel()
	p := harness.StartProxy(t, nil)

	wrong := strings.Replace(p.DSN(harness.Local), "password="+harness.Password(harness.Local), "password=wrong-password", 1)
	_, err := pgconn.Connect(lcCtx(t, lcTimeout), wrong)
	e1 := lcWantCode(t, err, "28P01")

	unknown := strings.Replace(p.DSN(harness.Local), "user="+harness.Local, "user=no.such.user", 1)
	_, err = pgconn.Connect(lcCtx(t, lcTimeout), unknown)
	e2 := lcWantCode(t, err, "28P01")

	want1 := `password authentication failed for user "li.na"`
	if e1.Message != want1 || e1.Severity != "FATAL" {
		t.Errorf("wrong password: %s %q, want FATAL %q", e1.Severity, e1.Message, want1)
	}
	// Unknown users must be indistinguishable from wrong passwords.
	if strings.Replace(e2.Message, "no.such.user", "li.na", 1) != e1.Message ||
		e2.Severity != e1.Severity || e2.Detail != e1.Detail || e2.Hint != e1.Hint {
		t.Errorf("unknown user answer differs in shape: %+v vs %+v", e2, e1)
	}

	// psql shows the same.
	_, stderr, err := lcPsql(t, append(lcPsqlEnv(p, harness.Local), "PGPASSWORD=wrong-password"), "-c", "SELECT 1")
	if err == nil || !strings.Contains(stderr, want1) {
		t.Errorf("psql wrong password: err=%v stderr=%s", err, stderr)
	}

	// No user in the startup packet.
	c := lcDial(t, p.Addrs[0])
	fe := lcStartup(t, c, pgproto3.ProtocolVersion30, map[string]string{"database": "crm"})
	lcExpectFatal(t, fe, "28000")
	lcExpectClosed(t, c, 3*time.Second)

	// The good password still works after all that.
	lcSelect1(t, lcConnect(t, p.DSN(harness.Local)))
}

func TestAuthTimeout(t *testing.T) {
	t.Parallel()
	p := harness.StartProxy(t, &harness.Options{Mutate: func(c *rules.Config) {
		c.Server.AuthTimeout.Duration = time.Second
	}})
	check := func(t *testing.T, c net.Conn) {
		start := time.Now()
		b := lcExpectClosed(t, c, 3*time.Second)
		el := time.Since(start)
		if el < 700*time.Millisecond {
			t.Errorf("closed after only %v", el)
		}
		t.Logf("closed after %v with %d bytes", el.Round(time.Millisecond), len(b))
		if e := firstError(b); e != nil {
			t.Logf("told: %s %s: %s", e.Severity, e.Code, e.Message)
			if e.Code == "XX000" {
				t.Errorf("an authentication timeout is reported to the client as an internal error (%s %s: %q)", e.Severity, e.Code, e.Message)
			}
		}
	}
	t.Run("silent client", func(t *testing.T) {
		t.Parallel()
		check(t, lcDial(t, p.Addrs[0]))
	})
	t.Run("stalls during SCRAM", func(t *testing.T) {
		t.Parallel()
		c := lcDial(t, p.Addrs[0])
		lcExpectSASL(t, lcStartup(t, c, pgproto3.ProtocolVersion30, lcParams(harness.Local)))
		check(t, c)
	})
	t.Run("partial startup packet", func(t *testing.T) {
		t.Parallel()
		c := lcDial(t, p.Addrs[0])
		c.Write([]byte{0, 0, 0, 40, 0, 3})
		check(t, c)
	})
	t.Run("logins still work", func(t *testing.T) {
		t.Parallel()
		lcSelect1(t, lcConnect(t, p.DSN(harness.Local)))
	})
}

// firstError decodes the first message of b if it is an ErrorResponse.
func firstError(b []byte) *pgproto3.ErrorResponse {
	if len(b) < 5 || b[0] != 'E' {
		return nil
	}
	n := int(binary.BigEndian.Uint32(b[1:5]))
	if n < 4 || len(b) < 1+n {
		return nil
	}
	var e pgproto3.ErrorResponse
	if e.Decode(b[5:1+n]) != nil {
		return nil
	}
	return &e
}

func TestLimitMessageSize(t *testing.T) {
	t.Parallel()
	p := harness.StartProxy(t, &harness.Options{Mutate: func(c *rules.Config) {
		c.Server.MaxMessageSize = 1 << 20
	}})
	good := lcConnect(t, p.DSN(harness.Overseas))
	lcSelect1(t, good)

	// Just under the limit passes.
	lit := strings.Repeat("x", 1<<20-100)
	res, err := lcExec(lcCtx(t, lcTimeout), lcConnect(t, p.DSN(harness.Local)), "SELECT length('"+lit+"')")
	if err != nil {
		t.Fatalf("query of %d bytes: %v", len(lit), err)
	}
	if got := string(res[0].Rows[0][0]); got != fmt.Sprint(len(lit)) {
		t.Fatalf("length = %s", got)
	}

	// 64 MiB is refused with 54000, and the client reads that FATAL even
	// though it is still writing its message (no connection reset).
	hc := lcHijack(t, p.DSN(harness.Local))
	body := []byte("SELECT '" + strings.Repeat("y", 64<<20) + "'\x00")
	msg := make([]byte, 5, 5+len(body))
	msg[0] = 'Q'
	binary.BigEndian.PutUint32(msg[1:], uint32(4+len(body)))
	msg = append(msg, body...)
	// Write it all before reading, as drivers do: the proxy must not reset
	// the connection under a client that is still sending.
	hc.Conn.SetDeadline(time.Now().Add(lcTimeout))
	if _, err := hc.Conn.Write(msg); err != nil {
		t.Fatalf("writing the oversized message: %v (the proxy reset the connection)", err)
	}
	e := lcExpectFatal(t, hc.Frontend, "54000")
	if !strings.Contains(e.Message, "max_message_size") {
		t.Errorf("message does not mention max_message_size: %q", e.Message)
	}
	lcExpectClosed(t, hc.Conn, 3*time.Second)

	// The other session did not notice.
	lcSelect1(t, good)
	lcWaitActive(t, p, 2, 3*time.Second)
}

func TestLimitMaxConnections(t *testing.T) {
	t.Parallel()
	p := harness.StartProxy(t, &harness.Options{Mutate: func(c *rules.Config) {
		c.Server.MaxConnections = 2
	}})
	cfg, err := pgconn.ParseConfig(p.DSN(harness.Local))
	if err != nil {
		t.Fatal(err)
	}
	a := lcConnectConfig(t, cancelOnCtx(cfg))
	b := lcConnect(t, p.DSN(harness.Overseas))

	_, err = pgconn.Connect(lcCtx(t, lcTimeout), p.DSN(harness.Local))
	e := lcWantCode(t, err, "53300")
	if e.Severity != "FATAL" {
		t.Errorf("severity %s", e.Severity)
	}
	lcSelect1(t, a)
	lcSelect1(t, b)

	// A CancelRequest is not a session: it still works at the limit.
	cancelSleep(t, a)

	b.Close(lcCtx(t, lcTimeout))
	lcWaitActive(t, p, 1, 3*time.Second)
	lcSelect1(t, lcConnect(t, p.DSN(harness.Local)))
}

func TestIdleTimeout(t *testing.T) {
	t.Parallel()
	p := harness.StartProxy(t, &harness.Options{Mutate: func(c *rules.Config) {
		c.Server.IdleTimeout.Duration = time.Second
	}})
	expectIdleKill := func(t *testing.T, hc *pgconn.HijackedConn) {
		start := time.Now()
		hc.Conn.SetDeadline(time.Now().Add(4 * time.Second))
		e := lcExpectFatal(t, hc.Frontend, "57P05")
		el := time.Since(start)
		t.Logf("idle session ended after %v: %s", el.Round(time.Millisecond), e.Message)
		if el < 700*time.Millisecond {
			t.Errorf("ended after only %v", el)
		}
		lcExpectClosed(t, hc.Conn, 2*time.Second)
	}
	t.Run("idle since login", func(t *testing.T) {
		t.Parallel()
		expectIdleKill(t, lcHijack(t, p.DSN(harness.Local)))
	})
	t.Run("idle after a query", func(t *testing.T) {
		t.Parallel()
		pc, err := pgconn.Connect(lcCtx(t, lcTimeout), p.DSN(harness.Local))
		if err != nil {
			t.Fatal(err)
		}
		lcSelect1(t, pc)
		hc, err := pc.Hijack()
		if err != nil {
			t.Fatal(err)
		}
		defer hc.Conn.Close()
		expectIdleKill(t, hc)
	})
	t.Run("busy transaction survives", func(t *testing.T) {
		t.Parallel()
		pc := lcConnect(t, p.DSN(harness.Local))
		ctx := lcCtx(t, lcTimeout)
		if _, err := lcExec(ctx, pc, "BEGIN"); err != nil {
			t.Fatal(err)
		}
		time.Sleep(1500 * time.Millisecond) // idle in transaction is not idle
		if _, err := lcExec(ctx, pc, "SELECT pg_sleep(2)"); err != nil {
			t.Fatalf("pg_sleep in transaction: %v", err)
		}
		if _, err := lcExec(ctx, pc, "COMMIT"); err != nil {
			t.Fatalf("commit: %v", err)
		}
		// A query outside a transaction that outlasts the timeout.
		if _, err := lcExec(ctx, pc, "SELECT pg_sleep(1.5)"); err != nil {
			t.Fatalf("pg_sleep outside transaction: %v", err)
		}
		lcSelect1(t, pc)
	})
}

func TestBadClientIsolation(t *testing.T) {
	t.Parallel()
	p := harness.StartProxy(t, nil)
	addr := p.Addrs[0]

	good := lcConnect(t, p.DSN(harness.Overseas))
	stop := make(chan struct{})
	var goodQueries atomic.Int64
	goodErr := make(chan error, 1)
	go func() {
		defer close(goodErr)
		for {
			select {
			case <-stop:
				return
			default:
			}
			ctx, cancel := context.WithTimeout(context.Background(), lcTimeout)
			res, err := lcExec(ctx, good, "SELECT count(*) FROM generate_series(1, 1000)")
			cancel()
			if err != nil {
				goodErr <- err
				return
			}
			if string(res[0].Rows[0][0]) != "1000" {
				goodErr <- fmt.Errorf("wrong result %q", res[0].Rows[0][0])
				return
			}
			goodQueries.Add(1)
		}
	}()

	const bigQuery = "SELECT g, repeat('x', 100) FROM generate_series(1, 100000) g"
	bad := map[string]func(t *testing.T){
		"random garbage": func(t *testing.T) {
			c := lcDial(t, addr)
			junk := make([]byte, 64<<10)
			rand.Read(junk)
			c.Write(junk)
			lcExpectClosed(t, c, 5*time.Second)
		},
		"http request": func(t *testing.T) {
			c := lcDial(t, addr)
			c.Write([]byte("GET / HTTP/1.1\r\nHost: pgveil\r\n\r\n"))
			lcExpectFatal(t, pgproto3.NewFrontend(c, c), "08P01")
			lcExpectClosed(t, c, 3*time.Second)
		},
		"hangs up mid-startup": func(t *testing.T) {
			c := lcDial(t, addr)
			b, _ := (&pgproto3.StartupMessage{ProtocolVersion: pgproto3.ProtocolVersion30, Parameters: lcParams(harness.Local)}).Encode(nil)
			c.Write(b[:len(b)/2])
			c.Close()
		},
		"hangs up mid-SCRAM": func(t *testing.T) {
			c := lcDial(t, addr)
			lcExpectSASL(t, lcStartup(t, c, pgproto3.ProtocolVersion30, lcParams(harness.Local)))
			c.Write([]byte{'p', 0, 0, 0, 100, 'S', 'C'})
			c.Close()
		},
		"garbage after login": func(t *testing.T) {
			hc := lcHijack(t, p.DSN(harness.Local))
			// A complete Query whose body is not a C string.
			junk := make([]byte, 4096)
			rand.Read(junk)
			junk[0] = 'Q'
			binary.BigEndian.PutUint32(junk[1:], uint32(len(junk)-1))
			junk[5], junk[len(junk)-1] = 0, 'x'
			hc.Conn.Write(junk)
			lcExpectClosed(t, hc.Conn, 5*time.Second)
		},
		"hangs up mid-result": func(t *testing.T) {
			hc := lcHijack(t, p.DSN(harness.Local))
			hc.Frontend.SendQuery(&pgproto3.Query{String: bigQuery})
			if err := hc.Frontend.Flush(); err != nil {
				t.Fatal(err)
			}
			hc.Conn.SetDeadline(time.Now().Add(lcTimeout))
			rows := 0
			for rows < 1000 {
				m := lcNext(t, hc.Frontend)
				if _, ok := m.(*pgproto3.DataRow); ok {
					rows++
				}
			}
			hc.Conn.Close()
		},
		"hangs up right after the query": func(t *testing.T) {
			hc := lcHijack(t, p.DSN(harness.Local))
			hc.Frontend.SendQuery(&pgproto3.Query{String: bigQuery})
			hc.Frontend.Flush()
			hc.Conn.Close()
		},
		"never reads its result": func(t *testing.T) {
			hc := lcHijack(t, p.DSN(harness.Local))
			hc.Frontend.SendQuery(&pgproto3.Query{String: bigQuery})
			hc.Frontend.Flush()
			time.Sleep(1500 * time.Millisecond)
			hc.Conn.Close()
		},
	}
	var wg sync.WaitGroup
	for name, f := range bad {
		for i := range 3 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				// Each bad client is a subtest so that its failures name it;
				// t.Run on a parent that is running is fine from goroutines.
				t.Run(fmt.Sprintf("%s/%d", name, i), f)
			}()
		}
	}
	wg.Wait()
	time.Sleep(200 * time.Millisecond) // let the good session run past the end
	close(stop)
	if err := <-goodErr; err != nil {
		t.Fatalf("good session failed while bad clients came and went: %v", err)
	}
	if n := goodQueries.Load(); n < 10 {
		t.Errorf("good session ran only %d queries", n)
	} else {
		t.Logf("good session ran %d queries meanwhile", n)
	}
	lcSelect1(t, good)
	lcWaitActive(t, p, 1, 5*time.Second)
	good.Close(lcCtx(t, lcTimeout))
	lcWaitActive(t, p, 0, 5*time.Second)
}

// cancelOnCtx makes context cancellation send a CancelRequest (pgx's
// default just breaks the connection).
func cancelOnCtx(cfg *pgconn.Config) *pgconn.Config {
	cfg.BuildContextWatcherHandler = func(pc *pgconn.PgConn) ctxwatch.Handler {
		return &pgconn.CancelRequestContextWatcherHandler{Conn: pc, DeadlineDelay: 5 * time.Second}
	}
	return cfg
}

// cancelSleep runs pg_sleep(10) with a context that ends after 300 ms and
// checks the query is canceled (57014) and the connection usable.
func cancelSleep(t *testing.T, pc *pgconn.PgConn) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	start := time.Now()
	_, err := lcExec(ctx, pc, "SELECT pg_sleep(10)")
	if el := time.Since(start); el > 4*time.Second {
		t.Errorf("cancel took %v", el)
	}
	lcWantCode(t, err, "57014")
	if pc.IsClosed() {
		t.Fatal("connection closed by the cancel")
	}
	lcSelect1(t, pc)
}

func TestCancelRequest(t *testing.T) {
	t.Parallel()
	p := harness.StartProxy(t, nil)

	t.Run("pgx context cancel", func(t *testing.T) {
		t.Parallel()
		cfg, err := pgx.ParseConfig(p.DSN(harness.Local))
		if err != nil {
			t.Fatal(err)
		}
		cancelOnCtx(&cfg.Config)
		conn, err := pgx.ConnectConfig(lcCtx(t, lcTimeout), cfg)
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Close(context.Background())
		ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
		defer cancel()
		_, err = conn.Exec(ctx, "SELECT pg_sleep(10)")
		lcWantCode(t, err, "57014")
		var one int
		if err := conn.QueryRow(lcCtx(t, lcTimeout), "SELECT 1").Scan(&one); err != nil || one != 1 {
			t.Fatalf("connection unusable after cancel: %v", err)
		}
	})

	t.Run("client sees pgveil's key, not the backend's", func(t *testing.T) {
		t.Parallel()
		pc := lcConnect(t, p.DSN(harness.Local))
		res, err := lcExec(lcCtx(t, lcTimeout), pc, "SELECT pg_backend_pid()")
		if err != nil {
			t.Fatal(err)
		}
		backend := string(res[0].Rows[0][0])
		if fmt.Sprint(pc.PID()) == backend {
			t.Fatalf("client sees the upstream backend PID %s", backend)
		}
		if len(pc.SecretKey()) != 4 {
			t.Errorf("protocol 3.0 secret key has %d bytes", len(pc.SecretKey()))
		}
	})

	t.Run("wrong keys are ignored", func(t *testing.T) {
		t.Parallel()
		pc := lcConnect(t, p.DSN(harness.Local))
		res, err := lcExec(lcCtx(t, lcTimeout), pc, "SELECT pg_backend_pid()")
		if err != nil {
			t.Fatal(err)
		}
		var backendPID uint32
		fmt.Sscan(string(res[0].Rows[0][0]), &backendPID)

		done := make(chan error, 1)
		start := time.Now()
		go func() {
			_, err := lcExec(lcCtx(t, lcTimeout), pc, "SELECT pg_sleep(1.5)")
			done <- err
		}()
		time.Sleep(300 * time.Millisecond)
		key := bytes.Clone(pc.SecretKey())
		wrong := bytes.Clone(key)
		wrong[0] ^= 0xff
		lcCancelRequest(t, p.Addrs[0], pc.PID(), wrong)            // right PID, wrong key
		lcCancelRequest(t, p.Addrs[0], pc.PID()^0x5a5a, key)       // wrong PID, right key
		lcCancelRequest(t, p.Addrs[0], backendPID, key)            // the upstream PID
		lcCancelRequest(t, p.Addrs[0], pc.PID(), append(key, 0))   // key too long
		lcCancelRequest(t, p.Addrs[0], pc.PID(), key[:len(key)-1]) // key too short
		if err := <-done; err != nil {
			t.Fatalf("query was disturbed by a CancelRequest with a wrong key: %v", err)
		}
		if el := time.Since(start); el < 1400*time.Millisecond {
			t.Fatalf("query returned after %v", el)
		}
		// And the right key does cancel.
		go func() {
			_, err := lcExec(lcCtx(t, lcTimeout), pc, "SELECT pg_sleep(10)")
			done <- err
		}()
		time.Sleep(300 * time.Millisecond)
		lcCancelRequest(t, p.Addrs[0], pc.PID(), key)
		lcWantCode(t, <-done, "57014")
		lcSelect1(t, pc)
	})
}

// TestShutdown drives the real binary: SIGTERM drains, then exits 0; a
// drain that outlasts shutdown_timeout terminates the rest and exits 3.
func TestShutdown(t *testing.T) {
	t.Parallel()
	up := harness.Upstream(t)
	bin := filepath.Join(t.TempDir(), "pgveil")
	gobin, err := exec.LookPath("go")
	if err != nil {
		t.Skip("go tool not found")
	}
	build := exec.Command(gobin, "build", "-o", bin, "./cmd/pgveil")
	build.Dir = ".."
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}

	t.Run("graceful", func(t *testing.T) {
		t.Parallel()
		px := startBinary(t, bin, up, "")
		a := lcHijack(t, lcDSN(px.addr, harness.Local))
		b, err := pgx.Connect(lcCtx(t, lcTimeout), lcDSN(px.addr, harness.Local))
		if err != nil {
			t.Fatal(err)
		}
		defer b.Close(context.Background())
		tx, err := b.Begin(lcCtx(t, lcTimeout))
		if err != nil {
			t.Fatal(err)
		}
		bDone := make(chan error, 1)
		go func() {
			if _, err := tx.Exec(lcCtx(t, lcTimeout), "SELECT pg_sleep(2)"); err != nil {
				bDone <- fmt.Errorf("pg_sleep: %w", err)
				return
			}
			bDone <- tx.Commit(lcCtx(t, lcTimeout))
		}()
		time.Sleep(300 * time.Millisecond)

		sigAt := time.Now()
		px.signal(t, syscall.SIGTERM)

		// A, idle, is told at once.
		a.Conn.SetDeadline(time.Now().Add(2 * time.Second))
		lcExpectFatal(t, a.Frontend, "57P01")
		if el := time.Since(sigAt); el > time.Second {
			t.Errorf("idle session told after %v", el)
		}
		// New connections are refused.
		refused := false
		for range 50 {
			c, err := net.DialTimeout("tcp", px.addr, time.Second)
			if err != nil {
				refused = true
				break
			}
			c.Close()
			time.Sleep(20 * time.Millisecond)
		}
		if !refused {
			t.Error("still accepting connections during shutdown")
		}
		// B finishes its transaction.
		if err := <-bDone; err != nil {
			t.Fatalf("busy transaction during drain: %v", err)
		}
		if el := time.Since(sigAt); el < 1500*time.Millisecond {
			t.Errorf("transaction finished only %v after SIGTERM (pg_sleep(2) started 300ms before)", el)
		}
		// ... and is then ended.
		_, err = b.Exec(lcCtx(t, lcTimeout), "SELECT 1")
		if err == nil {
			t.Error("session still usable after its transaction during shutdown")
		} else if c := lcCode(err); c != "" && c != "57P01" {
			t.Errorf("after drain: %v", err)
		}
		if code := px.wait(t, 10*time.Second); code != 0 {
			t.Errorf("exit code %d, want 0\n%s", code, px.stderr())
		}
	})

	t.Run("deadline", func(t *testing.T) {
		t.Parallel()
		px := startBinary(t, bin, up, `shutdown_timeout = "1s"`)
		pc := lcConnect(t, lcDSN(px.addr, harness.Overseas))
		done := make(chan error, 1)
		go func() {
			_, err := lcExec(lcCtx(t, lcTimeout), pc, "SELECT pg_sleep(5)")
			done <- err
		}()
		time.Sleep(300 * time.Millisecond)
		sigAt := time.Now()
		px.signal(t, syscall.SIGTERM)
		err := <-done
		el := time.Since(sigAt)
		lcWantCode(t, err, "57P01")
		if el < 800*time.Millisecond || el > 3*time.Second {
			t.Errorf("busy session terminated %v after SIGTERM, want ~1s", el)
		}
		if code := px.wait(t, 10*time.Second); code != 3 {
			t.Errorf("exit code %d, want 3\n%s", code, px.stderr())
		}
	})
}

// binaryProxy is a `pgveil serve` child process.
type binaryProxy struct {
	cmd    *exec.Cmd
	addr   string // first listener
	errb   *lockedBuffer
	exited chan struct{}
}

type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

func (b *binaryProxy) stderr() string { return b.errb.String() }

func (b *binaryProxy) signal(t *testing.T, sig os.Signal) {
	t.Helper()
	if err := b.cmd.Process.Signal(sig); err != nil {
		t.Fatalf("signal: %v", err)
	}
}

// wait returns the exit code, failing the test if the process does not
// exit within d.
func (b *binaryProxy) wait(t *testing.T, d time.Duration) int {
	t.Helper()
	select {
	case <-b.exited:
	case <-time.After(d):
		t.Fatalf("pgveil did not exit within %v\n%s", d, b.stderr())
	}
	return b.cmd.ProcessState.ExitCode()
}

// freeAddr returns a loopback address with a port that was free a moment ago.
func freeAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

// startBinary runs `pgveil serve` with the generated config plus extra
// [server] lines, and waits until it accepts connections.
func startBinary(t *testing.T, bin string, up *stack.Upstream, serverExtra string) *binaryProxy {
	t.Helper()
	listen := [2]string{freeAddr(t), freeAddr(t)}
	text, err := stack.ConfigText(up, listen, stack.DefaultUsers)
	if err != nil {
		t.Fatal(err)
	}
	if serverExtra != "" {
		text = strings.Replace(text, "[server]\n", "[server]\n"+serverExtra+"\n", 1)
	}
	path := filepath.Join(t.TempDir(), "pgveil.toml")
	if err := os.WriteFile(path, []byte(text), 0o600); err != nil {
		t.Fatal(err)
	}
	px := &binaryProxy{addr: listen[0], errb: &lockedBuffer{}, exited: make(chan struct{})}
	px.cmd = exec.Command(bin, "serve", "--config", path)
	px.cmd.Env = append(os.Environ(), stack.ReaderPasswordEnv+"="+up.ReaderPassword)
	px.cmd.Stderr = px.errb
	px.cmd.Stdout = px.errb
	if err := px.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { px.cmd.Wait(); close(px.exited) }()
	t.Cleanup(func() {
		select {
		case <-px.exited:
		default:
			px.cmd.Process.Kill()
			<-px.exited
		}
		if t.Failed() {
			t.Logf("pgveil output:\n%s", px.stderr())
		}
	})
	deadline := time.Now().Add(15 * time.Second)
	for {
		c, err := net.DialTimeout("tcp", px.addr, time.Second)
		if err == nil {
			c.Close()
			return px
		}
		select {
		case <-px.exited:
			t.Fatalf("pgveil exited early: %v\n%s", px.cmd.ProcessState, px.stderr())
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("pgveil not listening on %s: %v\n%s", px.addr, err, px.stderr())
		}
		time.Sleep(50 * time.Millisecond)
	}
}
