package proxy

import (
	"bufio"
	"bytes"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgproto3"
)

// FuzzClientStream feeds arbitrary bytes to the client-to-server pump as
// if a client had sent them after login: it must never panic or hang, and
// must end the session with an error rather than forward a message it
// could not frame.
func FuzzClientStream(f *testing.F) {
	seed := func(msgs ...pgproto3.FrontendMessage) []byte {
		var b []byte
		for _, m := range msgs {
			b, _ = m.Encode(b)
		}
		return b
	}
	f.Add(seed(&pgproto3.Query{String: "SELECT 1"}))
	f.Add(seed(&pgproto3.Parse{Name: "s", Query: "SELECT $1"}, &pgproto3.Bind{PreparedStatement: "s", Parameters: [][]byte{[]byte("1")}},
		&pgproto3.Describe{ObjectType: 'P'}, &pgproto3.Execute{MaxRows: 2}, &pgproto3.Sync{}))
	f.Add(seed(&pgproto3.CopyData{Data: []byte("1\t2\n")}, &pgproto3.CopyDone{}, &pgproto3.Terminate{}))
	f.Add(seed(&pgproto3.FunctionCall{Function: 42, Arguments: [][]byte{[]byte("x")}}, &pgproto3.Close{ObjectType: 'S', Name: "s"}))
	f.Add([]byte{'B', 0, 0, 0, 5, 0})                                        // Bind too short
	f.Add([]byte{'Q', 0, 0, 0, 2})                                           // length below 4
	f.Add([]byte{'Q', 0x7f, 0xff, 0xff, 0xff})                               // oversized
	f.Add([]byte{'D', 0, 0, 0, 6, 'X', 0, 'P', 0, 0, 0, 4, 'S', 0, 0, 0, 4}) // bad Describe kind
	f.Fuzz(func(t *testing.T, stream []byte) {
		s := benchSession(nil, nullConn{})
		s.srv.cfg.Server.MaxMessageSize = 1 << 20
		s.cr = bufio.NewReaderSize(bytes.NewReader(stream), clientReadBuf)
		var upstream bytes.Buffer
		s.sw = bufio.NewWriter(&upstream)
		done := make(chan *Error, 1)
		go func() { done <- s.clientToServer() }()
		select {
		case <-done:
		case <-time.After(5 * time.Second):
			t.Fatal("client pump hung")
		}
		s.sw.Flush()
		// Whatever was forwarded is a prefix of what the client sent: the
		// pump forwards whole messages and never invents bytes.
		if !bytes.HasPrefix(stream, upstream.Bytes()) {
			t.Fatalf("forwarded bytes are not a prefix of the input")
		}
	})
}

// FuzzServerStream feeds arbitrary bytes to the server-to-client pump as
// if the upstream had sent them after a simple Query: no panic, no hang,
// and a transparent session forwards a prefix of the input followed by at
// most one ErrorResponse of pgveil's own.
func FuzzServerStream(f *testing.F) {
	f.Add(resultStream(3, &pgproto3.DataRow{Values: [][]byte{[]byte("1"), nil}}))
	f.Add(encode(&pgproto3.CommandComplete{CommandTag: []byte("SELECT 0")}, &pgproto3.ReadyForQuery{TxStatus: 'I'},
		&pgproto3.NotificationResponse{PID: 7, Channel: "c", Payload: "p"}))
	f.Add(encode(&pgproto3.ErrorResponse{Severity: "ERROR", Code: "22012", Message: "division by zero"}, &pgproto3.ReadyForQuery{TxStatus: 'I'}))
	f.Add([]byte{'Z', 0, 0, 0, 4})   // ReadyForQuery without status
	f.Add([]byte{'D', 0, 0, 0, 1})   // length below 4
	f.Add([]byte{'C', 0, 0, 0, 200}) // truncated
	f.Fuzz(func(t *testing.T, stream []byte) {
		var client bytes.Buffer
		s := benchSession(bytes.NewReader(stream), nullConn{})
		s.cw = bufio.NewWriter(&client)
		s.tracker.Frontend(&pgproto3.Query{String: "SELECT 1"})
		done := make(chan struct{})
		go func() { s.serverToClient(); close(done) }()
		select {
		case <-done:
		case <-time.After(5 * time.Second):
			t.Fatal("server pump hung")
		}
	})
}
