package integration

// Helpers for the connection-lifecycle and protocol-edge tests
// (lifecycle_test.go, protocol_test.go): raw protocol clients built on
// pgproto3.Frontend, TLS material, psql invocation and polling.

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/binary"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"math/big"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgproto3"

	"github.com/pgveil/pgveil/integration/harness"
)

// lcTimeout bounds every single network step of these tests.
const lcTimeout = 10 * time.Second

// lcCtx is a context that ends after d or with the test.
func lcCtx(t *testing.T, d time.Duration) context.Context {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), d)
	t.Cleanup(cancel)
	return ctx
}

// lcConnect opens a pgconn connection that is closed when the test ends.
func lcConnect(t *testing.T, dsn string) *pgconn.PgConn {
	t.Helper()
	pc, err := pgconn.Connect(lcCtx(t, lcTimeout), dsn)
	if err != nil {
		t.Fatalf("connect %q: %v", lcRedact(dsn), err)
	}
	t.Cleanup(func() { pc.Close(context.Background()) })
	return pc
}

// lcConnectConfig is lcConnect for a prepared config.
func lcConnectConfig(t *testing.T, cfg *pgconn.Config) *pgconn.PgConn {
	t.Helper()
	pc, err := pgconn.ConnectConfig(lcCtx(t, lcTimeout), cfg)
	if err != nil {
		t.Fatalf("connect: %v", err)
	}
	t.Cleanup(func() { pc.Close(context.Background()) })
	return pc
}

// lcHijack logs in with pgconn (SCRAM and all) and then takes over the
// raw connection, for tests that must see exactly what the proxy sends.
func lcHijack(t *testing.T, dsn string) *pgconn.HijackedConn {
	t.Helper()
	pc, err := pgconn.Connect(lcCtx(t, lcTimeout), dsn)
	if err != nil {
		t.Fatalf("connect %q: %v", lcRedact(dsn), err)
	}
	hc, err := pc.Hijack()
	if err != nil {
		t.Fatalf("hijack: %v", err)
	}
	t.Cleanup(func() { hc.Conn.Close() })
	return hc
}

// lcExec runs sql on pc and returns the first error.
func lcExec(ctx context.Context, pc *pgconn.PgConn, sql string) ([]*pgconn.Result, error) {
	return pc.Exec(ctx, sql).ReadAll()
}

// lcSelect1 fails the test unless pc answers SELECT 1.
func lcSelect1(t *testing.T, pc *pgconn.PgConn) {
	t.Helper()
	res, err := lcExec(lcCtx(t, lcTimeout), pc, "SELECT 1")
	if err != nil {
		t.Fatalf("SELECT 1: %v", err)
	}
	if len(res) != 1 || len(res[0].Rows) != 1 || string(res[0].Rows[0][0]) != "1" {
		t.Fatalf("SELECT 1: unexpected result %+v", res)
	}
}

// lcDial opens a raw TCP connection with an overall deadline.
func lcDial(t *testing.T, addr string) net.Conn {
	t.Helper()
	c, err := net.DialTimeout("tcp", addr, lcTimeout)
	if err != nil {
		t.Fatalf("dial %s: %v", addr, err)
	}
	c.SetDeadline(time.Now().Add(lcTimeout))
	t.Cleanup(func() { c.Close() })
	return c
}

// lcStartup sends a StartupMessage of the given version over c.
func lcStartup(t *testing.T, c net.Conn, version uint32, params map[string]string) *pgproto3.Frontend {
	t.Helper()
	fe := pgproto3.NewFrontend(c, c)
	fe.Send(&pgproto3.StartupMessage{ProtocolVersion: version, Parameters: params})
	if err := fe.Flush(); err != nil {
		t.Fatalf("sending StartupMessage: %v", err)
	}
	return fe
}

// lcParams are startup parameters for user on the crm database.
func lcParams(user string) map[string]string {
	return map[string]string{"user": user, "database": "crm"}
}

// lcNext receives one message or fails the test.
func lcNext(t *testing.T, fe *pgproto3.Frontend) pgproto3.BackendMessage {
	t.Helper()
	m, err := fe.Receive()
	if err != nil {
		t.Fatalf("receive: %v", err)
	}
	return m
}

