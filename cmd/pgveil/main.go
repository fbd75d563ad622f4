// Command pgveil is a PostgreSQL wire-protocol proxy that masks and
// tokenizes personal data per caller.
//
//	pgveil serve --config FILE   run the proxy
//	pgveil demo                  throwaway PostgreSQL + sample CRM + proxy
//	pgveil passwd                print a SCRAM-SHA-256 verifier for a password on stdin
//	pgveil keygen [FILE]         write a new token key
//	pgveil explain ...           how a statement is masked for a user, or why it is refused
//	pgveil check --config FILE   check the config against the upstream and its roles
//	pgveil version
//
// Exit codes: 0 success (including a clean drain after SIGTERM/SIGINT),
// 1 runtime failure, 2 usage or configuration error, 3 shutdown deadline
// reached with sessions still open (they were terminated).
package main

import (
	"bufio"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"strings"
	"syscall"

	"github.com/pgveil/pgveil/auth"
	"github.com/pgveil/pgveil/proxy"
	"github.com/pgveil/pgveil/proxy/masking"
	"github.com/pgveil/pgveil/rules"
)

// Exit codes, documented in the README.
const (
	exitOK         = 0
	exitFailure    = 1
	exitUsage      = 2
	exitForcedStop = 3
)

var version = "dev"

func main() {
	os.Exit(run(os.Args[1:], os.Stdin, os.Stdout, os.Stderr))
}

func run(args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		usage(stderr)
		return exitUsage
	}
	switch args[0] {
	case "serve":
		return cmdServe(args[1:], stderr)
	case "demo":
		return cmdDemo(args[1:], stdout, stderr)
	case "passwd":
		return cmdPasswd(stdin, stdout, stderr)
	case "keygen":
		return cmdKeygen(args[1:], stdout, stderr)
	case "explain":
		return cmdExplain(args[1:], stdin, stdout, stderr)
	case "check":
		return cmdCheck(args[1:], stdout, stderr)
	case "version", "--version":
		fmt.Fprintln(stdout, "pgveil", version)
		return exitOK
	case "help", "-h", "--help":
		usage(stdout)
		return exitOK
	}
	fmt.Fprintf(stderr, "pgveil: unknown command %q\n", args[0])
	usage(stderr)
	return exitUsage
}

func usage(w io.Writer) {
	fmt.Fprint(w, `usage:
  pgveil serve --config FILE   run the proxy
  pgveil demo                  start a throwaway PostgreSQL with a sample CRM behind pgveil
  pgveil passwd                read a password on stdin, print its SCRAM-SHA-256 verifier
  pgveil keygen [FILE]         write a new token key (32 random bytes, hex) to FILE or stdout
  pgveil explain --config FILE --user NAME [--region R] [--roles a,b] [SQL]
                               show how a statement would be masked or why it is refused
  pgveil check --config FILE   validate FILE and check it against the upstream server
  pgveil version
`)
}

func cmdServe(args []string, stderr io.Writer) int {
	fs := flag.NewFlagSet("serve", flag.ContinueOnError)
	fs.SetOutput(stderr)
	path := fs.String("config", "", "configuration file (TOML)")
	if err := fs.Parse(args); err != nil {
		return exitUsage
	}
	if *path == "" {
		fmt.Fprintln(stderr, "pgveil serve: --config FILE is required")
		return exitUsage
	}
	cfg, err := rules.Load(*path)
	if err != nil {
		fmt.Fprintf(stderr, "pgveil: %v\n", err)
		return exitUsage
	}
	log := newLogger(cfg, stderr)
	engine, closeCatalogs, err := masking.Setup(cfg, log)
	if err != nil {
		fmt.Fprintf(stderr, "pgveil: %v\n", err)
		return exitUsage
	}
	defer closeCatalogs()
	srv, err := proxy.NewServer(cfg, proxy.Options{Logger: log, Filter: masking.FilterFunc(engine), OnDDL: masking.OnDDL(engine)})
	if err != nil {
		fmt.Fprintf(stderr, "pgveil: %v\n", err)
		return exitUsage
	}
	if err := srv.Listen(context.Background()); err != nil {
		log.Error("cannot listen", "err", err)
		return exitFailure
	}
	return serve(srv, cfg, log, nil)
}

