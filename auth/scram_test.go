package auth

import (
	"crypto/hmac"
	"crypto/pbkdf2"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"errors"
	"io"
	"reflect"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5/pgproto3"
)

// The SCRAM-SHA-256 example exchange of RFC 7677, section 3.
const (
	rfcPassword    = "pencil"
	rfcSalt        = "W22ZaJ0SNY7soEsUEjb6gQ=="
	rfcServerNonce = "%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0"
	rfcClientFirst = "n,,n=user,r=rOprNGfwEbeRWgbNEkqO"
	rfcServerFirst = "r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096"
	rfcClientFinal = "c=biws,r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,p=dHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVQ="
	rfcServerFinal = "v=6rriTRBi23WpRR/wtup+mMhUZUn/dB5nLTJRsjl95G4="
)

// scriptConn is a Conn whose client side is a script: each step gets the
// last message SCRAM sent and returns the client's next message. After the
// last step, Receive returns io.EOF.
type scriptConn struct {
	t     *testing.T
	sent  []pgproto3.BackendMessage
	steps []step
}

type step func(t *testing.T, last pgproto3.BackendMessage) (typ byte, body []byte, err error)

func (c *scriptConn) Send(msg pgproto3.BackendMessage) error {
	// Encode, as a real Conn would, to catch messages that cannot be.
	if _, err := msg.Encode(nil); err != nil {
		return err
	}
	c.sent = append(c.sent, msg)
	return nil
}

func (c *scriptConn) Receive() (byte, []byte, error) {
	if len(c.steps) == 0 {
		return 0, nil, io.EOF
	}
	s := c.steps[0]
	c.steps = c.steps[1:]
	var last pgproto3.BackendMessage
	if n := len(c.sent); n > 0 {
		last = c.sent[n-1]
	}
	return s(c.t, last)
}

// run runs SCRAM against the script.
func (c *scriptConn) run(t *testing.T, user string, v *Verifier) error {
	c.t = t
	return SCRAM(c, user, v)
}

// initialResponse is a SASLInitialResponse with the given mechanism and data.
func initialResponse(mechanism, data string) step {
	return func(*testing.T, pgproto3.BackendMessage) (byte, []byte, error) {
		body, err := (&pgproto3.SASLInitialResponse{AuthMechanism: mechanism, Data: []byte(data)}).Encode(nil)
		return 'p', body[5:], err
	}
}

// raw is a message of any type with any body.
func raw(typ byte, body string) step {
	return func(*testing.T, pgproto3.BackendMessage) (byte, []byte, error) {
		return typ, []byte(body), nil
	}
}

// response is a SASLResponse with the given data.
func response(data string) step { return raw('p', data) }

// finalEdit spoils a client-final-message: nonceSuffix is appended to the
// nonce (before the proof is computed), proof rewrites the base64 proof.
type finalEdit struct {
	nonceSuffix string
	proof       func(string) string
}

// clientFinal answers the server-first-message carried by the last message
// with a client-final-message for password, with channel binding attribute
// cbind and the proof computed over clientFirstBare, spoiled by edit.
func clientFinal(password, cbind, clientFirstBare string, edit finalEdit) step {
	return func(t *testing.T, last pgproto3.BackendMessage) (byte, []byte, error) {
		t.Helper()
		cont, ok := last.(*pgproto3.AuthenticationSASLContinue)
		if !ok {
			t.Fatalf("client-final: last message is %T, want AuthenticationSASLContinue", last)
		}
		serverFirst := string(cont.Data)
		nonce, salt, iters := parseServerFirst(t, serverFirst)
		withoutProof := "c=" + cbind + ",r=" + nonce + edit.nonceSuffix
		authMessage := clientFirstBare + "," + serverFirst + "," + withoutProof
		proof, _ := scramProof(t, password, salt, iters, authMessage)
		if edit.proof != nil {
			proof = edit.proof(proof)
		}
		return 'p', []byte(withoutProof + ",p=" + proof), nil
	}
}

func parseServerFirst(t *testing.T, s string) (nonce string, salt []byte, iters int) {
	t.Helper()
	f := strings.Split(s, ",")
	if len(f) != 3 || !strings.HasPrefix(f[0], "r=") || !strings.HasPrefix(f[1], "s=") || !strings.HasPrefix(f[2], "i=") {
		t.Fatalf("malformed server-first-message %q", s)
	}
	salt, err := base64.StdEncoding.DecodeString(f[1][2:])
	if err != nil {
		t.Fatalf("server-first-message salt: %v", err)
	}
	for _, d := range f[2][2:] {
		iters = iters*10 + int(d-'0')
	}
	return f[0][2:], salt, iters
}

