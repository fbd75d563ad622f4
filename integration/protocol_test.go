package integration

// Protocol edges of the startup phase and of the message framing, seen by
// raw clients built on pgproto3.Frontend and by pgconn.

import (
	"context"
	"encoding/binary"
	"fmt"
	"io"
	"net"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgproto3"

	"github.com/pgveil/pgveil/integration/harness"
)

// gssencDeny sends a GSSENCRequest on c and checks the answer is 'N'.
func gssencDeny(c net.Conn) error {
	req, _ := (&pgproto3.GSSEncRequest{}).Encode(nil)
	if _, err := c.Write(req); err != nil {
		return err
	}
	var b [1]byte
	if _, err := io.ReadFull(c, b[:]); err != nil {
		return err
	}
	if b[0] != 'N' {
		return fmt.Errorf("GSSENCRequest answered %q, want 'N'", b[0])
	}
	return nil
}

func TestProtocolGSSENCRequest(t *testing.T) {
	t.Parallel()
	p := harness.StartProxy(t, nil)

	t.Run("raw", func(t *testing.T) {
		c := lcDial(t, p.Addrs[0])
		if err := gssencDeny(c); err != nil {
			t.Fatal(err)
		}
		if npv := lcExpectSASL(t, lcStartup(t, c, pgproto3.ProtocolVersion30, lcParams(harness.Local))); npv != nil {
			t.Fatalf("unexpected %+v", npv)
		}
	})
	t.Run("then SSLRequest, as libpq with gssencmode=prefer sslmode=prefer", func(t *testing.T) {
		c := lcDial(t, p.Addrs[0])
		if err := gssencDeny(c); err != nil {
			t.Fatal(err)
		}
		req, _ := (&pgproto3.SSLRequest{}).Encode(nil)
		c.Write(req)
		var b [1]byte
		if _, err := io.ReadFull(c, b[:]); err != nil || b[0] != 'N' {
			t.Fatalf("SSLRequest on a TLS-less proxy: %q %v", b[0], err)
		}
		lcExpectSASL(t, lcStartup(t, c, pgproto3.ProtocolVersion30, lcParams(harness.Local)))
	})
	t.Run("full login after GSSENCRequest", func(t *testing.T) {
		cfg, err := pgconn.ParseConfig(p.DSN(harness.Local))
		if err != nil {
			t.Fatal(err)
		}
		dial := cfg.DialFunc
		cfg.DialFunc = func(ctx context.Context, network, addr string) (net.Conn, error) {
			c, err := dial(ctx, network, addr)
			if err != nil {
				return nil, err
			}
			if err := gssencDeny(c); err != nil {
				c.Close()
				return nil, err
			}
			return c, nil
		}
		lcSelect1(t, lcConnectConfig(t, cfg))
	})
}

func TestProtocol32(t *testing.T) {
	t.Parallel()
	p := harness.StartProxy(t, nil)
	cfg, err := pgconn.ParseConfig(p.DSN(harness.Local, "min_protocol_version=3.2", "max_protocol_version=3.2"))
	if err != nil {
		t.Fatal(err)
	}
	pc := lcConnectConfig(t, cancelOnCtx(cfg))
	if n := len(pc.SecretKey()); n != 32 {
		t.Errorf("protocol 3.2 secret key has %d bytes, want 32", n)
	}
	res, err := lcExec(lcCtx(t, lcTimeout), pc, "SELECT pg_backend_pid()")
	if err != nil {
		t.Fatal(err)
	}
	if strconv.FormatUint(uint64(pc.PID()), 10) == string(res[0].Rows[0][0]) {
		t.Error("client sees the upstream backend PID")
	}
	cancelSleep(t, pc)

	// A wrong 32-byte key does not cancel.
	done := make(chan error, 1)
	go func() {
		_, err := lcExec(lcCtx(t, lcTimeout), pc, "SELECT pg_sleep(1)")
		done <- err
	}()
	time.Sleep(200 * time.Millisecond)
	wrong := slices.Clone(pc.SecretKey())
	wrong[31] ^= 1
	lcCancelRequest(t, p.Addrs[0], pc.PID(), wrong)
	lcCancelRequest(t, p.Addrs[0], pc.PID(), pc.SecretKey()[:4]) // a 3.0-sized prefix
	if err := <-done; err != nil {
		t.Fatalf("wrong key canceled the query: %v", err)
	}

	t.Run("unknown _pq_ option is negotiated away", func(t *testing.T) {
		cfg, err := pgconn.ParseConfig(p.DSN(harness.Local, "max_protocol_version=3.2"))
		if err != nil {
			t.Fatal(err)
		}
		cfg.RuntimeParams["_pq_.pgveil_test"] = "on"
		pc := lcConnectConfig(t, cfg)
		lcSelect1(t, pc)
		if n := len(pc.SecretKey()); n != 32 {
			t.Errorf("secret key has %d bytes, want 32", n)
		}
	})
}

