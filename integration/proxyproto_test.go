package integration

import (
	"context"
	"encoding/binary"
	"errors"
	"io"
	"net"
	"net/netip"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgproto3"

	"github.com/pgveil/pgveil/integration/harness"
	"github.com/pgveil/pgveil/proxy"
	"github.com/pgveil/pgveil/rules"
)

// ppHeader is a PROXY protocol v2 header: PROXY over TCP/IPv4 from src
// when src is set, else LOCAL (a balancer's health check).
func ppHeader(src string) []byte {
	b := []byte("\r\n\r\n\x00\r\nQUIT\n")
	if src == "" {
		return append(b, 0x20, 0x00, 0, 0)
	}
	s, d := netip.MustParseAddr(src).As4(), netip.MustParseAddr("10.0.0.5").As4()
	b = append(b, 0x21, 0x11, 0, 12)
	b = append(b, s[:]...)
	b = append(b, d[:]...)
	b = binary.BigEndian.AppendUint16(b, 50123)
	return binary.BigEndian.AppendUint16(b, 6432)
}

// ppSessions records the SessionInfo of every session (a pass-through
// Filter).
type ppSessions struct {
	mu    sync.Mutex
	infos []proxy.SessionInfo
}

func (s *ppSessions) filter(info proxy.SessionInfo) proxy.Filter {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.infos = append(s.infos, info)
	return nil
}

func (s *ppSessions) last(t *testing.T) proxy.SessionInfo {
	t.Helper()
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.infos) == 0 {
		t.Fatal("no session recorded")
	}
	return s.infos[len(s.infos)-1]
}

func (s *ppSessions) count() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.infos)
}

// startPPProxy starts a proxy whose regions come from [networks] only,
// trusting PROXY headers from the given CIDRs (none: the key is unset).
func startPPProxy(t *testing.T, from ...string) (*harness.Proxy, *ppSessions) {
	rec := &ppSessions{}
	p := harness.StartProxy(t, &harness.Options{
		Mutate: func(c *rules.Config) {
			for i := range c.Listen {
				c.Listen[i].Region = "" // the network decides
			}
			c.Networks = map[string][]string{"EU": {"10.20.0.0/16"}, "CN": {"10.10.0.0/16"}}
			c.Server.ProxyProtocolFrom = from
			c.Server.AuthTimeout.Duration = 10 * time.Second
		},
		Filter: rec.filter,
	})
	return p, rec
}

// connectVia logs in as user through p, the connection opening with header
// (nil: none).
func connectVia(ctx context.Context, t *testing.T, p *harness.Proxy, user, password string, header []byte) (*pgconn.PgConn, error) {
	t.Helper()
	dsn := p.DSN(user)
	if password != "" {
		dsn += " password=" + password
	}
	cfg, err := pgconn.ParseConfig(dsn + " connect_timeout=10")
	if err != nil {
		t.Fatal(err)
	}
	cfg.DialFunc = func(ctx context.Context, network, addr string) (net.Conn, error) {
		conn, err := (&net.Dialer{}).DialContext(ctx, network, addr)
		if err != nil {
			return nil, err
		}
		if header != nil {
			if _, err := conn.Write(header); err != nil {
				conn.Close()
				return nil, err
			}
		}
		return conn, nil
	}
	return pgconn.ConnectConfig(ctx, cfg)
}

