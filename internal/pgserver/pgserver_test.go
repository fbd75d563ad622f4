package pgserver

import (
	"bufio"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"fmt"
	"math/big"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgconn"
)

// startForTest starts a server or skips the test when PostgreSQL is not
// installed; the server is stopped when the test ends.
func startForTest(t *testing.T, opts Options) *Server {
	t.Helper()
	if opts.Logf == nil {
		opts.Logf = t.Logf
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	s, err := Start(ctx, opts)
	if errors.Is(err, ErrNotInstalled) {
		t.Skip(err)
	}
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := s.Stop(); err != nil {
			t.Error(err)
		}
	})
	return s
}

func TestStartExecStop(t *testing.T) {
	s := startForTest(t, Options{})
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()

	if err := s.Exec(ctx, "postgres", "select 1; create table t(x int); insert into t values (1); drop table t"); err != nil {
		t.Fatalf("Exec: %v", err)
	}

	// A wrong password must fail authentication with invalid_password
	// (28P01), which also shows that SCRAM, not trust, is in force.
	conn, err := pgconn.Connect(ctx, s.DSN(s.SuperUser, s.SuperPassword+"x", "postgres"))
	if err == nil {
		conn.Close(ctx)
		t.Fatal("login with a wrong password succeeded")
	}
	var pgErr *pgconn.PgError
	if !errors.As(err, &pgErr) || pgErr.Code != "28P01" {
		t.Fatalf("wrong password: got %v, want SQLSTATE 28P01", err)
	}

	// The server must speak SCRAM and have the settings tests rely on.
	conn, err = s.Connect(ctx, "postgres")
	if err != nil {
		t.Fatal(err)
	}
	res, err := conn.Exec(ctx, "show password_encryption; show max_connections; show fsync; show server_encoding").ReadAll()
	conn.Close(ctx)
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"scram-sha-256", "300", "off", "UTF8"}
	for i, w := range want {
		if got := string(res[i].Rows[0][0]); got != w {
			t.Errorf("setting %d = %q, want %q", i, got, w)
		}
	}

	dir := s.DataDir
	if err := s.Stop(); err != nil {
		t.Fatalf("Stop: %v", err)
	}
	if err := s.Stop(); err != nil {
		t.Fatalf("second Stop: %v", err)
	}
	if _, err := os.Stat(dir); !os.IsNotExist(err) {
		t.Fatalf("data dir %s still there after Stop (stat: %v)", dir, err)
	}
	if _, err := pgconn.Connect(ctx, s.SuperDSN("postgres")); err == nil {
		t.Fatal("server still accepts logins after Stop")
	}
}

