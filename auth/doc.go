// Package auth decides who a client connection is, before pgveil connects
// it to anything upstream.
//
// pgveil authenticates clients itself and never relays a client's password
// (or anything derived from it) to the upstream server. This package holds
// the password side of that: SCRAM-SHA-256 verifiers in PostgreSQL's stored
// format ([Verifier], [ParseVerifier], [NewVerifier]) and the server side of
// the SASL SCRAM-SHA-256 exchange as PostgreSQL 15+ runs it ([SCRAM]).
// Client certificates are not handled here yet.
//
// Failures meant for the client are returned as *[Error], which carries the
// SQLSTATE and message to put in the FATAL ErrorResponse ([Error.Response])
// and, separately, an internal cause for logs. Any other error means the
// connection itself failed (I/O) and should simply be closed.
package auth
