package auth

import (
	"bytes"
	"crypto/hmac"
	"crypto/pbkdf2"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"log/slog"
	"strings"
	"testing"

	"github.com/xdg-go/scram"
)

// Verifiers made by a real PostgreSQL 15.18 (CREATE ROLE ... PASSWORD,
// password_encryption = scram-sha-256), with the passwords they were made
// from. The non-ASCII ones exercise SASLprep as PostgreSQL does it.
var postgresVerifiers = []struct {
	name     string
	password string
	verifier string
	// also lists other passwords that must match (same SASLprep result);
	// not lists near misses that must not.
	also, not []string
}{
	{
		name:     "ascii",
		password: "secret",
		verifier: "SCRAM-SHA-256$4096:jtzFxjpgXZ+82ya1cMZe5Q==$Y1qJPEwMaiAmQZfLpl/tVlU8wOUltcdyBW13X0GGvz0=:pJXPXkXBuE8ReTS6kGgHgGgyhaVfyulryW50tBrpKQs=",
		not:      []string{"Secret", "secret ", "secre"},
	},
	{
		name:     "soft hyphen is mapped to nothing",
		password: "I\u00adX",
		verifier: "SCRAM-SHA-256$4096:ih8mhUaExUYqcgnLYBwoCg==$UBTWKuPuiSiQQszmBifiOkxl8MZzlAGjV/vm6j29APw=:yLCFe2LOImpyAsEuhIwyWe1piJXMCw3P2rgD/TxYW1s=",
		also:     []string{"IX", "\u2168"},
	},
	{
		name:     "NFKC",
		password: "\u2168", // ROMAN NUMERAL NINE
		verifier: "SCRAM-SHA-256$4096:EWvJOIAQiYKwARZ9Ed/oTw==$B1MiIogBU7R/WNnT8DQsRJ+W4S2RF51z+BDIuLLntCs=:pNaxWyxE0c5JqTQeEbMmgSIcUWJQpVqRKU4b+A7DvFo=",
		also:     []string{"IX"},
	},
	{
		name:     "zero width space maps to space, as in PostgreSQL",
		password: "a\u200bb",
		verifier: "SCRAM-SHA-256$4096:xAneZGDwJWDEMe5LAbEsHw==$XEI54yaaWmqnxdF1oT+ycHUSCsLrWoviNDV5YIE5lbs=:I5UX6L2ZQ70e6gZxww/alwAuodBRORjQO1sZVnXSjUY=",
		also:     []string{"a\u00a0b"},
		not:      []string{"ab"},
	},
	{
		name:     "no-break space",
		password: "a\u00a0b",
		verifier: "SCRAM-SHA-256$4096:BeDzXVvLPlTdQ839x/8SFA==$PlN02MKk146WivHXuwV1fZsjK5MQ6PCQAYKUf72murM=:zwaXW7eVy+Emvirkc9s8GdAxdUG9XK7ZfaiIAt3QHZY=",
		also:     []string{"a\u3000b"},
	},
	{
		name:     "mongolian todo soft hyphen is mapped to nothing",
		password: "a\u1806b",
		verifier: "SCRAM-SHA-256$4096:1w5F9Yr07ZfOlDL3/OTb+Q==$xr+jeO0cpdQIRYTFun2npjHbvO2oFVOdpEiTH0IoT5o=:EwV/8EcOV5qbumT7uhmvHeZDbuzdoTdbhOL88J6I8+k=",
		also:     []string{"a\u00adb"},
	},
	{
		name:     "decomposed and composed",
		password: "u\u0308",
		verifier: "SCRAM-SHA-256$4096:oqps3Se2s2dfJlxe9xGv4A==$XdR2Y+WLFV56T/YYJgWMPtiPo+OxhH0YiF6EnsIZb0M=:glFzhGCkI9uOVmV+M+T1rw3o2dti1m8wzr8SAdV5/vw=",
		also:     []string{"\u00fc"},
	},
	{
		name:     "unassigned in Unicode 3.2: raw bytes",
		password: "\u0221x",
		verifier: "SCRAM-SHA-256$4096:ql9u/NXMPNKcpDFKFFouxw==$fOCAwqLnlkSJAYQg7NAKO+rkorCYiIJ8jQ/eXBrf5x4=:4hgcJssci4cdt6sWgR7wkjj1NIMGVX1F3+9qbKssTPE=",
	},
	{
		name:     "emoji is unassigned in Unicode 3.2: raw bytes",
		password: "p\U0001F600w",
		verifier: "SCRAM-SHA-256$4096:HpahswJ367I8Bbqa/oWP8g==$XKpY0VExzzOwBFg9kRNwgdmBG6evD54j02L2wTyoKRI=:XEmENT8DWhPAFQUAEua84x/lSgJlR/KP/3ET+EPVwT4=",
	},
	{
		name:     "bidi violation: raw bytes",
		password: "\u06271",
		verifier: "SCRAM-SHA-256$4096:OvxLuWC4oTSVJ/TZ69odxw==$41Or2ReQ46+JQ+PovvBS6KiMBVY37/F17KM7vYpZsBc=:f/TyK2yar2RB5olfB619Wl766pWoSSAi4WjXqqOgED8=",
	},
	{
		name:     "prohibited before normalization: raw bytes, as PostgreSQL checks the mapped input",
		password: "a\u0340", // COMBINING GRAVE TONE MARK; NFKC would make it U+00E0
		verifier: "SCRAM-SHA-256$4096:HllgbSPiI73qV2FXivdeDg==$uJo/iqriuVGQDmIANMsOl5h1+cBu4lah9naf/CnWUsk=:pkqKoen3Ue4G0Mrxv9SRJpryu56QhKSUwaQXitHbwzI=",
		not:      []string{"\u00e0", "a\u0300"},
	},
	{
		name:     "ASCII control character: raw bytes",
		password: "pass\x01word",
		verifier: "SCRAM-SHA-256$4096:09L6j7zRG/r73xJK2pJLGw==$kaARS+nB6tcUQbcrp7q+v7ME0PhWezrGI5tpwh7LDYA=:9cZwk65ouI/HvDkeLi91LWJCgNCovja6S+d1CqoVSDM=",
		not:      []string{"password"},
	},
	{
		name:     "nothing left after mapping: raw bytes",
		password: "\u00ad",
		verifier: "SCRAM-SHA-256$4096:IBXg6c14wp/Kd+zjAaBnOA==$IeOni706GJZD7za190xU7MZNnlzjkJMATPwdj7DNZzU=:Q7zgFWJ6jZUjezuCgQpTfi02DgqLgPnXXLHXIpA/0+M=",
	},
}

