// Package proxy owns pgveil's client connections: listening, TLS, the
// startup and authentication handshake, the upstream connection, the
// message pump between the two, cancel requests, limits and shutdown.
//
// A session is transparent unless a Filter is installed for it: then the
// pump hands the Filter every message it asks for, attributed by the
// session's protocol tracker (package track) to the statement and portal
// that produced it. SQL analysis and policy live elsewhere (packages
// rewrite and rules); this package never looks inside SQL.
package proxy

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"os"
	"runtime/debug"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/pgveil/pgveil/rewrite"
	"github.com/pgveil/pgveil/rules"
)

// Server accepts client connections on the configured listeners and runs a
// session for each.
type Server struct {
	cfg       *rules.Config
	log       *slog.Logger
	onDDL     func(database string)
	tls       *tls.Config // nil when TLS is disabled
	tlsDirect *tls.Config // for direct TLS: also requires ALPN "postgresql"
	filter    FilterFunc
	logins    *loginLimiter  // per-address backoff after failed logins
	proxyFrom []netip.Prefix // peers that must send a PROXY v2 header

	listeners []net.Listener
	active    atomic.Int64 // client connections being served (incl. startup)
	nextID    atomic.Uint64
	desyncs   atomic.Int64 // tracker desynchronisations (a bug if ever non-zero)
	panics    atomic.Int64 // recovered panics (a bug if ever non-zero)

	mu       sync.Mutex
	sessions map[*session]struct{} // logged-in sessions
	starting map[net.Conn]struct{} // connections still in startup/authentication
	draining bool

	cancels    cancelRegistry
	normalizer *rewrite.Normalizer // for statement logs at debug level
	wg         sync.WaitGroup      // one per connection handler
	closed     chan struct{}
}

// Options are the parts of a Server that do not come from the config file.
type Options struct {
	Logger *slog.Logger
	// Filter chooses each session's Filter; nil serves every session
	// transparently.
	Filter FilterFunc
	// OnDDL, if set, is called when any session completes a statement
	// that can change the catalog (CREATE, ALTER, DROP, ...), with the
	// session's database: caches of column types and views go stale.
	OnDDL func(database string)
}

// NewServer checks what can be checked before listening (TLS files) and
// returns a Server ready to Listen.
func NewServer(cfg *rules.Config, opts Options) (*Server, error) {
	s := &Server{
		cfg:      cfg,
		log:      opts.Logger,
		filter:   opts.Filter,
		onDDL:    opts.OnDDL,
		sessions: make(map[*session]struct{}),
		starting: make(map[net.Conn]struct{}),
		closed:   make(chan struct{}),
		logins:   newLoginLimiter(),
	}
	s.proxyFrom = cfg.ProxyProtocolPrefixes()
	if s.log == nil {
		s.log = slog.Default()
	}
	s.cancels.init()
	s.normalizer = rewrite.NewNormalizer(4096)
	if cfg.Server.TLSCert != "" && cfg.Server.TLS != "disabled" {
		cert, err := tls.LoadX509KeyPair(cfg.Server.TLSCert, cfg.Server.TLSKey)
		if err != nil {
			return nil, fmt.Errorf("loading tls_cert/tls_key: %w", err)
		}
		s.tls = &tls.Config{
			Certificates: []tls.Certificate{cert},
			MinVersion:   tls.VersionTLS12,
			// ALPN "postgresql" is mandatory for direct TLS (PostgreSQL 17
			// sslnegotiation=direct) and harmless otherwise.
			NextProtos: []string{"postgresql"},
		}
		if cfg.Server.ClientCA != "" {
			pool, err := loadClientCA(cfg.Server.ClientCA)
			if err != nil {
				return nil, err
			}
			// Certificates are optional at the TLS level: password users
			// need none. A certificate that is sent must verify, and users
			// with cert = true are refused at login without one.
			s.tls.ClientAuth = tls.VerifyClientCertIfGiven
			s.tls.ClientCAs = pool
		}
		s.tlsDirect = s.tls.Clone()
		s.tlsDirect.GetConfigForClient = func(hello *tls.ClientHelloInfo) (*tls.Config, error) {
			if !slices.Contains(hello.SupportedProtos, "postgresql") {
				return nil, errors.New("direct TLS connection without ALPN \"postgresql\"")
			}
			return nil, nil
		}
	}
	if cfg.Server.ClientCA != "" && s.tls == nil {
		return nil, errors.New("client_ca is set but TLS is not: client certificates need tls_cert and tls_key")
	}
	return s, nil
}

// loadClientCA reads [server] client_ca: the PEM certificates that client
// certificates must chain to.
func loadClientCA(path string) (*x509.CertPool, error) {
	pem, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("loading client_ca: %w", err)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(pem) {
		return nil, fmt.Errorf("loading client_ca: no PEM certificate found in %s", path)
	}
	return pool, nil
}

