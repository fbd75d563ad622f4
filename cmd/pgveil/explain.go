package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"time"

	"github.com/pgveil/pgveil/proxy"
	"github.com/pgveil/pgveil/proxy/masking"
	"github.com/pgveil/pgveil/rules"
)

// cmdExplain prints what pgveil would do with a statement for a user:
// per output column the lineage, the transform and the reason, or why the
// statement is refused. It reads the catalog upstream as catalog_user.
func cmdExplain(args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("explain", flag.ContinueOnError)
	fs.SetOutput(stderr)
	path := fs.String("config", "", "configuration file (TOML)")
	user := fs.String("user", "", "pgveil user name")
	region := fs.String("region", "", "region of the connection (default: the first listener's region, else \"unknown\")")
	roles := fs.String("roles", "", "comma-separated roles (default: the user's)")
	database := fs.String("database", "", "upstream database (default: [upstream] database)")
	searchPath := fs.String("search-path", "$user,public", "search_path to resolve names with")
	if err := fs.Parse(args); err != nil {
		return exitUsage
	}
	if *path == "" || *user == "" {
		fmt.Fprintln(stderr, "usage: pgveil explain --config FILE --user NAME [--region R] [--roles a,b] [SQL | < file]")
		return exitUsage
	}
	cfg, err := rules.Load(*path)
	if err != nil {
		fmt.Fprintf(stderr, "pgveil: %v\n", err)
		return exitUsage
	}
	u := cfg.User(*user)
	if u == nil {
		fmt.Fprintf(stderr, "pgveil explain: no [[users]] named %q\n", *user)
		return exitUsage
	}
	sql := strings.Join(fs.Args(), " ")
	if sql == "" {
		b, err := io.ReadAll(stdin)
		if err != nil {
			fmt.Fprintf(stderr, "pgveil explain: %v\n", err)
			return exitFailure
		}
		sql = string(b)
	}
	info := proxy.SessionInfo{User: u.Name, Roles: u.Roles, Region: *region, Database: *database}
	if *roles != "" {
		info.Roles = strings.Split(*roles, ",")
	}
	if info.Region == "" {
		info.Region = rules.RegionUnknown
		if len(cfg.Listen) > 0 && cfg.Listen[0].Region != "" {
			info.Region = cfg.Listen[0].Region
		}
	}
	if info.Database == "" {
		info.Database = cfg.Upstream.Database
	}
	for _, s := range strings.Split(*searchPath, ",") {
		if s = strings.TrimSpace(s); s == "$user" {
			s = u.UpstreamUser
		}
		info.SearchPath = append(info.SearchPath, s)
	}
	engine, closeCatalogs, err := masking.Setup(cfg, slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: slog.LevelWarn})))
	if err != nil {
		fmt.Fprintf(stderr, "pgveil: %v\n", err)
		return exitUsage
	}
	defer closeCatalogs()
	if engine == nil {
		fmt.Fprintln(stdout, "no [[classify]] or [[policy]]: every session is forwarded unchanged")
		return exitOK
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	fmt.Fprint(stdout, engine.Explain(ctx, info, sql))
	return exitOK
}