func TestParseVerifierPostgres(t *testing.T) {
	for _, tc := range postgresVerifiers {
		t.Run(tc.name, func(t *testing.T) {
			v, err := ParseVerifier(tc.verifier)
			if err != nil {
				t.Fatalf("ParseVerifier: %v", err)
			}
			if v.Iterations != 4096 || len(v.Salt) != 16 || len(v.StoredKey) != 32 || len(v.ServerKey) != 32 {
				t.Errorf("parsed %d iterations, %d-byte salt, %d/%d-byte keys", v.Iterations, len(v.Salt), len(v.StoredKey), len(v.ServerKey))
			}
			if got := v.String(); got != tc.verifier {
				t.Errorf("String() = %q, want %q", got, tc.verifier)
			}
			if !v.Verify(tc.password) {
				t.Errorf("Verify(%q) = false, want true", tc.password)
			}
			for _, p := range tc.also {
				if !v.Verify(p) {
					t.Errorf("Verify(%q) = false, want true (same SASLprep result)", p)
				}
			}
			for _, p := range tc.not {
				if v.Verify(p) {
					t.Errorf("Verify(%q) = true, want false", p)
				}
			}
			// Our own derivation with PostgreSQL's salt gives PostgreSQL's keys.
			mine, err := DeriveVerifier(tc.password, v.Salt, v.Iterations)
			if err != nil {
				t.Fatal(err)
			}
			if mine.String() != tc.verifier {
				t.Errorf("DeriveVerifier = %s, want %s", mine, tc.verifier)
			}
		})
	}
}

