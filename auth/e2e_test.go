package auth

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math/big"
	"net"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgproto3"
)

// netConn adapts a net.Conn to Conn, recording the bodies of the SASL
// messages it receives.
type netConn struct {
	c        net.Conn
	received []string
}

func (n *netConn) Send(msg pgproto3.BackendMessage) error {
	b, err := msg.Encode(nil)
	if err != nil {
		return err
	}
	_, err = n.c.Write(b)
	return err
}

func (n *netConn) Receive() (byte, []byte, error) {
	var hdr [5]byte
	if _, err := io.ReadFull(n.c, hdr[:]); err != nil {
		return 0, nil, err
	}
	size := binary.BigEndian.Uint32(hdr[1:])
	if size < 4 || size > 1<<20 {
		return 0, nil, fmt.Errorf("message length %d out of range", size)
	}
	body := make([]byte, size-4)
	if _, err := io.ReadFull(n.c, body); err != nil {
		return 0, nil, err
	}
	n.received = append(n.received, string(body))
	return hdr[0], body, nil
}

// fakeServer is a PostgreSQL server that only authenticates: it runs SCRAM
// for the startup user, then sends AuthenticationOk and ReadyForQuery and
// answers every query with EmptyQueryResponse.
type fakeServer struct {
	ln    net.Listener
	users map[string]*Verifier
	tls   *tls.Config // nil: refuse SSLRequest

	mu      sync.Mutex
	results []serverResult
	wg      sync.WaitGroup
}

type serverResult struct {
	user        string
	clientFirst string // data of the SASLInitialResponse
	err         error  // what SCRAM returned
}

func startFakeServer(t *testing.T, users map[string]*Verifier, tlsConfig *tls.Config) *fakeServer {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s := &fakeServer{ln: ln, users: users, tls: tlsConfig}
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			s.wg.Add(1)
			go func() {
				defer s.wg.Done()
				defer c.Close()
				c.SetDeadline(time.Now().Add(20 * time.Second))
				s.serve(c)
			}()
		}
	}()
	t.Cleanup(func() {
		ln.Close()
		s.wg.Wait()
	})
	return s
}

func (s *fakeServer) addr() (host string, port uint16) {
	a := s.ln.Addr().(*net.TCPAddr)
	return a.IP.String(), uint16(a.Port)
}

// lastResult waits for the outcome of a connection's SCRAM exchange and
// returns the latest one.
func (s *fakeServer) lastResult(t *testing.T) serverResult {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		s.mu.Lock()
		if n := len(s.results); n > 0 {
			r := s.results[n-1]
			s.results = nil
			s.mu.Unlock()
			return r
		}
		s.mu.Unlock()
		time.Sleep(5 * time.Millisecond)
	}
	t.Fatal("the server saw no SCRAM exchange")
	return serverResult{}
}

func (s *fakeServer) serve(c net.Conn) {
	backend := pgproto3.NewBackend(c, c)
	var startup *pgproto3.StartupMessage
	for startup == nil {
		msg, err := backend.ReceiveStartupMessage()
		if err != nil {
			return
		}
		switch msg := msg.(type) {
		case *pgproto3.SSLRequest:
			if s.tls == nil {
				c.Write([]byte{'N'})
				continue
			}
			c.Write([]byte{'S'})
			tc := tls.Server(c, s.tls)
			if err := tc.Handshake(); err != nil {
				return
			}
			c = tc
			backend = pgproto3.NewBackend(c, c)
		case *pgproto3.GSSEncRequest:
			c.Write([]byte{'N'})
		case *pgproto3.StartupMessage:
			startup = msg
		default:
			return
		}
	}

	user := startup.Parameters["user"]
	nc := &netConn{c: c}
	err := SCRAM(nc, user, s.users[user])
	r := serverResult{user: user, err: err}
	if len(nc.received) > 0 {
		var init pgproto3.SASLInitialResponse
		if init.Decode([]byte(nc.received[0])) == nil {
			r.clientFirst = string(init.Data)
		}
	}
	s.mu.Lock()
	s.results = append(s.results, r)
	s.mu.Unlock()

	var e *Error
	if errors.As(err, &e) {
		nc.Send(e.Response())
		return
	}
	if err != nil {
		return
	}
	for _, m := range []pgproto3.BackendMessage{
		&pgproto3.AuthenticationOk{},
		&pgproto3.ParameterStatus{Name: "server_version", Value: "15.0"},
		&pgproto3.ParameterStatus{Name: "client_encoding", Value: "UTF8"},
		&pgproto3.ParameterStatus{Name: "standard_conforming_strings", Value: "on"},
		&pgproto3.BackendKeyData{ProcessID: 1, SecretKey: []byte{0, 0, 0, 2}},
		&pgproto3.ReadyForQuery{TxStatus: 'I'},
	} {
		if nc.Send(m) != nil {
			return
		}
	}
	for {
		typ, _, err := nc.Receive()
		if err != nil || typ == 'X' {
			return
		}
		if typ == 'Q' {
			nc.Send(&pgproto3.EmptyQueryResponse{})
			nc.Send(&pgproto3.ReadyForQuery{TxStatus: 'I'})
		}
	}
}

