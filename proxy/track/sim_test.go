package track

import (
	"fmt"
	"strconv"
	"strings"

	"github.com/jackc/pgx/v5/pgproto3"
)

// simServer is a small model of how PostgreSQL answers the query protocol,
// used as ground truth: every message it emits carries the SQL that truly
// produced it, so a test can check the Tracker's attribution against it.
//
// Its SQL language is tiny: "SELECT n" returns n rows, "ERR" fails,
// "BEGIN"/"COMMIT" open and close a transaction block, "COPYIN" starts a
// COPY FROM STDIN, "NOTICE" raises a notice; a Query may hold several
// statements separated by ';'.
type simServer struct {
	stmts    map[string]string
	portals  map[string]*simPortal
	inBlock  bool
	skipping bool   // after an extended-protocol error, until Sync
	copyIn   string // "" or "query"/"execute": who started COPY FROM STDIN
	copyTrue simMsg // attribution for the copy's completion
	out      []simMsg

	// The simple Query being run: its text, its statements, the next one.
	pendingQuery string
	pendingParts []string
	pendingIndex int
}

type simPortal struct {
	sql  string
	sent int // rows already returned (for row limits)
}

// simMsg is a backend message with its true origin.
type simMsg struct {
	typ   byte
	body  []byte
	sql   string // SQL of the statement (or the whole Query) it belongs to
	index int    // statement index within a Query
}

func newSim() *simServer {
	return &simServer{stmts: map[string]string{}, portals: map[string]*simPortal{}}
}

func (s *simServer) emit(typ byte, sql string, index int) {
	s.out = append(s.out, simMsg{typ: typ, sql: sql, index: index})
}

func rowsOf(sql string) (int, bool) {
	if n, ok := strings.CutPrefix(sql, "SELECT "); ok {
		k, err := strconv.Atoi(n)
		return k, err == nil
	}
	return 0, false
}

func (s *simServer) extendedError(sql string) {
	s.emit('E', sql, 0)
	s.skipping = true
}

func (s *simServer) endTxIfImplicit() {
	if !s.inBlock {
		clear(s.portals)
	}
}

func (s *simServer) status() byte {
	if s.inBlock {
		return 'T'
	}
	return 'I'
}

func (s *simServer) receive(msg pgproto3.FrontendMessage) {
	if s.copyIn != "" {
		switch msg.(type) {
		case *pgproto3.CopyData, *pgproto3.Sync, *pgproto3.Flush:
			return
		case *pgproto3.CopyDone:
			s.out = append(s.out, simMsg{typ: 'C', body: []byte("COPY 0\x00"), sql: s.copyTrue.sql, index: s.copyTrue.index})
			mode := s.copyIn
			s.copyIn = ""
			if mode == "query" {
				s.queryRest() // may start the next COPY
			}
		case *pgproto3.CopyFail:
			s.emit('E', s.copyTrue.sql, s.copyTrue.index)
			if s.copyIn == "query" {
				s.endQuery()
			} else {
				s.skipping = true
			}
			s.copyIn = ""
		default:
			// Any other message aborts the copy with an error.
			s.emit('E', s.copyTrue.sql, s.copyTrue.index)
			if s.copyIn == "query" {
				s.endQuery()
			} else {
				s.skipping = true
			}
			s.copyIn = ""
		}
		return
	}
	switch msg.(type) {
	case *pgproto3.CopyData, *pgproto3.CopyDone, *pgproto3.CopyFail, *pgproto3.Flush:
		return // ignored outside copy mode
	}
	if s.skipping {
		if _, ok := msg.(*pgproto3.Sync); !ok {
			return
		}
		s.skipping = false
	}
	switch m := msg.(type) {
	case *pgproto3.Query:
		delete(s.stmts, "")
		s.pendingQuery = m.String
		s.pendingParts = strings.Split(m.String, ";")
		s.pendingIndex = 0
		s.queryRest()
	case *pgproto3.Parse:
		if _, exists := s.stmts[m.Name]; (exists && m.Name != "") || m.Query == "PARSEERR" {
			s.extendedError(m.Query)
			return
		}
		s.stmts[m.Name] = m.Query
		s.emit('1', m.Query, 0)
	case *pgproto3.Bind:
		sql, ok := s.stmts[m.PreparedStatement]
		if _, exists := s.portals[m.DestinationPortal]; !ok || (exists && m.DestinationPortal != "") {
			s.extendedError(sql)
			return
		}
		s.portals[m.DestinationPortal] = &simPortal{sql: sql}
		s.emit('2', sql, 0)
	case *pgproto3.Describe:
		var sql string
		if m.ObjectType == 'S' {
			q, ok := s.stmts[m.Name]
			if !ok {
				s.extendedError("")
				return
			}
			sql = q
			s.emit('t', sql, 0)
		} else {
			p, ok := s.portals[m.Name]
			if !ok {
				s.extendedError("")
				return
			}
			sql = p.sql
		}
		if _, ok := rowsOf(sql); ok {
			s.emit('T', sql, 0)
		} else {
			s.emit('n', sql, 0)
		}
	case *pgproto3.Execute:
		p, ok := s.portals[m.Portal]
		if !ok {
			s.extendedError("")
			return
		}
		s.execute(p, int(m.MaxRows))
	case *pgproto3.Close:
		if m.ObjectType == 'S' {
			delete(s.stmts, m.Name)
		} else {
			delete(s.portals, m.Name)
		}
		s.emit('3', "", 0)
	case *pgproto3.Sync:
		s.endTxIfImplicit()
		s.out = append(s.out, simMsg{typ: 'Z', body: []byte{s.status()}})
	case *pgproto3.FunctionCall:
		s.emit('V', "", 0)
		s.out = append(s.out, simMsg{typ: 'Z', body: []byte{s.status()}})
	}
}

