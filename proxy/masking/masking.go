// Package masking is the masking engine's session side: for each session
// whose policy masks anything, it analyses every statement before it goes
// upstream, refuses what it cannot prove safe, and rewrites the results on
// their way back, attributed by the protocol tracker to the statement that
// produced them.
//
// Fail closed throughout: a statement that cannot be analysed is refused; a
// row that cannot be attributed to an analysed statement is sent with every
// column NULL; error and notice texts that may quote data are withheld;
// notifications are dropped.
package masking

import (
	"context"
	"fmt"
	"log/slog"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"

	lru "github.com/hashicorp/golang-lru/v2"
	"github.com/jackc/pgx/v5/pgproto3"

	"github.com/pgveil/pgveil/proxy"
	"github.com/pgveil/pgveil/proxy/track"
	"github.com/pgveil/pgveil/rewrite"
	"github.com/pgveil/pgveil/rewrite/transform"
	"github.com/pgveil/pgveil/rules"
)

// SQLSTATE of a refusal: insufficient_privilege.
const codeRefused = "42501"

// Engine holds what all masked sessions share: rules, catalog, keys and the
// analysis cache.
type Engine struct {
	cfg        *rules.Config
	catalogFor func(database string) rewrite.Catalog
	keys       *transform.Keys
	log        *slog.Logger
	plans      *lru.Cache[planKey, *queryPlan]
	// issued holds the statement texts pgveil itself produced by rewriting
	// (row filters, tokens). They survive Invalidate: re-planning one
	// after DDL would wrap its filters again, which must not be mistaken
	// for a text that still lacks them.
	issued *lru.Cache[string, struct{}]
	funcs  sync.Map // transform spec + kind -> transform.Func

	refusalSeq atomic.Uint64

	invalidateCatalog func(database string) // set by Setup
}

type planKey struct {
	policy, database, searchPath, sql string
}

// NewEngine returns an engine for cfg. catalogFor gives the catalog of an
// upstream database. keys may be nil when no policy uses a keyed
// transform.
func NewEngine(cfg *rules.Config, catalogFor func(database string) rewrite.Catalog, keys *transform.Keys, log *slog.Logger) *Engine {
	plans, _ := lru.New[planKey, *queryPlan](8192)
	issued, _ := lru.New[string, struct{}](8192)
	if log == nil {
		log = slog.Default()
	}
	return &Engine{cfg: cfg, catalogFor: catalogFor, keys: keys, log: log, plans: plans, issued: issued}
}

// Filter returns the Filter for a session, or nil when its policy shows
// everything in clear (the transparent fast path).
func (e *Engine) Filter(info proxy.SessionInfo) proxy.Filter {
	pol := e.cfg.Session(ruleIdentity(info))
	if pol.AllClear {
		return nil
	}
	s := &session{
		e:          e,
		info:       info,
		cat:        e.catalogFor(info.Database),
		policy:     pol,
		searchPath: strings.Join(info.SearchPath, ","),
		refusals:   make(map[string]*proxy.Error),
		cursors:    make(map[string]*stmtPlan),
		prepared:   make(map[string]*stmtPlan),
		loginPath:  info.SearchPath,
		named:      make(map[string]bool),
	}
	s.idle.Store(true)
	// pgveil parses SQL as PostgreSQL does with standard_conforming_strings
	// on, in UTF-8. A session that started otherwise (startup options, a
	// role or database default) could make the server read a statement
	// differently from the analysis: refuse everything it sends.
	if p := info.ServerParams; p != nil && (p["standard_conforming_strings"] != "on" || p["client_encoding"] != "UTF8") {
		s.unsafe = s.refusal("masked sessions require standard_conforming_strings=on and client_encoding UTF8 " +
			"(set at connection start or by the role): reconnect without changing them")
	}
	return s
}

func ruleIdentity(info proxy.SessionInfo) rules.Identity {
	return rules.Identity{User: info.User, Roles: info.Roles, Region: info.Region}
}

