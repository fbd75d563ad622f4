package auth

import (
	"bytes"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"errors"
	"fmt"
	"strings"
	"sync"

	"github.com/jackc/pgx/v5/pgproto3"
	"github.com/xdg-go/scram"
)

// Conn is what authentication needs of a client connection during startup.
type Conn interface {
	// Send writes msg to the client AND flushes it.
	Send(msg pgproto3.BackendMessage) error
	// Receive returns the next message from the client: its type byte and
	// its body (without the 4-byte length). body is valid until the next
	// call. Implementations should refuse absurdly long messages before
	// reading them; SCRAM rejects bodies over 65535 bytes.
	Receive() (typ byte, body []byte, err error)
}

const (
	// MechanismSCRAMSHA256 is the only SASL mechanism offered.
	// SCRAM-SHA-256-PLUS is not offered: channel binding is not implemented.
	MechanismSCRAMSHA256 = "SCRAM-SHA-256"

	// maxSASLMessageLen is PostgreSQL's PG_MAX_AUTH_TOKEN_LENGTH.
	maxSASLMessageLen = 65535
	// serverNonceLen is the number of random bytes in the server's part
	// of the nonce (PostgreSQL's SCRAM_RAW_NONCE_LEN).
	serverNonceLen = 18
)

var (
	// ErrUnknownUser is the internal cause (Error.Err) of a failure for a
	// user that has no verifier: the client saw a mock exchange.
	ErrUnknownUser = errors.New("unknown user (mock SCRAM exchange)")
	// ErrWrongPassword is the internal cause (Error.Err) of a failure
	// where the client's proof did not match the verifier.
	ErrWrongPassword = errors.New("wrong password (SCRAM proof does not match)")
)

// newServerNonce returns the server's part of the nonce: 18 bytes from
// crypto/rand, base64. Tests replace it.
var newServerNonce = func() string {
	b := make([]byte, serverNonceLen)
	rand.Read(b) // never fails (crypto/rand crashes the program instead)
	return base64.StdEncoding.EncodeToString(b)
}

// mockSecret is the per-process secret from which mock salts for unknown
// users are derived (PostgreSQL uses mock_auth_nonce from pg_control).
var mockSecret = sync.OnceValue(func() []byte {
	b := make([]byte, 32)
	rand.Read(b)
	return b
})

// mockCredentials returns credentials for a user that cannot log in: a
// salt that is deterministic for the user in this process (so probing the
// same name twice sees the same salt, as for a real user), the default
// iteration count, and random keys that no proof can match.
func mockCredentials(user string) scram.StoredCredentials {
	m := hmac.New(sha256.New, mockSecret())
	m.Write([]byte("pgveil mock SCRAM salt\x00"))
	m.Write([]byte(user))
	salt := m.Sum(nil)[:DefaultSaltLen]
	keys := make([]byte, 2*KeyLen)
	rand.Read(keys)
	return scram.StoredCredentials{
		KeyFactors: scram.KeyFactors{Salt: string(salt), Iters: DefaultIterations},
		StoredKey:  keys[:KeyLen],
		ServerKey:  keys[KeyLen:],
	}
}