// scramProof is an independent client-side computation (RFC 5802,
// section 3) of the ClientProof and the expected ServerSignature.
func scramProof(t *testing.T, password string, salt []byte, iters int, authMessage string) (proof, serverSignature string) {
	t.Helper()
	salted, err := pbkdf2.Key(sha256.New, password, salt, iters, 32)
	if err != nil {
		t.Fatal(err)
	}
	mac := func(key []byte, msg string) []byte {
		m := hmac.New(sha256.New, key)
		m.Write([]byte(msg))
		return m.Sum(nil)
	}
	clientKey := mac(salted, "Client Key")
	storedKey := sha256.Sum256(clientKey)
	sig := mac(storedKey[:], authMessage)
	for i := range clientKey {
		clientKey[i] ^= sig[i]
	}
	return base64.StdEncoding.EncodeToString(clientKey),
		base64.StdEncoding.EncodeToString(mac(mac(salted, "Server Key"), authMessage))
}

func fixServerNonce(t *testing.T, nonce string) {
	old := newServerNonce
	newServerNonce = func() string { return nonce }
	t.Cleanup(func() { newServerNonce = old })
}

func mustVerifier(t *testing.T, password string) *Verifier {
	t.Helper()
	v, err := NewVerifier(password)
	if err != nil {
		t.Fatal(err)
	}
	return v
}

// TestSCRAMRFC7677 replays RFC 7677's example exchange byte for byte.
func TestSCRAMRFC7677(t *testing.T) {
	fixServerNonce(t, rfcServerNonce)
	salt, _ := base64.StdEncoding.DecodeString(rfcSalt)
	v, err := DeriveVerifier(rfcPassword, salt, 4096)
	if err != nil {
		t.Fatal(err)
	}
	c := &scriptConn{steps: []step{
		initialResponse("SCRAM-SHA-256", rfcClientFirst),
		response(rfcClientFinal),
	}}
	if err := c.run(t, "user", v); err != nil {
		t.Fatalf("SCRAM: %v", err)
	}
	if len(c.sent) != 3 {
		t.Fatalf("sent %d messages, want 3: %#v", len(c.sent), c.sent)
	}
	if m, ok := c.sent[0].(*pgproto3.AuthenticationSASL); !ok || len(m.AuthMechanisms) != 1 || m.AuthMechanisms[0] != "SCRAM-SHA-256" {
		t.Errorf("first message = %#v, want AuthenticationSASL offering only SCRAM-SHA-256", c.sent[0])
	}
	if m, ok := c.sent[1].(*pgproto3.AuthenticationSASLContinue); !ok || string(m.Data) != rfcServerFirst {
		t.Errorf("second message = %#v, want AuthenticationSASLContinue %q", c.sent[1], rfcServerFirst)
	}
	if m, ok := c.sent[2].(*pgproto3.AuthenticationSASLFinal); !ok || string(m.Data) != rfcServerFinal {
		t.Errorf("third message = %#v, want AuthenticationSASLFinal %q", c.sent[2], rfcServerFinal)
	}
}