// queryPlan is what pgveil decided for one SQL text: per statement, either
// a refusal or a mask for its result columns.
type queryPlan struct {
	refusal    *proxy.Error // the whole text is refused
	rewritten  string       // the text to send instead (row filters), or ""
	statements []stmtPlan
}

type stmtPlan struct {
	mask    rewrite.ResultMask // nil: no result columns known (utility)
	hasRows bool               // a SELECT: its rows are masked by mask
	// relations the statement reads, by OID: RowDescription names the
	// table and attnum of plain column references, which is checked
	// against the analysis (crossCheck).
	relations map[uint32]*rewrite.Relation

	// SQL-level cursors and prepared statements: their rows arrive later,
	// attributed to FETCH or EXECUTE (or a protocol Execute of the cursor's
	// portal), and are masked with the plan registered here.
	declares, prepares string // DECLARE name / PREPARE name: mask is the query's
	holdable           bool   // DECLARE ... WITH HOLD survives the transaction
	fetchFrom          string // FETCH/MOVE ... FROM name
	executes           string // EXECUTE name
	closes, deallocs   string // CLOSE name / DEALLOCATE name ("*" = ALL)
	discardAll         bool
	setPath            string // SET search_path: the schemas, comma-joined
	pathReset          bool   // RESET search_path, RESET ALL, DISCARD ALL

	copy *copyFormat // COPY ... TO STDOUT: its rows come as CopyData, masked with mask
}

// session is one masked session's Filter.
type session struct {
	e          *Engine
	info       proxy.SessionInfo
	cat        rewrite.Catalog // of the session's database
	policy     *rules.SessionPolicy
	searchPath string

	// refusals maps the SQL pgveil sent in place of a refused statement to
	// the error the client gets for it.
	mu       sync.Mutex
	refusals map[string]*proxy.Error
	cursors  map[string]*stmtPlan // SQL cursors declared in this session
	prepared map[string]*stmtPlan // SQL PREPAREd statements

	copy copyOut // the COPY TO in progress (server goroutine only)
	// unsafe, when set, refuses every statement of the session.
	unsafe *proxy.Error

	// search_path tracking. A change is allowed only as the only statement
	// of a simple Query sent while nothing else is in flight outside a
	// transaction, so it cannot be rolled back; it takes effect when the
	// server completes it, and no statement is planned meanwhile.
	loginPath    []string
	named        map[string]bool          // protocol statements the client named (client goroutine only)
	pathChanging atomic.Pointer[[]string] // forwarded, not yet completed
	pending      atomic.Int64             // requests awaiting ReadyForQuery
	idle         atomic.Bool              // the last ReadyForQuery said 'I'

	memo rowMemo // the result being streamed (server goroutine only)
	// overrides holds masks corrected by the RowDescription cross-check,
	// per statement and result index (server goroutine only).
	overrides map[overrideKey]rewrite.ResultMask
}

type overrideKey struct {
	stmt  *track.Statement
	index int
}

