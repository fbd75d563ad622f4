package proxy

import (
	"errors"
	"fmt"

	"github.com/jackc/pgx/v5/pgproto3"
)

// Error is a failure that ends or refuses a client's request, destined for
// the client as an ErrorResponse. Everything in Code and Message is
// user-facing: never put upstream secrets, SQL text or data values in it.
// Err is the internal cause, for logs only.
type Error struct {
	Severity string // "FATAL" or "ERROR"
	Code     string // SQLSTATE, e.g. "08P01"
	Message  string
	Side     Side // which side caused it, for logs and metrics
	Err      error
}

// Side says which peer a failure is attributed to.
type Side uint8

const (
	SideProxy    Side = iota // pgveil itself (config, limits, shutdown)
	SideClient               // the client broke the protocol or a rule
	SideUpstream             // the PostgreSQL server or the path to it
)

func (s Side) String() string { return [...]string{"proxy", "client", "upstream"}[s] }

func (e *Error) Error() string {
	if e.Err != nil {
		return fmt.Sprintf("%s %s: %s: %v", e.Severity, e.Code, e.Message, e.Err)
	}
	return fmt.Sprintf("%s %s: %s", e.Severity, e.Code, e.Message)
}

func (e *Error) Unwrap() error { return e.Err }

// response renders the error as the ErrorResponse the client receives.
func (e *Error) response() *pgproto3.ErrorResponse {
	return &pgproto3.ErrorResponse{Severity: e.Severity, SeverityUnlocalized: e.Severity, Code: e.Code, Message: e.Message}
}

func fatal(side Side, code, msg string, cause error) *Error {
	return &Error{Severity: "FATAL", Code: code, Message: msg, Side: side, Err: cause}
}

// SQLSTATEs pgveil itself uses, named as in PostgreSQL's errcodes.txt.
const (
	codeProtocolViolation    = "08P01"
	codeConnectionFailure    = "08006"
	codeInvalidAuthorization = "28000"
	codeInvalidPassword      = "28P01"
	codeTooManyConnections   = "53300"
	codeProgramLimitExceeded = "54000"
	codeAdminShutdown        = "57P01"
	codeIdleSessionTimeout   = "57P05"
	codeFeatureNotSupported  = "0A000"
	codeCannotConnectNow     = "57P03"
	codeInternalError        = "XX000"
	codeConfigurationFileErr = "F0000"
)

// asError converts any error into a client-facing *Error, hiding causes
// that are not meant for the client.
func asError(err error, fallback *Error) *Error {
	var e *Error
	if errors.As(err, &e) {
		return e
	}
	fallback.Err = err
	return fallback
}
