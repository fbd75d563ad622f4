package proxy

import (
	"bufio"
	"context"
	"crypto/tls"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/netip"
	"slices"
	"strings"
	"time"

	"github.com/jackc/pgx/v5/pgproto3"

	"github.com/pgveil/pgveil/auth"
	"github.com/pgveil/pgveil/proxy/track"
	"github.com/pgveil/pgveil/rules"
)

// Codes that can open a startup packet instead of a protocol version.
const (
	codeCancelRequest   = 80877102
	codeSSLRequest      = 80877103
	codeGSSENCRequest   = 80877104
	maxStartupPacketLen = 10000 // as PostgreSQL's MAX_STARTUP_PACKET_LENGTH
	tlsHandshakeByte    = 0x16  // first byte of a TLS ClientHello: direct TLS
	latestMinorProtocol = 2     // pgveil speaks 3.0 and 3.2 to clients
)

// Buffer sizes. Reads from the server are the hot path (DataRows); larger
// buffers there mean fewer syscalls for big results.
const (
	clientReadBuf  = 8 << 10
	clientWriteBuf = 16 << 10
	serverReadBuf  = 32 << 10
	serverWriteBuf = 8 << 10
)

// startup is what the client asked for in its StartupMessage.
type startup struct {
	protocol uint32            // negotiated version
	params   map[string]string // user, database, options, application_name, ...
}

// bufConn lets TLS read through a bufio.Reader that may already hold the
// start of the handshake (direct TLS is detected by peeking).
type bufConn struct {
	net.Conn
	r *bufio.Reader
}

func (c bufConn) Read(p []byte) (int, error) { return c.r.Read(p) }

// handle serves one client connection from accept to close.
func (s *Server) handle(raw net.Conn, l *rules.Listener) {
	n := s.active.Add(1)
	defer s.active.Add(-1)
	defer raw.Close()
	defer s.recoverSession(raw)

	sess := &session{srv: s, id: s.nextID.Add(1), listener: l, client: raw}
	sess.log = s.log.With("session", sess.id, "listener", l.Address, "client", raw.RemoteAddr().String())
	sess.cr = bufio.NewReaderSize(raw, clientReadBuf)
	sess.cw = bufio.NewWriterSize(raw, clientWriteBuf)

	if !s.addStarting(raw) {
		return
	}
	defer s.removeStarting(raw)
	deadline := time.Now().Add(s.cfg.Server.AuthTimeout.Duration)
	raw.SetDeadline(deadline)

	// The client's address: the TCP peer's, or the one a trusted load
	// balancer names in its PROXY protocol header. Only peers listed in
	// proxy_protocol_from may (and must) send one; from anyone else the
	// same bytes are read as a Postgres startup packet, and fail as one.
	client := remoteAddr(raw)
	if trustsProxyHeader(s.proxyFrom, client) {
		src, err := readProxyV2(sess.cr)
		if err != nil {
			sess.log.Warn("connection closed: no valid PROXY protocol v2 header from a proxy_protocol_from address", "err", err)
			return
		}
		if src.IsValid() {
			client = src.Addr()
			sess.log = s.log.With("session", sess.id, "listener", l.Address, "client", src.String(), "via", raw.RemoteAddr().String())
		}
	}

	st, err := sess.negotiate()
	if err != nil {
		sess.fail(err)
		return
	}
	if st == nil {
		return // a CancelRequest, or a client that hung up politely
	}
	if n > int64(s.cfg.Server.MaxConnections) {
		sess.fail(fatal(SideProxy, codeTooManyConnections, "sorry, too many clients already", nil))
		return
	}
	if err := sess.waitBackoff(client, deadline); err != nil {
		sess.fail(err)
		return
	}
	if err := sess.login(st, client); err != nil {
		if isLoginFailure(err) {
			s.logins.failure(client)
		}
		sess.fail(err)
		return
	}
	sess.client.SetDeadline(time.Time{})
	sess.tracker = track.New()
	if !s.promote(raw, sess) {
		sess.upstream.Close()
		sess.fail(fatal(SideProxy, codeCannotConnectNow, "the proxy is shutting down", nil))
		return
	}
	defer s.removeSession(sess)
	s.cancels.register(sess, sess.keyLen())
	defer s.cancels.unregister(sess)
	if err := sess.ready(); err != nil {
		sess.upstream.Close()
		sess.log.Info("session ended before ready", "err", err)
		return
	}
	sess.log.Info("session started", "user", sess.info.User, "region", sess.info.Region, "database", sess.info.Database, "tls", sess.info.TLS)
	sess.run()
}

