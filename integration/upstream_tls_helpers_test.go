package integration

// Helpers for upstream_tls_test.go: certificates, throwaway TLS servers
// with the CRM, and proxies whose log can be inspected.

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/hex"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/pgveil/pgveil/internal/democrm"
	"github.com/pgveil/pgveil/internal/pgserver"
	"github.com/pgveil/pgveil/internal/stack"
	"github.com/pgveil/pgveil/proxy"
	"github.com/pgveil/pgveil/rules"
)

// upstreamTLSCA is a certificate authority made for one test.
type upstreamTLSCA struct {
	cert *x509.Certificate
	key  *ecdsa.PrivateKey
	File string // the CA certificate, PEM, for [upstream] ca
}

var upstreamTLSSerial struct {
	mu sync.Mutex
	n  int64
}

func upstreamTLSNextSerial() *big.Int {
	upstreamTLSSerial.mu.Lock()
	defer upstreamTLSSerial.mu.Unlock()
	upstreamTLSSerial.n++
	return big.NewInt(upstreamTLSSerial.n)
}

// upstreamTLSNewCA creates a self-signed CA and writes its certificate to
// dir/name.crt.
func upstreamTLSNewCA(t *testing.T, dir, name string) *upstreamTLSCA {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber:          upstreamTLSNextSerial(),
		Subject:               pkix.Name{CommonName: name, Organization: []string{"pgveil tests"}},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(24 * time.Hour),
		IsCA:                  true,
		BasicConstraintsValid: true,
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageCRLSign,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	file := filepath.Join(dir, name+".crt")
	upstreamTLSWritePEM(t, file, "CERTIFICATE", der)
	return &upstreamTLSCA{cert: cert, key: key, File: file}
}

// issue signs a server certificate for the given addresses and names and
// writes it and its key to dir/name.crt and dir/name.key.
func (ca *upstreamTLSCA) issue(t *testing.T, dir, name string, ips []net.IP, dnsNames []string) (certFile, keyFile string) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: upstreamTLSNextSerial(),
		Subject:      pkix.Name{CommonName: name},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(24 * time.Hour),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		IPAddresses:  ips,
		DNSNames:     dnsNames,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca.cert, &key.PublicKey, ca.key)
	if err != nil {
		t.Fatal(err)
	}
	keyDER, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	certFile, keyFile = filepath.Join(dir, name+".crt"), filepath.Join(dir, name+".key")
	upstreamTLSWritePEM(t, certFile, "CERTIFICATE", der)
	upstreamTLSWritePEM(t, keyFile, "PRIVATE KEY", keyDER)
	return certFile, keyFile
}

func upstreamTLSWritePEM(t *testing.T, file, typ string, der []byte) {
	t.Helper()
	if err := os.WriteFile(file, pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
}

// upstreamTLSServer starts a throwaway PostgreSQL (with TLS if tlsOpts is
// not nil) and loads a small CRM into it, with crm_reader's password set
// to readerPassword. It is stopped when the test ends. The test is skipped
// when PostgreSQL is not installed.
func upstreamTLSServer(t *testing.T, tlsOpts *pgserver.TLSOptions, readerPassword string) *stack.Upstream {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	pg, err := pgserver.Start(ctx, pgserver.Options{TLS: tlsOpts, Logf: t.Logf})
	if errors.Is(err, pgserver.ErrNotInstalled) {
		t.Skip(err)
	}
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := pg.Stop(); err != nil {
			t.Errorf("stopping PostgreSQL: %v", err)
		}
	})
	// The sequence of stack's load, over pgserver's DSN, which uses TLS
	// when the server insists on it.
	if err := pg.Exec(ctx, "postgres", democrm.CreateDatabaseSQL); err != nil {
		t.Fatalf("create database: %v", err)
	}
	crm, err := pg.Connect(ctx, democrm.Database)
	if err != nil {
		t.Fatal(err)
	}
	defer crm.Close(context.Background())
	if err := democrm.Load(ctx, crm, 50, 100, 1); err != nil {
		t.Fatalf("load CRM: %v", err)
	}
	catalog := make([]byte, 12)
	rand.Read(catalog)
	if _, err := crm.Exec(ctx, democrm.SetupSQL(readerPassword, hex.EncodeToString(catalog))).ReadAll(); err != nil {
		t.Fatalf("create roles: %v", err)
	}
	keyFile := filepath.Join(t.TempDir(), "token.key")
	key := make([]byte, 32)
	rand.Read(key)
	if err := os.WriteFile(keyFile, []byte(hex.EncodeToString(key)), 0o600); err != nil {
		t.Fatal(err)
	}
	return &stack.Upstream{
		Host:            pg.Host,
		Port:            pg.Port,
		SuperUser:       pg.SuperUser,
		SuperPassword:   pg.SuperPassword,
		Database:        democrm.Database,
		ReaderPassword:  readerPassword,
		CatalogPassword: hex.EncodeToString(catalog),
		KeyFile:         keyFile,
	}
}

// upstreamTLSLog collects a proxy's log for assertions.
type upstreamTLSLog struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (l *upstreamTLSLog) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.Write(p)
}

func (l *upstreamTLSLog) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.String()
}

// upstreamTLSProxy starts a proxy in front of up with the generated
// configuration, adjusted by mutate (which sets sslmode and ca). It returns
// the address of the CN listener (harness.Local's) and the proxy's log. The
// proxy is shut down when the test ends.
//
// stack.StartProxy puts up.ReaderPassword into the process environment;
// the caller must have made that safe (see TestUpstreamTLS).
func upstreamTLSProxy(t *testing.T, up *stack.Upstream, mutate func(*rules.Config)) (string, *upstreamTLSLog) {
	t.Helper()
	text, err := stack.ConfigText(up, [2]string{"127.0.0.1:0", "127.0.0.1:0"}, stack.DefaultUsers)
	if err != nil {
		t.Fatal(err)
	}
	logs := &upstreamTLSLog{}
	var w io.Writer = logs
	if os.Getenv("PGVEIL_TEST_LOG") != "" {
		w = io.MultiWriter(logs, os.Stderr)
	}
	logger := slog.New(slog.NewTextHandler(w, &slog.HandlerOptions{Level: slog.LevelDebug}))
	srv, _, err := stack.StartProxy(up, text, mutate, proxy.Options{Logger: logger})
	if err != nil {
		t.Fatalf("starting pgveil: %v", err)
	}
	served := make(chan error, 1)
	go func() { served <- srv.Serve() }()
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		srv.Shutdown(ctx)
		if err := <-served; err != nil {
			t.Errorf("serve: %v", err)
		}
		if n := srv.Desyncs(); n != 0 {
			t.Errorf("protocol tracker lost sync %d times", n)
		}
		if n := srv.Panics(); n != 0 {
			t.Errorf("%d session panics recovered", n)
		}
		if t.Failed() {
			t.Logf("proxy log:\n%s", logs)
		}
	})
	addrs := srv.Addrs()
	if len(addrs) == 0 {
		t.Fatal("proxy has no listeners")
	}
	return addrs[0].String(), logs
}

// upstreamTLSClientDSN is harness.Local's plaintext DSN to a proxy address.
func upstreamTLSClientDSN(addr, user, password string) string {
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		panic(err)
	}
	return fmt.Sprintf("host=%s port=%s user=%s password=%s dbname=crm sslmode=disable connect_timeout=15", host, port, user, password)
}