// serve runs a listening server until SIGTERM/SIGINT (or stop is closed),
// then drains it. It returns the process exit code.
func serve(srv *proxy.Server, cfg *rules.Config, log *slog.Logger, stop <-chan struct{}) int {
	for _, a := range srv.Addrs() {
		log.Info("listening", "address", a.String())
	}
	sigs := make(chan os.Signal, 2)
	signal.Notify(sigs, syscall.SIGTERM, syscall.SIGINT)
	defer signal.Stop(sigs)

	served := make(chan error, 1)
	go func() { served <- srv.Serve() }()
	select {
	case err := <-served:
		if err != nil {
			log.Error("serving failed", "err", err)
			return exitFailure
		}
		return exitOK
	case sig := <-sigs:
		log.Info("shutting down: draining sessions", "signal", sig.String(), "active", srv.Active(), "deadline", cfg.Server.ShutdownTimeout.Duration)
	case <-stop:
		log.Info("shutting down: draining sessions", "active", srv.Active())
	}
	ctx, cancel := context.WithTimeout(context.Background(), cfg.Server.ShutdownTimeout.Duration)
	defer cancel()
	go func() {
		// A second signal skips the rest of the drain.
		select {
		case <-sigs:
			cancel()
		case <-ctx.Done():
		}
	}()
	if killed := srv.Shutdown(ctx); killed > 0 {
		log.Warn("shutdown deadline reached: sessions terminated", "terminated", killed)
		return exitForcedStop
	}
	<-served
	log.Info("shutdown complete")
	return exitOK
}

func newLogger(cfg *rules.Config, w io.Writer) *slog.Logger {
	var level slog.Level
	if err := level.UnmarshalText([]byte(cfg.Server.LogLevel)); err != nil {
		level = slog.LevelInfo
	}
	opts := &slog.HandlerOptions{Level: level}
	if cfg.Server.LogFormat == "json" {
		return slog.New(slog.NewJSONHandler(w, opts))
	}
	return slog.New(slog.NewTextHandler(w, opts))
}

// cmdPasswd reads one password line from stdin and prints the verifier to
// put in a [[users]] password field. The password is never echoed.
func cmdPasswd(stdin io.Reader, stdout, stderr io.Writer) int {
	if f, ok := stdin.(*os.File); ok {
		if fi, err := f.Stat(); err == nil && fi.Mode()&os.ModeCharDevice != 0 {
			fmt.Fprint(stderr, "password (input is visible; pipe it in to avoid that): ")
		}
	}
	line, err := bufio.NewReader(stdin).ReadString('\n')
	if err != nil && !errors.Is(err, io.EOF) {
		fmt.Fprintf(stderr, "pgveil passwd: %v\n", err)
		return exitFailure
	}
	password := strings.TrimRight(line, "\r\n")
	if password == "" {
		fmt.Fprintln(stderr, "pgveil passwd: empty password")
		return exitUsage
	}
	v, err := auth.NewVerifier(password)
	if err != nil {
		fmt.Fprintf(stderr, "pgveil passwd: %v\n", err)
		return exitFailure
	}
	fmt.Fprintln(stdout, v.String())
	return exitOK
}

// cmdKeygen writes a fresh token key. Tokens and pseudonyms are
// deterministic under one key, so keep it: a new key changes every token.
func cmdKeygen(args []string, stdout, stderr io.Writer) int {
	key := make([]byte, 32)
	if _, err := rand.Read(key); err != nil {
		fmt.Fprintf(stderr, "pgveil keygen: %v\n", err)
		return exitFailure
	}
	text := hex.EncodeToString(key) + "\n"
	switch len(args) {
	case 0:
		fmt.Fprint(stdout, text)
	case 1:
		f, err := os.OpenFile(args[0], os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
		if err != nil {
			fmt.Fprintf(stderr, "pgveil keygen: %v (an existing key is never overwritten)\n", err)
			return exitFailure
		}
		defer f.Close()
		if _, err := f.WriteString(text); err != nil {
			fmt.Fprintf(stderr, "pgveil keygen: %v\n", err)
			return exitFailure
		}
	default:
		fmt.Fprintln(stderr, "usage: pgveil keygen [FILE]")
		return exitUsage
	}
	return exitOK
}
