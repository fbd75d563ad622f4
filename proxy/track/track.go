// Package track models the PostgreSQL query protocol of one session so that
// every message the server sends can be attributed to the request that
// produced it: the simple Query, or the prepared statement and portal of an
// extended-protocol Execute, Describe, Parse, Bind or Close.
//
// The masking engine depends on this attribution: a DataRow is only safe to
// forward to a masked client when we know which analysed statement produced
// it. Drivers pipeline many Bind/Execute pairs before one Sync, execute
// cached named statements without Describe, run portals with row limits, and
// the server skips everything up to the next Sync after an error; the
// Tracker mirrors all of this.
//
// The Tracker sees frontend messages as the proxy forwards them (decoded) and
// backend messages by type byte (plus the body for the few types whose
// content changes the model: ReadyForQuery and CommandComplete). It never
// does I/O. It is safe for use by one client-reading goroutine and one
// server-reading goroutine at once.
package track

import (
	"bytes"
	"errors"
	"fmt"
	"sync"

	"github.com/jackc/pgx/v5/pgproto3"
)

// Origin says which kind of client request a server message answers.
type Origin uint8

const (
	// OriginNone marks a message sent outside any request: an asynchronous
	// NoticeResponse, NotificationResponse, ParameterStatus or a FATAL error
	// while the session is idle.
	OriginNone Origin = iota
	OriginQuery
	OriginParse
	OriginBind
	OriginDescribeStatement
	OriginDescribePortal
	OriginExecute
	OriginClose
	OriginSync
	OriginFunctionCall
	// originCopyEnd marks where the client ended a COPY FROM STDIN (CopyDone
	// or CopyFail). It expects no response of its own: it tells the tracker
	// which Sync messages the server swallowed during copy-in mode.
	originCopyEnd
)

var originNames = [...]string{"none", "Query", "Parse", "Bind", "Describe(S)", "Describe(P)", "Execute", "Close", "Sync", "FunctionCall", "CopyEnd"}

func (o Origin) String() string {
	if int(o) < len(originNames) {
		return originNames[o]
	}
	return fmt.Sprintf("Origin(%d)", o)
}

// Statement is a prepared statement as the client declared it with Parse.
// Statements are immutable once created; the tracker replaces, never edits.
type Statement struct {
	Name      string   // "" for the unnamed statement
	SQL       string   // the query text exactly as sent
	ParamOIDs []uint32 // as declared in Parse (0 = let the server infer)
}

// Portal is a bound statement as the client created it with Bind.
type Portal struct {
	Name          string
	Statement     *Statement // nil when Bind named a statement the tracker does not know
	ResultFormats []int16    // as sent in Bind: empty = all text, one = all columns, else per column
}

// ResultFormat reports the wire format (0 text, 1 binary) of result column i.
func (p *Portal) ResultFormat(i int) int16 {
	switch len(p.ResultFormats) {
	case 0:
		return 0
	case 1:
		return p.ResultFormats[0]
	}
	if i < len(p.ResultFormats) {
		return p.ResultFormats[i]
	}
	return 0
}

// Attribution says which request a server message belongs to.
type Attribution struct {
	Origin Origin
	// Statement that produced the message: the Parse'd statement for
	// Parse/Describe(S), the portal's statement for Bind/Describe(P)/Execute.
	// For a simple Query it is a synthetic unnamed statement whose SQL is the
	// whole query string; Index tells which of its statements is answering.
	Statement *Statement
	// Portal for Bind, Describe(P) and Execute. For an Execute of a portal the
	// tracker never saw bound (a SQL-level cursor from DECLARE), Portal is nil
	// and PortalName is set.
	Portal     *Portal
	PortalName string
	// Index is the 0-based position, within a simple Query's text, of the
	// statement whose result this message is part of. Always 0 otherwise.
	Index int
}

// ErrDesync means a server message does not fit the model: the tracker can
// no longer attribute results, and the session must end (fail closed).
var ErrDesync = errors.New("protocol tracker out of sync with server")

// request is one pending client request awaiting its response. Requests
// live in a ring buffer so long pipelines cost no allocation in steady state.
type request struct {
	origin Origin
	name   string // Parse: statement; Bind/Execute/Describe(P): portal; Describe(S)/Close: object
	kind   byte   // Close: 'S' or 'P'
	index  int    // simple Query: results completed so far
	copyIn bool   // Execute/Query currently in COPY FROM STDIN mode

	// Resolved against the client's namespace when sent (and again if an
	// earlier failure changes what the name means to the server).
	stmt     *Statement
	portal   *Portal
	stmtName string // Bind: the statement it names
	formats  []int16
}

