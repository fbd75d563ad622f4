package auth

import (
	"strings"

	"github.com/jackc/pgx/v5/pgproto3"
)

// SQLSTATE codes used by this package, as PostgreSQL uses them during
// authentication.
const (
	// CodeInvalidPassword is invalid_password: a wrong password or an
	// unknown user (the two are deliberately indistinguishable).
	CodeInvalidPassword = "28P01"
	// CodeInvalidAuthorization is invalid_authorization_specification.
	CodeInvalidAuthorization = "28000"
	// CodeProtocolViolation is protocol_violation: the client sent
	// something that is not a valid step of the exchange.
	CodeProtocolViolation = "08P01"
	// CodeFeatureNotSupported is feature_not_supported, which PostgreSQL
	// uses for a mandatory SCRAM extension.
	CodeFeatureNotSupported = "0A000"
)

// Error is an authentication failure destined for the client.
//
// Code, Message and Detail are safe to send to the client (see
// [Error.Response]); Err is the internal cause, for logs only, and must not
// be sent to the client: for example it says whether the user existed.
type Error struct {
	Code    string // SQLSTATE, e.g. "28P01"
	Message string // primary message for the client
	Detail  string // optional detail for the client
	Err     error  // internal cause, for logs only; may be nil
}

// Error returns the client-facing message and code followed by the internal
// cause, for logs.
func (e *Error) Error() string {
	var b strings.Builder
	b.WriteString("auth: ")
	b.WriteString(e.Message)
	if e.Detail != "" {
		b.WriteString(" (")
		b.WriteString(e.Detail)
		b.WriteString(")")
	}
	b.WriteString(" [SQLSTATE ")
	b.WriteString(e.Code)
	b.WriteString("]")
	if e.Err != nil {
		b.WriteString(": ")
		b.WriteString(e.Err.Error())
	}
	return b.String()
}

// Unwrap returns the internal cause.
func (e *Error) Unwrap() error { return e.Err }

// Response returns the FATAL ErrorResponse to send to the client for e,
// as PostgreSQL would send it. It never includes Err.
func (e *Error) Response() *pgproto3.ErrorResponse {
	return &pgproto3.ErrorResponse{
		Severity:            "FATAL",
		SeverityUnlocalized: "FATAL",
		Code:                e.Code,
		Message:             e.Message,
		Detail:              e.Detail,
	}
}

// protocolError is a protocol violation (08P01) with an internal cause.
func protocolError(message, detail string, cause error) *Error {
	return &Error{Code: CodeProtocolViolation, Message: message, Detail: detail, Err: cause}
}