// Client analyses statements before they go upstream and substitutes a
// failing statement for any it refuses.
func (s *session) Client(msg pgproto3.FrontendMessage) (pgproto3.FrontendMessage, error) {
	if s.unsafe != nil {
		switch m := msg.(type) {
		case *pgproto3.Query:
			return &pgproto3.Query{String: s.refuse(s.unsafe)}, nil
		case *pgproto3.Parse:
			return &pgproto3.Parse{Name: m.Name, Query: s.refuse(s.unsafe)}, nil
		case *pgproto3.FunctionCall:
			return &pgproto3.Query{String: s.refuse(s.unsafe)}, nil
		}
		return nil, nil
	}
	switch msg.(type) {
	case *pgproto3.Query, *pgproto3.Sync, *pgproto3.FunctionCall:
		s.pending.Add(1) // each is answered by one ReadyForQuery
	}
	switch m := msg.(type) {
	case *pgproto3.Query, *pgproto3.Parse, *pgproto3.FunctionCall:
		if s.pathChanging.Load() != nil {
			e := s.refusal("SET search_path is still in progress: send the next statement after its result")
			if p, ok := m.(*pgproto3.Parse); ok {
				return &pgproto3.Parse{Name: p.Name, Query: s.refuse(e)}, nil
			}
			return &pgproto3.Query{String: s.refuse(e)}, nil
		}
	}
	switch m := msg.(type) {
	case *pgproto3.Query:
		p := s.plan(m.String)
		if p.refusal != nil {
			return &pgproto3.Query{String: s.refuse(p.refusal)}, nil
		}
		if e := s.pathChange(p, false); e != nil {
			return &pgproto3.Query{String: s.refuse(e)}, nil
		}
		for _, sp := range p.statements {
			if sp.discardAll || sp.deallocs == "*" {
				clear(s.named) // DISCARD ALL and DEALLOCATE ALL drop protocol statements too
			}
		}
		if p.rewritten != "" {
			return &pgproto3.Query{String: p.rewritten}, nil
		}
	case *pgproto3.Parse:
		p := s.plan(m.Query)
		if p.refusal != nil {
			return &pgproto3.Parse{Name: m.Name, Query: s.refuse(p.refusal)}, nil
		}
		if e := s.pathChange(p, true); e != nil {
			return &pgproto3.Parse{Name: m.Name, Query: s.refuse(e)}, nil
		}
		if m.Name != "" {
			s.named[m.Name] = true
		}
		if p.rewritten != "" {
			return &pgproto3.Parse{Name: m.Name, Query: p.rewritten, ParameterOIDs: m.ParameterOIDs}, nil
		}
	case *pgproto3.FunctionCall:
		return &pgproto3.Query{String: s.refuse(s.refusal("the fast-path function call interface is not allowed"))}, nil
	case *pgproto3.Close:
		if m.ObjectType == 'S' {
			delete(s.named, m.Name)
		}
	}
	return nil, nil
}

// pathChange checks a query that would change the session's search_path
// and, if it may, records the change as in flight. It returns a refusal
// when the change could leave pgveil resolving names differently from
// the server.
func (s *session) pathChange(p *queryPlan, extended bool) *proxy.Error {
	for _, sp := range p.statements {
		if sp.setPath == "" && !sp.pathReset {
			continue
		}
		next := s.loginPath
		if sp.setPath != "" {
			next = nil
			for _, name := range strings.Split(sp.setPath, ",") {
				if name == "$user" {
					name = s.info.UpstreamUser
				}
				next = append(next, name)
			}
		}
		if slices.Equal(next, s.info.SearchPath) {
			continue // no change: nothing to track
		}
		if extended {
			return s.refusal("a search_path change must be sent as a simple query")
		}
		if len(p.statements) != 1 || s.pending.Load() != 1 || !s.idle.Load() {
			return s.refusal("a search_path change must be a statement of its own, sent outside a transaction while nothing else is running")
		}
		// PostgreSQL re-parses prepared statements with the new path when
		// they next run: they would read tables they were not checked for.
		s.mu.Lock()
		prepared := len(s.prepared)
		s.mu.Unlock()
		if len(s.named) > 0 || prepared > 0 {
			return s.refusal("a search_path change is not allowed while the session has prepared statements: close them first (DEALLOCATE ALL)")
		}
		s.pathChanging.Store(&next)
	}
	return nil
}

