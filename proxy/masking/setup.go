package masking

import (
	"context"
	"fmt"
	"log/slog"
	"sync"

	"github.com/jackc/pgx/v5/pgconn"

	"github.com/pgveil/pgveil/proxy"
	"github.com/pgveil/pgveil/proxy/catalog"
	"github.com/pgveil/pgveil/rewrite"
	"github.com/pgveil/pgveil/rewrite/transform"
	"github.com/pgveil/pgveil/rules"
)

// Setup builds the masking engine for cfg, and a function that releases
// its catalog connections. With no [[classify]] and no [[policy]] there is
// nothing to mask: it returns a nil Engine and every session is
// transparent. Give the proxy FilterFunc(engine).
func Setup(cfg *rules.Config, log *slog.Logger) (*Engine, func(), error) {
	if len(cfg.Classify) == 0 && len(cfg.Policy) == 0 {
		return nil, func() {}, nil
	}
	var keys *transform.Keys
	if cfg.Tokens.KeyFile != "" {
		master, err := cfg.TokenKey()
		if err != nil {
			return nil, nil, err
		}
		if keys, err = transform.NewKeys(master); err != nil {
			return nil, nil, err
		}
	}
	if cfg.Upstream.CatalogUser == "" {
		return nil, nil, fmt.Errorf("[upstream] catalog_user is required when [[classify]] or [[policy]] are configured: pgveil reads column types and view definitions with it")
	}
	password, err := cfg.CatalogPassword()
	if err != nil {
		return nil, nil, err
	}
	cats := &catalogs{cfg: cfg, password: password, byDB: make(map[string]*catalog.Catalog)}
	e := NewEngine(cfg, cats.get, keys, log)
	e.invalidateCatalog = cats.invalidate
	return e, cats.close, nil
}

// Invalidate forgets cached catalog data and plans of a database after a
// session changed its schema; give it to the proxy as Options.OnDDL.
// (Plans of other databases are dropped too: the plan cache is shared,
// and DDL is rare.)
func (e *Engine) Invalidate(database string) {
	if e.invalidateCatalog != nil {
		e.invalidateCatalog(database)
	}
	e.plans.Purge()
}

// OnDDL returns the proxy's OnDDL hook for an engine (nil for none).
func OnDDL(e *Engine) func(string) {
	if e == nil {
		return nil
	}
	return e.Invalidate
}

// FilterFunc returns the proxy's FilterFunc for an engine (nil for none).
func FilterFunc(e *Engine) proxy.FilterFunc {
	if e == nil {
		return nil
	}
	return e.Filter
}

// catalogs keeps one catalog reader per upstream database: the catalog
// login can only read the database it is connected to.
type catalogs struct {
	cfg      *rules.Config
	password string
	mu       sync.Mutex
	byDB     map[string]*catalog.Catalog
}

func (c *catalogs) get(database string) rewrite.Catalog {
	c.mu.Lock()
	defer c.mu.Unlock()
	if cat, ok := c.byDB[database]; ok {
		return cat
	}
	cat := catalog.New(catalog.Options{Connect: func(ctx context.Context) (*pgconn.PgConn, error) {
		pc, err := proxy.UpstreamConfig(&c.cfg.Upstream, c.cfg.Upstream.CatalogUser, c.password, database)
		if err != nil {
			return nil, err
		}
		return pgconn.ConnectConfig(ctx, pc)
	}})
	c.byDB[database] = cat
	return cat
}

// invalidate drops what the catalog of a database remembers.
func (c *catalogs) invalidate(database string) {
	c.mu.Lock()
	cat := c.byDB[database]
	c.mu.Unlock()
	if cat != nil {
		cat.Invalidate()
	}
}

func (c *catalogs) close() {
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, cat := range c.byDB {
		cat.Close()
	}
}