// SCRAM runs a SCRAM-SHA-256 exchange (RFC 5802, RFC 7677) with the client
// for user, as PostgreSQL 15+ does.
//
// user is the user name from the startup message; the user name inside
// the SCRAM messages is ignored (PostgreSQL clients send it empty). v == nil
// means the user is unknown: SCRAM then runs a mock exchange, with a fake
// salt that is deterministic for the user name within this process, and
// fails exactly as a wrong password does, so that probing cannot tell
// unknown users from wrong passwords. A v that is not usable (e.g. a key of
// the wrong length) is treated the same way.
//
// The client may answer with the gs2 header "n" (no channel binding) or
// "y" (it supports channel binding but the server did not offer it); "p"
// (channel binding) is refused, as SCRAM-SHA-256-PLUS is never offered.
//
// On success SCRAM has sent AuthenticationSASLFinal but NOT
// AuthenticationOk: the caller sends that once it is ready (e.g. after
// connecting upstream).
//
// A failure meant for the client is an *[Error] (28P01 for a wrong
// password or unknown user, 08P01 for protocol violations); send its
// [Error.Response] and close. Any other error comes from c (I/O, including
// io.EOF when the client hangs up, as psql does to prompt for a password)
// and means the connection should just be closed.
func SCRAM(c Conn, user string, v *Verifier) error {
	var (
		creds scram.StoredCredentials
		cause error // why the exchange is doomed, if it is
	)
	switch {
	case v == nil:
		creds, cause = mockCredentials(user), ErrUnknownUser
	case !v.valid():
		creds, cause = mockCredentials(user), fmt.Errorf("%w: stored verifier is unusable", ErrUnknownUser)
	default:
		creds = scram.StoredCredentials{
			KeyFactors: scram.KeyFactors{Salt: string(v.Salt), Iters: v.Iterations},
			StoredKey:  v.StoredKey,
			ServerKey:  v.ServerKey,
		}
	}

	srv, err := scram.SHA256.NewServer(func(string) (scram.StoredCredentials, error) {
		// The SCRAM user name is ignored, as PostgreSQL does: the user
		// is the one from the startup message.
		return creds, nil
	})
	if err != nil {
		return fmt.Errorf("auth: creating SCRAM server: %w", err)
	}
	conv := srv.WithNonceGenerator(newServerNonce).NewConversation()

	if err := c.Send(&pgproto3.AuthenticationSASL{AuthMechanisms: []string{MechanismSCRAMSHA256}}); err != nil {
		return fmt.Errorf("auth: sending AuthenticationSASL: %w", err)
	}

	// client-first-message, in SASLInitialResponse.
	body, err := receiveSASL(c)
	if err != nil {
		return err
	}
	mechanism, data, hasData, err := decodeInitialResponse(body)
	if err != nil {
		return err
	}
	if mechanism != MechanismSCRAMSHA256 {
		return protocolError("client selected an invalid SASL authentication mechanism", "",
			fmt.Errorf("client selected SASL mechanism %q", mechanism))
	}
	clientFirst := string(data)
	if !hasData {
		// No initial response: send an empty challenge and take the
		// client-first-message from the next SASLResponse, as PostgreSQL.
		if err := c.Send(&pgproto3.AuthenticationSASLContinue{}); err != nil {
			return fmt.Errorf("auth: sending AuthenticationSASLContinue: %w", err)
		}
		if clientFirst, err = receiveSASLResponse(c); err != nil {
			return err
		}
	}
	if e := checkClientFirst(clientFirst); e != nil {
		return e
	}
	serverFirst, err := conv.Step(clientFirst)
	if err != nil {
		return protocolError("malformed SCRAM message", "", fmt.Errorf("client-first-message: %w", err))
	}

	if err := c.Send(&pgproto3.AuthenticationSASLContinue{Data: []byte(serverFirst)}); err != nil {
		return fmt.Errorf("auth: sending AuthenticationSASLContinue: %w", err)
	}

	// client-final-message, in SASLResponse.
	clientFinal, err := receiveSASLResponse(c)
	if err != nil {
		return err
	}
	if e := checkClientFinal(clientFinal); e != nil {
		return e
	}
	serverFinal, err := conv.Step(clientFinal)
	if err != nil {
		switch serverFinal {
		case scram.ErrInvalidProof:
			// The proof did not match. For a mock exchange it cannot.
			if cause == nil {
				cause = ErrWrongPassword
			}
			return authFailed(user, cause)
		case scram.ErrOtherError:
			// The nonce does not match the one sent: PostgreSQL fails
			// authentication (not the protocol) in that case.
			if cause == nil {
				cause = err
			}
			return authFailed(user, cause)
		case scram.ErrChannelBindingsDontMatch:
			return protocolError("unexpected SCRAM channel-binding attribute in client-final-message", "", err)
		default:
			return protocolError("malformed SCRAM message", "", fmt.Errorf("client-final-message: %w", err))
		}
	}
	if cause != nil || !conv.Valid() {
		// Doomed from the start (mock): fail whatever the client sent.
		if cause == nil {
			cause = ErrWrongPassword
		}
		return authFailed(user, cause)
	}

	if err := c.Send(&pgproto3.AuthenticationSASLFinal{Data: []byte(serverFinal)}); err != nil {
		return fmt.Errorf("auth: sending AuthenticationSASLFinal: %w", err)
	}
	return nil
}

// authFailed is the failure PostgreSQL reports for both a wrong password
// and an unknown user.
func authFailed(user string, cause error) *Error {
	return &Error{
		Code:    CodeInvalidPassword,
		Message: `password authentication failed for user "` + user + `"`,
		Err:     cause,
	}
}