func TestTwoServersAndFixedUser(t *testing.T) {
	a := startForTest(t, Options{SuperUser: "admin", SuperPassword: "pa ss'wörd@/"})
	b := startForTest(t, Options{})
	if a.Port == b.Port {
		t.Fatalf("both servers on port %d", a.Port)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	// The awkward password checks DSN escaping.
	conn, err := pgconn.Connect(ctx, a.DSN("admin", "pa ss'wörd@/", "postgres"))
	if err != nil {
		t.Fatal(err)
	}
	conn.Close(ctx)
}

func TestParseVersion(t *testing.T) {
	for in, want := range map[string]int{
		"postgres (PostgreSQL) 15.18 (Debian 15.18-0+deb12u1)\n": 15,
		"postgres (PostgreSQL) 9.6.24":                           9,
		"postgres (PostgreSQL) 17beta1":                          17,
	} {
		got, err := parseVersion(in)
		if err != nil || got != want {
			t.Errorf("parseVersion(%q) = %d, %v; want %d", in, got, err, want)
		}
	}
	if _, err := parseVersion("no digits here"); err == nil {
		t.Error("parseVersion accepted garbage")
	}
}

func TestMissingBinaries(t *testing.T) {
	_, err := Start(context.Background(), Options{BinDir: t.TempDir()})
	if !errors.Is(err, ErrNotInstalled) {
		t.Fatalf("got %v, want ErrNotInstalled", err)
	}
}

func TestFixedPortTaken(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	port := l.Addr().(*net.TCPAddr).Port
	before, _ := filepath.Glob(filepath.Join(os.TempDir(), "pgserver-*"))

	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	s, err := Start(ctx, Options{Port: port, ReadyTimeout: 10 * time.Second})
	if errors.Is(err, ErrNotInstalled) {
		t.Skip(err)
	}
	if err == nil {
		s.Stop()
		t.Fatalf("Start on taken port %d succeeded", port)
	}
	// The error must carry the server log, which names the cause.
	if !strings.Contains(err.Error(), "could not bind") && !strings.Contains(err.Error(), "already in use") {
		t.Errorf("error does not explain the bind failure:\n%v", err)
	}
	after, _ := filepath.Glob(filepath.Join(os.TempDir(), "pgserver-*"))
	if len(after) > len(before) {
		t.Errorf("failed Start left a temp dir behind: %v -> %v", before, after)
	}
}

// TestOrphanShutsDown kills a process that started a server without stopping
// it, and checks that the server goes away on its own (Pdeathsig).
func TestOrphanShutsDown(t *testing.T) {
	if os.Getenv("PGSERVER_ORPHAN_CHILD") == "1" {
		s, err := Start(context.Background(), Options{})
		if err != nil {
			fmt.Println("ERR", err)
			os.Exit(1)
		}
		fmt.Printf("PID %d %s\n", s.PID(), filepath.Dir(s.DataDir))
		time.Sleep(time.Minute) // wait to be killed
		os.Exit(2)
	}
	if _, _, err := findBinaries(""); err != nil {
		t.Skip(err)
	}
	cmd := exec.Command(os.Args[0], "-test.run=^TestOrphanShutsDown$")
	cmd.Env = append(os.Environ(), "PGSERVER_ORPHAN_CHILD=1")
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	line, err := bufio.NewReader(out).ReadString('\n')
	if err != nil {
		cmd.Process.Kill()
		cmd.Wait()
		t.Fatalf("child: %q %v", line, err)
	}
	var pid int
	var root string
	if _, err := fmt.Sscanf(line, "PID %d %s", &pid, &root); err != nil {
		cmd.Process.Kill()
		cmd.Wait()
		t.Fatalf("child said %q", line)
	}
	defer os.RemoveAll(root) // the orphan cannot clean up after itself
	cmd.Process.Kill()       // SIGKILL: no deferred cleanup runs in the child
	cmd.Wait()

	deadline := time.Now().Add(15 * time.Second)
	for processAlive(pid) {
		if time.Now().After(deadline) {
			syscall.Kill(pid, syscall.SIGKILL)
			t.Fatalf("postmaster %d still running 15s after its parent died", pid)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// processAlive reports whether pid runs; a zombie (exited, not yet reaped by
// a container's init) counts as gone.
func processAlive(pid int) bool {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return false
	}
	// Format: "pid (comm) S ...": the state follows the last ')'.
	s := string(b)
	i := strings.LastIndexByte(s, ')')
	return i < 0 || i+2 >= len(s) || s[i+2] != 'Z'
}

// writeTestCert writes a self-signed ECDSA certificate for 127.0.0.1 and
// localhost, and its key, into dir. The certificate is its own CA, so it
// can serve as sslrootcert for verify-full.
func writeTestCert(t *testing.T, dir string) (certFile, keyFile string) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(1),
		Subject:               pkix.Name{CommonName: "pgserver test"},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(24 * time.Hour),
		IsCA:                  true,
		BasicConstraintsValid: true,
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageDigitalSignature,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		IPAddresses:           []net.IP{net.IPv4(127, 0, 0, 1)},
		DNSNames:              []string{"localhost"},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	keyDER, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	certFile, keyFile = filepath.Join(dir, "test.crt"), filepath.Join(dir, "test.key")
	if err := os.WriteFile(certFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o644); err != nil {
		t.Fatal(err)
	}
	// Deliberately world-readable: Start must copy it with a mode
	// PostgreSQL accepts.
	if err := os.WriteFile(keyFile, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: keyDER}), 0o644); err != nil {
		t.Fatal(err)
	}
	return certFile, keyFile
}

// withSSLMode replaces the sslmode of a DSN from Server.DSN.
func withSSLMode(dsn, params string) string {
	base, _, _ := strings.Cut(dsn, "?")
	return base + "?" + params
}

// sessionSSL reports whether conn's backend uses TLS, from pg_stat_ssl.
func sessionSSL(t *testing.T, ctx context.Context, conn *pgconn.PgConn) bool {
	t.Helper()
	res, err := conn.Exec(ctx, "select ssl from pg_stat_ssl where pid = pg_backend_pid()").ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	if len(res) != 1 || len(res[0].Rows) != 1 {
		t.Fatalf("pg_stat_ssl: %d results", len(res))
	}
	return string(res[0].Rows[0][0]) == "t"
}