// namespace is a set of prepared statements and portals by name.
type namespace struct {
	statements map[string]*Statement
	portals    map[string]*Portal
}

func newNamespace() namespace {
	return namespace{statements: make(map[string]*Statement), portals: make(map[string]*Portal)}
}

// Tracker is the protocol model of one session. The zero value is not
// usable; call New.
type Tracker struct {
	mu sync.Mutex
	// server holds the statements and portals the server has confirmed:
	// every request it answered successfully is applied here.
	server namespace
	// client is server plus the effect of every pending request: the names
	// the client's next message is resolved against. It is rebuilt from
	// server whenever the server skips requests or ends a transaction.
	client namespace

	queue []request
	head  int
	n     int

	// skipping is set when the server reported an error in extended-query
	// mode and the client has not sent Sync since: the server discards
	// every message until then, so the tracker must too.
	skipping bool
	// swallowSync is set while the server is in COPY FROM STDIN mode and
	// the client has not yet sent CopyDone or CopyFail: PostgreSQL ignores
	// Sync and Flush in that window.
	swallowSync bool
}

// New returns an empty tracker for a session that just became ready.
func New() *Tracker {
	return &Tracker{server: newNamespace(), client: newNamespace(), queue: make([]request, 16)}
}

// Pending reports how many requests await a response (for tests and metrics).
func (t *Tracker) Pending() int {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.n
}

// Statement returns the prepared statement the client's next message would
// refer to under name, as far as the tracker knows.
func (t *Tracker) Statement(name string) *Statement {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.client.statements[name]
}

// Portal returns the portal the client's next message would refer to.
func (t *Tracker) Portal(name string) *Portal {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.client.portals[name]
}

func (t *Tracker) push(r request) {
	if t.n == len(t.queue) {
		grown := make([]request, 2*len(t.queue))
		for i := 0; i < t.n; i++ {
			grown[i] = t.queue[(t.head+i)%len(t.queue)]
		}
		t.queue, t.head = grown, 0
	}
	r2 := &t.queue[(t.head+t.n)%len(t.queue)]
	*r2 = r
	t.n++
	t.resolve(r2)
}

// at returns the i-th pending request (0 = oldest).
func (t *Tracker) at(i int) *request { return &t.queue[(t.head+i)%len(t.queue)] }

func (t *Tracker) pop() {
	*t.at(0) = request{} // drop references for the GC
	t.head = (t.head + 1) % len(t.queue)
	t.n--
}

// front returns the oldest request still expecting a response, discarding
// stale copy-end markers, or nil when nothing is pending.
func (t *Tracker) front() *request {
	for t.n > 0 {
		r := t.at(0)
		if r.origin != originCopyEnd {
			return r
		}
		t.pop()
	}
	return nil
}

// Frontend records a message the client sent, in the order it is forwarded
// upstream. Only the message types of the query protocol matter; others
// (CopyData, Flush, Terminate) may be passed and are ignored.
func (t *Tracker) Frontend(msg pgproto3.FrontendMessage) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.swallowSync {
		// The server is reading COPY data: Sync and Flush are ignored, and
		// any other message is consumed by the COPY, which fails with an
		// error attributed to the COPY's own request.
		switch msg.(type) {
		case *pgproto3.Sync, *pgproto3.Flush, *pgproto3.CopyData:
			return
		case *pgproto3.CopyDone, *pgproto3.CopyFail:
			t.swallowSync = false
			return
		default:
			t.swallowSync = false
			return
		}
	}
	if t.skipping {
		if _, ok := msg.(*pgproto3.Sync); !ok {
			return // the server discards everything until Sync
		}
		t.skipping = false
	}
	switch m := msg.(type) {
	case *pgproto3.Query:
		t.push(request{origin: OriginQuery, stmt: &Statement{SQL: m.String}})
	case *pgproto3.Parse:
		s := &Statement{Name: m.Name, SQL: m.Query}
		if len(m.ParameterOIDs) > 0 {
			s.ParamOIDs = append([]uint32(nil), m.ParameterOIDs...)
		}
		t.push(request{origin: OriginParse, name: m.Name, stmt: s})
	case *pgproto3.Bind:
		r := request{origin: OriginBind, name: m.DestinationPortal, stmtName: m.PreparedStatement}
		if len(m.ResultFormatCodes) > 0 {
			r.formats = append([]int16(nil), m.ResultFormatCodes...)
		}
		t.push(r)
	case *pgproto3.Describe:
		if m.ObjectType == 'S' {
			t.push(request{origin: OriginDescribeStatement, name: m.Name, kind: 'S'})
		} else {
			t.push(request{origin: OriginDescribePortal, name: m.Name, kind: 'P'})
		}
	case *pgproto3.Execute:
		t.push(request{origin: OriginExecute, name: m.Portal})
	case *pgproto3.Close:
		t.push(request{origin: OriginClose, name: m.Name, kind: m.ObjectType})
	case *pgproto3.Sync:
		t.push(request{origin: OriginSync})
	case *pgproto3.FunctionCall:
		t.push(request{origin: OriginFunctionCall})
	case *pgproto3.CopyDone, *pgproto3.CopyFail:
		t.push(request{origin: originCopyEnd})
	}
	// Anything else expects no response of its own; the server rejects
	// unknown types with an error, which is handled when it arrives.
}

