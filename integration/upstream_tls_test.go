package integration

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"net"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgconn"

	"github.com/pgveil/pgveil/integration/harness"
	"github.com/pgveil/pgveil/internal/pgserver"
	"github.com/pgveil/pgveil/internal/stack"
	"github.com/pgveil/pgveil/rules"
)

// TestUpstreamTLS checks every [upstream] sslmode against real servers:
// that the modes which should encrypt do (pg_stat_ssl on the upstream
// backend), that certificate checks refuse what they must, and that every
// refusal reaches the client as 08006 (pgveil could not connect), never as
// a wrong-password error it would blame itself for.
//
// It starts its own servers, since the shared upstream has no TLS:
//
//   - tls:      TLS optional, certificate for 127.0.0.1 and localhost, from ca
//   - tls-only: TLS required (hostssl only), certificate for db.example only, from ca
//   - plain:    no TLS at all
//
// Not parallel: stack.StartProxy sets the reader password in the process
// environment, which parallel tests on the shared upstream read too.
// t.Setenv restores it when the test ends (and panics if anyone makes this
// test parallel).
func TestUpstreamTLS(t *testing.T) {
	dir := t.TempDir()
	ca := upstreamTLSNewCA(t, dir, "ca")
	otherCA := upstreamTLSNewCA(t, dir, "other-ca")
	goodCert, goodKey := ca.issue(t, dir, "good", []net.IP{net.IPv4(127, 0, 0, 1)}, []string{"localhost"})
	nameCert, nameKey := ca.issue(t, dir, "db.example", nil, []string{"db.example"})
	missingCA := filepath.Join(dir, "no-such-ca.crt")

	pw := make([]byte, 12)
	rand.Read(pw)
	readerPassword := hex.EncodeToString(pw)
	t.Setenv(stack.ReaderPasswordEnv, readerPassword)

	servers := map[string]*stack.Upstream{
		"tls":      upstreamTLSServer(t, &pgserver.TLSOptions{CertFile: goodCert, KeyFile: goodKey}, readerPassword),
		"tls-only": upstreamTLSServer(t, &pgserver.TLSOptions{CertFile: nameCert, KeyFile: nameKey, Require: true}, readerPassword),
		"plain":    upstreamTLSServer(t, nil, readerPassword),
	}

	for _, tc := range []struct {
		name     string
		server   string
		sslmode  string
		ca       string
		host     string // default 127.0.0.1
		wantCode string // "" = the login works
		wantSSL  bool
		wantLog  string // in the proxy log, for refusals: the real cause
	}{
		{name: "require", server: "tls", sslmode: "require", wantSSL: true},
		{name: "verify-full", server: "tls", sslmode: "verify-full", ca: ca.File, wantSSL: true},
		{name: "verify-full_localhost", server: "tls", sslmode: "verify-full", ca: ca.File, host: "localhost", wantSSL: true},
		{name: "verify-ca", server: "tls", sslmode: "verify-ca", ca: ca.File, wantSSL: true},
		{name: "disable", server: "tls", sslmode: "disable", wantSSL: false},
		{name: "verify-full_other-ca", server: "tls", sslmode: "verify-full", ca: otherCA.File,
			wantCode: "08006", wantLog: "certificate signed by unknown authority"},
		{name: "verify-ca_other-ca", server: "tls", sslmode: "verify-ca", ca: otherCA.File,
			wantCode: "08006", wantLog: "certificate signed by unknown authority"},
		// As in libpq, require with a root certificate verifies the chain.
		{name: "require_other-ca", server: "tls", sslmode: "require", ca: otherCA.File,
			wantCode: "08006", wantLog: "certificate signed by unknown authority"},
		// A CA file that is not there is a configuration error, found at
		// the first login.
		{name: "verify-full_missing-ca", server: "tls", sslmode: "verify-full", ca: missingCA,
			wantCode: "F0000", wantLog: "no-such-ca.crt"},

		{name: "tls-only_verify-ca", server: "tls-only", sslmode: "verify-ca", ca: ca.File, wantSSL: true},
		{name: "tls-only_require", server: "tls-only", sslmode: "require", wantSSL: true},
		{name: "tls-only_verify-full_no-ip-san", server: "tls-only", sslmode: "verify-full", ca: ca.File,
			wantCode: "08006", wantLog: "doesn't contain any IP SANs"},
		{name: "tls-only_verify-full_wrong-dns-name", server: "tls-only", sslmode: "verify-full", ca: ca.File, host: "localhost",
			wantCode: "08006", wantLog: "certificate is valid for db.example, not localhost"},
		// The server's "no pg_hba.conf entry" is SQLSTATE 28000, an
		// authorization failure, which pgveil reports as its own
		// connection failure rather than passing on.
		{name: "tls-only_disable", server: "tls-only", sslmode: "disable",
			wantCode: "08006", wantLog: "no pg_hba.conf entry"},

		{name: "plain_disable", server: "plain", sslmode: "disable", wantSSL: false},
		{name: "plain_require", server: "plain", sslmode: "require",
			wantCode: "08006", wantLog: "server refused TLS connection"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			addr, logs := upstreamTLSProxy(t, servers[tc.server], func(cfg *rules.Config) {
				cfg.Upstream.SSLMode = tc.sslmode
				cfg.Upstream.CA = tc.ca
				if tc.host != "" {
					cfg.Upstream.Host = tc.host
				}
			})
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			conn, err := pgconn.Connect(ctx, upstreamTLSClientDSN(addr, harness.Local, harness.Password(harness.Local)))
			if tc.wantCode != "" {
				if err == nil {
					conn.Close(ctx)
					t.Fatalf("login succeeded, want FATAL %s", tc.wantCode)
				}
				var pgErr *pgconn.PgError
				if !errors.As(err, &pgErr) {
					t.Fatalf("login: %v, want an ErrorResponse with SQLSTATE %s", err, tc.wantCode)
				}
				if pgErr.Severity != "FATAL" || pgErr.Code != tc.wantCode {
					t.Errorf("login: %s %s %q, want FATAL %s", pgErr.Severity, pgErr.Code, pgErr.Message, tc.wantCode)
				}
				if tc.wantCode == "08006" && pgErr.Message != "pgveil could not connect to the upstream server" {
					t.Errorf("login: message %q", pgErr.Message)
				}
				// The cause is for the DBA, in the log, not for the client.
				if strings.Contains(pgErr.Message, tc.wantLog) {
					t.Errorf("client sees the upstream cause: %q", pgErr.Message)
				}
				if !upstreamTLSWaitLog(logs, tc.wantLog) {
					t.Errorf("proxy log does not mention %q", tc.wantLog)
				}
				return
			}
			if err != nil {
				t.Fatalf("login: %v", err)
			}
			defer conn.Close(context.Background())
			res, err := conn.Exec(ctx, `select ssl::text from pg_stat_ssl where pid = pg_backend_pid();
				select count(*) from crm.customers;
				select length(repeat('x', 300000) || 'end'), repeat('y', 300000)`).ReadAll()
			if err != nil {
				t.Fatal(err)
			}
			if len(res) != 3 || len(res[0].Rows) != 1 || len(res[1].Rows) != 1 || len(res[2].Rows) != 1 {
				t.Fatalf("unexpected results: %+v", res)
			}
			if got, want := string(res[0].Rows[0][0]), map[bool]string{true: "true", false: "false"}[tc.wantSSL]; got != want {
				t.Errorf("upstream backend ssl = %s, want %s", got, want)
			}
			if got := string(res[1].Rows[0][0]); got != "50" {
				t.Errorf("customers: %s, want 50", got)
			}
			// 300 kB crosses many TLS records on the way back.
			if got := string(res[2].Rows[0][0]); got != "300003" {
				t.Errorf("length = %s", got)
			}
			if got := res[2].Rows[0][1]; len(got) != 300000 || strings.Trim(string(got), "y") != "" {
				t.Errorf("repeat('y', 300000): %d bytes back", len(got))
			}
		})
	}

	// A cancel is sent to the upstream on a fresh, plaintext connection, as
	// PostgreSQL's protocol has it; the server must accept it even when
	// pg_hba.conf allows only TLS logins (cancels are not logins).
	t.Run("tls-only_cancel", func(t *testing.T) {
		addr, _ := upstreamTLSProxy(t, servers["tls-only"], func(cfg *rules.Config) {
			cfg.Upstream.SSLMode = "verify-ca"
			cfg.Upstream.CA = ca.File
		})
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		conn, err := pgconn.Connect(ctx, upstreamTLSClientDSN(addr, harness.Local, harness.Password(harness.Local)))
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Close(context.Background())
		cancelErr := make(chan error, 1)
		go func() {
			time.Sleep(300 * time.Millisecond)
			cancelErr <- conn.CancelRequest(ctx)
		}()
		start := time.Now()
		_, err = conn.Exec(ctx, "select pg_sleep(20)").ReadAll()
		if err := <-cancelErr; err != nil {
			t.Errorf("CancelRequest: %v", err)
		}
		var pgErr *pgconn.PgError
		if !errors.As(err, &pgErr) || pgErr.Code != "57014" {
			t.Fatalf("cancelled pg_sleep: %v, want SQLSTATE 57014 after %v", err, time.Since(start))
		}
		if d := time.Since(start); d > 10*time.Second {
			t.Errorf("cancel took %v", d)
		}
		if _, err := conn.Exec(ctx, "select 1").ReadAll(); err != nil {
			t.Errorf("select 1 after cancel: %v", err)
		}
	})
}

// upstreamTLSWaitLog waits briefly for want to appear in the proxy log: the
// session logs its refusal around the time the client reads it.
func upstreamTLSWaitLog(logs *upstreamTLSLog, want string) bool {
	deadline := time.Now().Add(2 * time.Second)
	for {
		if strings.Contains(logs.String(), want) {
			return true
		}
		if time.Now().After(deadline) {
			return false
		}
		time.Sleep(20 * time.Millisecond)
	}
}