func TestSCRAM(t *testing.T) {
	const user = "alice"
	v := mustVerifier(t, "secret")
	badKey := *v
	badKey.StoredKey = v.StoredKey[:16]

	const cfb = "n=,r=clientnonce0123456789"
	ok := func(steps ...step) []step { return steps }
	tests := []struct {
		name     string
		v        *Verifier
		steps    []step
		wantCode string // "" for success
		wantMsg  string
		wantErr  error // errors.Is on the internal cause, if not nil
	}{
		{
			name:  "no channel binding (n)",
			v:     v,
			steps: ok(initialResponse("SCRAM-SHA-256", "n,,"+cfb), clientFinal("secret", "biws", cfb, finalEdit{})),
		},
		{
			name:  "client supports channel binding, server did not offer it (y)",
			v:     v,
			steps: ok(initialResponse("SCRAM-SHA-256", "y,,"+cfb), clientFinal("secret", "eSws", cfb, finalEdit{})),
		},
		{
			name:  "SCRAM user name is ignored",
			v:     v,
			steps: ok(initialResponse("SCRAM-SHA-256", "n,,n=mallory,r=abc"), clientFinal("secret", "biws", "n=mallory,r=abc", finalEdit{})),
		},
		{
			name:  "client-first extensions are ignored",
			v:     v,
			steps: ok(initialResponse("SCRAM-SHA-256", "n,,"+cfb+",x=ext"), clientFinal("secret", "biws", cfb+",x=ext", finalEdit{})),
		},
		{
			name: "no initial response: empty challenge first",
			v:    v,
			steps: ok(
				raw('p', "SCRAM-SHA-256\x00\xff\xff\xff\xff"),
				func(t *testing.T, last pgproto3.BackendMessage) (byte, []byte, error) {
					if m, ok := last.(*pgproto3.AuthenticationSASLContinue); !ok || len(m.Data) != 0 {
						t.Errorf("got %#v, want an empty AuthenticationSASLContinue", last)
					}
					return 'p', []byte("n,," + cfb), nil
				},
				clientFinal("secret", "biws", cfb, finalEdit{})),
		},
		{
			name:     "wrong password",
			v:        v,
			steps:    ok(initialResponse("SCRAM-SHA-256", "n,,"+cfb), clientFinal("Secret", "biws", cfb, finalEdit{})),
			wantCode: "28P01", wantMsg: `password authentication failed for user "alice"`, wantErr: ErrWrongPassword,
		},
		{
			name:     "unknown user",
			v:        nil,
			steps:    ok(initialResponse("SCRAM-SHA-256", "n,,"+cfb), clientFinal("secret", "biws", cfb, finalEdit{})),
			wantCode: "28P01", wantMsg: `password authentication failed for user "alice"`, wantErr: ErrUnknownUser,
		},
		{
			name:     "unknown user, y",
			v:        nil,
			steps:    ok(initialResponse("SCRAM-SHA-256", "y,,"+cfb), clientFinal("secret", "eSws", cfb, finalEdit{})),
			wantCode: "28P01", wantMsg: `password authentication failed for user "alice"`, wantErr: ErrUnknownUser,
		},
		{
			name:     "unusable verifier is a mock exchange",
			v:        &badKey,
			steps:    ok(initialResponse("SCRAM-SHA-256", "n,,"+cfb), clientFinal("secret", "biws", cfb, finalEdit{})),
			wantCode: "28P01", wantMsg: `password authentication failed for user "alice"`, wantErr: ErrUnknownUser,
		},
		{
			name:     "client-final nonce differs",
			v:        v,
			steps:    ok(initialResponse("SCRAM-SHA-256", "n,,"+cfb), clientFinal("secret", "biws", cfb, finalEdit{nonceSuffix: "x"})),
			wantCode: "28P01", wantMsg: `password authentication failed for user "alice"`,
		},
		{
			name:     "first message is not a SASL response",
			v:        v,
			steps:    ok(raw('Q', "select 1\x00")),
			wantCode: "08P01", wantMsg: "expected SASL response, got message type 81",
		},
		{
			name:     "first message is Terminate",
			v:        nil,
			steps:    ok(raw('X', "")),
			wantCode: "08P01", wantMsg: "expected SASL response",
		},
		{
			name:     "second message is not a SASL response",
			v:        v,
			steps:    ok(initialResponse("SCRAM-SHA-256", "n,,"+cfb), raw('Q', "select 1\x00")),
			wantCode: "08P01", wantMsg: "expected SASL response",
		},
		{
			name:     "SCRAM-SHA-256-PLUS was not offered",
			v:        v,
			steps:    ok(initialResponse("SCRAM-SHA-256-PLUS", "p=tls-server-end-point,,"+cfb)),
			wantCode: "08P01", wantMsg: "client selected an invalid SASL authentication mechanism",
		},
		{
			name:     "unknown mechanism",
			v:        v,
			steps:    ok(initialResponse("OAUTHBEARER", "n,,")),
			wantCode: "08P01", wantMsg: "client selected an invalid SASL authentication mechanism",
		},
		{
			name:     "channel binding flag p with SCRAM-SHA-256",
			v:        v,
			steps:    ok(initialResponse("SCRAM-SHA-256", "p=tls-server-end-point,,"+cfb)),
			wantCode: "08P01", wantMsg: "malformed SCRAM message",
		},
		{
			name:     "unknown channel binding flag",
			v:        v,
			steps:    ok(initialResponse("SCRAM-SHA-256", "x,,"+cfb)),
			wantCode: "08P01", wantMsg: "malformed SCRAM message",
		},
		{
			name:     "authorization identity",
			v:        v,
			steps:    ok(initialResponse("SCRAM-SHA-256", "n,a=bob,"+cfb)),
			wantCode: "08P01", wantMsg: "client uses authorization identity, but it is not supported",
		},
		{
			name:     "mandatory extension",
			v:        v,
			steps:    ok(initialResponse("SCRAM-SHA-256", "n,,m=ext,"+cfb)),
			wantCode: "0A000", wantMsg: "client requires an unsupported SCRAM extension",
		},
		{
			name:     "garbage client-first",
			v:        v,
			steps:    ok(initialResponse("SCRAM-SHA-256", "hello")),
			wantCode: "08P01", wantMsg: "malformed SCRAM message",
		},
		{
			name:     "empty client-first",
			v:        v,
			steps:    ok(initialResponse("SCRAM-SHA-256", "")),
			wantCode: "08P01", wantMsg: "malformed SCRAM message",
		},
		{
			name:     "no nonce",
			v:        v,
			steps:    ok(initialResponse("SCRAM-SHA-256", "n,,n=")),
			wantCode: "08P01", wantMsg: "malformed SCRAM message",
		},
		{
			name:     "empty nonce",
			v:        v,
			steps:    ok(initialResponse("SCRAM-SHA-256", "n,,n=,r=")),
			wantCode: "08P01", wantMsg: "malformed SCRAM message",
		},
		{
			name:     "non-printable nonce",
			v:        v,
			steps:    ok(initialResponse("SCRAM-SHA-256", "n,,n=,r=abc def")),
			wantCode: "08P01", wantMsg: "malformed SCRAM message",
		},
		{
			name:     "bad user name encoding",
			v:        v,
			steps:    ok(initialResponse("SCRAM-SHA-256", "n,,n=a=b,r=abc")),
			wantCode: "08P01", wantMsg: "malformed SCRAM message",
		},
		{
			name:     "n header but c=eSws",
			v:        v,
			steps:    ok(initialResponse("SCRAM-SHA-256", "n,,"+cfb), clientFinal("secret", "eSws", cfb, finalEdit{})),
			wantCode: "08P01", wantMsg: "unexpected SCRAM channel-binding attribute",
		},
		{
			name:     "y header but c=biws",
			v:        v,
			steps:    ok(initialResponse("SCRAM-SHA-256", "y,,"+cfb), clientFinal("secret", "biws", cfb, finalEdit{})),
			wantCode: "08P01", wantMsg: "unexpected SCRAM channel-binding attribute",
		},
		{
			name:     "c= not base64",
			v:        v,
			steps:    ok(initialResponse("SCRAM-SHA-256", "n,,"+cfb), clientFinal("secret", "b!ws", cfb, finalEdit{})),
			wantCode: "08P01", wantMsg: "malformed SCRAM message",
		},
		{
			name: "short proof",
			v:    v,
			steps: ok(initialResponse("SCRAM-SHA-256", "n,,"+cfb), clientFinal("secret", "biws", cfb,
				finalEdit{proof: func(p string) string { return p[:20] + "==" }})),
			wantCode: "08P01", wantMsg: "malformed SCRAM message",
		},
		{
			name: "proof not base64",
			v:    v,
			steps: ok(initialResponse("SCRAM-SHA-256", "n,,"+cfb), clientFinal("secret", "biws", cfb,
				finalEdit{proof: func(p string) string { return "!" + p[1:] }})),
			wantCode: "08P01", wantMsg: "malformed SCRAM message",
		},
		{
			name:     "no proof",
			v:        v,
			steps:    ok(initialResponse("SCRAM-SHA-256", "n,,"+cfb), response("c=biws,r=x")),
			wantCode: "08P01", wantMsg: "malformed SCRAM message",
		},
		{
			name:     "client-final without channel binding attribute",
			v:        v,
			steps:    ok(initialResponse("SCRAM-SHA-256", "n,,"+cfb), response("r=x,p="+strings.Repeat("A", 43)+"=")),
			wantCode: "08P01", wantMsg: "malformed SCRAM message",
		},
		{
			name:     "empty client-final",
			v:        v,
			steps:    ok(initialResponse("SCRAM-SHA-256", "n,,"+cfb), response("")),
			wantCode: "08P01", wantMsg: "malformed SCRAM message",
		},
		{
			name:     "SASLInitialResponse without mechanism terminator",
			v:        v,
			steps:    ok(raw('p', "SCRAM-SHA-256")),
			wantCode: "08P01", wantMsg: "invalid SASLInitialResponse message",
		},
		{
			name:     "SASLInitialResponse without length",
			v:        v,
			steps:    ok(raw('p', "SCRAM-SHA-256\x00\x00\x00")),
			wantCode: "08P01", wantMsg: "invalid SASLInitialResponse message",
		},
		{
			name:     "SASLInitialResponse length too long",
			v:        v,
			steps:    ok(raw('p', "SCRAM-SHA-256\x00\x00\x00\x00\x0an,,n=,r=a")),
			wantCode: "08P01", wantMsg: "invalid SASLInitialResponse message",
		},
		{
			name:     "SASLInitialResponse length too short",
			v:        v,
			steps:    ok(raw('p', "SCRAM-SHA-256\x00\x00\x00\x00\x02n,,n=,r=a")),
			wantCode: "08P01", wantMsg: "invalid SASLInitialResponse message",
		},
		{
			name:     "SASLInitialResponse length -1 with data",
			v:        v,
			steps:    ok(raw('p', "SCRAM-SHA-256\x00\xff\xff\xff\xffn,,n=,r=a")),
			wantCode: "08P01", wantMsg: "invalid SASLInitialResponse message",
		},
		{
			name:     "oversized SASL message",
			v:        v,
			steps:    ok(initialResponse("SCRAM-SHA-256", "n,,n=,r="+strings.Repeat("a", 70000))),
			wantCode: "08P01", wantMsg: "invalid SASL response message length",
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c := &scriptConn{steps: tc.steps}
			err := c.run(t, user, tc.v)
			if len(c.steps) != 0 {
				t.Errorf("%d client messages left unread", len(c.steps))
			}
			if tc.wantCode == "" {
				if err != nil {
					t.Fatalf("SCRAM: %v", err)
				}
				final, ok := c.sent[len(c.sent)-1].(*pgproto3.AuthenticationSASLFinal)
				if !ok || !strings.HasPrefix(string(final.Data), "v=") {
					t.Fatalf("last message sent = %#v, want AuthenticationSASLFinal", c.sent[len(c.sent)-1])
				}
				for _, m := range c.sent {
					if _, ok := m.(*pgproto3.AuthenticationOk); ok {
						t.Errorf("SCRAM sent AuthenticationOk")
					}
				}
				return
			}
			var e *Error
			if !errors.As(err, &e) {
				t.Fatalf("SCRAM error = %v (%T), want *Error", err, err)
			}
			if e.Code != tc.wantCode || !strings.Contains(e.Message, tc.wantMsg) {
				t.Errorf("got %s %q, want %s %q", e.Code, e.Message, tc.wantCode, tc.wantMsg)
			}
			if tc.wantErr != nil && !errors.Is(err, tc.wantErr) {
				t.Errorf("cause %v, want %v", e.Err, tc.wantErr)
			}
			for _, m := range c.sent {
				if _, ok := m.(*pgproto3.AuthenticationSASLFinal); ok {
					t.Errorf("SCRAM sent AuthenticationSASLFinal and failed")
				}
			}
			resp := e.Response()
			// The response carries the client-facing fields and nothing else:
			// never the internal cause.
			want := pgproto3.ErrorResponse{Severity: "FATAL", SeverityUnlocalized: "FATAL", Code: e.Code, Message: e.Message, Detail: e.Detail}
			if !reflect.DeepEqual(*resp, want) {
				t.Errorf("Response() = %#v, want %#v", resp, want)
			}
		})
	}
}