// resolve binds r's names against the client namespace and applies r's
// effect to it, as the server will when it gets there.
func (t *Tracker) resolve(r *request) {
	ns := &t.client
	switch r.origin {
	case OriginQuery:
		delete(ns.statements, "") // a simple Query destroys the unnamed statement
	case OriginParse:
		ns.statements[r.name] = r.stmt
	case OriginBind:
		stmt := ns.statements[r.stmtName]
		if r.portal == nil || r.portal.Statement != stmt {
			r.portal = &Portal{Name: r.name, Statement: stmt, ResultFormats: r.formats}
		}
		r.stmt = stmt
		ns.portals[r.name] = r.portal
	case OriginDescribeStatement:
		r.stmt = ns.statements[r.name]
	case OriginDescribePortal, OriginExecute:
		r.portal = ns.portals[r.name]
		r.stmt = nil
		if r.portal != nil {
			r.stmt = r.portal.Statement
		}
	case OriginClose:
		if r.kind == 'S' {
			delete(ns.statements, r.name)
		} else {
			delete(ns.portals, r.name)
		}
	}
}

// confirm applies a request the server completed to the server namespace.
func (t *Tracker) confirm(r *request) {
	ns := &t.server
	switch r.origin {
	case OriginQuery:
		delete(ns.statements, "")
	case OriginParse:
		ns.statements[r.name] = r.stmt
	case OriginBind:
		ns.portals[r.name] = r.portal
	case OriginClose:
		if r.kind == 'S' {
			delete(ns.statements, r.name)
		} else {
			delete(ns.portals, r.name)
		}
	}
}

// rebuild recomputes the client namespace from the server's and the
// requests still pending, after the server did something the optimistic
// view did not predict. Pending requests are replayed against both
// namespaces from scratch, since each resolves names in the state left by
// the ones before it. With nothing pending, only what changed is copied
// (statementsChanged says whether statements did; portals always are).
func (t *Tracker) rebuild(statementsChanged bool) {
	if statementsChanged || t.n > 0 {
		clear(t.client.statements)
		for k, v := range t.server.statements {
			t.client.statements[k] = v
		}
	}
	clear(t.client.portals)
	for k, v := range t.server.portals {
		t.client.portals[k] = v
	}
	for i := 0; i < t.n; i++ {
		t.resolve(t.at(i))
	}
}

func (r *request) attribution() Attribution {
	a := Attribution{Origin: r.origin, Statement: r.stmt, Portal: r.portal, Index: r.index}
	if r.origin == OriginExecute || r.origin == OriginDescribePortal || r.origin == OriginBind {
		a.PortalName = r.name
	}
	return a
}