func TestProtocolNegotiateVersion(t *testing.T) {
	t.Parallel()
	p := harness.StartProxy(t, nil)
	v := func(minor uint32) uint32 { return 3<<16 | minor }
	cases := []struct {
		name        string
		version     uint32
		options     []string
		wantNPV     bool
		wantMinor   uint32
		wantOptions []string
	}{
		{"3.0", v(0), nil, false, 0, nil},
		{"3.2", v(2), nil, false, 0, nil},
		{"3.1", v(1), nil, true, 0, nil},
		{"3.3", v(3), nil, true, 2, nil},
		{"3.9999", v(9999), nil, true, 2, nil},
		{"3.2 with _pq_.foo", v(2), []string{"_pq_.foo"}, true, 2, []string{"_pq_.foo"}},
		{"3.0 with _pq_.foo", v(0), []string{"_pq_.foo"}, true, 0, []string{"_pq_.foo"}},
		{"3.3 with two options", v(3), []string{"_pq_.a", "_pq_.b"}, true, 2, []string{"_pq_.a", "_pq_.b"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			c := lcDial(t, p.Addrs[0])
			params := lcParams(harness.Local)
			for _, o := range tc.options {
				params[o] = "1"
			}
			npv := lcExpectSASL(t, lcStartup(t, c, tc.version, params))
			switch {
			case !tc.wantNPV && npv != nil:
				t.Fatalf("unexpected NegotiateProtocolVersion %+v", npv)
			case tc.wantNPV && npv == nil:
				t.Fatal("no NegotiateProtocolVersion")
			case npv == nil:
				return
			}
			if got := npv.NewestMinorProtocol & 0xffff; got != tc.wantMinor {
				t.Errorf("newest minor %d, want %d", got, tc.wantMinor)
			}
			got := slices.Sorted(slices.Values(npv.UnrecognizedOptions))
			if !slices.Equal(got, tc.wantOptions) && (len(got) != 0 || len(tc.wantOptions) != 0) {
				t.Errorf("unrecognized options %q, want %q", got, tc.wantOptions)
			}
		})
	}

	// PostgreSQL puts the whole version code (3 << 16 | minor) in the
	// first field, and libpq (since 18) checks it: a bare minor number
	// reads as "downgrade to pre-3.0 protocol version". Compare with what
	// the real server behind the proxy sends.
	t.Run("version field as PostgreSQL sends it", func(t *testing.T) {
		t.Parallel()
		up := harness.Upstream(t)
		uc := lcDial(t, net.JoinHostPort(up.Host, strconv.Itoa(up.Port)))
		unpv := lcExpectSASL(t, lcStartup(t, uc, v(3), map[string]string{"user": "postgres", "database": "postgres"}))
		if unpv == nil {
			t.Fatal("upstream sent no NegotiateProtocolVersion for 3.3")
		}
		c := lcDial(t, p.Addrs[0])
		npv := lcExpectSASL(t, lcStartup(t, c, v(3), lcParams(harness.Local)))
		if npv == nil {
			t.Fatal("no NegotiateProtocolVersion")
		}
		t.Logf("PostgreSQL %d sends %#x, pgveil sends %#x", 15, unpv.NewestMinorProtocol, npv.NewestMinorProtocol)
		if unpv.NewestMinorProtocol>>16 == 3 && npv.NewestMinorProtocol>>16 != 3 {
			t.Errorf("NegotiateProtocolVersion carries %#x; PostgreSQL sends the full version code (%#x for 3.0), so pgveil should send %#x for 3.2",
				npv.NewestMinorProtocol, unpv.NewestMinorProtocol, v(2))
		}
	})
}

func TestProtocolUnsupported(t *testing.T) {
	t.Parallel()
	p := harness.StartProxy(t, nil)
	refused := []struct {
		name    string
		version uint32
		extra   map[string]string
		code    string
	}{
		{"version 4.0", 4 << 16, nil, "0A000"},
		{"version 2.0", 2 << 16, nil, "0A000"},
		{"replication=database", 3 << 16, map[string]string{"replication": "database"}, "0A000"},
		{"replication=true", 3 << 16, map[string]string{"replication": "true"}, "0A000"},
		{"replication=database on 3.2", pgproto3.ProtocolVersion32, map[string]string{"replication": "database"}, "0A000"},
	}
	for _, tc := range refused {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			c := lcDial(t, p.Addrs[0])
			params := lcParams(harness.Local)
			for k, v := range tc.extra {
				params[k] = v
			}
			e := lcExpectFatal(t, lcStartup(t, c, tc.version, params), tc.code)
			t.Logf("%s: %s", tc.name, e.Message)
			lcExpectClosed(t, c, 3*time.Second)
		})
	}
	t.Run("replication=off is fine", func(t *testing.T) {
		t.Parallel()
		c := lcDial(t, p.Addrs[0])
		params := lcParams(harness.Local)
		params["replication"] = "off"
		lcExpectSASL(t, lcStartup(t, c, pgproto3.ProtocolVersion30, params))
	})
}