// negotiate reads startup packets until a StartupMessage, answering
// SSLRequest and GSSENCRequest and upgrading to TLS on the way. It returns
// nil, nil for a CancelRequest (handled) or a client that hung up.
func (c *session) negotiate() (*startup, error) {
	s := c.srv
	// Direct TLS (PostgreSQL 17 sslnegotiation=direct) starts with a TLS
	// ClientHello instead of an SSLRequest.
	if b, err := c.cr.Peek(1); err == nil && b[0] == tlsHandshakeByte {
		if s.tls == nil {
			return nil, fatal(SideClient, codeProtocolViolation, "direct TLS connection but TLS is not configured", nil)
		}
		if err := c.startTLS(true); err != nil {
			return nil, err
		}
	}
	for {
		code, body, err := readStartupPacket(c.cr)
		if err != nil {
			var e *Error
			if !errors.As(err, &e) {
				// Hung up, or silent until auth_timeout: PostgreSQL closes
				// such connections without a word, and so does pgveil.
				c.log.Debug("connection closed during startup", "err", err)
				return nil, nil
			}
			return nil, err
		}
		switch code {
		case codeSSLRequest:
			if c.tlsState != nil {
				return nil, fatal(SideClient, codeProtocolViolation, "SSLRequest on an encrypted connection", nil)
			}
			if s.tls == nil {
				if err := c.writeRaw([]byte{'N'}); err != nil {
					return nil, err
				}
				continue
			}
			// Bytes sent after SSLRequest but before the handshake would be
			// read as if they came over TLS (CVE-2021-23222): refuse them.
			if c.cr.Buffered() > 0 {
				return nil, fatal(SideClient, codeProtocolViolation, "received unencrypted data after SSL request", nil)
			}
			if err := c.writeRaw([]byte{'S'}); err != nil {
				return nil, err
			}
			if err := c.startTLS(false); err != nil {
				return nil, err
			}
		case codeGSSENCRequest:
			if c.tlsState != nil {
				return nil, fatal(SideClient, codeProtocolViolation, "GSSENCRequest on an encrypted connection", nil)
			}
			if err := c.writeRaw([]byte{'N'}); err != nil {
				return nil, err
			}
		case codeCancelRequest:
			c.forwardCancel(body)
			return nil, nil
		default:
			return c.startupMessage(code, body)
		}
	}
}

// readStartupPacket reads one length-prefixed startup-phase packet and
// returns its leading code (protocol version or request code) and the rest.
func readStartupPacket(r *bufio.Reader) (uint32, []byte, error) {
	var hdr [8]byte
	if _, err := io.ReadFull(r, hdr[:4]); err != nil {
		if errors.Is(err, io.ErrUnexpectedEOF) {
			err = io.EOF
		}
		return 0, nil, err
	}
	n := binary.BigEndian.Uint32(hdr[:4])
	if n < 8 || n > maxStartupPacketLen {
		return 0, nil, fatal(SideClient, codeProtocolViolation, "invalid length of startup packet", nil)
	}
	buf := make([]byte, n-4)
	if _, err := io.ReadFull(r, buf); err != nil {
		return 0, nil, fatal(SideClient, codeProtocolViolation, "incomplete startup packet", err)
	}
	return binary.BigEndian.Uint32(buf), buf[4:], nil
}

func (c *session) writeRaw(b []byte) error {
	if _, err := c.cw.Write(b); err != nil {
		return err
	}
	return c.cw.Flush()
}

// startTLS upgrades the client connection. For direct TLS the client must
// negotiate ALPN "postgresql", as PostgreSQL requires.
func (c *session) startTLS(direct bool) error {
	cfg := c.srv.tls
	if direct {
		// Refuse inside the handshake (an alert), not with a plaintext
		// error on an encrypted stream, as PostgreSQL 17 does.
		cfg = c.srv.tlsDirect
	}
	tc := tls.Server(bufConn{c.client, c.cr}, cfg)
	if err := tc.Handshake(); err != nil {
		return fatal(SideClient, codeProtocolViolation, "TLS handshake failed", err)
	}
	st := tc.ConnectionState()
	c.tlsState = &st
	c.client = tc
	c.cr = bufio.NewReaderSize(tc, clientReadBuf)
	c.cw = bufio.NewWriterSize(tc, clientWriteBuf)
	return nil
}

