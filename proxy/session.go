package proxy

import (
	"bufio"
	"bytes"
	"context"
	"crypto/tls"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5/pgproto3"

	"github.com/pgveil/pgveil/proxy/track"
	"github.com/pgveil/pgveil/rules"
)

// session is one client connection and its upstream connection.
//
// Buffer ownership: cr and sw belong to the client-reading goroutine
// (clientToServer), sr and cw to the server-reading goroutine
// (serverToClient). Neither touches the other's buffers; the only shared
// state is the tracker (locked), the filter (its own concern) and the
// atomics below. During startup, one goroutine owns everything.
type session struct {
	srv      *Server
	id       uint64
	log      *slog.Logger
	listener *rules.Listener
	info     SessionInfo

	client   net.Conn // TLS-wrapped after negotiation
	tlsState *tls.ConnectionState
	cr       *bufio.Reader
	cw       *bufio.Writer

	upstream       net.Conn
	sr             *bufio.Reader
	sw             *bufio.Writer
	upstreamAddr   string
	upstreamPID    uint32
	upstreamKey    []byte
	upstreamParams map[string]string

	clientPID uint32 // what the client sees in BackendKeyData
	clientKey []byte

	tracker *track.Tracker
	filter  Filter

	txStatus atomic.Uint32 // last ReadyForQuery status: 'I', 'T' or 'E'
	draining atomic.Bool   // end the session at its next idle point
	reason   atomic.Pointer[Error]
	endOnce  sync.Once
	// clientGone is set when the client hung up or sent Terminate.
	clientGone atomic.Bool
	// stopping is set when the server goroutine has finished with the
	// client; the client goroutine's reads then fail by deadline.
	stopping atomic.Bool
}

// Size limits for server messages the pump buffers whole.
const (
	maxCommandComplete = 4 << 10
	maxServerMessage   = 1 << 30
)

// quietEnd is the end reason for a client that said goodbye: nothing more
// is sent to it.
var quietEnd = &Error{}

func (c *session) keyLen() int {
	if c.info.Protocol >= pgproto3.ProtocolVersion32 {
		return 32
	}
	return 4
}

