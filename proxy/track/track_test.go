package track

import (
	"errors"
	"testing"

	"github.com/jackc/pgx/v5/pgproto3"
)

// harness feeds the same client messages to a Tracker and to the simulated
// server, delivers the server's answers to the Tracker in an order chosen by
// the test (client messages may run arbitrarily far ahead, as in a
// pipeline), and checks every attribution against the simulator's truth.
type harness struct {
	t   testing.TB
	tr  *Tracker
	sim *simServer
	got int // server messages delivered so far
}

func newHarness(t testing.TB) *harness {
	return &harness{t: t, tr: New(), sim: newSim()}
}

func (h *harness) send(msg pgproto3.FrontendMessage) {
	if testing.Verbose() {
		h.t.Logf("client: %T %+v", msg, msg)
	}
	h.tr.Frontend(msg)
	h.sim.receive(msg)
}

// deliver passes up to n pending server messages to the Tracker.
func (h *harness) deliver(n int) {
	for ; n > 0 && h.got < len(h.sim.out); n-- {
		m := h.sim.out[h.got]
		h.got++
		if testing.Verbose() {
			h.t.Logf("server: %q %q (%s #%d)", m.typ, m.body, m.sql, m.index)
		}
		a, err := h.tr.Backend(m.typ, m.body)
		if err != nil {
			h.t.Fatalf("message %d %q: %v", h.got, m.typ, err)
		}
		switch m.typ {
		case 'D', 'T', 't', 'n', 'G', 's':
			if a.Statement == nil {
				h.t.Fatalf("message %d %q: no statement attributed, want %q", h.got, m.typ, m.sql)
			}
			if a.Statement.SQL != m.sql || a.Index != m.index {
				h.t.Fatalf("message %d %q: attributed to %q #%d, want %q #%d", h.got, m.typ, a.Statement.SQL, a.Index, m.sql, m.index)
			}
		}
	}
}

func (h *harness) drain() { h.deliver(len(h.sim.out)) }

func parse(name, sql string) *pgproto3.Parse { return &pgproto3.Parse{Name: name, Query: sql} }
func bind(portal, stmt string) *pgproto3.Bind {
	return &pgproto3.Bind{DestinationPortal: portal, PreparedStatement: stmt}
}
func execute(portal string, max uint32) *pgproto3.Execute {
	return &pgproto3.Execute{Portal: portal, MaxRows: max}
}
func describe(kind byte, name string) *pgproto3.Describe {
	return &pgproto3.Describe{ObjectType: kind, Name: name}
}
func query(sql string) *pgproto3.Query { return &pgproto3.Query{String: sql} }

var syncMsg = &pgproto3.Sync{}

func TestScripted(t *testing.T) {
	cases := []struct {
		desc string
		msgs []pgproto3.FrontendMessage
	}{
		{"simple query with several statements", []pgproto3.FrontendMessage{query("SELECT 2; SELECT 3;;SELECT 1")}},
		{"error in the middle of a simple query skips the rest", []pgproto3.FrontendMessage{query("SELECT 1;ERR;SELECT 5"), query("SELECT 2")}},
		{"unnamed statement, describe portal, execute", []pgproto3.FrontendMessage{parse("", "SELECT 3"), bind("", ""), describe('P', ""), execute("", 0), syncMsg}},
		{"named statement executed later without Describe", []pgproto3.FrontendMessage{
			parse("s1", "SELECT 2"), describe('S', "s1"), syncMsg,
			parse("s2", "SELECT 4"), syncMsg,
			bind("", "s1"), execute("", 0), bind("", "s2"), execute("", 0), syncMsg}},
		{"pipeline of binds before one sync", []pgproto3.FrontendMessage{
			parse("a", "SELECT 1"), parse("b", "SELECT 2"),
			bind("", "a"), execute("", 0), bind("", "b"), execute("", 0), bind("", "a"), execute("", 0), syncMsg}},
		{"row limits and PortalSuspended in a transaction", []pgproto3.FrontendMessage{
			query("BEGIN"), parse("", "SELECT 5"), bind("p", ""), execute("p", 2), syncMsg,
			execute("p", 2), syncMsg, execute("p", 2), syncMsg, query("COMMIT")}},
		{"error mid-pipeline skips to Sync and undoes later Parses", []pgproto3.FrontendMessage{
			parse("x", "SELECT 1"), bind("", "x"), execute("", 0),
			parse("y", "ERR"), bind("", "y"), execute("", 0),
			parse("z", "SELECT 3"), bind("", "z"), execute("", 0), syncMsg,
			parse("z", "SELECT 2"), bind("", "z"), execute("", 0), syncMsg}},
		{"failed Parse does not replace a statement of the same name", []pgproto3.FrontendMessage{
			parse("s", "SELECT 1"), syncMsg, parse("s", "SELECT 9"), syncMsg,
			bind("", "s"), execute("", 0), syncMsg}},
		{"close then reuse of a statement name", []pgproto3.FrontendMessage{
			parse("s", "SELECT 1"), syncMsg, &pgproto3.Close{ObjectType: 'S', Name: "s"},
			parse("s", "SELECT 3"), bind("", "s"), execute("", 0), syncMsg}},
		{"bind to a statement other than the last parsed", []pgproto3.FrontendMessage{
			parse("a", "SELECT 2"), parse("b", "SELECT 1"), bind("", "a"), describe('P', ""), execute("", 0), syncMsg}},
		{"copy from stdin via execute swallows the pipelined Sync", []pgproto3.FrontendMessage{
			parse("", "COPYIN"), bind("", ""), execute("", 0), syncMsg,
			&pgproto3.CopyData{Data: []byte("1\n")}, &pgproto3.CopyDone{}, syncMsg,
			query("SELECT 1")}},
		{"copy from stdin in a simple query", []pgproto3.FrontendMessage{
			query("SELECT 1;COPYIN;SELECT 2"), &pgproto3.CopyData{Data: []byte("x")}, &pgproto3.CopyDone{}, query("SELECT 1")}},
		{"copy fail in a simple query", []pgproto3.FrontendMessage{
			query("COPYIN;SELECT 2"), &pgproto3.CopyFail{Message: "no"}, query("SELECT 1")}},
		{"DEALLOCATE ALL forgets protocol statements", []pgproto3.FrontendMessage{
			parse("s", "SELECT 1"), syncMsg, query("DEALLOCATE ALL"), parse("s", "SELECT 2"), bind("", "s"), execute("", 0), syncMsg}},
		{"notice during execute", []pgproto3.FrontendMessage{parse("", "NOTICE"), bind("", ""), execute("", 0), syncMsg}},
		{"portals end with the transaction", []pgproto3.FrontendMessage{
			parse("", "SELECT 3"), bind("p", ""), syncMsg, execute("p", 0), syncMsg}},
	}
	for _, tc := range cases {
		t.Run(tc.desc, func(t *testing.T) {
			// Deliver responses at every possible lag behind the client.
			for lag := 0; lag <= len(tc.msgs); lag++ {
				h := newHarness(t)
				for i, m := range tc.msgs {
					h.send(m)
					if i >= lag {
						h.deliver(len(h.sim.out))
					}
				}
				h.drain()
				if p := h.tr.Pending(); p != 0 {
					t.Fatalf("lag %d: %d requests still pending after all responses", lag, p)
				}
			}
		})
	}
}