// receiveSASL returns the body of the next message, which must be a SASL
// response ('p').
func receiveSASL(c Conn) ([]byte, error) {
	typ, body, err := c.Receive()
	if err != nil {
		return nil, fmt.Errorf("auth: receiving SASL response: %w", err)
	}
	if typ != 'p' {
		return nil, protocolError(fmt.Sprintf("expected SASL response, got message type %d", typ), "", nil)
	}
	if len(body) > maxSASLMessageLen {
		return nil, protocolError("invalid SASL response message length", "",
			fmt.Errorf("SASL response of %d bytes", len(body)))
	}
	return body, nil
}

// receiveSASLResponse receives a SASLResponse and returns its data, copied.
func receiveSASLResponse(c Conn) (string, error) {
	body, err := receiveSASL(c)
	if err != nil {
		return "", err
	}
	var msg pgproto3.SASLResponse
	if err := msg.Decode(body); err != nil {
		return "", protocolError("invalid SASLResponse message", "", err)
	}
	return string(msg.Data), nil
}

// decodeInitialResponse decodes a SASLInitialResponse body with pgproto3,
// then checks the data length that pgproto3 skips: it must be -1 (no
// initial response) or the exact length of the rest of the message.
func decodeInitialResponse(body []byte) (mechanism string, data []byte, hasData bool, err error) {
	var msg pgproto3.SASLInitialResponse
	if err := msg.Decode(body); err != nil {
		return "", nil, false, protocolError("invalid SASLInitialResponse message", "", err)
	}
	lenAt := bytes.IndexByte(body, 0) + 1
	n := int32(binary.BigEndian.Uint32(body[lenAt : lenAt+4]))
	switch {
	case n == -1 && len(msg.Data) == 0:
		return msg.AuthMechanism, nil, false, nil
	case n >= 0 && int(n) == len(msg.Data):
		return msg.AuthMechanism, msg.Data, true, nil
	}
	return "", nil, false, protocolError("invalid SASLInitialResponse message", "",
		fmt.Errorf("initial response length %d, but %d bytes follow", n, len(msg.Data)))
}

// checkClientFirst checks what PostgreSQL checks in client-first-message
// and github.com/xdg-go/scram does not, or reports less clearly.
func checkClientFirst(msg string) *Error {
	malformed := func(detail string) *Error {
		return protocolError("malformed SCRAM message", detail, errors.New("client-first-message: "+detail))
	}
	// gs2-cbind-flag
	switch {
	case strings.HasPrefix(msg, "n,"), strings.HasPrefix(msg, "y,"):
		msg = msg[2:]
	case strings.HasPrefix(msg, "p"):
		return malformed("The client selected SCRAM-SHA-256 without channel binding, but the SCRAM message includes channel binding data.")
	default:
		return malformed("Unexpected channel-binding flag.")
	}
	// authzid
	if strings.HasPrefix(msg, "a=") {
		return protocolError("client uses authorization identity, but it is not supported", "",
			errors.New("client-first-message has an authzid"))
	}
	bare, ok := strings.CutPrefix(msg, ",")
	if !ok {
		return malformed("Unexpected attribute in client-first-message.")
	}
	if strings.HasPrefix(bare, "m=") {
		return &Error{Code: CodeFeatureNotSupported, Message: "client requires an unsupported SCRAM extension",
			Err: errors.New("client-first-message has a mandatory extension")}
	}
	// client-first-message-bare: n=<user>,r=<nonce>[,extensions]
	fields := strings.Split(bare, ",")
	if len(fields) < 2 || !strings.HasPrefix(fields[0], "n=") || !strings.HasPrefix(fields[1], "r=") {
		return malformed("Expected attributes \"n\" and \"r\" in client-first-message.")
	}
	nonce := fields[1][2:]
	if nonce == "" {
		return malformed("Empty nonce in client-first-message.")
	}
	for i := 0; i < len(nonce); i++ {
		if nonce[i] < 0x21 || nonce[i] > 0x7e {
			return malformed("Non-printable characters in SCRAM nonce.")
		}
	}
	return nil
}

// checkClientFinal checks the proof's length, which PostgreSQL reports as a
// protocol violation and github.com/xdg-go/scram as a failed proof.
func checkClientFinal(msg string) *Error {
	i := strings.LastIndexByte(msg, ',')
	proof, ok := strings.CutPrefix(msg[i+1:], "p=")
	if !ok {
		return protocolError("malformed SCRAM message", "Could not find proof in client-final-message.",
			errors.New("client-final-message has no proof"))
	}
	b, err := base64.StdEncoding.DecodeString(proof)
	if err != nil || len(b) != KeyLen {
		return protocolError("malformed SCRAM message", "Malformed proof in client-final-message.",
			errors.New("client-final-message has a malformed proof"))
	}
	return nil
}