func selfSignedTLS(t *testing.T) *tls.Config {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1),
		Subject:      pkix.Name{CommonName: "127.0.0.1"},
		IPAddresses:  []net.IP{net.ParseIP("127.0.0.1")},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(time.Hour),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	return &tls.Config{Certificates: []tls.Certificate{{Certificate: [][]byte{der}, PrivateKey: key}}}
}

// pgxConnect connects with pgx's client (pgconn) and returns the error,
// if any.
func pgxConnect(t *testing.T, s *fakeServer, user, password, sslmode string) error {
	t.Helper()
	host, port := s.addr()
	cfg, err := pgconn.ParseConfig(fmt.Sprintf("host=%s port=%d dbname=test sslmode=%s connect_timeout=10", host, port, sslmode))
	if err != nil {
		t.Fatal(err)
	}
	cfg.User = user
	cfg.Password = password
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	conn, err := pgconn.ConnectConfig(ctx, cfg)
	if err != nil {
		return err
	}
	if err := conn.Exec(ctx, "").Close(); err != nil {
		t.Errorf("query after authentication: %v", err)
	}
	return conn.Close(ctx)
}

func TestSCRAMWithPgx(t *testing.T) {
	pgSecret, err := ParseVerifier(postgresVerifiers[0].verifier)
	if err != nil {
		t.Fatal(err)
	}
	var pgDecomposed *Verifier
	for _, tc := range postgresVerifiers {
		if tc.password == "u\u0308" {
			pgDecomposed, _ = ParseVerifier(tc.verifier)
		}
	}
	users := map[string]*Verifier{
		"alice":             mustVerifier(t, "secret"),
		"made by postgres":  pgSecret,
		"umlaut":            pgDecomposed,
		`quote"and space`:   mustVerifier(t, "pw"),
		"empty-ish-pw-user": mustVerifier(t, " "),
	}
	plain := startFakeServer(t, users, nil)
	withTLS := startFakeServer(t, users, selfSignedTLS(t))

	tests := []struct {
		name           string
		tls            bool
		user, password string
		wantGS2        string // gs2 header pgx must have sent
		wantCode       string // "" for success
		wantCause      error
	}{
		{name: "right password", user: "alice", password: "secret", wantGS2: "n,,"},
		{name: "right password over TLS (gs2 y)", tls: true, user: "alice", password: "secret", wantGS2: "y,,"},
		{name: "verifier made by PostgreSQL", user: "made by postgres", password: "secret", wantGS2: "n,,"},
		{name: "non-ASCII password, verifier made by PostgreSQL", user: "umlaut", password: "\u00fc", wantGS2: "n,,"},
		{name: "odd user name", user: `quote"and space`, password: "pw", wantGS2: "n,,"},
		{name: "space password", user: "empty-ish-pw-user", password: " ", wantGS2: "n,,"},
		{name: "wrong password", user: "alice", password: "Secret", wantGS2: "n,,", wantCode: "28P01", wantCause: ErrWrongPassword},
		{name: "wrong password over TLS", tls: true, user: "alice", password: "Secret", wantGS2: "y,,", wantCode: "28P01", wantCause: ErrWrongPassword},
		{name: "empty password", user: "alice", password: "", wantGS2: "n,,", wantCode: "28P01", wantCause: ErrWrongPassword},
		{name: "unknown user", user: "mallory", password: "secret", wantGS2: "n,,", wantCode: "28P01", wantCause: ErrUnknownUser},
		{name: "unknown user over TLS", tls: true, user: "mallory", password: "secret", wantGS2: "y,,", wantCode: "28P01", wantCause: ErrUnknownUser},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s, sslmode := plain, "disable"
			if tc.tls {
				s, sslmode = withTLS, "require"
			}
			err := pgxConnect(t, s, tc.user, tc.password, sslmode)
			r := s.lastResult(t)
			if r.user != tc.user {
				t.Errorf("server saw user %q, want %q", r.user, tc.user)
			}
			if !strings.HasPrefix(r.clientFirst, tc.wantGS2+"n=,r=") {
				t.Errorf("pgx sent client-first-message %q, want gs2 header %q and an empty user name", r.clientFirst, tc.wantGS2)
			}
			if tc.wantCode == "" {
				if err != nil || r.err != nil {
					t.Fatalf("pgx: %v; SCRAM: %v", err, r.err)
				}
				return
			}
			var pgErr *pgconn.PgError
			if !errors.As(err, &pgErr) {
				t.Fatalf("pgx error = %v, want a *pgconn.PgError", err)
			}
			wantMsg := `password authentication failed for user "` + tc.user + `"`
			if pgErr.Severity != "FATAL" || pgErr.Code != tc.wantCode || pgErr.Message != wantMsg || pgErr.Detail != "" {
				t.Errorf("client got %s %s %q (detail %q), want FATAL %s %q", pgErr.Severity, pgErr.Code, pgErr.Message, pgErr.Detail, tc.wantCode, wantMsg)
			}
			if !errors.Is(r.err, tc.wantCause) {
				t.Errorf("SCRAM cause = %v, want %v", r.err, tc.wantCause)
			}
		})
	}
}