// startupMessage validates the protocol version and parameters, answering
// NegotiateProtocolVersion when the client asked for more than pgveil
// speaks.
func (c *session) startupMessage(version uint32, body []byte) (*startup, error) {
	major, minor := version>>16, version&0xffff
	if major != 3 {
		return nil, fatal(SideClient, codeFeatureNotSupported,
			fmt.Sprintf("unsupported frontend protocol %d.%d: server supports 3.0 to 3.%d", major, minor, latestMinorProtocol), nil)
	}
	st := &startup{params: make(map[string]string)}
	var unknownOptions []string
	for len(body) > 0 && body[0] != 0 {
		k, rest, ok := cutCString(body)
		if !ok {
			return nil, fatal(SideClient, codeProtocolViolation, "invalid startup packet layout: expected terminator as last byte", nil)
		}
		v, rest, ok := cutCString(rest)
		if !ok {
			return nil, fatal(SideClient, codeProtocolViolation, "invalid startup packet layout: expected terminator as last byte", nil)
		}
		body = rest
		if strings.HasPrefix(k, "_pq_.") {
			unknownOptions = append(unknownOptions, k) // pgveil implements no protocol extensions
			continue
		}
		st.params[k] = v
	}
	if len(body) != 1 {
		return nil, fatal(SideClient, codeProtocolViolation, "invalid startup packet layout: expected terminator as last byte", nil)
	}
	negotiated := min(minor, latestMinorProtocol)
	if negotiated == 1 {
		negotiated = 0 // 3.1 was never defined; serve it as 3.0
	}
	st.protocol = 3<<16 | negotiated
	if minor > latestMinorProtocol || len(unknownOptions) > 0 || minor != negotiated {
		// The field is the whole version number (3.2 = 0x00030002), as
		// PostgreSQL sends it; libpq rejects a bare minor number.
		err := c.send(&pgproto3.NegotiateProtocolVersion{NewestMinorProtocol: st.protocol, UnrecognizedOptions: unknownOptions})
		if err != nil {
			return nil, err
		}
	}
	if r, ok := st.params["replication"]; ok && !slices.Contains([]string{"false", "off", "no", "0"}, strings.ToLower(r)) {
		return nil, fatal(SideClient, codeFeatureNotSupported, "replication connections are not supported by pgveil", nil)
	}
	delete(st.params, "replication")
	if st.params["user"] == "" {
		return nil, fatal(SideClient, codeInvalidAuthorization, "no PostgreSQL user name specified in startup packet", nil)
	}
	return st, nil
}

func cutCString(b []byte) (s string, rest []byte, ok bool) {
	for i, x := range b {
		if x == 0 {
			return string(b[:i]), b[i+1:], true
		}
	}
	return "", nil, false
}

// login authenticates the client, decides its identity and connects
// upstream as its upstream user. client is the client's address (from the
// PROXY protocol header when a trusted balancer sent one).
func (c *session) login(st *startup, client netip.Addr) error {
	cfg := c.srv.cfg
	name := st.params["user"]
	if cfg.Server.TLS == "required" && c.tlsState == nil {
		return fatal(SideClient, codeInvalidAuthorization,
			fmt.Sprintf("connection for user %q requires TLS (sslmode=require)", name), nil)
	}
	user := cfg.User(name)
	// A client certificate can only be here if it verified against
	// client_ca (tls.VerifyClientCertIfGiven); record it either way.
	var certCN string
	var certVerified bool
	if c.tlsState != nil && len(c.tlsState.PeerCertificates) > 0 {
		certCN = c.tlsState.PeerCertificates[0].Subject.CommonName
		certVerified = len(c.tlsState.VerifiedChains) > 0 && c.srv.cfg.Server.ClientCA != ""
	}
	if user != nil && user.Cert {
		// Certificate users log in by certificate alone: no password
		// fallback, as PostgreSQL's "cert" method.
		if !certVerified || certCN != name {
			c.log.Info("authentication failed", "user", name, "code", codeInvalidAuthorization,
				"err", "no verified client certificate with a matching CN", "tls", c.tlsState != nil, "cert_cn", certCN)
			return fatal(SideClient, codeInvalidAuthorization, fmt.Sprintf("certificate authentication failed for user %q", name), nil)
		}
	} else {
		var verifier *auth.Verifier
		if user != nil && user.Password != "" {
			v, err := auth.ParseVerifier(user.Password)
			if err != nil {
				// The config loader checked the prefix only; a broken verifier
				// is the DBA's mistake, not the client's.
				c.log.Error("unusable password verifier in config", "user", name, "err", err)
			} else {
				verifier = v
			}
		}
		if err := auth.SCRAM(authConn{c}, name, verifier); err != nil {
			var ae *auth.Error
			if errors.As(err, &ae) {
				c.log.Info("authentication failed", "user", name, "code", ae.Code, "err", ae.Err)
				return &Error{Severity: "FATAL", Code: ae.Code, Message: ae.Message, Side: SideClient, Err: err}
			}
			return fatal(SideClient, codeProtocolViolation, "authentication failed", err)
		}
		if verifier == nil {
			// SCRAM never succeeds without a verifier; this is a guard.
			return fatal(SideClient, codeInvalidPassword, fmt.Sprintf("password authentication failed for user %q", name), nil)
		}
	}

	c.srv.logins.success(client)
	c.info = SessionInfo{
		ID:           c.id,
		User:         name,
		UpstreamUser: user.UpstreamUser,
		Roles:        slices.Clone(user.Roles),
		Region:       cfg.Region(c.listener, client),
		Listener:     c.listener.Address,
		ClientAddr:   client,
		TLS:          c.tlsState != nil,
		Protocol:     st.protocol,

		CertCN:       certCN,
		CertVerified: certVerified,
	}
	return c.connectUpstream(user, st)
}