// lcExpectSASL fails unless the next message (after any
// NegotiateProtocolVersion, which is returned) is AuthenticationSASL
// offering SCRAM-SHA-256.
func lcExpectSASL(t *testing.T, fe *pgproto3.Frontend) *pgproto3.NegotiateProtocolVersion {
	t.Helper()
	var npv *pgproto3.NegotiateProtocolVersion
	for {
		switch m := lcNext(t, fe).(type) {
		case *pgproto3.NegotiateProtocolVersion:
			if npv != nil {
				t.Fatalf("second NegotiateProtocolVersion: %+v", m)
			}
			cp := *m
			cp.UnrecognizedOptions = append([]string(nil), m.UnrecognizedOptions...)
			npv = &cp
		case *pgproto3.AuthenticationSASL:
			for _, mech := range m.AuthMechanisms {
				if mech == "SCRAM-SHA-256" {
					return npv
				}
			}
			t.Fatalf("AuthenticationSASL without SCRAM-SHA-256: %v", m.AuthMechanisms)
		case *pgproto3.ErrorResponse:
			t.Fatalf("expected AuthenticationSASL, got %s %s: %s", m.Severity, m.Code, m.Message)
		default:
			t.Fatalf("expected AuthenticationSASL, got %T", m)
		}
	}
}

// lcExpectFatal reads until an ErrorResponse (skipping notices, parameter
// statuses and NegotiateProtocolVersion) and checks it is FATAL with code.
func lcExpectFatal(t *testing.T, fe *pgproto3.Frontend, code string) pgproto3.ErrorResponse {
	t.Helper()
	for range 1000 {
		m, err := fe.Receive()
		if err != nil {
			t.Fatalf("expected FATAL %s, got receive error: %v", code, err)
		}
		switch m := m.(type) {
		case *pgproto3.ErrorResponse:
			e := *m
			if e.Severity != "FATAL" || e.Code != code {
				t.Fatalf("expected FATAL %s, got %s %s: %s", code, e.Severity, e.Code, e.Message)
			}
			return e
		case *pgproto3.NoticeResponse, *pgproto3.ParameterStatus, *pgproto3.NegotiateProtocolVersion:
		default:
			t.Fatalf("expected FATAL %s, got %T", code, m)
		}
	}
	t.Fatalf("expected FATAL %s: too many messages", code)
	return pgproto3.ErrorResponse{}
}

// lcExpectClosed fails unless the peer closes c within d (reading and
// discarding whatever arrives first). It returns the bytes read.
func lcExpectClosed(t *testing.T, c net.Conn, d time.Duration) []byte {
	t.Helper()
	c.SetReadDeadline(time.Now().Add(d))
	b, err := io.ReadAll(c)
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		t.Fatalf("connection still open after %v (read %d bytes)", d, len(b))
	}
	return b
}

// lcCode is the SQLSTATE of err, or "" when it carries none.
func lcCode(err error) string {
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) {
		return pgErr.Code
	}
	return ""
}

// lcWantCode fails unless err is a PostgreSQL error with code.
func lcWantCode(t *testing.T, err error, code string) *pgconn.PgError {
	t.Helper()
	var pgErr *pgconn.PgError
	if !errors.As(err, &pgErr) {
		t.Fatalf("expected error with SQLSTATE %s, got %v", code, err)
	}
	if pgErr.Code != code {
		t.Fatalf("expected SQLSTATE %s, got %s: %s", code, pgErr.Code, pgErr.Message)
	}
	return pgErr
}