func (s *simServer) execute(p *simPortal, maxRows int) {
	sql := p.sql
	switch {
	case sql == "ERR":
		s.extendedError(sql)
		return
	case sql == "COPYIN":
		s.emit('G', sql, 0)
		s.copyIn, s.copyTrue = "execute", simMsg{sql: sql}
		return
	case sql == "NOTICE":
		s.emit('N', sql, 0)
	case sql == "BEGIN":
		s.inBlock = true
	case sql == "COMMIT":
		s.inBlock = false
	}
	n, isSelect := rowsOf(sql)
	for p.sent < n {
		s.emit('D', sql, 0)
		p.sent++
		if maxRows > 0 {
			maxRows--
			if maxRows == 0 && p.sent < n {
				s.emit('s', sql, 0)
				return
			}
		}
	}
	tag := "SELECT " + strconv.Itoa(n)
	if !isSelect {
		tag = sql
	}
	s.out = append(s.out, simMsg{typ: 'C', body: []byte(tag + "\x00"), sql: sql})
}

// Simple-query state: a Query runs its statements one after another; COPY
// FROM STDIN pauses it until the client ends the copy.
func (s *simServer) queryRest() {
	for s.pendingIndex < len(s.pendingParts) {
		part := strings.TrimSpace(s.pendingParts[s.pendingIndex])
		i := s.pendingIndex
		s.pendingIndex++
		switch {
		case part == "":
			s.emit('I', s.pendingQuery, i)
		case part == "ERR":
			s.emit('E', s.pendingQuery, i)
			s.endQuery()
			return
		case part == "COPYIN":
			s.emit('G', s.pendingQuery, i)
			s.copyIn, s.copyTrue = "query", simMsg{sql: s.pendingQuery, index: i}
			return
		case part == "NOTICE":
			s.emit('N', s.pendingQuery, i)
			s.out = append(s.out, simMsg{typ: 'C', body: []byte("DO\x00"), sql: s.pendingQuery, index: i})
		case part == "BEGIN" || part == "COMMIT" || part == "DEALLOCATE ALL":
			s.inBlock = part == "BEGIN" || (s.inBlock && part == "DEALLOCATE ALL")
			if part == "DEALLOCATE ALL" {
				clear(s.stmts)
			}
			s.out = append(s.out, simMsg{typ: 'C', body: []byte(part + "\x00"), sql: s.pendingQuery, index: i})
		default:
			n, ok := rowsOf(part)
			if !ok {
				s.emit('E', s.pendingQuery, i)
				s.endQuery()
				return
			}
			s.emit('T', s.pendingQuery, i)
			for k := 0; k < n; k++ {
				s.emit('D', s.pendingQuery, i)
			}
			s.out = append(s.out, simMsg{typ: 'C', body: []byte(fmt.Sprintf("SELECT %d\x00", n)), sql: s.pendingQuery, index: i})
		}
	}
	s.endQuery()
}

func (s *simServer) endQuery() {
	s.pendingParts = nil
	s.endTxIfImplicit()
	s.out = append(s.out, simMsg{typ: 'Z', body: []byte{s.status()}})
}
