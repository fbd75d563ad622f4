package proxy

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"fmt"
	"log/slog"
	"math"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgproto3"

	"github.com/pgveil/pgveil/auth"
	"github.com/pgveil/pgveil/rules"
)

// fuzzConn is a client connection whose bytes are the fuzz input: reads
// return the input and then io.EOF (a client that sent exactly this and
// then half-closed), writes are counted and discarded. Nothing ever
// blocks, so a handler that does not return is a handler stuck on its own.
type fuzzConn struct {
	r       *bytes.Reader
	written atomic.Int64
	closed  atomic.Bool
}

func (c *fuzzConn) Read(p []byte) (int, error) {
	if c.closed.Load() {
		return 0, net.ErrClosed
	}
	return c.r.Read(p)
}

func (c *fuzzConn) Write(p []byte) (int, error) {
	if c.closed.Load() {
		return 0, net.ErrClosed
	}
	c.written.Add(int64(len(p)))
	return len(p), nil
}

func (c *fuzzConn) Close() error        { c.closed.Store(true); return nil }
func (c *fuzzConn) LocalAddr() net.Addr { return &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 6432} }
func (c *fuzzConn) RemoteAddr() net.Addr {
	return &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 50000}
}
func (c *fuzzConn) SetDeadline(time.Time) error      { return nil }
func (c *fuzzConn) SetReadDeadline(time.Time) error  { return nil }
func (c *fuzzConn) SetWriteDeadline(time.Time) error { return nil }

// fuzzServers builds, once per process, two servers whose upstream is a
// closed port: one without TLS and one with tls = "optional".
var fuzzServers = sync.OnceValues(func() ([]*Server, error) {
	dir, err := os.MkdirTemp("", "pgveil-fuzz-startup")
	if err != nil {
		return nil, err
	}
	// The files are read by NewServer below and not needed afterwards.
	defer os.RemoveAll(dir)
	cert, key, err := fuzzCert(dir)
	if err != nil {
		return nil, err
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	closedPort := ln.Addr().(*net.TCPAddr).Port
	ln.Close()
	v, err := auth.NewVerifier("fuzz-password")
	if err != nil {
		return nil, err
	}
	var servers []*Server
	for _, tlsLines := range []string{
		`tls = "disabled"`,
		fmt.Sprintf("tls = \"optional\"\ntls_cert = %q\ntls_key = %q", cert, key),
	} {
		text := fmt.Sprintf(`[server]
%s
max_connections = 10
auth_timeout = "2s"

[upstream]
host = "127.0.0.1"
port = %d
sslmode = "disable"
connect_timeout = "1s"

[[listen]]
address = "127.0.0.1:0"
region = "CN"

[[users]]
name = "li.na"
password = %q
roles = ["sales"]
upstream_user = "crm_reader"
upstream_password_env = "PGVEIL_FUZZ_UNSET_PASSWORD"
`, tlsLines, closedPort, v.String())
		cfg, err := rules.Parse("fuzz.toml", []byte(text))
		if err != nil {
			return nil, err
		}
		s, err := NewServer(cfg, Options{Logger: slog.New(slog.DiscardHandler)})
		if err != nil {
			return nil, err
		}
		// Every input comes from one address: no login backoff here.
		s.logins.threshold = math.MaxInt
		servers = append(servers, s)
	}
	return servers, nil
})

func fuzzCert(dir string) (certFile, keyFile string, err error) {
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return "", "", err
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1),
		Subject:      pkix.Name{CommonName: "localhost"},
		DNSNames:     []string{"localhost"},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(24 * time.Hour),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &k.PublicKey, k)
	if err != nil {
		return "", "", err
	}
	kd, err := x509.MarshalECPrivateKey(k)
	if err != nil {
		return "", "", err
	}
	certFile, keyFile = filepath.Join(dir, "server.crt"), filepath.Join(dir, "server.key")
	if err := os.WriteFile(certFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o600); err != nil {
		return "", "", err
	}
	if err := os.WriteFile(keyFile, pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: kd}), 0o600); err != nil {
		return "", "", err
	}
	return certFile, keyFile, nil
}