func TestVerifierRoundTrip(t *testing.T) {
	for _, v := range []*Verifier{
		{Iterations: 1, Salt: []byte{0}, StoredKey: bytes.Repeat([]byte{1}, 32), ServerKey: bytes.Repeat([]byte{2}, 32)},
		{Iterations: 4096, Salt: []byte("0123456789abcdef"), StoredKey: bytes.Repeat([]byte{0xff}, 32), ServerKey: make([]byte, 32)},
		{Iterations: 2147483647, Salt: []byte("a longer salt of 28 bytes..."), StoredKey: make([]byte, 32), ServerKey: make([]byte, 32)},
	} {
		s := v.String()
		got, err := ParseVerifier(s)
		if err != nil {
			t.Fatalf("ParseVerifier(%q): %v", s, err)
		}
		if got.Iterations != v.Iterations || !bytes.Equal(got.Salt, v.Salt) ||
			!bytes.Equal(got.StoredKey, v.StoredKey) || !bytes.Equal(got.ServerKey, v.ServerKey) {
			t.Errorf("round trip of %q: got %+v, want %+v", s, got, v)
		}
		if got.String() != s {
			t.Errorf("String() = %q, want %q", got.String(), s)
		}
	}
}

// Parts of a valid verifier, for building invalid ones.
const (
	vSalt   = "jtzFxjpgXZ+82ya1cMZe5Q=="
	vStored = "Y1qJPEwMaiAmQZfLpl/tVlU8wOUltcdyBW13X0GGvz0="
	vServer = "pJXPXkXBuE8ReTS6kGgHgGgyhaVfyulryW50tBrpKQs="
	vKeys   = vStored + ":" + vServer
)

// badVerifiers are invalid verifiers, with what the error must say.
var badVerifiers = []struct {
	name, in, want string
}{
	{"empty", "", `does not start with "SCRAM-SHA-256$"`},
	{"plain password", "hunter2", `does not start with "SCRAM-SHA-256$"`},
	{"md5", "md5" + strings.Repeat("0123456789abcdef", 2), "MD5 password hashes are not supported"},
	{"other SCRAM", "SCRAM-SHA-1$4096:" + vSalt + "$" + vKeys, "unsupported SCRAM mechanism"},
	{"lower-case prefix", "scram-sha-256$4096:" + vSalt + "$" + vKeys, `does not start with`},
	{"no keys", "SCRAM-SHA-256$4096:" + vSalt, `missing "$"`},
	{"no salt", "SCRAM-SHA-256$4096$" + vKeys, `missing ":" between iteration count and salt`},
	{"one key", "SCRAM-SHA-256$4096:" + vSalt + "$" + vStored, `missing ":" between StoredKey and ServerKey`},
	{"three keys", "SCRAM-SHA-256$4096:" + vSalt + "$" + vKeys + ":" + vServer, "ServerKey is not valid base64"},
	{"extra dollar", "SCRAM-SHA-256$4096:" + vSalt + "$" + vKeys + "$", "ServerKey is not valid base64"},
	{"zero iterations", "SCRAM-SHA-256$0:" + vSalt + "$" + vKeys, "iteration count is not a positive decimal integer"},
	{"negative iterations", "SCRAM-SHA-256$-4096:" + vSalt + "$" + vKeys, "iteration count is not a positive decimal integer"},
	{"plus sign", "SCRAM-SHA-256$+4096:" + vSalt + "$" + vKeys, "iteration count is not a positive decimal integer"},
	{"leading zero", "SCRAM-SHA-256$04096:" + vSalt + "$" + vKeys, "iteration count is not a positive decimal integer"},
	{"space in iterations", "SCRAM-SHA-256$ 4096:" + vSalt + "$" + vKeys, "iteration count is not a positive decimal integer"},
	{"empty iterations", "SCRAM-SHA-256$:" + vSalt + "$" + vKeys, "iteration count is not a positive decimal integer"},
	{"hex iterations", "SCRAM-SHA-256$0x1000:" + vSalt + "$" + vKeys, "iteration count is not a positive decimal integer"},
	{"huge iterations", "SCRAM-SHA-256$2147483648:" + vSalt + "$" + vKeys, "iteration count is too large"},
	{"very huge iterations", "SCRAM-SHA-256$99999999999:" + vSalt + "$" + vKeys, "iteration count is not a positive decimal integer"},
	{"empty salt", "SCRAM-SHA-256$4096:$" + vKeys, "salt is empty"},
	{"salt not base64", "SCRAM-SHA-256$4096:jtzFxjpg*Z+82ya1cMZe5Q==$" + vKeys, "salt is not valid base64"},
	{"salt unpadded", "SCRAM-SHA-256$4096:jtzFxjpgXZ+82ya1cMZe5Q$" + vKeys, "salt is not valid base64"},
	{"salt url alphabet", "SCRAM-SHA-256$4096:jtzFxjpgXZ-82ya1cMZe5Q==$" + vKeys, "salt is not valid base64"},
	{"salt with newline", "SCRAM-SHA-256$4096:jtzFxjpgXZ+8\n2ya1cMZe5Q==$" + vKeys, "salt is not valid base64"},
	{"salt non-canonical padding bits", "SCRAM-SHA-256$4096:jtzFxjpgXZ+82ya1cMZe5R==$" + vKeys, "salt is not valid base64"},
	{"short StoredKey", "SCRAM-SHA-256$4096:" + vSalt + "$" + vSalt + ":" + vServer, "StoredKey is 16 bytes, want 32"},
	{"short ServerKey", "SCRAM-SHA-256$4096:" + vSalt + "$" + vStored + ":" + vSalt, "ServerKey is 16 bytes, want 32"},
	{"empty StoredKey", "SCRAM-SHA-256$4096:" + vSalt + "$:" + vServer, "StoredKey is 0 bytes, want 32"},
	{"StoredKey not base64", "SCRAM-SHA-256$4096:" + vSalt + "$" + vStored[:10] + "!" + vStored[11:] + ":" + vServer, "StoredKey is not valid base64"},
	{"trailing space", "SCRAM-SHA-256$4096:" + vSalt + "$" + vKeys + " ", "ServerKey is not valid base64"},
	{"trailing newline", "SCRAM-SHA-256$4096:" + vSalt + "$" + vKeys + "\n", "ServerKey is not valid base64"},
	{"leading space", " SCRAM-SHA-256$4096:" + vSalt + "$" + vKeys, `does not start with`},
}