// lcWaitActive polls until the proxy serves exactly want connections.
func lcWaitActive(t *testing.T, p *harness.Proxy, want int64, within time.Duration) {
	t.Helper()
	deadline := time.Now().Add(within)
	for {
		got := p.Active()
		if got == want {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("proxy Active() = %d after %v, want %d", got, within, want)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// lcDSN is a DSN for user on addr (for proxies not started by the harness).
func lcDSN(addr, user string, extra ...string) string {
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		panic(err)
	}
	dsn := fmt.Sprintf("host=%s port=%s user=%s password=%s dbname=crm sslmode=disable connect_timeout=10",
		host, port, user, harness.Password(user))
	for _, e := range extra {
		dsn += " " + e
	}
	return dsn
}

func lcRedact(dsn string) string {
	f := strings.Fields(dsn)
	for i, kv := range f {
		if strings.HasPrefix(kv, "password=") {
			f[i] = "password=***"
		}
	}
	return strings.Join(f, " ")
}

// lcCancelRequest sends a raw CancelRequest to addr and waits for the
// proxy to close the connection.
func lcCancelRequest(t *testing.T, addr string, pid uint32, key []byte) {
	t.Helper()
	c := lcDial(t, addr)
	msg := make([]byte, 12, 12+len(key))
	binary.BigEndian.PutUint32(msg[0:], uint32(12+len(key)))
	binary.BigEndian.PutUint32(msg[4:], 80877102)
	binary.BigEndian.PutUint32(msg[8:], pid)
	msg = append(msg, key...)
	if _, err := c.Write(msg); err != nil {
		t.Fatalf("writing CancelRequest: %v", err)
	}
	if b := lcExpectClosed(t, c, 5*time.Second); len(b) != 0 {
		t.Fatalf("proxy answered a CancelRequest with %q", b)
	}
}

// lcCerts writes a throwaway ECDSA CA and a server certificate for
// localhost/127.0.0.1 signed by it. It returns the PEM file paths.
func lcCerts(t *testing.T) (certFile, keyFile, caFile string) {
	t.Helper()
	dir := t.TempDir()
	now := time.Now()
	caKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	caTmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(1),
		Subject:               pkix.Name{CommonName: "pgveil test CA"},
		NotBefore:             now.Add(-time.Hour),
		NotAfter:              now.Add(24 * time.Hour),
		IsCA:                  true,
		BasicConstraintsValid: true,
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageCRLSign,
	}
	caDER, err := x509.CreateCertificate(rand.Reader, caTmpl, caTmpl, &caKey.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	caCert, err := x509.ParseCertificate(caDER)
	if err != nil {
		t.Fatal(err)
	}
	srvKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	srvTmpl := &x509.Certificate{
		SerialNumber: big.NewInt(2),
		Subject:      pkix.Name{CommonName: "localhost"},
		DNSNames:     []string{"localhost"},
		IPAddresses:  []net.IP{net.IPv4(127, 0, 0, 1), net.IPv6loopback},
		NotBefore:    now.Add(-time.Hour),
		NotAfter:     now.Add(24 * time.Hour),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	srvDER, err := x509.CreateCertificate(rand.Reader, srvTmpl, caCert, &srvKey.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	keyDER, err := x509.MarshalECPrivateKey(srvKey)
	if err != nil {
		t.Fatal(err)
	}
	write := func(name, typ string, der []byte, mode os.FileMode) string {
		path := filepath.Join(dir, name)
		if err := os.WriteFile(path, pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: der}), mode); err != nil {
			t.Fatal(err)
		}
		return path
	}
	return write("server.crt", "CERTIFICATE", srvDER, 0o644),
		write("server.key", "EC PRIVATE KEY", keyDER, 0o600),
		write("ca.crt", "CERTIFICATE", caDER, 0o644)
}

// lcPsql runs psql with env (see lcPsqlEnv) and returns its output.
func lcPsql(t *testing.T, env []string, args ...string) (stdout, stderr string, err error) {
	t.Helper()
	path, lerr := exec.LookPath("psql")
	if lerr != nil {
		path = "/usr/bin/psql"
		if _, serr := os.Stat(path); serr != nil {
			t.Skip("psql not installed")
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, path, append([]string{"-X", "-w", "-v", "ON_ERROR_STOP=1"}, args...)...)
	cmd.Env = env
	var out, errb strings.Builder
	cmd.Stdout, cmd.Stderr = &out, &errb
	err = cmd.Run()
	return out.String(), errb.String(), err
}

// lcPsqlEnv is the environment for psql as user through p, with the
// caller's PG* variables removed and extra (e.g. "PGSSLMODE=require")
// taking precedence.
func lcPsqlEnv(p *harness.Proxy, user string, extra ...string) []string {
	var env []string
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "PG") {
			env = append(env, kv)
		}
	}
	env = append(env, p.Env(user)...)
	return append(env, extra...)
}