// TestSCRAMWithLibpq runs psql (libpq), a second real client, when it is
// installed.
func TestSCRAMWithLibpq(t *testing.T) {
	psql, err := exec.LookPath("psql")
	if err != nil {
		t.Skip("psql not installed")
	}
	users := map[string]*Verifier{"alice": mustVerifier(t, "secret")}
	plain := startFakeServer(t, users, nil)
	withTLS := startFakeServer(t, users, selfSignedTLS(t))

	run := func(t *testing.T, s *fakeServer, sslmode, user, password string) (string, error) {
		host, port := s.addr()
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		defer cancel()
		cmd := exec.CommandContext(ctx, psql, "-X", "-w", "-c", "",
			"host="+host+" port="+strconv.Itoa(int(port))+" dbname=test user="+user+" sslmode="+sslmode)
		cmd.Env = append(os.Environ(), "PGPASSWORD="+password, "HOME="+t.TempDir(),
			"PGSSLROOTCERT=", "PGPASSFILE="+os.DevNull, "PGSERVICEFILE="+os.DevNull, "PGCONNECT_TIMEOUT=10")
		out, err := cmd.CombinedOutput()
		return string(out), err
	}
	tests := []struct {
		name, sslmode, user, password string
		wantGS2                       string
		wantOK                        bool
		wantCause                     error
	}{
		{"right password", "disable", "alice", "secret", "n,,", true, nil},
		{"right password over TLS (gs2 y)", "require", "alice", "secret", "y,,", true, nil},
		{"wrong password", "disable", "alice", "nope", "n,,", false, ErrWrongPassword},
		{"unknown user over TLS", "require", "bob", "secret", "y,,", false, ErrUnknownUser},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s := plain
			if tc.sslmode == "require" {
				s = withTLS
			}
			out, err := run(t, s, tc.sslmode, tc.user, tc.password)
			r := s.lastResult(t)
			if !strings.HasPrefix(r.clientFirst, tc.wantGS2+"n=,r=") {
				t.Errorf("libpq sent client-first-message %q, want gs2 header %q", r.clientFirst, tc.wantGS2)
			}
			if tc.wantOK {
				if err != nil || r.err != nil {
					t.Fatalf("psql: %v: %s; SCRAM: %v", err, out, r.err)
				}
				return
			}
			want := `password authentication failed for user "` + tc.user + `"`
			if err == nil || !strings.Contains(out, want) {
				t.Errorf("psql: %v: %s; want failure %q", err, out, want)
			}
			if !errors.Is(r.err, tc.wantCause) {
				t.Errorf("SCRAM cause = %v, want %v", r.err, tc.wantCause)
			}
		})
	}
}