// ready completes the client's login: AuthenticationOk, the upstream's
// ParameterStatus values, pgveil's own BackendKeyData, ReadyForQuery.
func (c *session) ready() error {
	buf, _ := (&pgproto3.AuthenticationOk{}).Encode(nil)
	keys := make([]string, 0, len(c.upstreamParams))
	for k := range c.upstreamParams {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	for _, k := range keys {
		buf, _ = (&pgproto3.ParameterStatus{Name: k, Value: c.upstreamParams[k]}).Encode(buf)
	}
	buf, _ = (&pgproto3.BackendKeyData{ProcessID: c.clientPID, SecretKey: c.clientKey}).Encode(buf)
	buf, _ = (&pgproto3.ReadyForQuery{TxStatus: byte(c.txStatus.Load())}).Encode(buf)
	return c.writeRaw(buf)
}

// end makes the session stop with reason (quietEnd for none): closing the
// upstream connection unblocks the server-reading goroutine, which tells
// the client why and closes it.
func (c *session) end(reason *Error) {
	c.endOnce.Do(func() {
		c.reason.Store(reason)
		c.upstream.Close()
	})
}

// kill ends the session from outside (shutdown deadline).
func (c *session) kill(reason *Error) { c.end(reason) }

// drain asks the session to end at its next idle point, or now if idle.
func (c *session) drain() {
	c.draining.Store(true)
	if c.idle() {
		c.end(fatal(SideProxy, codeAdminShutdown, "terminating connection due to administrator command", nil))
	}
}

// idle reports whether the session has no request in flight and no open
// transaction, so ending it loses nothing.
func (c *session) idle() bool {
	return c.txStatus.Load() == 'I' && c.tracker.Pending() == 0
}

// run pumps messages until either side ends.
func (c *session) run() {
	if c.srv.filter != nil {
		c.filter = c.srv.filter(c.info)
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		defer func() {
			if r := recover(); r != nil {
				c.srv.logPanic(r, c.client)
				c.end(fatal(SideProxy, codeInternalError, "internal error", nil))
			}
		}()
		c.serverToClient()
	}()
	reason := c.clientToServer()
	switch reason {
	case quietEnd:
		c.clientGone.Store(true)
	case nil:
		reason = fatal(SideUpstream, codeConnectionFailure, "the upstream server closed the connection unexpectedly", nil)
	}
	c.end(reason)
	<-done
	if reason != quietEnd && reason.Side == SideClient {
		// The client broke a rule (e.g. an oversized message) and may still
		// be sending: closing now would reset the connection and destroy
		// the FATAL on its way. Half-close, then discard for a moment.
		c.log.Warn("session ended: client broke a rule", "code", reason.Code, "reason", reason.Message)
		c.lingerClose()
	} else {
		c.log.Info("session ended")
	}
	c.client.Close()
}

// lingerClose shuts the write side of the client connection and reads and
// discards what the client still sends, for a bounded time and amount, so
// that the client reads pgveil's last message before the connection goes.
func (c *session) lingerClose() {
	if cw, ok := c.client.(interface{ CloseWrite() error }); ok {
		cw.CloseWrite()
	}
	c.client.SetReadDeadline(time.Now().Add(2 * time.Second))
	io.CopyN(io.Discard, c.client, 1<<30)
}

// clientToServer forwards client messages upstream, decoding those the
// tracker and filter need, until the client leaves or breaks a rule. It
// returns why the session should end.
func (c *session) clientToServer() *Error {
	maxBody := int(c.srv.cfg.Server.MaxMessageSize)
	idleTimeout := c.srv.cfg.Server.IdleTimeout.Duration
	var dec frontendDecoder
	var scratch []byte
	logStatements := c.log.Enabled(context.Background(), slog.LevelDebug)
	for {
		if c.cr.Buffered() < 5 {
			// About to wait for the client: send what we have first.
			if err := c.sw.Flush(); err != nil {
				return nil // upstream gone; the other goroutine reports it
			}
			// The idle deadline is armed here and by the server goroutine
			// when ReadyForQuery makes the session idle, and cleared only
			// when a message arrives, so neither side undoes the other.
			if idleTimeout > 0 && c.idle() {
				c.client.SetReadDeadline(time.Now().Add(idleTimeout))
			}
		}
		hdr, err := c.cr.Peek(5)
		if err != nil {
			if c.stopping.Load() {
				return quietEnd // the server goroutine has ended the session
			}
			if errors.Is(err, os.ErrDeadlineExceeded) {
				return fatal(SideClient, codeIdleSessionTimeout, "terminating connection due to idle-session timeout", nil)
			}
			return quietEnd // client hung up
		}
		if idleTimeout > 0 {
			c.client.SetReadDeadline(time.Time{})
		}
		typ, n := hdr[0], int(int32(binary.BigEndian.Uint32(hdr[1:]))) // signed on the wire
		if n < 4 {
			return fatal(SideClient, codeProtocolViolation, fmt.Sprintf("invalid message length %d", n), nil)
		}
		if n-4 > maxBody {
			return fatal(SideClient, codeProgramLimitExceeded,
				fmt.Sprintf("message of %d bytes exceeds max_message_size of %d bytes", n-4, maxBody), nil)
		}
		total := 1 + n

		// CopyData is the bulk of COPY FROM: it never needs decoding for
		// the tracker, so stream it unless the filter wants it.
		if typ == 'd' && c.filter == nil {
			if err := forward(c.sw, c.cr, total); err != nil {
				return c.pumpError(err)
			}
			continue
		}

		var msg []byte
		if total <= c.cr.Size() {
			if c.cr.Buffered() < total {
				if err := c.sw.Flush(); err != nil {
					return nil
				}
			}
			if msg, err = c.cr.Peek(total); err != nil {
				return quietEnd
			}
		} else {
			scratch = slices.Grow(scratch[:0], total)[:total]
			if _, err := io.ReadFull(c.cr, scratch); err != nil {
				return quietEnd
			}
			msg = scratch
		}
		m, err := dec.decode(typ, msg[5:])
		if err != nil {
			return fatal(SideClient, codeProtocolViolation, fmt.Sprintf("invalid frontend message type %q", typ), err)
		}
		out := msg
		if c.filter != nil {
			if m == nil {
				return fatal(SideClient, codeProtocolViolation, fmt.Sprintf("invalid frontend message type %q", typ), nil)
			}
			repl, err := c.filter.Client(m)
			if err != nil {
				return asError(err, fatal(SideClient, codeInternalError, "request refused", nil))
			}
			if repl != nil {
				if out, err = repl.Encode(nil); err != nil {
					return fatal(SideProxy, codeInternalError, "internal error", err)
				}
				m = repl
			}
		}
		if m != nil {
			c.tracker.Frontend(m)
			if logStatements {
				c.logStatement(m)
			}
		}
		if _, err := c.sw.Write(out); err != nil {
			return c.pumpError(err)
		}
		if total <= c.cr.Size() {
			c.cr.Discard(total)
		}
		if typ == 'X' {
			c.sw.Flush()
			return quietEnd
		}
	}
}

// logStatement logs a statement the client sent, normalized: literals are
// replaced by placeholders, and text that does not parse is not logged at
// all, since it may hold anything.
func (c *session) logStatement(m pgproto3.FrontendMessage) {
	var sql, name string
	switch m := m.(type) {
	case *pgproto3.Query:
		sql = m.String
	case *pgproto3.Parse:
		sql, name = m.Query, m.Name
	default:
		return
	}
	n := c.srv.normalizer.Normalize(sql)
	if n.ParseError {
		c.log.Debug("statement", "statement_name", name, "parse_error", true)
		return
	}
	c.log.Debug("statement", "statement_name", name, "sql", n.SQL, "fingerprint", n.Fingerprint)
}

// serverToClient forwards server messages to the client until the upstream
// connection ends, then tells the client why and closes it.
func (c *session) serverToClient() {
	var out, scratch []byte
	idleTimeout := c.srv.cfg.Server.IdleTimeout.Duration
	lastWasError := false
	var endWith *Error
	for {
		if c.sr.Buffered() < 5 {
			if err := c.cw.Flush(); err != nil {
				c.end(quietEnd) // client gone
				break
			}
		}
		hdr, err := c.sr.Peek(5)
		if err != nil {
			break
		}
		typ, n := hdr[0], int(int32(binary.BigEndian.Uint32(hdr[1:]))) // signed on the wire
		if n < 4 {
			endWith = fatal(SideUpstream, codeProtocolViolation, "invalid message from the upstream server", nil)
			break
		}
		total := 1 + n
		wants := c.filter != nil && c.filter.WantsServer(typ)
		// Messages the pump must hold whole have sane sizes: ReadyForQuery
		// is 5 bytes, a command tag is short, and nothing exceeds
		// PostgreSQL's own 1 GiB limit. A header claiming more is broken.
		if (typ == 'Z' && n != 5) || (typ == 'C' && n > maxCommandComplete) || (wants && n > maxServerMessage) {
			endWith = fatal(SideUpstream, codeProtocolViolation, "invalid message from the upstream server", nil)
			break
		}

		var msg []byte // the whole message, when it fits the read buffer
		if total <= c.sr.Size() {
			if c.sr.Buffered() < total {
				if err := c.cw.Flush(); err != nil {
					c.end(quietEnd)
					break
				}
			}
			if msg, err = c.sr.Peek(total); err != nil {
				break
			}
		} else if wants || typ == 'Z' || typ == 'C' {
			scratch = slices.Grow(scratch[:0], total)[:total]
			if _, err := io.ReadFull(c.sr, scratch); err != nil {
				break
			}
			msg = scratch
		}

		// Clear sessions skip the tracker for rows: it only checks them.
		var a track.Attribution
		if wants || (typ != 'D' && typ != 'd') {
			var body []byte
			if msg != nil {
				body = msg[5:]
			}
			a, err = c.tracker.Backend(typ, body)
			if err != nil {
				c.srv.desyncs.Add(1)
				if c.filter != nil {
					// Fail closed: results we cannot attribute never reach
					// a filtered session.
					endWith = fatal(SideProxy, codeInternalError, "pgveil lost track of the protocol state; session ended", err)
					break
				}
				c.log.Error("protocol tracker desynchronized", "err", err)
			}
		}

		if typ == 'A' && msg != nil && len(msg) >= 9 && binary.BigEndian.Uint32(msg[5:9]) == c.upstreamPID {
			// A notification from this session's own backend names the
			// upstream PID; the client knows pgveil's PID for itself, and
			// clients compare the two to skip their own notifications.
			binary.BigEndian.PutUint32(msg[5:9], c.clientPID)
		}
		switch {
		case wants:
			var res []byte
			res, err = c.filter.Server(out[:0], msg, a)
			if err != nil {
				endWith = asError(err, fatal(SideProxy, codeInternalError, "result refused", nil))
				break
			}
			_, err = c.cw.Write(res)
			// Keep res as the filter's next buffer only if it is not msg
			// itself: msg lives in the read buffer.
			if !sameArray(res, msg) {
				out = res
			}
		case msg != nil:
			_, err = c.cw.Write(msg)
		default:
			err = forward(c.cw, c.sr, total)
		}
		if endWith != nil {
			break
		}
		if err != nil {
			c.end(quietEnd)
			break
		}
		if msg != nil && total <= c.sr.Size() {
			c.sr.Discard(total)
		}
		if typ == 'C' && c.srv.onDDL != nil && msg != nil && isDDLTag(msg[5:]) {
			c.srv.onDDL(c.info.Database)
		}
		if typ == 'Z' {
			c.txStatus.Store(uint32(msg[5]))
			if idleTimeout > 0 && c.idle() {
				// The client goroutine may already be waiting without a
				// deadline (it was busy when it started to wait).
				c.client.SetReadDeadline(time.Now().Add(idleTimeout))
			}
			if c.draining.Load() && c.idle() {
				endWith = fatal(SideProxy, codeAdminShutdown, "terminating connection due to administrator command", nil)
				break
			}
		}
		lastWasError = typ == 'E'
	}

	c.end(quietEnd) // no-op if a reason was set first
	reason := c.reason.Load()
	if endWith != nil {
		reason = endWith
		c.log.Warn("session ended by proxy", "code", endWith.Code, "reason", endWith.Message, "err", endWith.Err)
	} else if reason == quietEnd && !lastWasError && !c.clientLeft() {
		reason = fatal(SideUpstream, codeConnectionFailure, "the upstream server closed the connection unexpectedly", nil)
	}
	if reason != nil && reason != quietEnd {
		c.client.SetWriteDeadline(time.Now().Add(5 * time.Second))
		if b, err := reason.response().Encode(nil); err == nil {
			c.cw.Write(b)
		}
	}
	c.cw.Flush()
	// Wake the client goroutine if it waits for the client; run closes.
	c.stopping.Store(true)
	c.client.SetReadDeadline(time.Now())
}

// clientLeft reports whether the session is ending because the client
// went away (rather than the upstream).
func (c *session) clientLeft() bool { return c.clientGone.Load() }

func (c *session) pumpError(err error) *Error {
	c.log.Debug("pump write failed", "err", err)
	return quietEnd
}

// forward copies one message of total bytes that may not fit the read
// buffer, streaming it through the buffers without holding it whole and
// without allocating.
func forward(w *bufio.Writer, r *bufio.Reader, total int) error {
	for total > 0 {
		if r.Buffered() == 0 {
			if _, err := r.Peek(1); err != nil { // fill the buffer
				return err
			}
		}
		b, _ := r.Peek(min(r.Buffered(), total))
		if _, err := w.Write(b); err != nil {
			return err
		}
		r.Discard(len(b))
		total -= len(b)
	}
	return nil
}

// sameArray reports whether a and b share their backing array's end, i.e.
// one was sliced from the other.
func sameArray(a, b []byte) bool {
	return cap(a) > 0 && cap(b) > 0 && &a[:cap(a)][cap(a)-1] == &b[:cap(b)][cap(b)-1]
}

// isDDLTag reports a command tag of a statement that can change what the
// catalog says about relations: their columns, types or view definitions.
func isDDLTag(tag []byte) bool {
	for _, p := range [][]byte{[]byte("CREATE "), []byte("ALTER "), []byte("DROP "), []byte("COMMENT"), []byte("SELECT INTO"), []byte("IMPORT FOREIGN SCHEMA")} {
		if bytes.HasPrefix(tag, p) {
			return true
		}
	}
	return false
}
