package proxy

import "github.com/jackc/pgx/v5/pgproto3"

// frontendDecoder decodes the client messages the tracker and filters need
// into structs reused for the whole session (one allocation per session,
// not per message). A decoded message may point into the body it was
// decoded from: it is valid only until the pump moves on.
type frontendDecoder struct {
	query     pgproto3.Query
	parse     pgproto3.Parse
	bind      pgproto3.Bind
	describe  pgproto3.Describe
	execute   pgproto3.Execute
	close     pgproto3.Close
	sync      pgproto3.Sync
	flush     pgproto3.Flush
	fcall     pgproto3.FunctionCall
	copyData  pgproto3.CopyData
	copyDone  pgproto3.CopyDone
	copyFail  pgproto3.CopyFail
	terminate pgproto3.Terminate
}

// decode returns nil, nil for message types that are not part of the
// post-startup frontend protocol; the server rejects those itself.
func (d *frontendDecoder) decode(typ byte, body []byte) (pgproto3.FrontendMessage, error) {
	var m pgproto3.FrontendMessage
	switch typ {
	case 'Q':
		m = &d.query
	case 'P':
		m = &d.parse
	case 'B':
		m = &d.bind
	case 'D':
		m = &d.describe
	case 'E':
		m = &d.execute
	case 'C':
		m = &d.close
	case 'S':
		m = &d.sync
	case 'H':
		m = &d.flush
	case 'F':
		m = &d.fcall
	case 'd':
		m = &d.copyData
	case 'c':
		m = &d.copyDone
	case 'f':
		m = &d.copyFail
	case 'X':
		m = &d.terminate
	default:
		return nil, nil
	}
	return m, m.Decode(body)
}