func TestTLS(t *testing.T) {
	certFile, keyFile := writeTestCert(t, t.TempDir())
	s := startForTest(t, Options{TLS: &TLSOptions{CertFile: certFile, KeyFile: keyFile}})
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()

	// Without Require the DSN stays plaintext, and plaintext works.
	if !strings.HasSuffix(s.SuperDSN("postgres"), "sslmode=disable") {
		t.Errorf("SuperDSN = %q, want sslmode=disable", s.SuperDSN("postgres"))
	}
	conn, err := s.Connect(ctx, "postgres")
	if err != nil {
		t.Fatal(err)
	}
	if sessionSSL(t, ctx, conn) {
		t.Error("sslmode=disable session uses TLS")
	}
	conn.Close(ctx)

	// Full verification against the certificate itself proves the server
	// presents the certificate we gave it.
	dsn := withSSLMode(s.SuperDSN("postgres"), "sslmode=verify-full&sslrootcert="+certFile)
	conn, err = pgconn.Connect(ctx, dsn)
	if err != nil {
		t.Fatalf("verify-full: %v", err)
	}
	if !sessionSSL(t, ctx, conn) {
		t.Error("verify-full session does not use TLS")
	}
	conn.Close(ctx)

	// The key in the data directory is private to the server's account.
	fi, err := os.Stat(filepath.Join(s.DataDir, tlsKeyName))
	if err != nil {
		t.Fatal(err)
	}
	if m := fi.Mode().Perm(); m != 0o600 {
		t.Errorf("key mode %o, want 600", m)
	}
	cred, err := serverCredential()
	if err != nil {
		t.Fatal(err)
	}
	wantUID := uint32(os.Geteuid())
	if cred != nil {
		wantUID = cred.Uid
	}
	if uid := fi.Sys().(*syscall.Stat_t).Uid; uid != wantUID {
		t.Errorf("key owned by uid %d, want %d", uid, wantUID)
	}
}

func TestTLSRequire(t *testing.T) {
	certFile, keyFile := writeTestCert(t, t.TempDir())
	s := startForTest(t, Options{TLS: &TLSOptions{CertFile: certFile, KeyFile: keyFile, Require: true}})
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()

	// The DSN asks for TLS, so Exec and Connect work.
	if err := s.Exec(ctx, "postgres", "select 1"); err != nil {
		t.Fatalf("Exec: %v", err)
	}
	conn, err := s.Connect(ctx, "postgres")
	if err != nil {
		t.Fatal(err)
	}
	if !sessionSSL(t, ctx, conn) {
		t.Error("session of a TLS-only server does not use TLS")
	}
	conn.Close(ctx)

	// A plaintext login finds no pg_hba.conf entry.
	conn, err = pgconn.Connect(ctx, withSSLMode(s.SuperDSN("postgres"), "sslmode=disable"))
	if err == nil {
		conn.Close(ctx)
		t.Fatal("plaintext login to a TLS-only server succeeded")
	}
	var pgErr *pgconn.PgError
	if !errors.As(err, &pgErr) || pgErr.Code != "28000" || !strings.Contains(pgErr.Message, "no encryption") {
		t.Fatalf("plaintext login: got %v, want SQLSTATE 28000 (no pg_hba.conf entry ... no encryption)", err)
	}
}

func TestTLSMissingFiles(t *testing.T) {
	certFile, _ := writeTestCert(t, t.TempDir())
	for name, o := range map[string]*TLSOptions{
		"no key":      {CertFile: certFile},
		"missing key": {CertFile: certFile, KeyFile: filepath.Join(t.TempDir(), "nope.key")},
	} {
		before, _ := filepath.Glob(filepath.Join(os.TempDir(), "pgserver-*"))
		s, err := Start(context.Background(), Options{TLS: o})
		if err == nil {
			s.Stop()
			t.Errorf("%s: Start succeeded", name)
			continue
		}
		if errors.Is(err, ErrNotInstalled) || !strings.Contains(err.Error(), "TLS") {
			t.Errorf("%s: got %v, want an error about the TLS files", name, err)
		}
		after, _ := filepath.Glob(filepath.Join(os.TempDir(), "pgserver-*"))
		if len(after) > len(before) {
			t.Errorf("%s: failed Start left a temp dir behind", name)
		}
	}
}
