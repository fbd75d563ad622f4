// Package catalog implements rewrite.Catalog against a real upstream
// PostgreSQL server: it resolves relation names the way PostgreSQL does and
// reports their kind, columns and (for views) definition, with an expiring
// LRU cache in front.
//
// A cache miss is a lookup, never a guess: when the upstream cannot be
// asked (connection failure, query error, cancelled context) the error is
// returned and nothing is cached, so the statement that needed the answer
// is refused. Definitive answers, positive or negative
// (rewrite.ErrUnknownRelation, ErrUnsupported), are cached for the TTL.
//
// # Name resolution
//
// With a schema, exactly schema.name is looked up. Without one, searchPath
// is walked in order, as PostgreSQL does, with these rules:
//
//   - pg_catalog is searched first unless searchPath names it explicitly,
//     in which case it is searched at that position;
//   - "$user" is skipped: the catalog connection logs in as the catalog
//     role, not as the session's user, so it cannot expand it. Callers
//     that know the session's upstream user should replace "$user" with
//     that name before calling (a schema that does not exist is then simply
//     not found, as in PostgreSQL);
//   - "pg_temp" is skipped: temporary objects live in the client's session
//     and are invisible here (the proxy refuses them elsewhere). A
//     schema-qualified pg_temp.name is answered with ErrUnsupported;
//   - entries are schema names as stored (already unquoted and case-folded
//     by whoever parsed the search_path setting); duplicates and empty
//     entries are ignored.
//
// The first schema holding a pg_class entry of that name wins, whatever its
// kind, because that is what PostgreSQL's parser binds to. If the winner is
// not a table, partitioned table, view, materialized view or foreign table
// (an index, sequence, composite type, TOAST table), or is a temporary
// relation, the answer is ErrUnsupported rather than a relation found
// further down the path.
package catalog

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/hashicorp/golang-lru/v2/expirable"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/pgveil/pgveil/rewrite"
)

// Defaults for Options.
const (
	DefaultTTL  = 60 * time.Second
	DefaultSize = 4096
)

// ErrUnsupported is returned (wrapped) for a name that resolves to
// something pgveil does not analyse: a pg_class entry of another kind, a
// temporary relation, or a name qualified with pg_temp. It is not
// rewrite.ErrUnknownRelation: the relation may well exist.
var ErrUnsupported = errors.New("unsupported relation")

// ErrClosed is returned by Relation after Close.
var ErrClosed = errors.New("catalog: closed")

// Options configure a Catalog.
type Options struct {
	// Connect dials the upstream as the catalog role. The caller builds
	// it; the catalog calls it lazily and again after a connection error.
	Connect func(ctx context.Context) (*pgconn.PgConn, error)
	// TTL is how long answers, including negative ones, are cached.
	// Zero or negative means DefaultTTL.
	TTL time.Duration
	// Size is the number of cached answers. Zero or negative means
	// DefaultSize.
	Size int
}

// Catalog resolves relations on the upstream server. It is safe for
// concurrent use. Returned *rewrite.Relation values are shared between
// callers and must not be modified.
type Catalog struct {
	builtinMu sync.Mutex
	builtins  map[string]bool // pg_catalog function names, read once

	connect func(ctx context.Context) (*pgconn.PgConn, error)
	cache   *expirable.LRU[key, answer]
	closed  atomic.Bool

	// fmu guards flights and gen. A lookup stores its answer only if gen
	// has not moved since it started, so an answer read before an
	// Invalidate is never cached after it.
	fmu     sync.Mutex
	flights map[key]*flight
	gen     uint64

	// sem (capacity 1) serializes use of conn; holding it owns conn.
	sem  chan struct{}
	conn *pgconn.PgConn

	queries atomic.Int64 // lookups sent upstream (for tests)
}

// answer is a definitive result: a relation, or an error that is the
// truth about the name (unknown, unsupported).
type answer struct {
	rel *rewrite.Relation
	err error
}

// flight is one lookup in progress; concurrent misses for the same key
// wait for it instead of querying again.
type flight struct {
	done chan struct{}
	ans  answer
	err  error // lookup failure: not cached
}

// key identifies a question. The first four search path entries are held
// in place so that hits do not allocate; any further ones are joined with
// NUL, which cannot occur in a PostgreSQL name.
type key struct {
	schema, name string
	n            int
	p            [4]string
	more         string
}

// New returns a Catalog. It does not connect until the first miss.
//
// The expirable LRU from golang-lru v2 runs a cleanup goroutine that
// cannot be stopped; a Catalog is meant to live as long as the proxy.
func New(opts Options) *Catalog {
	ttl, size := opts.TTL, opts.Size
	if ttl <= 0 {
		ttl = DefaultTTL
	}
	if size <= 0 {
		size = DefaultSize
	}
	return &Catalog{
		connect: opts.Connect,
		cache:   expirable.NewLRU[key, answer](size, nil, ttl),
		flights: make(map[key]*flight),
		sem:     make(chan struct{}, 1),
	}
}