// fuzzStartupSeeds are the in-code seeds (testdata/fuzz/FuzzStartup holds
// the same and more).
func fuzzStartupSeeds() [][]byte {
	enc := func(msgs ...pgproto3.FrontendMessage) []byte {
		var b []byte
		for _, m := range msgs {
			var err error
			if b, err = m.Encode(b); err != nil {
				panic(err)
			}
		}
		return b
	}
	startup := func(v uint32, kv ...string) *pgproto3.StartupMessage {
		m := &pgproto3.StartupMessage{ProtocolVersion: v, Parameters: map[string]string{}}
		for i := 0; i+1 < len(kv); i += 2 {
			m.Parameters[kv[i]] = kv[i+1]
		}
		return m
	}
	valid := enc(startup(pgproto3.ProtocolVersion30, "user", "li.na", "database", "crm"))
	return [][]byte{
		enc(&pgproto3.SSLRequest{}),
		enc(&pgproto3.GSSEncRequest{}),
		valid,
		enc(&pgproto3.CancelRequest{ProcessID: 1234, SecretKey: []byte{1, 2, 3, 4}}),
		valid[:len(valid)/2],
		enc(&pgproto3.GSSEncRequest{}, &pgproto3.SSLRequest{}, startup(pgproto3.ProtocolVersion30, "user", "li.na")),
		enc(startup(3<<16|3, "user", "li.na", "_pq_.foo", "1")),
		enc(startup(pgproto3.ProtocolVersion32, "user", "li.na", "replication", "database")),
		append(valid, enc(&pgproto3.SASLInitialResponse{AuthMechanism: "SCRAM-SHA-256", Data: []byte("n,,n=,r=abcdefghijklmnop")})...),
		{0x16, 0x03, 0x01, 0x00, 0x05, 0x01, 0x00, 0x00, 0x01, 0x00},
	}
}

// FuzzStartup feeds arbitrary bytes as a client's first bytes to the
// connection handler. Invariants: no panic, the handler returns promptly
// once the input is exhausted, the proxy's output stays small, and nothing
// is left registered afterwards.
func FuzzStartup(f *testing.F) {
	for _, s := range fuzzStartupSeeds() {
		f.Add(s)
	}
	servers, err := fuzzServers()
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		for _, s := range servers {
			c := &fuzzConn{r: bytes.NewReader(data)}
			done := make(chan struct{})
			go func() {
				defer close(done)
				s.handle(c, &s.cfg.Listen[0])
			}()
			select {
			case <-done:
			case <-time.After(5 * time.Second):
				t.Fatalf("handler (tls=%s) still running 5s after a %d-byte input was exhausted", s.cfg.Server.TLS, len(data))
			}
			// Replies are bounded: at most one byte per 8-byte request
			// (SSLRequest/GSSENCRequest answers), a TLS handshake, a
			// NegotiateProtocolVersion echoing at most one startup
			// packet, the SASL challenge and one error.
			if w, limit := c.written.Load(), int64(len(data)/8+3*maxStartupPacketLen); w > limit {
				t.Fatalf("proxy wrote %d bytes for a %d-byte input (limit %d)", w, len(data), limit)
			}
			if !c.closed.Load() {
				t.Fatal("handler returned without closing the connection")
			}
			if n := s.Active(); n != 0 {
				t.Fatalf("Active() = %d after the handler returned", n)
			}
			s.mu.Lock()
			ns := len(s.sessions)
			s.mu.Unlock()
			s.cancels.mu.Lock()
			nc := len(s.cancels.sessions)
			s.cancels.mu.Unlock()
			if ns != 0 || nc != 0 {
				t.Fatalf("%d sessions and %d cancel keys left registered", ns, nc)
			}
		}
	})
}

// TestFuzzStartupSeedsAnswers pins down what the seeds get back, so that
// the fuzz target's plumbing is known to reach the interesting paths.
func TestFuzzStartupSeedsAnswers(t *testing.T) {
	servers, err := fuzzServers()
	if err != nil {
		t.Fatal(err)
	}
	run := func(s *Server, in []byte) []byte {
		c := &recordConn{fuzzConn: fuzzConn{r: bytes.NewReader(in)}}
		s.handle(c, &s.cfg.Listen[0])
		return c.out.Bytes()
	}
	seeds := fuzzStartupSeeds()
	plain, withTLS := servers[0], servers[1]
	if got := run(plain, seeds[0]); !bytes.Equal(got, []byte("N")) {
		t.Errorf("SSLRequest without TLS: %q", got)
	}
	if got := run(withTLS, seeds[0]); !bytes.HasPrefix(got, []byte("S")) {
		t.Errorf("SSLRequest with TLS: %q", got)
	}
	if got := run(plain, seeds[1]); !bytes.Equal(got, []byte("N")) {
		t.Errorf("GSSENCRequest: %q", got)
	}
	if got := run(plain, seeds[2]); len(got) < 5 || got[0] != 'R' {
		t.Errorf("StartupMessage: %q, want AuthenticationSASL", got)
	}
	if got := run(plain, seeds[3]); len(got) != 0 {
		t.Errorf("CancelRequest: %q", got)
	}
	if got := run(plain, seeds[6]); len(got) < 1 || got[0] != 'v' {
		t.Errorf("3.3 startup: %q, want NegotiateProtocolVersion first", got)
	}
	if got := run(plain, seeds[7]); !bytes.Contains(got, []byte("0A000")) {
		t.Errorf("replication startup: %q", got)
	}
}

type recordConn struct {
	fuzzConn
	out bytes.Buffer
}

func (c *recordConn) Write(p []byte) (int, error) {
	c.out.Write(p)
	return c.fuzzConn.Write(p)
}
