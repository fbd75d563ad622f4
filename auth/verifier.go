package auth

import (
	"crypto/hmac"
	"crypto/pbkdf2"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"strconv"
	"strings"
)

const (
	// DefaultIterations is the PBKDF2 iteration count NewVerifier uses,
	// PostgreSQL's default (scram_iterations).
	DefaultIterations = 4096
	// DefaultSaltLen is the salt length NewVerifier uses, as PostgreSQL.
	DefaultSaltLen = 16
	// KeyLen is the length of StoredKey and ServerKey (SHA-256).
	KeyLen = sha256.Size

	verifierPrefix = "SCRAM-SHA-256$"
)

// ErrInvalidVerifier is wrapped by every error ParseVerifier returns.
// Those errors say what is wrong but never quote the input, which is
// secret.
var ErrInvalidVerifier = errors.New("invalid SCRAM-SHA-256 verifier")

// Verifier is a SCRAM-SHA-256 verifier in PostgreSQL's format:
//
//	SCRAM-SHA-256$<iterations>:<base64 salt>$<base64 StoredKey>:<base64 ServerKey>
//
// It is what PostgreSQL stores in pg_authid.rolpassword. It does not reveal
// the password, but it is still a secret: StoredKey and ServerKey let
// whoever holds them impersonate the server to a client, and together with
// one observed exchange, the client to the server. Do not log it; its
// String method prints it in full, its LogValue method (used by log/slog)
// does not.
type Verifier struct {
	Iterations int
	Salt       []byte
	StoredKey  []byte // H(HMAC(SaltedPassword, "Client Key"))
	ServerKey  []byte // HMAC(SaltedPassword, "Server Key")
}

// ParseVerifier parses a verifier in PostgreSQL's format (see [Verifier]).
// It is strict: the iteration count must be a canonical positive decimal
// that fits in 32 bits, the salt non-empty, both keys 32 bytes, and every
// base64 part canonical standard base64 with padding, so that
// ParseVerifier(s).String() == s. Errors wrap [ErrInvalidVerifier] and never
// contain the input.
func ParseVerifier(s string) (*Verifier, error) {
	rest, ok := strings.CutPrefix(s, verifierPrefix)
	if !ok {
		switch {
		case len(s) == 35 && strings.HasPrefix(s, "md5"):
			return nil, invalidVerifier("MD5 password hashes are not supported, only SCRAM-SHA-256")
		case strings.HasPrefix(s, "SCRAM-"):
			return nil, invalidVerifier("unsupported SCRAM mechanism, only SCRAM-SHA-256")
		}
		return nil, invalidVerifier(`does not start with "SCRAM-SHA-256$" (a plain password is not a verifier)`)
	}
	factors, keys, ok := strings.Cut(rest, "$")
	if !ok {
		return nil, invalidVerifier(`missing "$" between <iterations>:<salt> and <StoredKey>:<ServerKey>`)
	}
	iterText, saltText, ok := strings.Cut(factors, ":")
	if !ok {
		return nil, invalidVerifier(`missing ":" between iteration count and salt`)
	}
	storedText, serverText, ok := strings.Cut(keys, ":")
	if !ok {
		return nil, invalidVerifier(`missing ":" between StoredKey and ServerKey`)
	}

	iterations, err := parseIterations(iterText)
	if err != nil {
		return nil, err
	}
	salt, err := decodeCanonical(saltText, "salt")
	if err != nil {
		return nil, err
	}
	if len(salt) == 0 {
		return nil, invalidVerifier("salt is empty")
	}
	storedKey, err := decodeCanonical(storedText, "StoredKey")
	if err != nil {
		return nil, err
	}
	if len(storedKey) != KeyLen {
		return nil, invalidVerifier(fmt.Sprintf("StoredKey is %d bytes, want %d", len(storedKey), KeyLen))
	}
	serverKey, err := decodeCanonical(serverText, "ServerKey")
	if err != nil {
		return nil, err
	}
	if len(serverKey) != KeyLen {
		return nil, invalidVerifier(fmt.Sprintf("ServerKey is %d bytes, want %d", len(serverKey), KeyLen))
	}
	return &Verifier{Iterations: iterations, Salt: salt, StoredKey: storedKey, ServerKey: serverKey}, nil
}

func invalidVerifier(reason string) error {
	return fmt.Errorf("%w: %s", ErrInvalidVerifier, reason)
}