// Listen opens every configured listener. Serve then accepts on them.
func (s *Server) Listen(ctx context.Context) error {
	lc := net.ListenConfig{KeepAlive: -1}
	if ka := s.cfg.Server.TCPKeepalive.Duration; ka > 0 {
		lc.KeepAlive = ka
	}
	for _, l := range s.cfg.Listen {
		ln, err := lc.Listen(ctx, "tcp", l.Address)
		if err != nil {
			s.closeListeners()
			return fmt.Errorf("listen %s: %w", l.Address, err)
		}
		s.listeners = append(s.listeners, ln)
	}
	return nil
}

// Addrs returns the bound listener addresses, in config order (useful when
// a listener asked for port 0).
func (s *Server) Addrs() []net.Addr {
	addrs := make([]net.Addr, len(s.listeners))
	for i, ln := range s.listeners {
		addrs[i] = ln.Addr()
	}
	return addrs
}

// Serve accepts connections until Shutdown. It returns nil after a
// shutdown, or the first fatal accept error.
func (s *Server) Serve() error {
	errc := make(chan error, len(s.listeners))
	for i, ln := range s.listeners {
		go func() { errc <- s.acceptLoop(ln, &s.cfg.Listen[i]) }()
	}
	var first error
	for range s.listeners {
		if err := <-errc; err != nil && first == nil {
			first = err
			s.closeListeners()
		}
	}
	return first
}

func (s *Server) acceptLoop(ln net.Listener, l *rules.Listener) error {
	var backoff time.Duration
	for {
		conn, err := ln.Accept()
		if err != nil {
			select {
			case <-s.closed:
				return nil
			default:
			}
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() || errors.Is(err, errTooManyFiles) {
				// Out of file descriptors or similar: back off rather than spin.
				backoff = min(max(2*backoff, 5*time.Millisecond), time.Second)
				s.log.Warn("accept failed, backing off", "listener", l.Address, "err", err, "backoff", backoff)
				time.Sleep(backoff)
				continue
			}
			return fmt.Errorf("accept on %s: %w", l.Address, err)
		}
		backoff = 0
		s.wg.Add(1)
		go func() {
			defer s.wg.Done()
			s.handle(conn, l)
		}()
	}
}

// Desyncs reports how often a session's protocol tracker could not
// attribute a server message. Tests assert it stays zero.
func (s *Server) Desyncs() int64 { return s.desyncs.Load() }

// recoverSession turns a panic in one connection's goroutines into the end
// of that connection alone: one bad client never takes the others down.
// It must be called directly by a deferred function.
func (s *Server) recoverSession(conn net.Conn) {
	if r := recover(); r != nil {
		s.logPanic(r, conn)
	}
}

func (s *Server) logPanic(r any, conn net.Conn) {
	s.panics.Add(1)
	s.log.Error("BUG: panic in session; connection closed", "panic", r, "stack", string(debug.Stack()))
	conn.Close()
}

// Panics reports how many session panics were recovered. Tests assert it
// stays zero.
func (s *Server) Panics() int64 { return s.panics.Load() }

// Active reports the number of client connections being served.
func (s *Server) Active() int64 { return s.active.Load() }

func (s *Server) closeListeners() {
	for _, ln := range s.listeners {
		ln.Close()
	}
}

// Shutdown stops accepting, ends idle sessions at once and lets busy ones
// finish their transaction until ctx is done; then it terminates the rest.
// It returns the number of sessions it had to terminate.
func (s *Server) Shutdown(ctx context.Context) int {
	s.mu.Lock()
	if !s.draining {
		s.draining = true
		close(s.closed)
	}
	for sess := range s.sessions {
		sess.drain()
	}
	// Connections that have not logged in yet have nothing to lose.
	for conn := range s.starting {
		conn.Close()
	}
	s.mu.Unlock()
	s.closeListeners()

	done := make(chan struct{})
	go func() { s.wg.Wait(); close(done) }()
	select {
	case <-done:
		return 0
	case <-ctx.Done():
	}
	s.mu.Lock()
	killed := len(s.sessions)
	for sess := range s.sessions {
		sess.kill(fatal(SideProxy, codeAdminShutdown, "terminating connection due to administrator command", nil))
	}
	s.mu.Unlock()
	<-done
	return killed
}

// addStarting registers a connection in the startup phase; false means
// the server is shutting down.
func (s *Server) addStarting(conn net.Conn) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.draining {
		return false
	}
	s.starting[conn] = struct{}{}
	return true
}

// promote turns a starting connection into a session; false means the
// server is shutting down.
func (s *Server) promote(conn net.Conn, sess *session) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.starting, conn)
	if s.draining {
		return false
	}
	s.sessions[sess] = struct{}{}
	return true
}

func (s *Server) removeStarting(conn net.Conn) {
	s.mu.Lock()
	delete(s.starting, conn)
	s.mu.Unlock()
}

func (s *Server) removeSession(sess *session) {
	s.mu.Lock()
	delete(s.sessions, sess)
	s.mu.Unlock()
}
