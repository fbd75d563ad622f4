package integration

// Client identity: mTLS client certificates for users with cert = true,
// and the per-address backoff after failed logins.

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgproto3"

	"github.com/pgveil/pgveil/integration/harness"
	"github.com/pgveil/pgveil/internal/stack"
	"github.com/pgveil/pgveil/proxy"
	"github.com/pgveil/pgveil/rules"
)

// idCA is a throwaway certificate authority for client certificates.
type idCA struct {
	cert *x509.Certificate
	key  *ecdsa.PrivateKey
	file string // PEM of cert
	dir  string
}

var idSerial struct {
	sync.Mutex
	n int64
}

func idNextSerial() *big.Int {
	idSerial.Lock()
	defer idSerial.Unlock()
	idSerial.n++
	return big.NewInt(100 + idSerial.n)
}

func idWritePEM(t *testing.T, path, typ string, der []byte) string {
	t.Helper()
	if err := os.WriteFile(path, pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

func newIDCA(t *testing.T, name string) *idCA {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	tmpl := &x509.Certificate{
		SerialNumber:          idNextSerial(),
		Subject:               pkix.Name{CommonName: name},
		NotBefore:             now.Add(-time.Hour),
		NotAfter:              now.Add(24 * time.Hour),
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
	dir := t.TempDir()
	return &idCA{cert: cert, key: key, dir: dir, file: idWritePEM(t, filepath.Join(dir, "ca.crt"), "CERTIFICATE", der)}
}

// clientCert issues a client certificate for cn and returns the PEM paths
// of the certificate and its key.
func (ca *idCA) clientCert(t *testing.T, cn string) (certFile, keyFile string) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	tmpl := &x509.Certificate{
		SerialNumber: idNextSerial(),
		Subject:      pkix.Name{CommonName: cn},
		NotBefore:    now.Add(-time.Hour),
		NotAfter:     now.Add(24 * time.Hour),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca.cert, &key.PublicKey, ca.key)
	if err != nil {
		t.Fatal(err)
	}
	keyDER, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	base := filepath.Join(ca.dir, fmt.Sprintf("%s-%s", cn, tmpl.SerialNumber))
	return idWritePEM(t, base+".crt", "CERTIFICATE", der), idWritePEM(t, base+".key", "EC PRIVATE KEY", keyDER)
}

const idCertUser = "metabase-hq"

// idProxy starts a proxy with TLS optional, client_ca set and the cert
// user metabase-hq. Sessions are transparent; their SessionInfo is sent
// on the returned channel.
func idProxy(t *testing.T) (*harness.Proxy, *idCA, chan proxy.SessionInfo) {
	t.Helper()
	cert, key, _ := lcCerts(t)
	ca := newIDCA(t, "pgveil test client CA")
	infos := make(chan proxy.SessionInfo, 16)
	p := harness.StartProxy(t, &harness.Options{
		Mutate: func(c *rules.Config) {
			c.Server.TLS = "optional"
			c.Server.TLSCert = cert
			c.Server.TLSKey = key
			c.Server.ClientCA = ca.file
			c.Users = append(c.Users, rules.User{
				Name:                idCertUser,
				Cert:                true,
				Roles:               []string{"analyst", "bi"},
				UpstreamUser:        "crm_reader",
				UpstreamPasswordEnv: stack.ReaderPasswordEnv,
			})
		},
		Filter: func(info proxy.SessionInfo) proxy.Filter {
			select {
			case infos <- info:
			default:
			}
			return nil
		},
	})
	return p, ca, infos
}

// idCertDSN is a DSN for user on p's first listener, without a password.
func idCertDSN(p *harness.Proxy, user string, extra ...string) string {
	host, port, _ := net.SplitHostPort(p.Addrs[0])
	dsn := fmt.Sprintf("host=%s port=%s user=%s dbname=crm connect_timeout=10", host, port, user)
	for _, e := range extra {
		dsn += " " + e
	}
	return dsn
}

func idNextInfo(t *testing.T, infos chan proxy.SessionInfo) proxy.SessionInfo {
	t.Helper()
	select {
	case info := <-infos:
		return info
	case <-time.After(lcTimeout):
		t.Fatal("no session info")
		return proxy.SessionInfo{}
	}
}

func TestIdentityClientCert(t *testing.T) {
	t.Parallel()
	p, ca, infos := idProxy(t)
	wantMsg := fmt.Sprintf("certificate authentication failed for user %q", idCertUser)

	t.Run("cert user logs in with its certificate", func(t *testing.T) {
		crt, key := ca.clientCert(t, idCertUser)
		conn, err := pgx.Connect(lcCtx(t, lcTimeout), idCertDSN(p, idCertUser, "sslmode=require", "sslcert="+crt, "sslkey="+key))
		if err != nil {
			t.Fatalf("connect: %v", err)
		}
		defer conn.Close(lcCtx(t, lcTimeout))
		var one int
		if err := conn.QueryRow(lcCtx(t, lcTimeout), "SELECT 1").Scan(&one); err != nil || one != 1 {
			t.Fatalf("SELECT 1: %v %d", err, one)
		}
		info := idNextInfo(t, infos)
		if info.User != idCertUser || info.CertCN != idCertUser || !info.CertVerified || !info.TLS {
			t.Errorf("session info: %+v", info)
		}
		if strings.Join(info.Roles, ",") != "analyst,bi" {
			t.Errorf("roles %v", info.Roles)
		}
	})
	t.Run("cert user without a certificate", func(t *testing.T) {
		_, err := pgconn.Connect(lcCtx(t, lcTimeout), idCertDSN(p, idCertUser, "sslmode=require", "password=anything"))
		if e := lcWantCode(t, err, "28000"); e.Message != wantMsg {
			t.Errorf("message %q, want %q", e.Message, wantMsg)
		}
	})
	t.Run("cert user over plaintext", func(t *testing.T) {
		_, err := pgconn.Connect(lcCtx(t, lcTimeout), idCertDSN(p, idCertUser, "sslmode=disable", "password=anything"))
		if e := lcWantCode(t, err, "28000"); e.Message != wantMsg {
			t.Errorf("message %q, want %q", e.Message, wantMsg)
		}
	})
	t.Run("certificate of another CN", func(t *testing.T) {
		crt, key := ca.clientCert(t, "someone-else")
		_, err := pgconn.Connect(lcCtx(t, lcTimeout), idCertDSN(p, idCertUser, "sslmode=require", "sslcert="+crt, "sslkey="+key))
		if e := lcWantCode(t, err, "28000"); e.Message != wantMsg {
			t.Errorf("message %q, want %q", e.Message, wantMsg)
		}
	})
	t.Run("certificate of another CA", func(t *testing.T) {
		other := newIDCA(t, "some other CA")
		crt, key := other.clientCert(t, idCertUser)
		_, err := pgconn.Connect(lcCtx(t, lcTimeout), idCertDSN(p, idCertUser, "sslmode=require", "sslcert="+crt, "sslkey="+key))
		if err == nil {
			t.Fatal("a certificate from another CA was accepted")
		}
		var pgErr *pgconn.PgError
		if errors.As(err, &pgErr) && pgErr.Code != "28000" {
			t.Fatalf("refused with %s %s, want a TLS failure or 28000", pgErr.Code, pgErr.Message)
		}
		t.Logf("refused: %v", err)

		// pgx offers no certificate the server's CA list does not name;
		// force one to see the handshake itself refuse it.
		pair, err := tls.LoadX509KeyPair(crt, key)
		if err != nil {
			t.Fatal(err)
		}
		c := lcDial(t, p.Addrs[0])
		req, _ := (&pgproto3.SSLRequest{}).Encode(nil)
		if _, err := c.Write(req); err != nil {
			t.Fatal(err)
		}
		b := make([]byte, 1)
		if _, err := io.ReadFull(c, b); err != nil || b[0] != 'S' {
			t.Fatalf("SSLRequest answered %q, %v", b, err)
		}
		tc := tls.Client(c, &tls.Config{
			InsecureSkipVerify: true,
			GetClientCertificate: func(*tls.CertificateRequestInfo) (*tls.Certificate, error) {
				return &pair, nil
			},
		})
		fe := pgproto3.NewFrontend(tc, tc)
		fe.Send(&pgproto3.StartupMessage{ProtocolVersion: pgproto3.ProtocolVersion30, Parameters: lcParams(idCertUser)})
		err = tc.Handshake()
		if err == nil {
			err = fe.Flush()
		}
		if err == nil {
			_, err = fe.Receive() // TLS 1.3: the client learns of the refusal here
		}
		if err == nil {
			t.Fatal("the server accepted a client certificate from another CA")
		}
		t.Logf("raw TLS client with a foreign certificate: %v", err)
	})
	t.Run("password user presenting a certificate uses SCRAM", func(t *testing.T) {
		crt, key := ca.clientCert(t, idCertUser)
		dsn := p.DSN(harness.Local, "sslmode=require", "sslcert="+crt, "sslkey="+key)
		host, port, _ := net.SplitHostPort(p.Addrs[0])
		if !strings.Contains(dsn, "host="+host+" port="+port) {
			t.Fatalf("li.na is not on listener 0: %s", lcRedact(dsn))
		}
		lcSelect1(t, lcConnect(t, dsn))
		info := idNextInfo(t, infos)
		if info.User != harness.Local || info.CertCN != idCertUser || !info.CertVerified {
			t.Errorf("session info: %+v", info)
		}
		// ... and a wrong password still fails with one.
		wrong := strings.Replace(dsn, "password="+harness.Password(harness.Local), "password=wrong", 1)
		_, err := pgconn.Connect(lcCtx(t, lcTimeout), wrong)
		lcWantCode(t, err, "28P01")
	})
}

// TestBackoffAfterFailedLogins: after 5 wrong passwords from 127.0.0.1 the
// next login waits at least a second, succeeds with the right password and
// resets the address.
func TestBackoffAfterFailedLogins(t *testing.T) {
	t.Parallel()
	p := harness.StartProxy(t, nil)
	good := lcDSN(p.Addrs[0], harness.Local)
	wrong := strings.Replace(good, "password="+harness.Password(harness.Local), "password=wrong-password", 1)
	for range 5 {
		_, err := pgconn.Connect(lcCtx(t, lcTimeout), wrong)
		lcWantCode(t, err, "28P01")
	}
	start := time.Now()
	lcSelect1(t, lcConnect(t, good))
	if el := time.Since(start); el < time.Second {
		t.Errorf("6th login after 5 failures took %v, want a delay of at least 1s", el)
	}
	// The success reset the address: four more failures are not yet
	// enough for a delay, so the fifth attempt fails at once with 28P01.
	for range 4 {
		_, err := pgconn.Connect(lcCtx(t, lcTimeout), wrong)
		lcWantCode(t, err, "28P01")
	}
}
