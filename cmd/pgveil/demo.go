package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"time"

	"github.com/pgveil/pgveil/internal/democrm"
	"github.com/pgveil/pgveil/internal/stack"
	"github.com/pgveil/pgveil/proxy"
)

// cmdDemo starts a throwaway PostgreSQL with the sample CRM, puts pgveil in
// front with a local (CN) and an overseas (EU) listener, prints how to
// connect as each user, and cleans everything up on Ctrl-C.
func cmdDemo(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("demo", flag.ContinueOnError)
	fs.SetOutput(stderr)
	localPort := fs.Int("local-port", 6432, "port of the local (CN) listener; 0 picks a free one")
	overseasPort := fs.Int("overseas-port", 6433, "port of the overseas (EU) listener; 0 picks a free one")
	customers := fs.Int("customers", 1000, "sample customers to generate")
	orders := fs.Int("orders", 5000, "sample orders to generate")
	writeConfig := fs.String("write-config", "", "also write the generated configuration to this file")
	verbose := fs.Bool("v", false, "log every session to stderr")
	if err := fs.Parse(args); err != nil {
		return exitUsage
	}

	fmt.Fprintln(stdout, "pgveil demo: starting a throwaway PostgreSQL and loading the sample CRM ...")
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	up, err := stack.StartUpstream(ctx, stack.UpstreamOptions{Customers: *customers, Orders: *orders})
	if err != nil {
		fmt.Fprintf(stderr, "pgveil demo: %v\n", err)
		return exitFailure
	}
	defer up.Stop()

	listen := [2]string{freeOr(*localPort), freeOr(*overseasPort)}
	text, err := stack.ConfigText(up, listen, stack.DefaultUsers)
	if err != nil {
		fmt.Fprintf(stderr, "pgveil demo: %v\n", err)
		return exitFailure
	}
	if *writeConfig != "" {
		if err := os.WriteFile(*writeConfig, []byte(text), 0o600); err != nil {
			fmt.Fprintf(stderr, "pgveil demo: %v\n", err)
			return exitFailure
		}
	}
	level := slog.LevelWarn
	if *verbose {
		level = slog.LevelInfo
	}
	log := slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: level}))
	srv, cfg, err := stack.StartProxy(up, text, nil, proxy.Options{Logger: log})
	if err != nil {
		fmt.Fprintf(stderr, "pgveil demo: %v\n", err)
		return exitFailure
	}
	addrs := srv.Addrs()
	fmt.Fprintf(stdout, `
pgveil is running in front of the sample CRM (%d customers, %d orders).

  Local sales (region CN), sees personal data in clear:
    PGPASSWORD=%s psql "host=127.0.0.1 port=%d dbname=crm user=%s"

  Overseas analyst (region EU), policy "overseas-analysts":
    PGPASSWORD=%s psql "host=127.0.0.1 port=%d dbname=crm user=%s"

  Directly to PostgreSQL, bypassing pgveil (the upstream role both users map to):
    PGPASSWORD=%s psql "host=%s port=%d dbname=crm user=%s"

  Try:  SELECT name, mobile, email, id_number, birthday, city FROM crm.customers LIMIT 5;
`, *customers, *orders,
		stack.DefaultUsers[0].Password, port(addrs[0]), stack.DefaultUsers[0].Name,
		stack.DefaultUsers[1].Password, port(addrs[1]), stack.DefaultUsers[1].Name,
		up.ReaderPassword, up.Host, up.Port, democrm.ReaderRole)
	if *writeConfig != "" {
		abs, _ := filepath.Abs(*writeConfig)
		fmt.Fprintf(stdout, "\n  The configuration is in %s\n", abs)
	}
	fmt.Fprintln(stdout, "\nPress Ctrl-C to stop and remove everything.")

	code := serve(srv, cfg, log, nil)
	fmt.Fprintln(stdout, "pgveil demo: stopped; removing the throwaway database.")
	return code
}

// freeOr picks the requested port if
// it is free, else any free port, so the demo runs beside a real pgveil.
func freeOr(p int) string {
	addr := fmt.Sprintf("127.0.0.1:%d", p)
	if l, err := net.Listen("tcp", addr); err == nil {
		l.Close()
		return addr
	}
	return "127.0.0.1:0"
}

func port(a net.Addr) int {
	if t, ok := a.(*net.TCPAddr); ok {
		return t.Port
	}
	return 0
}
