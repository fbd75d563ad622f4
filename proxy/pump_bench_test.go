package proxy

import (
	"bufio"
	"bytes"
	"io"
	"log/slog"
	"net"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgproto3"

	"github.com/pgveil/pgveil/proxy/track"
	"github.com/pgveil/pgveil/rules"
)

// nullConn is a net.Conn that swallows writes and has nothing to read: the
// far ends of a pump under benchmark.
type nullConn struct{}

func (nullConn) Read([]byte) (int, error)         { return 0, io.EOF }
func (nullConn) Write(b []byte) (int, error)      { return len(b), nil }
func (nullConn) Close() error                     { return nil }
func (nullConn) LocalAddr() net.Addr              { return &net.TCPAddr{} }
func (nullConn) RemoteAddr() net.Addr             { return &net.TCPAddr{} }
func (nullConn) SetDeadline(time.Time) error      { return nil }
func (nullConn) SetReadDeadline(time.Time) error  { return nil }
func (nullConn) SetWriteDeadline(time.Time) error { return nil }

// countingConn counts the writes that reach the socket: one per flush.
type countingConn struct {
	nullConn
	writes int
}

func (c *countingConn) Write(b []byte) (int, error) { c.writes++; return len(b), nil }

func encode(msgs ...pgproto3.BackendMessage) []byte {
	var b []byte
	for _, m := range msgs {
		b, _ = m.Encode(b)
	}
	return b
}

// resultStream is what a server sends for `SELECT` of rows DataRows of the
// given row: RowDescription, the rows, CommandComplete, ReadyForQuery.
func resultStream(rows int, row *pgproto3.DataRow) []byte {
	head := encode(&pgproto3.RowDescription{Fields: []pgproto3.FieldDescription{
		{Name: []byte("id"), DataTypeOID: 20, DataTypeSize: 8, TypeModifier: -1},
		{Name: []byte("name"), DataTypeOID: 25, DataTypeSize: -1, TypeModifier: -1},
	}})
	r := encode(row)
	tail := encode(&pgproto3.CommandComplete{CommandTag: []byte("SELECT 1")}, &pgproto3.ReadyForQuery{TxStatus: 'I'})
	b := make([]byte, 0, len(head)+rows*len(r)+len(tail))
	b = append(b, head...)
	for range rows {
		b = append(b, r...)
	}
	return append(b, tail...)
}

// benchSession is a session wired to in-memory peers, for driving the real
// pump loops.
func benchSession(server io.Reader, client net.Conn) *session {
	cfg := &rules.Config{}
	cfg.Server.MaxMessageSize = 64 << 20
	s := &session{
		srv:      &Server{cfg: cfg, log: slog.New(slog.DiscardHandler)},
		log:      slog.New(slog.DiscardHandler),
		client:   client,
		upstream: nullConn{},
		tracker:  track.New(),
	}
	s.sr = bufio.NewReaderSize(server, serverReadBuf)
	s.cw = bufio.NewWriterSize(client, clientWriteBuf)
	s.txStatus.Store('I')
	return s
}

// BenchmarkPumpDataRow measures the server-to-client pump of a clear
// session forwarding DataRows: bytes per second and allocations per row.
func BenchmarkPumpDataRow(b *testing.B) {
	for _, bc := range []struct {
		name string
		row  *pgproto3.DataRow
	}{
		{"small", &pgproto3.DataRow{Values: [][]byte{[]byte("12345"), []byte("张伟")}}},
		{"200B", &pgproto3.DataRow{Values: [][]byte{[]byte("12345"), bytes.Repeat([]byte("x"), 190)}}},
		{"64KiB", &pgproto3.DataRow{Values: [][]byte{[]byte("1"), bytes.Repeat([]byte("y"), 64<<10)}}},
	} {
		b.Run(bc.name, func(b *testing.B) {
			const rows = 10000
			stream := resultStream(rows, bc.row)
			b.SetBytes(int64(len(stream)) / rows)
			b.ReportAllocs()
			b.ResetTimer()
			for done := 0; done < b.N; done += rows {
				b.StopTimer()
				s := benchSession(bytes.NewReader(stream), nullConn{})
				s.tracker.Frontend(&pgproto3.Query{String: "SELECT id, name FROM t"})
				b.StartTimer()
				s.serverToClient()
			}
		})
	}
}

// BenchmarkPumpExtended measures the client-to-server pump on the
// messages of an extended-protocol round trip (Bind, Execute, Sync), which
// are decoded for the tracker.
func BenchmarkPumpExtended(b *testing.B) {
	var one []byte
	one, _ = (&pgproto3.Bind{PreparedStatement: "s1", Parameters: [][]byte{[]byte("42")}, ResultFormatCodes: []int16{1}}).Encode(one)
	one, _ = (&pgproto3.Execute{}).Encode(one)
	one, _ = (&pgproto3.Sync{}).Encode(one)
	const trips = 10000
	stream := bytes.Repeat(one, trips)
	b.SetBytes(int64(len(one)))
	b.ReportAllocs()
	b.ResetTimer()
	for done := 0; done < b.N; done += trips {
		b.StopTimer()
		s := benchSession(nil, nullConn{})
		s.cr = bufio.NewReaderSize(bytes.NewReader(stream), clientReadBuf)
		s.sw = bufio.NewWriterSize(nullConn{}, serverWriteBuf)
		s.tracker.Frontend(&pgproto3.Parse{Name: "s1", Query: "SELECT $1::int"})
		b.StartTimer()
		s.clientToServer()
	}
}

// TestPumpBatchesWrites checks that a burst of rows reaches the client in
// a few large writes, not one write per message.
func TestPumpBatchesWrites(t *testing.T) {
	const rows = 1000
	stream := resultStream(rows, &pgproto3.DataRow{Values: [][]byte{[]byte("1"), []byte("abc")}})
	client := &countingConn{}
	s := benchSession(bytes.NewReader(stream), client)
	s.tracker.Frontend(&pgproto3.Query{String: "SELECT"})
	s.serverToClient()
	// bytes.Reader returns everything at once, so the only flushes are when
	// the write buffer fills, and the final one.
	if max := len(stream)/clientWriteBuf + 2; client.writes > max {
		t.Fatalf("%d rows took %d writes; want at most %d", rows, client.writes, max)
	}
}

// TestPumpAllocsPerRow pins the hot path: forwarding a DataRow in a clear
// session allocates nothing.
func TestPumpAllocsPerRow(t *testing.T) {
	row := &pgproto3.DataRow{Values: [][]byte{[]byte("1"), []byte("abc")}}
	small := resultStream(10, row)
	big := resultStream(10010, row)
	measure := func(stream []byte) float64 {
		return testing.AllocsPerRun(5, func() {
			s := benchSession(bytes.NewReader(stream), nullConn{})
			s.tracker.Frontend(&pgproto3.Query{String: "SELECT"})
			s.serverToClient()
		})
	}
	// The difference between 10 and 10010 rows is what the rows cost.
	if perRow := (measure(big) - measure(small)) / 10000; perRow > 0.01 {
		t.Fatalf("%.3f allocations per forwarded DataRow; want 0", perRow)
	}
}