func TestSCRAMConnErrors(t *testing.T) {
	v := mustVerifier(t, "secret")
	t.Run("EOF before the client-first-message", func(t *testing.T) {
		c := &scriptConn{}
		err := c.run(t, "alice", v)
		var e *Error
		if !errors.Is(err, io.EOF) || errors.As(err, &e) {
			t.Errorf("SCRAM error = %v (%T), want a non-*Error wrapping io.EOF", err, err)
		}
	})
	t.Run("EOF before the client-final-message", func(t *testing.T) {
		c := &scriptConn{steps: []step{initialResponse("SCRAM-SHA-256", "n,,n=,r=abc")}}
		err := c.run(t, "alice", v)
		var e *Error
		if !errors.Is(err, io.EOF) || errors.As(err, &e) {
			t.Errorf("SCRAM error = %v (%T), want a non-*Error wrapping io.EOF", err, err)
		}
	})
	t.Run("send fails", func(t *testing.T) {
		boom := errors.New("boom")
		err := SCRAM(failConn{boom}, "alice", v)
		var e *Error
		if !errors.Is(err, boom) || errors.As(err, &e) {
			t.Errorf("SCRAM error = %v (%T), want a non-*Error wrapping the send error", err, err)
		}
	})
}

type failConn struct{ err error }

