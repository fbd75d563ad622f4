// Package harness gives integration tests a real PostgreSQL with the sample
// CRM (shared by all tests of a package) and pgveil proxies started
// in-process in front of it.
//
//	func TestMain(m *testing.M) { harness.Main(m) }
//
//	func TestSomething(t *testing.T) {
//		p := harness.StartProxy(t, nil)
//		conn, _ := pgx.Connect(ctx, p.DSN(harness.Local))
//		direct, _ := pgx.Connect(ctx, p.Up.ReaderDSN())
//		...
//	}
//
// Set PGVEIL_TEST_DSN to a superuser connection string to use an existing
// server instead of a throwaway one (its crm database is recreated), and
// PGVEIL_TEST_LOG=1 to see the proxies' logs.
package harness

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"sync"
	"testing"
	"time"

	"github.com/pgveil/pgveil/internal/stack"
	"github.com/pgveil/pgveil/proxy"
	"github.com/pgveil/pgveil/rules"
)

// The generated config's users (see stack.DefaultUsers).
const (
	Local    = "li.na"       // region CN, role sales, listener 0
	Overseas = "anna.keller" // region EU, role analyst, listener 1
)

var shared struct {
	once sync.Once
	up   *stack.Upstream
	err  error
}

// Main runs a package's tests and stops the shared upstream afterwards.
func Main(m *testing.M) {
	code := m.Run()
	if shared.up != nil {
		shared.up.Stop()
	}
	os.Exit(code)
}

// Upstream returns the package's shared PostgreSQL with the CRM loaded
// (1000 customers, 5000 orders), starting it on first use.
func Upstream(tb testing.TB) *stack.Upstream {
	tb.Helper()
	shared.once.Do(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
		defer cancel()
		shared.up, shared.err = stack.StartUpstream(ctx, stack.UpstreamOptions{})
	})
	if shared.err != nil {
		tb.Fatalf("starting PostgreSQL: %v", shared.err)
	}
	return shared.up
}

// Proxy is a pgveil running in this process.
type Proxy struct {
	*proxy.Server
	Config *rules.Config
	Up     *stack.Upstream
	Addrs  []string // listener addresses: [0] region CN, [1] region EU
}

// Options adjust a test proxy.
type Options struct {
	Mutate func(*rules.Config) // edit the generated config before starting
	Filter proxy.FilterFunc
}

// StartProxy starts a proxy in front of the shared upstream, listening on
// free ports. It is shut down when the test ends, and the test fails if
// the protocol tracker ever lost sync.
func StartProxy(tb testing.TB, opts *Options) *Proxy {
	tb.Helper()
	if opts == nil {
		opts = &Options{}
	}
	up := Upstream(tb)
	text, err := stack.ConfigText(up, [2]string{"127.0.0.1:0", "127.0.0.1:0"}, stack.DefaultUsers)
	if err != nil {
		tb.Fatal(err)
	}
	logger := slog.New(slog.DiscardHandler)
	if os.Getenv("PGVEIL_TEST_LOG") != "" {
		logger = slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	srv, cfg, err := stack.StartProxy(up, text, opts.Mutate, proxy.Options{Logger: logger, Filter: opts.Filter})
	if err != nil {
		tb.Fatalf("starting pgveil: %v", err)
	}
	served := make(chan error, 1)
	go func() { served <- srv.Serve() }()
	p := &Proxy{Server: srv, Config: cfg, Up: up}
	for _, a := range srv.Addrs() {
		p.Addrs = append(p.Addrs, a.String())
	}
	tb.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		srv.Shutdown(ctx)
		if err := <-served; err != nil {
			tb.Errorf("serve: %v", err)
		}
		if n := srv.Desyncs(); n != 0 {
			tb.Errorf("protocol tracker lost sync %d times", n)
		}
		if n := srv.Panics(); n != 0 {
			tb.Errorf("%d session panics recovered (see PGVEIL_TEST_LOG=1)", n)
		}
	})
	return p
}

// Password returns the generated config's password for user.
func Password(user string) string {
	for _, u := range stack.DefaultUsers {
		if u.Name == user {
			return u.Password
		}
	}
	panic("harness: unknown user " + user)
}

// DSN is a libpq keyword/value connection string for user through the
// proxy, on the user's own listener. extra is appended ("sslmode=require").
func (p *Proxy) DSN(user string, extra ...string) string {
	listener := 0
	for _, u := range stack.DefaultUsers {
		if u.Name == user {
			listener = u.Listener
		}
	}
	host, port := splitHostPort(p.Addrs[listener])
	dsn := fmt.Sprintf("host=%s port=%s user=%s password=%s dbname=crm sslmode=disable", host, port, user, Password(user))
	for _, e := range extra {
		dsn += " " + e
	}
	return dsn
}

// Env returns libpq environment variables (PGHOST, PGPORT, ...) that point
// psql or pgbench at the proxy as user.
func (p *Proxy) Env(user string) []string {
	return libpqEnv(p.DSN(user))
}

// DirectEnv returns libpq environment variables for a direct connection
// to the upstream as crm_reader: the baseline to compare with.
func (p *Proxy) DirectEnv() []string {
	return libpqEnv(p.Up.ReaderDSN())
}