// rawPacket writes b on a fresh connection and expects FATAL code.
func rawPacket(t *testing.T, addr string, b []byte, code string) {
	t.Helper()
	c := lcDial(t, addr)
	if _, err := c.Write(b); err != nil {
		t.Fatal(err)
	}
	lcExpectFatal(t, pgproto3.NewFrontend(c, c), code)
	lcExpectClosed(t, c, 3*time.Second)
}

func TestProtocolMalformedStartup(t *testing.T) {
	t.Parallel()
	p := harness.StartProxy(t, nil)
	addr := p.Addrs[0]
	be32 := func(xs ...uint32) []byte {
		var b []byte
		for _, x := range xs {
			b = binary.BigEndian.AppendUint32(b, x)
		}
		return b
	}
	t.Run("length 7", func(t *testing.T) { rawPacket(t, addr, be32(7, 3<<16), "08P01") })
	t.Run("length 10001", func(t *testing.T) { rawPacket(t, addr, be32(10001), "08P01") })
	t.Run("length 2^31", func(t *testing.T) { rawPacket(t, addr, be32(1<<31), "08P01") })
	t.Run("no terminator", func(t *testing.T) {
		b := append(be32(0, 3<<16), "user\x00li.na\x00"...)
		binary.BigEndian.PutUint32(b, uint32(len(b)))
		rawPacket(t, addr, b, "08P01")
	})
	t.Run("key without value", func(t *testing.T) {
		b := append(be32(0, 3<<16), "user\x00li.na\x00database"...)
		binary.BigEndian.PutUint32(b, uint32(len(b)))
		rawPacket(t, addr, b, "08P01")
	})
	t.Run("CancelRequest that is too short", func(t *testing.T) {
		c := lcDial(t, addr)
		c.Write(be32(8, 80877102))
		if b := lcExpectClosed(t, c, 3*time.Second); len(b) != 0 {
			t.Errorf("answered %q", b)
		}
	})
	lcWaitActive(t, p, 0, 3*time.Second)
}

func TestProtocolMalformedMessage(t *testing.T) {
	t.Parallel()
	p := harness.StartProxy(t, nil)
	good := lcConnect(t, p.DSN(harness.Overseas))
	lcSelect1(t, good)
	for _, tc := range []struct {
		name string
		msg  []byte
		code string
	}{
		{"length 2", []byte{'Q', 0, 0, 0, 2}, "08P01"},
		{"length 0", []byte{'Q', 0, 0, 0, 0}, "08P01"},
		// PostgreSQL reads the length as a signed Int32 and calls this an
		// invalid length (08P01); pgveil reads it unsigned and reports a
		// 4 GiB message over max_message_size (54000). Either refuses it.
		{"negative length", []byte{'Q', 0xff, 0xff, 0xff, 0xf0}, "08P01|54000"},
		{"Query without NUL", []byte{'Q', 0, 0, 0, 8, 'S', 'E', 'L', 'X'}, "08P01"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			hc := lcHijack(t, p.DSN(harness.Local))
			hc.Conn.SetDeadline(time.Now().Add(lcTimeout))
			if _, err := hc.Conn.Write(tc.msg); err != nil {
				t.Fatal(err)
			}
			m, err := hc.Frontend.Receive()
			e, ok := m.(*pgproto3.ErrorResponse)
			if err != nil || !ok {
				t.Fatalf("expected FATAL %s, got %T %v", tc.code, m, err)
			}
			if e.Severity != "FATAL" || !slices.Contains(strings.Split(tc.code, "|"), e.Code) {
				t.Fatalf("expected FATAL %s, got %s %s: %s", tc.code, e.Severity, e.Code, e.Message)
			}
			t.Logf("%s: %s %s", tc.name, e.Code, e.Message)
			lcExpectClosed(t, hc.Conn, 3*time.Second)
		})
	}
	t.Run("unknown message type", func(t *testing.T) {
		t.Parallel()
		hc := lcHijack(t, p.DSN(harness.Local))
		hc.Conn.SetDeadline(time.Now().Add(lcTimeout))
		if _, err := hc.Conn.Write([]byte{'z', 0, 0, 0, 4}); err != nil {
			t.Fatal(err)
		}
		e := lcExpectFatal(t, hc.Frontend, "08P01")
		t.Logf("unknown type: %s", e.Message)
		lcExpectClosed(t, hc.Conn, 3*time.Second)
	})
	t.Run("good session unaffected", func(t *testing.T) {
		t.Parallel()
		for range 20 {
			lcSelect1(t, good)
			time.Sleep(20 * time.Millisecond)
		}
	})
}