// Backend consumes one server message and returns its attribution. body is
// the message body without the 5-byte header; it is required for
// ReadyForQuery ('Z') and CommandComplete ('C') and ignored for the rest,
// so callers may pass nil for messages they forward without reading.
// A non-nil error wraps ErrDesync.
func (t *Tracker) Backend(typ byte, body []byte) (Attribution, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	r := t.front()

	switch typ {
	case 'S', 'N', 'A': // ParameterStatus, NoticeResponse, NotificationResponse
		if r == nil {
			return Attribution{}, nil
		}
		return r.attribution(), nil
	case 'E':
		return t.errorResponse(r)
	}
	if r == nil {
		return Attribution{}, desync(typ, nil)
	}
	a := r.attribution()

	switch typ {
	case '1', '2', '3': // ParseComplete, BindComplete, CloseComplete
		if r.origin != [...]Origin{OriginParse, OriginBind, OriginClose}[typ-'1'] {
			return a, desync(typ, r)
		}
		t.confirm(r)
		t.pop()
	case 't': // ParameterDescription: RowDescription or NoData follows
		if r.origin != OriginDescribeStatement {
			return a, desync(typ, r)
		}
	case 'T': // RowDescription
		switch r.origin {
		case OriginDescribeStatement, OriginDescribePortal:
			t.pop()
		case OriginQuery:
		default:
			return a, desync(typ, r)
		}
	case 'n': // NoData
		if r.origin != OriginDescribeStatement && r.origin != OriginDescribePortal {
			return a, desync(typ, r)
		}
		t.pop()
	case 'D', 'd', 'c': // DataRow, CopyData, CopyDone
		if r.origin != OriginExecute && r.origin != OriginQuery {
			return a, desync(typ, r)
		}
	case 'G', 'H', 'W': // CopyInResponse, CopyOutResponse, CopyBothResponse
		if r.origin != OriginExecute && r.origin != OriginQuery {
			return a, desync(typ, r)
		}
		if typ == 'G' {
			t.startCopyIn(r)
		}
	case 'C', 'I': // CommandComplete, EmptyQueryResponse
		switch r.origin {
		case OriginExecute:
			t.endCopyIn(r)
			t.pop()
		case OriginQuery:
			t.endCopyIn(r)
			r.index++
		default:
			return a, desync(typ, r)
		}
		if typ == 'C' {
			t.commandComplete(body)
		}
	case 's': // PortalSuspended
		if r.origin != OriginExecute {
			return a, desync(typ, r)
		}
		t.pop()
	case 'V': // FunctionCallResponse
		if r.origin != OriginFunctionCall {
			return a, desync(typ, r)
		}
	case 'Z': // ReadyForQuery
		switch r.origin {
		case OriginSync, OriginQuery, OriginFunctionCall:
		default:
			return a, desync(typ, r)
		}
		t.confirm(r)
		t.pop()
		// When the transaction ended, every portal is gone.
		if len(body) > 0 && body[0] == 'I' && len(t.server.portals) > 0 {
			clear(t.server.portals)
			t.rebuild(false)
		}
	default:
		return a, desync(typ, r)
	}
	return a, nil
}

// errorResponse handles an ErrorResponse: in extended-query mode the failed
// request and everything the client sent after it up to the next Sync are
// discarded by the server, so the tracker discards them too.
func (t *Tracker) errorResponse(r *request) (Attribution, error) {
	if r == nil {
		return Attribution{}, nil // e.g. FATAL on an idle session
	}
	a := r.attribution()
	t.endCopyIn(r)
	switch r.origin {
	case OriginQuery, OriginSync, OriginFunctionCall:
		// ReadyForQuery follows and ends the request; a Query's remaining
		// statements are skipped by the server.
		return a, nil
	}
	for t.n > 0 && t.at(0).origin != OriginSync {
		t.pop()
	}
	t.skipping = t.n == 0
	t.rebuild(true)
	return a, nil
}

// startCopyIn notes that the server entered COPY FROM STDIN mode for r.
// Until the client ends the copy, PostgreSQL ignores Sync and Flush, and
// consumes any other message as a protocol error that fails the COPY. So
// requests the client pipelined in that window get no response of their
// own: they leave the queue, and later ones are swallowed as they come.
func (t *Tracker) startCopyIn(r *request) {
	r.copyIn = true
	var rest []request // rare path: COPY only
	ended := false
	for j := 1; j < t.n; j++ {
		q := *t.at(j)
		if !ended {
			// A copy-end marker ends the window; any other request ends
			// it too, consumed by the COPY as an error.
			ended = q.origin != OriginSync
			continue
		}
		rest = append(rest, q)
	}
	t.swallowSync = !ended
	for j := range rest {
		*t.at(1 + j) = rest[j]
	}
	for j := 1 + len(rest); j < t.n; j++ {
		*t.at(j) = request{}
	}
	t.n = 1 + len(rest)
	t.rebuild(true)
}

func (t *Tracker) endCopyIn(r *request) {
	if r.copyIn {
		r.copyIn = false
		t.swallowSync = false
	}
}

// commandComplete applies SQL commands whose effect on the protocol-level
// namespace is only visible in their command tag. SQL-level PREPARE and
// DEALLOCATE of one name share the namespace with protocol statements but
// do not name it in their tag: a masked session must refuse them or track
// them by parsing the SQL (the masking engine's job), or the tracker may hold
// a stale definition.
func (t *Tracker) commandComplete(body []byte) {
	tag := bytes.TrimRight(body, "\x00")
	switch {
	case bytes.Equal(tag, []byte("DEALLOCATE ALL")):
		clear(t.server.statements)
		t.rebuild(true)
	case bytes.Equal(tag, []byte("DISCARD ALL")):
		clear(t.server.statements)
		clear(t.server.portals)
		t.rebuild(true)
	}
}

func desync(typ byte, r *request) error {
	if r == nil {
		return fmt.Errorf("%w: message %q with no request pending", ErrDesync, typ)
	}
	return fmt.Errorf("%w: message %q while awaiting response to %s", ErrDesync, typ, r.origin)
}