func TestParseVerifierErrors(t *testing.T) {
	for _, tc := range badVerifiers {
		t.Run(tc.name, func(t *testing.T) {
			v, err := ParseVerifier(tc.in)
			if err == nil {
				t.Fatalf("ParseVerifier succeeded: %v", v)
			}
			if !errors.Is(err, ErrInvalidVerifier) {
				t.Errorf("error %v does not wrap ErrInvalidVerifier", err)
			}
			if !strings.Contains(err.Error(), tc.want) {
				t.Errorf("error %q does not contain %q", err, tc.want)
			}
			for _, secret := range []string{vSalt, vStored, vServer, vStored[:12], vServer[:12]} {
				if strings.Contains(err.Error(), secret) {
					t.Errorf("error %q leaks part of the verifier", err)
				}
			}
		})
	}
}

// TestDeriveVerifierRFC7677 checks key derivation against an independent
// implementation (github.com/xdg-go/scram's client) and against the
// definition, on the RFC 7677 example's salt and password.
func TestDeriveVerifierRFC7677(t *testing.T) {
	salt, _ := base64.StdEncoding.DecodeString(rfcSalt)
	v, err := DeriveVerifier(rfcPassword, salt, 4096)
	if err != nil {
		t.Fatal(err)
	}

	client, err := scram.SHA256.NewClient("user", rfcPassword, "")
	if err != nil {
		t.Fatal(err)
	}
	creds := client.GetStoredCredentials(scram.KeyFactors{Salt: string(salt), Iters: 4096})
	if !bytes.Equal(v.StoredKey, creds.StoredKey) || !bytes.Equal(v.ServerKey, creds.ServerKey) {
		t.Errorf("keys differ from xdg-go/scram's client")
	}

	salted, err := pbkdf2.Key(sha256.New, rfcPassword, salt, 4096, 32)
	if err != nil {
		t.Fatal(err)
	}
	mac := func(key []byte, msg string) []byte {
		m := hmac.New(sha256.New, key)
		m.Write([]byte(msg))
		return m.Sum(nil)
	}
	storedKey := sha256.Sum256(mac(salted, "Client Key"))
	if !bytes.Equal(v.StoredKey, storedKey[:]) {
		t.Errorf("StoredKey != H(HMAC(SaltedPassword, \"Client Key\"))")
	}
	if !bytes.Equal(v.ServerKey, mac(salted, "Server Key")) {
		t.Errorf("ServerKey != HMAC(SaltedPassword, \"Server Key\")")
	}
}