func TestDesyncIsReported(t *testing.T) {
	tr := New()
	if _, err := tr.Backend('D', nil); !errors.Is(err, ErrDesync) {
		t.Fatalf("DataRow with nothing pending: err = %v, want ErrDesync", err)
	}
	tr.Frontend(parse("", "SELECT 1"))
	if _, err := tr.Backend('D', nil); !errors.Is(err, ErrDesync) {
		t.Fatalf("DataRow answering a Parse: err = %v, want ErrDesync", err)
	}
}

func TestAsyncMessagesNeedNoRequest(t *testing.T) {
	tr := New()
	for _, typ := range []byte{'S', 'N', 'A', 'E'} {
		a, err := tr.Backend(typ, nil)
		if err != nil || a.Origin != OriginNone {
			t.Fatalf("%q while idle: %+v, %v", typ, a, err)
		}
	}
}

func TestResultFormat(t *testing.T) {
	cases := []struct {
		formats []int16
		col     int
		want    int16
	}{
		{nil, 3, 0},
		{[]int16{1}, 5, 1},
		{[]int16{0, 1}, 1, 1},
		{[]int16{0, 1}, 7, 0},
	}
	for _, c := range cases {
		p := &Portal{ResultFormats: c.formats}
		if got := p.ResultFormat(c.col); got != c.want {
			t.Errorf("formats %v col %d: got %d want %d", c.formats, c.col, got, c.want)
		}
	}
}

// FuzzTracker drives the Tracker with random client message sequences and
// random response lags against the simulated server: it must never panic,
// never lose syncMsg, and never attribute a row to the wrong statement.
func FuzzTracker(f *testing.F) {
	f.Add([]byte{0, 1, 2, 3, 4, 5, 6, 7, 8, 9})
	f.Add([]byte{10, 21, 32, 43, 54, 65, 76, 87, 98, 109, 120, 131, 142, 153})
	f.Add([]byte{1, 1, 2, 2, 3, 3, 4, 4, 5, 5, 6, 6, 7, 7, 200, 201, 202})
	f.Fuzz(func(t *testing.T, script []byte) {
		if len(script) > 400 {
			return
		}
		sqls := []string{"SELECT 1", "SELECT 3", "ERR", "COPYIN", "NOTICE", "BEGIN", "COMMIT", "PARSEERR", "SELECT 0"}
		names := []string{"", "a", "b"}
		h := newHarness(t)
		for i := 0; i+1 < len(script); i += 2 {
			op, arg := script[i], int(script[i+1])
			name := names[arg%len(names)]
			other := names[(arg/3)%len(names)]
			var m pgproto3.FrontendMessage
			switch op % 16 {
			case 0:
				m = parse(name, sqls[(arg/9)%len(sqls)])
			case 1, 2:
				m = bind(name, other)
			case 3, 4:
				m = execute(name, uint32(arg%4))
			case 5:
				m = describe('S', name)
			case 6:
				m = describe('P', name)
			case 7, 8:
				m = syncMsg
			case 9:
				m = &pgproto3.Close{ObjectType: "SP"[arg%2], Name: name}
			case 10:
				m = query(sqls[arg%len(sqls)] + ";" + sqls[(arg/9)%len(sqls)])
			case 11:
				m = &pgproto3.CopyData{Data: []byte("x")}
			case 12:
				m = &pgproto3.CopyDone{}
			case 13:
				m = &pgproto3.CopyFail{Message: "x"}
			case 14:
				m = &pgproto3.Flush{}
			case 15:
				h.deliver(arg % 8)
				continue
			}
			h.send(m)
		}
		h.send(&pgproto3.CopyDone{})
		h.send(syncMsg)
		h.drain()
	})
}