func parseIterations(s string) (int, error) {
	const bad = "iteration count is not a positive decimal integer"
	if s == "" || len(s) > 10 || s[0] == '0' {
		return 0, invalidVerifier(bad)
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return 0, invalidVerifier(bad)
		}
	}
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil || n > math.MaxInt32 {
		return 0, invalidVerifier("iteration count is too large")
	}
	return int(n), nil
}

// decodeCanonical decodes standard padded base64 and insists that the input
// is the canonical encoding of the result (no whitespace, no non-zero
// padding bits), so that encoding round-trips.
func decodeCanonical(s, what string) ([]byte, error) {
	b, err := base64.StdEncoding.Strict().DecodeString(s)
	if err != nil || base64.StdEncoding.EncodeToString(b) != s {
		return nil, invalidVerifier(what + " is not valid base64")
	}
	return b, nil
}

// String returns v in PostgreSQL's format; it round-trips with
// [ParseVerifier]. The result is a secret: do not log it.
func (v *Verifier) String() string {
	return verifierPrefix + strconv.Itoa(v.Iterations) + ":" +
		base64.StdEncoding.EncodeToString(v.Salt) + "$" +
		base64.StdEncoding.EncodeToString(v.StoredKey) + ":" +
		base64.StdEncoding.EncodeToString(v.ServerKey)
}

// LogValue implements slog.LogValuer: it shows the iteration count and
// hides the salt and keys.
func (v *Verifier) LogValue() slog.Value {
	if v == nil {
		return slog.StringValue("<nil>")
	}
	return slog.StringValue(verifierPrefix + strconv.Itoa(v.Iterations) + ":<redacted>")
}

// valid reports whether v can be used for an exchange.
func (v *Verifier) valid() bool {
	return v.Iterations > 0 && v.Iterations <= math.MaxInt32 && len(v.Salt) > 0 &&
		len(v.StoredKey) == KeyLen && len(v.ServerKey) == KeyLen
}

// NewVerifier returns a verifier for password as PostgreSQL would make it
// for CREATE ROLE ... PASSWORD: [DefaultIterations] iterations, a random
// salt of [DefaultSaltLen] bytes, and the password normalized with SASLprep
// the way PostgreSQL does (falling back to the raw bytes where PostgreSQL
// does). An empty password is an error, as PostgreSQL does not accept one.
func NewVerifier(password string) (*Verifier, error) {
	salt := make([]byte, DefaultSaltLen)
	if _, err := rand.Read(salt); err != nil {
		return nil, err
	}
	return DeriveVerifier(password, salt, DefaultIterations)
}

// DeriveVerifier is NewVerifier with a given salt and iteration count. It
// is deterministic, for tests and known vectors; real verifiers need a
// fresh random salt, which NewVerifier provides.
func DeriveVerifier(password string, salt []byte, iterations int) (*Verifier, error) {
	if password == "" {
		return nil, errors.New("auth: empty password")
	}
	if len(salt) == 0 {
		return nil, errors.New("auth: empty salt")
	}
	if iterations <= 0 || iterations > math.MaxInt32 {
		return nil, errors.New("auth: iteration count out of range")
	}
	stored, server, err := scramKeys(saslprep(password), salt, iterations)
	if err != nil {
		return nil, err
	}
	return &Verifier{
		Iterations: iterations,
		Salt:       append([]byte(nil), salt...),
		StoredKey:  stored,
		ServerKey:  server,
	}, nil
}

// Verify reports whether password matches v, in constant time with respect
// to the keys. It costs v.Iterations rounds of PBKDF2.
func (v *Verifier) Verify(password string) bool {
	if password == "" || !v.valid() {
		return false
	}
	stored, server, err := scramKeys(saslprep(password), v.Salt, v.Iterations)
	if err != nil {
		return false
	}
	ok := hmac.Equal(stored, v.StoredKey)
	return hmac.Equal(server, v.ServerKey) && ok
}

// scramKeys derives StoredKey and ServerKey from an already SASLprep'd
// password (RFC 5802, section 3).
func scramKeys(password string, salt []byte, iterations int) (storedKey, serverKey []byte, err error) {
	salted, err := pbkdf2.Key(sha256.New, password, salt, iterations, KeyLen)
	if err != nil {
		return nil, nil, fmt.Errorf("auth: deriving SCRAM keys: %w", err)
	}
	clientKey := hmacSHA256(salted, "Client Key")
	sum := sha256.Sum256(clientKey)
	return sum[:], hmacSHA256(salted, "Server Key"), nil
}

func hmacSHA256(key []byte, msg string) []byte {
	m := hmac.New(sha256.New, key)
	m.Write([]byte(msg))
	return m.Sum(nil)
}