// complete applies the cursor and prepared-statement effects of a
// statement the server has just completed, in the order it ran them.
func (s *session) complete(sp *stmtPlan) {
	if sp.setPath != "" || sp.pathReset {
		if next := s.pathChanging.Load(); next != nil {
			s.info.SearchPath = *next
			s.searchPath = strings.Join(*next, ",")
			s.pathChanging.Store(nil)
		}
	}
	if sp.declares == "" && sp.prepares == "" && sp.closes == "" && sp.deallocs == "" && !sp.discardAll {
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	rows := *sp
	rows.hasRows = true // what FETCH/EXECUTE later return
	switch {
	case sp.declares != "":
		s.cursors[sp.declares] = &rows
	case sp.prepares != "":
		s.prepared[sp.prepares] = &rows
	case sp.closes == "*":
		clear(s.cursors)
	case sp.closes != "":
		delete(s.cursors, sp.closes)
	case sp.deallocs == "*":
		clear(s.prepared)
	case sp.deallocs != "":
		delete(s.prepared, sp.deallocs)
	case sp.discardAll:
		clear(s.cursors)
		clear(s.prepared)
	}
}

// refuse records the refusal and returns the SQL to send in its place: a
// syntax error the server reports at once (so an extended-protocol Parse
// fails and the server skips to Sync, exactly as for a real error).
func (s *session) refuse(e *proxy.Error) string {
	sql := "pgveil_refused_" + strconv.FormatUint(s.e.refusalSeq.Add(1), 10)
	s.mu.Lock()
	s.refusals[sql] = e
	s.mu.Unlock()
	return sql
}

func (s *session) refusal(reason string) *proxy.Error {
	return &proxy.Error{
		Severity: "ERROR",
		Code:     codeRefused,
		Message:  fmt.Sprintf("pgveil: refused by policy %q: %s", s.policyName(), reason),
		Side:     proxy.SideClient,
	}
}

func (s *session) policyName() string {
	if s.policy.Name == "" {
		return "(no policy matches; everything classified is redacted)"
	}
	return s.policy.Name
}

// plan returns the decisions for sql, from cache or by analysis.
func (s *session) plan(sql string) *queryPlan {
	key := planKey{policy: s.policy.Name, database: s.info.Database, searchPath: s.searchPath, sql: sql}
	if p, ok := s.e.plans.Get(key); ok {
		return p
	}
	p := s.e.planQuery(context.Background(), s, sql)
	s.e.plans.Add(key, p)
	if p.rewritten != "" {
		s.e.issued.Add(p.rewritten, struct{}{})
		// Results come back attributed to the text actually sent.
		key.sql = p.rewritten
		s.e.plans.Add(key, &queryPlan{statements: p.statements})
	}
	return p
}

// WantsServer: every message type that can carry data, plus RowDescription
// whose types masking may change.
func (s *session) WantsServer(typ byte) bool {
	switch typ {
	case 'T', 'D', 'd', 'H', 'E', 'N', 'A', 'V', 'Z', 'C':
		return true
	}
	return false
}

// Server rewrites one server message for the masked client.
func (s *session) Server(dst, msg []byte, a track.Attribution) ([]byte, error) {
	if msg[0] != 'D' {
		// Anything but a row may end or change a result: the next row
		// looks its plan up afresh.
		s.memo = rowMemo{}
	}
	switch msg[0] {
	case 'T':
		sp := s.stmtPlan(a)
		if sp == nil || !sp.hasRows {
			// Unknown origin: the rows will be all NULL; the description
			// may stay as it is.
			return msg, nil
		}
		mask := sp.mask
		if fixed := s.crossCheck(msg, sp); fixed != nil {
			if s.overrides == nil {
				s.overrides = make(map[overrideKey]rewrite.ResultMask)
			}
			s.overrides[overrideKey{a.Statement, a.Index}] = fixed
			mask = fixed
		}
		out, err := rewrite.MaskRowDescription(dst, msg, mask)
		if err != nil {
			return msg, nil // the rows will not match either: all NULL
		}
		return out, nil
	case 'D':
		mask, ok := s.rowMask(a)
		if !ok {
			return nullRow(dst, msg), nil
		}
		format := func(int) int16 { return 0 }
		if a.Portal != nil {
			format = a.Portal.ResultFormat
		}
		out, err := rewrite.MaskDataRow(dst, msg, mask, format)
		if err != nil {
			s.e.log.Debug("row does not match its analysed statement: sent as NULLs", "session", s.info.ID, "err", err)
			return nullRow(dst, msg), nil
		}
		return out, nil
	case 'E', 'N':
		if msg[0] == 'E' {
			s.pathChanging.Store(nil) // a failed SET search_path changes nothing
		}
		return s.scrubError(dst, msg, a)
	case 'H':
		s.copyResponse(msg, a)
	case 'd':
		// COPY TO rows of an analysed COPY are masked; any other COPY
		// data is dropped.
		return s.copyData(dst, msg, a), nil
	case 'A', 'V':
		// Notifications and function results are never analysed: drop
		// them.
		return dst, nil
	case 'C':
		if a.Statement != nil {
			if p := s.plan(a.Statement.SQL); p.refusal == nil && a.Index < len(p.statements) {
				s.complete(&p.statements[a.Index])
			}
		}
	case 'Z':
		s.pending.Add(-1)
		s.idle.Store(len(msg) == 6 && msg[5] == 'I')
		s.pathChanging.Store(nil)
		if len(msg) == 6 && msg[5] == 'I' {
			// The transaction ended: cursors without HOLD are gone.
			s.mu.Lock()
			for name, sp := range s.cursors {
				if !sp.holdable {
					delete(s.cursors, name)
				}
			}
			s.mu.Unlock()
		}
	}
	return msg, nil
}

// rowMemo remembers the mask of the result being streamed: all its rows
// share it, so the per-row path neither hashes the statement text into
// the shared plan cache nor takes that cache's lock.
type rowMemo struct {
	stmt   *track.Statement
	portal *track.Portal
	name   string
	index  int
	mask   rewrite.ResultMask
	ok     bool // a plan with rows was found
	set    bool
}

// rowMask returns the mask for a DataRow, and false when the row cannot
// be attributed to an analysed statement (it is then sent all NULL).
func (s *session) rowMask(a track.Attribution) (rewrite.ResultMask, bool) {
	m := &s.memo
	if m.set && m.stmt == a.Statement && m.portal == a.Portal && m.name == a.PortalName && m.index == a.Index {
		return m.mask, m.ok
	}
	*m = rowMemo{stmt: a.Statement, portal: a.Portal, name: a.PortalName, index: a.Index, set: true}
	sp := s.stmtPlan(a)
	if sp == nil || !sp.hasRows {
		s.e.log.Debug("row without an analysed statement: sent as NULLs", "session", s.info.ID,
			"origin", a.Origin.String(), "statement_known", a.Statement != nil, "plan_known", sp != nil)
		return nil, false
	}
	m.mask, m.ok = sp.mask, true
	if o, found := s.overrides[overrideKey{a.Statement, a.Index}]; found {
		m.mask = o
	}
	return m.mask, true
}

// stmtPlan finds the plan of the statement a message is attributed to:
// the statement itself, or for FETCH, EXECUTE and protocol Executes of a
// SQL cursor's portal, the query registered under that name.
func (s *session) stmtPlan(a track.Attribution) *stmtPlan {
	if a.Statement == nil {
		if a.Origin == track.OriginExecute && a.Portal == nil && a.PortalName != "" {
			return s.lookup(s.cursors, a.PortalName)
		}
		return nil
	}
	p := s.plan(a.Statement.SQL)
	if p.refusal != nil || a.Index >= len(p.statements) {
		return nil
	}
	if p.rewritten != "" && !s.e.issued.Contains(a.Statement.SQL) {
		// The server ran a text that, as the catalog stands now, needs a
		// row filter pgveil did not add (a prepared statement re-parsed
		// after DDL): its rows are not proven safe.
		return nil
	}
	sp := &p.statements[a.Index]
	switch {
	case sp.fetchFrom != "":
		return s.lookup(s.cursors, sp.fetchFrom)
	case sp.executes != "":
		return s.lookup(s.prepared, sp.executes)
	}
	return sp
}

func (s *session) lookup(m map[string]*stmtPlan, name string) *stmtPlan {
	s.mu.Lock()
	defer s.mu.Unlock()
	if m[name] == nil {
		s.e.log.Debug("rows from an unknown cursor or prepared statement", "session", s.info.ID, "name", name, "known", len(m))
	}
	return m[name]
}
