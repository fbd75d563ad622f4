package masking

import (
	"encoding/binary"
	"fmt"

	"github.com/jackc/pgx/v5/pgproto3"

	"github.com/pgveil/pgveil/proxy/track"
)

// safeErrorClasses are SQLSTATE classes whose messages never quote data
// read from tables: connection, transaction state, serialization,
// resources, operator intervention, system errors. Everything else can:
// data exceptions (22), integrity violations (23), PL/pgSQL RAISE (P0),
// notices (00, 01), and every class that names objects (3D, 3F, 42...),
// because a value can be passed where a name is expected
// (ship_phone::regclass, has_database_privilege(ship_phone, ...)).
var safeErrorClasses = map[string]bool{
	"08": true, "25": true, "40": true, "53": true, "57": true, "58": true,
}

// safeErrorCodes are single SQLSTATEs whose messages only name what the
// client wrote in its SQL text.
var safeErrorCodes = map[string]bool{
	"42601": true, // syntax_error: quotes the client's own SQL
	"42501": true, // insufficient_privilege, incl. pgveil's refusals
	"42803": true, // grouping_error
	"42P20": true, // windowing_error
	"0A000": true, // feature_not_supported
}

// scrubError rewrites an ErrorResponse or NoticeResponse for a masked
// client: a refusal pgveil substituted becomes pgveil's own error; any
// other keeps only severity, SQLSTATE, position and, for safe classes,
// the message. DETAIL, HINT, CONTEXT, internal query and object names are
// dropped: they are where servers quote rows.
func (s *session) scrubError(dst, msg []byte, a track.Attribution) ([]byte, error) {
	var in pgproto3.ErrorResponse
	if err := in.Decode(msg[5:]); err != nil {
		return dst, nil // malformed: drop it
	}
	out := pgproto3.ErrorResponse{
		Severity:            in.Severity,
		SeverityUnlocalized: in.SeverityUnlocalized,
		Code:                in.Code,
	}
	if a.Statement != nil && msg[0] == 'E' {
		s.mu.Lock()
		refusal, ok := s.refusals[a.Statement.SQL]
		delete(s.refusals, a.Statement.SQL)
		s.mu.Unlock()
		if ok {
			out.Severity, out.SeverityUnlocalized = refusal.Severity, refusal.Severity
			out.Code, out.Message = refusal.Code, refusal.Message
			return encode(dst, msg[0], &out)
		}
	}
	if len(in.Code) == 5 && (safeErrorClasses[in.Code[:2]] || safeErrorCodes[in.Code]) {
		out.Message = in.Message
		out.Position = in.Position
	} else {
		out.Message = fmt.Sprintf("%s (SQLSTATE %s); pgveil withholds the text under policy %q because it may quote data",
			errorClass(in.Code), in.Code, s.policyName())
	}
	return encode(dst, msg[0], &out)
}

func encode(dst []byte, typ byte, e *pgproto3.ErrorResponse) ([]byte, error) {
	start := len(dst)
	dst, err := e.Encode(dst)
	if err != nil {
		return nil, err
	}
	dst[start] = typ // NoticeResponse has the same layout
	return dst, nil
}

// nullRow appends a DataRow with the same number of columns as msg, all
// NULL: what a masked client gets for a row pgveil cannot attribute.
func nullRow(dst, msg []byte) []byte {
	if len(msg) < 7 {
		return dst
	}
	n := int(binary.BigEndian.Uint16(msg[5:]))
	dst = append(dst, 'D')
	dst = binary.BigEndian.AppendUint32(dst, uint32(4+2+4*n))
	dst = binary.BigEndian.AppendUint16(dst, uint16(n))
	for i := 0; i < n; i++ {
		dst = append(dst, 0xff, 0xff, 0xff, 0xff)
	}
	return dst
}

// errorClass names an SQLSTATE's class for withheld messages.
func errorClass(code string) string {
	if len(code) < 2 {
		return "error"
	}
	switch code[:2] {
	case "00", "01":
		return "notice or warning"
	case "22":
		return "data exception"
	case "23":
		return "integrity constraint violation"
	case "P0":
		return "error raised by a function"
	case "XX":
		return "internal error"
	case "42":
		return "syntax error or access rule violation"
	case "3D", "3F":
		return "invalid name"
	}
	return "error"
}