func TestProxyProtocolRegion(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	p, rec := startPPProxy(t, "127.0.0.1/32")
	for _, c := range []struct {
		desc, src, region, client string
	}{
		{"PROXY from an EU address", "10.20.1.2", "EU", "10.20.1.2"},
		{"PROXY from a CN address", "10.10.7.8", "CN", "10.10.7.8"},
		{"PROXY from an address in no network", "192.0.2.1", rules.RegionUnknown, "192.0.2.1"},
		{"LOCAL keeps the balancer's address", "", rules.RegionUnknown, "127.0.0.1"},
	} {
		t.Run(c.desc, func(t *testing.T) {
			conn, err := connectVia(ctx, t, p, harness.Overseas, "", ppHeader(c.src))
			if err != nil {
				t.Fatal(err)
			}
			defer conn.Close(ctx)
			if _, err := conn.Exec(ctx, "SELECT 1").ReadAll(); err != nil {
				t.Fatal(err)
			}
			info := rec.last(t)
			if info.Region != c.region || info.ClientAddr.String() != c.client {
				t.Errorf("region %q, client %s; want %q, %s", info.Region, info.ClientAddr, c.region, c.client)
			}
		})
	}

	t.Run("no header from a trusted address: closed without a word", func(t *testing.T) {
		before := rec.count()
		if conn, err := connectVia(ctx, t, p, harness.Overseas, "", nil); err == nil {
			conn.Close(ctx)
			t.Fatal("login without a PROXY header from a trusted address succeeded")
		} else {
			var pgErr *pgconn.PgError
			if errors.As(err, &pgErr) {
				t.Errorf("got a Postgres error %v, want the connection closed", pgErr)
			}
		}
		// Raw: a StartupMessage is not a header; nothing comes back.
		raw, err := net.DialTimeout("tcp", p.Addrs[0], 5*time.Second)
		if err != nil {
			t.Fatal(err)
		}
		defer raw.Close()
		msg, _ := (&pgproto3.StartupMessage{ProtocolVersion: pgproto3.ProtocolVersionNumber,
			Parameters: map[string]string{"user": harness.Overseas, "database": "crm"}}).Encode(nil)
		if _, err := raw.Write(msg); err != nil {
			t.Fatal(err)
		}
		raw.SetReadDeadline(time.Now().Add(5 * time.Second))
		got, err := io.ReadAll(raw)
		if len(got) != 0 || err != nil {
			t.Errorf("read % x, %v; want the connection closed with nothing sent", got, err)
		}
		if rec.count() != before {
			t.Error("a session started")
		}
	})

	t.Run("login backoff follows the header's address", func(t *testing.T) {
		for range 5 {
			conn, err := connectVia(ctx, t, p, harness.Overseas, "wrong", ppHeader("10.20.9.9"))
			if err == nil {
				conn.Close(ctx)
				t.Fatal("login with a wrong password succeeded")
			}
		}
		// Another client behind the same balancer is not slowed down...
		start := time.Now()
		conn, err := connectVia(ctx, t, p, harness.Overseas, "", ppHeader("10.10.9.9"))
		if err != nil {
			t.Fatal(err)
		}
		conn.Close(ctx)
		if d := time.Since(start); d >= time.Second {
			t.Errorf("login from another address took %v: the backoff hit the balancer, not the client", d)
		}
		// ...the one that failed is.
		start = time.Now()
		conn, err = connectVia(ctx, t, p, harness.Overseas, "", ppHeader("10.20.9.9"))
		if err != nil {
			t.Fatal(err)
		}
		conn.Close(ctx)
		if d := time.Since(start); d < time.Second {
			t.Errorf("login after 5 failures took %v, want the backoff (≥ 1s)", d)
		}
	})
}

// TestProxyProtocolUntrusted: without proxy_protocol_from (or from a peer
// outside it), a PROXY header is never honoured: it is read as a startup
// packet, and refused as a malformed one.
func TestProxyProtocolUntrusted(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	for _, c := range []struct {
		desc string
		from []string
	}{
		{"proxy_protocol_from unset", nil},
		{"peer outside proxy_protocol_from", []string{"10.0.0.5/32", "fd00::/64"}},
	} {
		t.Run(c.desc, func(t *testing.T) {
			p, rec := startPPProxy(t, c.from...)
			conn, err := connectVia(ctx, t, p, harness.Overseas, "", ppHeader("10.20.1.2"))
			if err == nil {
				conn.Close(ctx)
				t.Fatal("login with an untrusted PROXY header succeeded")
			}
			var pgErr *pgconn.PgError
			if !errors.As(err, &pgErr) || pgErr.Code != "08P01" || !strings.Contains(pgErr.Message, "startup packet") {
				t.Errorf("got %v, want FATAL 08P01 about the startup packet", err)
			}
			if rec.count() != 0 {
				t.Error("a session started")
			}
			// Without a header the same proxy serves the peer as itself.
			conn, err = connectVia(ctx, t, p, harness.Overseas, "", nil)
			if err != nil {
				t.Fatal(err)
			}
			defer conn.Close(ctx)
			if info := rec.last(t); info.Region != rules.RegionUnknown || info.ClientAddr.String() != "127.0.0.1" {
				t.Errorf("region %q, client %s; want %q, 127.0.0.1", info.Region, info.ClientAddr, rules.RegionUnknown)
			}
		})
	}
}