func (f failConn) Send(pgproto3.BackendMessage) error { return f.err }
func (f failConn) Receive() (byte, []byte, error)     { return 0, nil, f.err }

// serverFirstFor runs SCRAM up to the server-first-message and returns it.
func serverFirstFor(t *testing.T, user string, v *Verifier) string {
	t.Helper()
	c := &scriptConn{steps: []step{initialResponse("SCRAM-SHA-256", "n,,n=,r=clientnonce")}}
	if err := c.run(t, user, v); !errors.Is(err, io.EOF) {
		t.Fatalf("SCRAM = %v, want io.EOF after the server-first-message", err)
	}
	return string(c.sent[1].(*pgproto3.AuthenticationSASLContinue).Data)
}

// TestSCRAMMockLooksReal checks that the server-first-message for an
// unknown user has the shape of a real one and a salt that is stable per
// user name, so that probing cannot tell them apart.
func TestSCRAMMockLooksReal(t *testing.T) {
	real := mustVerifier(t, "secret")
	shape := func(t *testing.T, serverFirst string) (salt []byte) {
		t.Helper()
		nonce, salt, iters := parseServerFirst(t, serverFirst)
		serverNonce, ok := strings.CutPrefix(nonce, "clientnonce")
		if !ok {
			t.Errorf("nonce %q does not start with the client's", nonce)
		}
		if b, err := base64.StdEncoding.DecodeString(serverNonce); err != nil || len(b) < 18 {
			t.Errorf("server nonce %q is not base64 of 18+ bytes", serverNonce)
		}
		if len(salt) != DefaultSaltLen || iters != DefaultIterations {
			t.Errorf("salt of %d bytes and %d iterations, want %d and %d", len(salt), iters, DefaultSaltLen, DefaultIterations)
		}
		return salt
	}
	realFirst := serverFirstFor(t, "alice", real)
	if got := shape(t, realFirst); string(got) != string(real.Salt) {
		t.Errorf("real exchange sent salt %x, want the verifier's %x", got, real.Salt)
	}
	ghost1 := shape(t, serverFirstFor(t, "ghost", nil))
	ghost2 := shape(t, serverFirstFor(t, "ghost", nil))
	other := shape(t, serverFirstFor(t, "other ghost", nil))
	if string(ghost1) != string(ghost2) {
		t.Errorf("mock salt for the same user changed: %x then %x", ghost1, ghost2)
	}
	if string(ghost1) == string(other) {
		t.Errorf("two unknown users got the same mock salt %x", ghost1)
	}
	if serverFirstFor(t, "alice", real) == realFirst {
		t.Errorf("two exchanges used the same server nonce")
	}
}

func TestErrorFormatting(t *testing.T) {
	cause := errors.New("internal detail")
	e := &Error{Code: "28P01", Message: `password authentication failed for user "a"`, Err: cause}
	if got, want := e.Error(), `auth: password authentication failed for user "a" [SQLSTATE 28P01]: internal detail`; got != want {
		t.Errorf("Error() = %q, want %q", got, want)
	}
	if !errors.Is(e, cause) || e.Unwrap() != cause {
		t.Errorf("Unwrap does not return the cause")
	}
	e2 := &Error{Code: "08P01", Message: "malformed SCRAM message", Detail: "Nope."}
	if got, want := e2.Error(), "auth: malformed SCRAM message (Nope.) [SQLSTATE 08P01]"; got != want {
		t.Errorf("Error() = %q, want %q", got, want)
	}
	if e2.Unwrap() != nil {
		t.Errorf("Unwrap() of an Error without cause is not nil")
	}
	body, err := e2.Response().Encode(nil)
	if err != nil || body[0] != 'E' || binary.BigEndian.Uint32(body[1:5]) != uint32(len(body)-1) {
		t.Errorf("Response().Encode() = %q, %v", body, err)
	}
}