func TestNewVerifier(t *testing.T) {
	v1, err := NewVerifier("correct horse")
	if err != nil {
		t.Fatal(err)
	}
	v2, err := NewVerifier("correct horse")
	if err != nil {
		t.Fatal(err)
	}
	if v1.Iterations != 4096 || len(v1.Salt) != 16 {
		t.Errorf("got %d iterations and a %d-byte salt, want 4096 and 16", v1.Iterations, len(v1.Salt))
	}
	if bytes.Equal(v1.Salt, v2.Salt) {
		t.Errorf("two verifiers share a salt")
	}
	if !v1.Verify("correct horse") || !v2.Verify("correct horse") {
		t.Errorf("Verify(right password) = false")
	}
	if v1.Verify("correct horse ") || v1.Verify("") {
		t.Errorf("Verify(wrong password) = true")
	}
	if got, err := ParseVerifier(v1.String()); err != nil || got.String() != v1.String() {
		t.Errorf("ParseVerifier(NewVerifier().String()) = %v, %v", got, err)
	}

	if _, err := NewVerifier(""); err == nil {
		t.Errorf("NewVerifier(\"\") succeeded")
	}
	for _, tc := range []struct {
		salt  []byte
		iters int
	}{{nil, 4096}, {[]byte("salt"), 0}, {[]byte("salt"), -1}} {
		if _, err := DeriveVerifier("pw", tc.salt, tc.iters); err == nil {
			t.Errorf("DeriveVerifier(salt %q, %d iterations) succeeded", tc.salt, tc.iters)
		}
	}
}

func TestVerifierLogValue(t *testing.T) {
	v, _ := ParseVerifier(postgresVerifiers[0].verifier)
	var buf bytes.Buffer
	slog.New(slog.NewTextHandler(&buf, nil)).Info("loaded", "verifier", v)
	out := buf.String()
	if strings.Contains(out, base64.StdEncoding.EncodeToString(v.StoredKey)) ||
		strings.Contains(out, base64.StdEncoding.EncodeToString(v.Salt)) {
		t.Errorf("slog output leaks the verifier: %s", out)
	}
	if !strings.Contains(out, "SCRAM-SHA-256$4096:<redacted>") {
		t.Errorf("slog output = %s", out)
	}
}

func TestSASLprep(t *testing.T) {
	tests := []struct{ in, want string }{
		{"secret", "secret"},
		{"pass\x01word", "pass\x01word"},       // ASCII is used as is
		{"\xff\xfeinvalid", "\xff\xfeinvalid"}, // invalid UTF-8 is used as is
		{"I\u00adX", "IX"},
		{"\u2168", "IX"},
		{"a\u200bb", "a b"},
		{"a\u00a0b", "a b"},
		{"a\u1806b", "ab"},
		{"a\ufeffb\u200dc", "abc"},
		{"u\u0308", "\u00fc"},
		{"\u00aa", "a"},
		{"\u00ad", "\u00ad"},               // empty after mapping
		{"\u0221x", "\u0221x"},             // unassigned in Unicode 3.2
		{"a\u0340", "a\u0340"},             // prohibited before normalization
		{"\u06271", "\u06271"},             // RandALCat then L-less digit: bidi failure
		{"\u0627\u0628", "\u0627\u0628"},   // all RandALCat: fine
		{"\u0627a\u0628", "\u0627a\u0628"}, // RandALCat with LCat: bidi failure
		{"\ue000x", "\ue000x"},             // private use is prohibited
	}
	for _, tc := range tests {
		if got := saslprep(tc.in); got != tc.want {
			t.Errorf("saslprep(%+q) = %+q, want %+q", tc.in, got, tc.want)
		}
	}
}