// Relation implements rewrite.Catalog.
func (c *Catalog) Relation(ctx context.Context, schema, name string, searchPath []string) (*rewrite.Relation, error) {
	if c.closed.Load() {
		return nil, ErrClosed
	}
	k, ok := makeKey(schema, name, searchPath)
	if !ok {
		return nil, fmt.Errorf("catalog: invalid name %q: contains a NUL byte", name)
	}
	if a, ok := c.cache.Get(k); ok {
		return a.rel, a.err
	}
	return c.miss(ctx, k, schema, name, searchPath)
}

func (c *Catalog) miss(ctx context.Context, k key, schema, name string, searchPath []string) (*rewrite.Relation, error) {
	if err := validate(schema, name, searchPath); err != nil {
		return nil, err
	}
	for {
		c.fmu.Lock()
		if a, ok := c.cache.Get(k); ok {
			c.fmu.Unlock()
			return a.rel, a.err
		}
		if f, ok := c.flights[k]; ok {
			c.fmu.Unlock()
			select {
			case <-f.done:
			case <-ctx.Done():
				return nil, ctx.Err()
			}
			if f.err != nil {
				// The leader's own context may have ended its lookup;
				// ours is still good, so ask again.
				if isContextErr(f.err) && ctx.Err() == nil {
					continue
				}
				return nil, f.err
			}
			return f.ans.rel, f.ans.err
		}
		f := &flight{done: make(chan struct{})}
		c.flights[k] = f
		gen := c.gen
		c.fmu.Unlock()

		f.ans, f.err = c.lookup(ctx, schema, name, searchPath)

		c.fmu.Lock()
		if c.flights[k] == f {
			delete(c.flights, k)
		}
		if f.err == nil && gen == c.gen && !c.closed.Load() {
			c.cache.Add(k, f.ans)
		}
		c.fmu.Unlock()
		close(f.done)
		if f.err != nil {
			return nil, f.err
		}
		return f.ans.rel, f.ans.err
	}
}

// Invalidate drops every cached answer. Lookups in progress are not
// cached when they finish, and later misses do not join them.
func (c *Catalog) Invalidate() {
	c.builtinMu.Lock()
	c.builtins = nil
	c.builtinMu.Unlock()
	c.fmu.Lock()
	c.gen++
	clear(c.flights)
	c.cache.Purge()
	c.fmu.Unlock()
}

