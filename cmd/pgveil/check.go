package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"

	"github.com/pgveil/pgveil/internal/check"
	"github.com/pgveil/pgveil/rules"
)

// cmdCheck validates a configuration, then checks it against the upstream
// server as catalog_user: classified columns and row-filtered tables
// exist, row filters are valid, and the upstream roles of [[users]] hold
// no privilege that lets data past the proxy (see internal/check). Exit 0
// when nothing is wrong, 1 when problems were found or checking failed, 2
// for a usage or configuration error.
func cmdCheck(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("check", flag.ContinueOnError)
	fs.SetOutput(stderr)
	path := fs.String("config", "", "configuration file (TOML)")
	if err := fs.Parse(args); err != nil {
		return exitUsage
	}
	if *path == "" || fs.NArg() != 0 {
		fmt.Fprintln(stderr, "usage: pgveil check --config FILE")
		return exitUsage
	}
	cfg, err := rules.Load(*path)
	if err != nil {
		fmt.Fprintf(stderr, "pgveil: %v\n", err)
		return exitUsage
	}
	fmt.Fprintf(stdout, "OK      %s is valid\n", *path)
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	problems, err := check.Run(ctx, cfg, stdout)
	if err != nil {
		fmt.Fprintf(stderr, "pgveil check: %v\n", err)
		return exitFailure
	}
	if problems > 0 {
		return exitFailure
	}
	return exitOK
}
