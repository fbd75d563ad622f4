package proxy

import (
	"net/netip"

	"github.com/jackc/pgx/v5/pgproto3"

	"github.com/pgveil/pgveil/proxy/track"
)

// SessionInfo is who a session is, decided at login and fixed for the
// session's life. Policy decisions take it as input.
type SessionInfo struct {
	ID   uint64 // process-unique session number, for logs
	User string // pgveil user name, e.g. "anna.keller"
	// UpstreamUser is the PostgreSQL role the session runs as upstream
	// ("crm_reader"): $user in its search_path.
	UpstreamUser string
	Roles        []string   // from [[users]] roles
	Region       string     // e.g. "EU"; "unknown" when nothing matched
	Listener     string     // listener address the client connected to
	ClientAddr   netip.Addr // the client's IP address
	TLS          bool       // the client connection is encrypted
	Database     string     // upstream database
	Protocol     uint32     // negotiated protocol version (3.0 = 196608, 3.2 = 196610)
	// SearchPath is the session's search_path at login, e.g. ["$user",
	// "public"]; read only when a Filter is configured.
	SearchPath []string
	// CertCN is the Subject CN of the client certificate presented over
	// TLS ("" for none); CertVerified says it chains to [server] client_ca.
	// Users with cert = true log in by it; others merely have it recorded.
	CertCN       string
	CertVerified bool
	// ServerParams are the ParameterStatus values the upstream reported at
	// login (standard_conforming_strings, client_encoding, ...).
	ServerParams map[string]string
}

// A Filter inspects and rewrites one session's messages on behalf of the
// masking engine. Each server message it wants comes with the attribution
// from the session's protocol tracker: which statement and portal produced
// it. A session whose Filter is nil is forwarded byte for byte, decoding
// only what the tracker needs.
//
// Client is called from the client-reading goroutine and Server from the
// server-reading goroutine, possibly at the same time.
type Filter interface {
	// Client sees each decoded client message before the tracker records
	// it and before it is forwarded. It may return a replacement to forward
	// instead (nil forwards msg as is): this is how a statement is refused
	// without desynchronising the protocol, by sending the server something
	// that fails in its place and rewriting that failure on the way back. A
	// non-nil error ends the session with a FATAL ErrorResponse (an *Error
	// chooses the SQLSTATE). msg is valid only during the call.
	Client(msg pgproto3.FrontendMessage) (replace pgproto3.FrontendMessage, err error)
	// WantsServer reports whether server messages of this type must pass
	// through Server; others are forwarded as bytes. It must give the same
	// answer for the whole session.
	WantsServer(typ byte) bool
	// Server returns what the client receives in place of msg: msg itself
	// to forward it, or messages appended to dst (the filter's reusable
	// buffer), or nothing to drop it. msg is a complete message (type byte,
	// length, body), valid only during the call.
	Server(dst, msg []byte, a track.Attribution) ([]byte, error)
}

// FilterFunc chooses a session's Filter once it is authenticated; nil means
// the session is transparent.
type FilterFunc func(SessionInfo) Filter