// Close closes the upstream connection; Relation then returns ErrClosed.
// It waits for a lookup in progress (bounded by its caller's context).
func (c *Catalog) Close() error {
	if c.closed.Swap(true) {
		return nil
	}
	c.Invalidate()
	c.sem <- struct{}{}
	defer func() { <-c.sem }()
	if c.conn == nil {
		return nil
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	err := c.conn.Close(ctx)
	c.conn = nil
	return err
}

func makeKey(schema, name string, searchPath []string) (key, bool) {
	k := key{schema: schema, name: name}
	if schema != "" {
		return k, true // the search path plays no part
	}
	k.n = len(searchPath)
	copy(k.p[:], searchPath)
	if len(searchPath) > len(k.p) {
		rest := searchPath[len(k.p):]
		for _, s := range rest {
			if strings.IndexByte(s, 0) >= 0 {
				return k, false
			}
		}
		k.more = strings.Join(rest, "\x00")
	}
	return k, true
}

func validate(schema, name string, searchPath []string) error {
	if strings.IndexByte(name, 0) >= 0 || strings.IndexByte(schema, 0) >= 0 {
		return fmt.Errorf("catalog: invalid name %q.%q: contains a NUL byte", schema, name)
	}
	for _, s := range searchPath {
		if strings.IndexByte(s, 0) >= 0 {
			return fmt.Errorf("catalog: invalid search path entry %q: contains a NUL byte", s)
		}
	}
	return nil
}

// searchList is the list of schemas actually searched, in order.
func searchList(schema string, searchPath []string) []string {
	if schema != "" {
		return []string{schema}
	}
	out := make([]string, 0, len(searchPath)+1)
	explicit := false
	for _, s := range searchPath {
		if s == "pg_catalog" {
			explicit = true
			break
		}
	}
	if !explicit {
		out = append(out, "pg_catalog")
	}
outer:
	for _, s := range searchPath {
		if s == "" || s == "$user" || s == "pg_temp" {
			continue
		}
		for _, o := range out {
			if o == s {
				continue outer
			}
		}
		out = append(out, s)
	}
	return out
}

const (
	oidName    = 19
	oidOID     = 26
	oidNameArr = 1003
)

const relationSQL = `SELECT c.oid, n.nspname, c.relname, c.relkind, c.relpersistence,
       CASE WHEN c.relkind IN ('v', 'm') THEN pg_catalog.pg_get_viewdef(c.oid) END
  FROM pg_catalog.pg_class c
  JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
 WHERE c.relname = $1 AND n.nspname = ANY ($2)`

const columnsSQL = `SELECT attname, attnum, atttypid
  FROM pg_catalog.pg_attribute
 WHERE attrelid = $1 AND attnum > 0 AND NOT attisdropped
 ORDER BY attnum`

// lookup asks the upstream. A non-nil error is a failure to ask; the
// answer's err is the truth about the name.
func (c *Catalog) lookup(ctx context.Context, schema, name string, searchPath []string) (answer, error) {
	if schema == "pg_temp" {
		return answer{err: fmt.Errorf("%w: %s.%s is a temporary relation", ErrUnsupported, quoteIdent(schema), quoteIdent(name))}, nil
	}
	display := quoteIdent(name)
	if schema != "" {
		display = quoteIdent(schema) + "." + display
	}
	schemas := searchList(schema, searchPath)

	select {
	case c.sem <- struct{}{}:
	case <-ctx.Done():
		return answer{}, ctx.Err()
	}
	defer func() { <-c.sem }()
	if c.closed.Load() {
		return answer{}, ErrClosed
	}
	c.queries.Add(1)

	var (
		a   answer
		err error
	)
	for attempt := 0; ; attempt++ {
		reused := c.conn != nil
		if !reused {
			if c.connect == nil {
				return answer{}, errors.New("catalog: no Connect function configured")
			}
			if c.conn, err = c.dial(ctx); err != nil {
				c.conn = nil
				return answer{}, fmt.Errorf("catalog: connect to upstream: %w", err)
			}
		}
		a, err = c.query(ctx, schemas, schema, name, display)
		if err == nil {
			return a, nil
		}
		var pgErr *pgconn.PgError
		if !errors.As(err, &pgErr) || c.conn.IsClosed() {
			// The connection is suspect: drop it so the next attempt
			// dials afresh.
			closeCtx, cancel := context.WithTimeout(context.Background(), time.Second)
			c.conn.Close(closeCtx)
			cancel()
			c.conn = nil
			// A pooled connection may have died while idle (server
			// restart, pg_terminate_backend, idle timeout); the queries
			// are read-only, so try once more on a fresh one.
			if reused && attempt == 0 && ctx.Err() == nil {
				continue
			}
		}
		return answer{}, fmt.Errorf("catalog: look up %s: %w", display, err)
	}
}

// BuiltinFunctions returns the names of functions defined only in
// pg_catalog and information_schema, the built-ins a masked session may
// call: user-defined
// functions can read tables where analysis cannot see. Read once per
// Catalog and kept until Invalidate (CREATE FUNCTION is DDL).
func (c *Catalog) BuiltinFunctions(ctx context.Context) (map[string]bool, error) {
	c.builtinMu.Lock()
	defer c.builtinMu.Unlock()
	if c.builtins != nil {
		return c.builtins, nil
	}
	select {
	case c.sem <- struct{}{}:
	case <-ctx.Done():
		return nil, ctx.Err()
	}
	defer func() { <-c.sem }()
	if c.closed.Load() {
		return nil, ErrClosed
	}
	if c.conn == nil {
		if c.connect == nil {
			return nil, errors.New("catalog: no Connect function configured")
		}
		conn, err := c.dial(ctx)
		if err != nil {
			return nil, fmt.Errorf("catalog: connect to upstream: %w", err)
		}
		c.conn = conn
	}
	// Names defined only in pg_catalog: PostgreSQL resolves overloads
	// across every schema on the search path, so a user's
	// public.lower(integer) would be called for lower(5).
	// information_schema's helpers (_pg_expandarray, which pgjdbc's
	// getPrimaryKeys calls) are PostgreSQL's own too: only superusers can
	// create functions in either schema.
	res, err := c.conn.Exec(ctx, "SELECT proname FROM pg_catalog.pg_proc GROUP BY proname HAVING pg_catalog.bool_and(pronamespace IN ('pg_catalog'::pg_catalog.regnamespace, 'information_schema'::pg_catalog.regnamespace))").ReadAll()
	if err != nil || len(res) != 1 {
		c.conn.Close(context.Background())
		c.conn = nil
		return nil, fmt.Errorf("catalog: read built-in functions: %w", err)
	}
	names := make(map[string]bool, len(res[0].Rows))
	for _, row := range res[0].Rows {
		names[string(row[0])] = true
	}
	c.builtins = names
	return names, nil
}

func (c *Catalog) dial(ctx context.Context) (*pgconn.PgConn, error) {
	conn, err := c.connect(ctx)
	if err != nil {
		return nil, err
	}
	// An empty search_path makes pg_get_viewdef schema-qualify every
	// relation a view reads, whatever the catalog role's settings, and
	// keeps objects in other schemas from shadowing the catalog's own
	// operators.
	if _, err := conn.Exec(ctx, "SELECT pg_catalog.set_config('search_path', '', false)").ReadAll(); err != nil {
		conn.Close(context.Background())
		return nil, fmt.Errorf("set search_path: %w", err)
	}
	return conn, nil
}

func (c *Catalog) query(ctx context.Context, schemas []string, schema, name, display string) (answer, error) {
	res := c.conn.ExecParams(ctx, relationSQL,
		[][]byte{[]byte(name), nameArray(schemas)},
		[]uint32{oidName, oidNameArr}, nil, nil).Read()
	if res.Err != nil {
		return answer{}, res.Err
	}
	best, bestRank := -1, len(schemas)
	for i, row := range res.Rows {
		if len(row) != 6 {
			return answer{}, fmt.Errorf("unexpected result shape (%d columns)", len(row))
		}
		for r, s := range schemas {
			if r < bestRank && s == string(row[1]) {
				best, bestRank = i, r
				break
			}
		}
	}
	if best < 0 {
		return answer{err: fmt.Errorf("%w: %s", rewrite.ErrUnknownRelation, display)}, nil
	}
	row := res.Rows[best]
	oid, err := strconv.ParseUint(string(row[0]), 10, 32)
	if err != nil || len(row[3]) != 1 || len(row[4]) != 1 {
		return answer{}, fmt.Errorf("unexpected pg_class row %q", row)
	}
	rel := &rewrite.Relation{
		OID:     uint32(oid),
		Schema:  string(row[1]),
		Name:    string(row[2]),
		Kind:    row[3][0],
		ViewDef: string(row[5]),
	}
	qualified := quoteIdent(rel.Schema) + "." + quoteIdent(rel.Name)
	switch rel.Kind {
	case 'r', 'p', 'v', 'm', 'f':
	default:
		return answer{err: fmt.Errorf("%w: %s is %s", ErrUnsupported, qualified, kindName(rel.Kind))}, nil
	}
	if row[4][0] == 't' {
		return answer{err: fmt.Errorf("%w: %s is a temporary relation", ErrUnsupported, qualified)}, nil
	}

	res = c.conn.ExecParams(ctx, columnsSQL,
		[][]byte{row[0]}, []uint32{oidOID}, nil, nil).Read()
	if res.Err != nil {
		return answer{}, res.Err
	}
	rel.Columns = make([]rewrite.Column, 0, len(res.Rows))
	for _, r := range res.Rows {
		if len(r) != 3 {
			return answer{}, fmt.Errorf("unexpected result shape (%d columns)", len(r))
		}
		num, err1 := strconv.ParseInt(string(r[1]), 10, 16)
		typ, err2 := strconv.ParseUint(string(r[2]), 10, 32)
		if err1 != nil || err2 != nil {
			return answer{}, fmt.Errorf("unexpected pg_attribute row %q", r)
		}
		rel.Columns = append(rel.Columns, rewrite.Column{Name: string(r[0]), AttNum: int16(num), TypeOID: uint32(typ)})
	}
	return answer{rel: rel}, nil
}

// nameArray encodes names as a text-format array literal: every element
// double-quoted, with backslash and double quote escaped.
func nameArray(names []string) []byte {
	b := make([]byte, 0, 16*len(names)+2)
	b = append(b, '{')
	for i, s := range names {
		if i > 0 {
			b = append(b, ',')
		}
		b = append(b, '"')
		for j := 0; j < len(s); j++ {
			if s[j] == '"' || s[j] == '\\' {
				b = append(b, '\\')
			}
			b = append(b, s[j])
		}
		b = append(b, '"')
	}
	return append(b, '}')
}

// quoteIdent quotes an identifier for messages.
func quoteIdent(s string) string {
	return `"` + strings.ReplaceAll(s, `"`, `""`) + `"`
}

func kindName(k byte) string {
	switch k {
	case 'i', 'I':
		return "an index"
	case 'S':
		return "a sequence"
	case 't':
		return "a TOAST table"
	case 'c':
		return "a composite type"
	}
	return fmt.Sprintf("of relkind %q", k)
}

func isContextErr(err error) bool {
	return errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded)
}