// remoteAddr is the IP address conn comes from (unmapped; invalid if it
// has none, which the backoff then treats as one more address).
func remoteAddr(conn net.Conn) netip.Addr {
	ap, _ := netip.ParseAddrPort(conn.RemoteAddr().String())
	return ap.Addr().Unmap()
}

// waitBackoff delays a login from an address that has recently failed too
// often (see loginLimiter). It sleeps in this connection's goroutine only,
// never past the auth_timeout deadline, and stops early on shutdown.
func (c *session) waitBackoff(addr netip.Addr, deadline time.Time) error {
	d := c.srv.logins.delay(addr)
	if d <= 0 {
		return nil
	}
	timedOut := false
	if left := time.Until(deadline); left < d {
		d, timedOut = max(left, 0), true
	}
	c.log.Info("delaying login after repeated authentication failures", "delay", d)
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
	case <-c.srv.closed:
		return fatal(SideProxy, codeCannotConnectNow, "the proxy is shutting down", nil)
	}
	if timedOut {
		return fatal(SideClient, codeQueryCanceled, "canceling authentication due to timeout", nil)
	}
	return nil
}

// authConn adapts a session to what package auth needs during login.
type authConn struct{ c *session }

func (a authConn) Send(msg pgproto3.BackendMessage) error { return a.c.send(msg) }

func (a authConn) Receive() (byte, []byte, error) {
	hdr, err := a.c.cr.Peek(5)
	if err != nil {
		return 0, nil, fatal(SideClient, codeProtocolViolation, "connection closed during authentication", err)
	}
	typ, n := hdr[0], int(int32(binary.BigEndian.Uint32(hdr[1:])))
	if n < 4 || n > maxStartupPacketLen {
		return 0, nil, fatal(SideClient, codeProtocolViolation, "invalid message length during authentication", nil)
	}
	msg := make([]byte, 1+n)
	if _, err := io.ReadFull(a.c.cr, msg); err != nil {
		return 0, nil, fatal(SideClient, codeProtocolViolation, "connection closed during authentication", err)
	}
	return typ, msg[5:], nil
}

// send writes one message to the client and flushes. Only for the startup
// phase and for final errors: the pump batches its writes.
func (c *session) send(msg pgproto3.BackendMessage) error {
	b, err := msg.Encode(nil)
	if err != nil {
		return err
	}
	return c.writeRaw(b)
}

// fail reports a startup failure to the client and logs it.
func (c *session) fail(err error) {
	e := asError(err, fatal(SideProxy, codeInternalError, "internal error", nil))
	level := slog.LevelInfo // a client's mistake
	if e.Side != SideClient {
		level = slog.LevelWarn // the DBA should look: upstream or proxy trouble
	}
	c.log.Log(context.Background(), level, "connection refused", "code", e.Code, "reason", e.Message, "side", e.Side.String(), "err", e.Err)
	c.client.SetDeadline(time.Now().Add(time.Second))
	c.send(e.response())
}

// forwardCancel handles a CancelRequest: if the key matches a session, the
// cancel goes to that session's upstream backend with the upstream key.
func (c *session) forwardCancel(body []byte) {
	if len(body) < 8 || len(body) > 4+256 {
		return
	}
	pid := binary.BigEndian.Uint32(body[:4])
	target := c.srv.cancels.lookup(pid, body[4:])
	if target == nil {
		c.log.Debug("cancel request with unknown key ignored")
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := sendCancel(ctx, target.upstreamAddr, target.upstreamPID, target.upstreamKey, 10*time.Second); err != nil {
		target.log.Warn("forwarding cancel request failed", "err", err)
		return
	}
	target.log.Info("cancel request forwarded")
}
