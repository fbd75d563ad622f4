package rules

import (
	"encoding/hex"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

func TestParseTransform(t *testing.T) {
	good := []struct {
		in   string
		want Transform
		str  string
	}{
		{"clear", Transform{Name: "clear"}, "clear"},
		{"redact", Transform{Name: "redact"}, "redact"},
		{"null", Transform{Name: "redact"}, "redact"},
		{"  email ", Transform{Name: "email"}, "email"},
		{"hash", Transform{Name: "hash"}, "hash"},
		{"token", Transform{Name: "token"}, "token"},
		{"pseudonym", Transform{Name: "pseudonym"}, "pseudonym"},
		{"year", Transform{Name: "year"}, "year"},
		{"month", Transform{Name: "month"}, "month"},
		{"partial(3,4)", Transform{Name: "partial", Args: []float64{3, 4}}, "partial(3,4)"},
		{"partial( 6 , 4 )", Transform{Name: "partial", Args: []float64{6, 4}}, "partial(6,4)"},
		{"partial (0,0)", Transform{Name: "partial", Args: []float64{0, 0}}, "partial(0,0)"},
		{"bucket(10)", Transform{Name: "bucket", Args: []float64{10}}, "bucket(10)"},
		{"bucket(0.5)", Transform{Name: "bucket", Args: []float64{0.5}}, "bucket(0.5)"},
		{"noise(100)", Transform{Name: "noise", Args: []float64{100}}, "noise(100)"},
		{"noise(2.5)", Transform{Name: "noise", Args: []float64{2.5}}, "noise(2.5)"},
		{"noise(.5)", Transform{Name: "noise", Args: []float64{0.5}}, "noise(0.5)"},
	}
	for _, tt := range good {
		got, err := ParseTransform(tt.in)
		if err != nil {
			t.Errorf("ParseTransform(%q): %v", tt.in, err)
			continue
		}
		if !reflect.DeepEqual(got, tt.want) {
			t.Errorf("ParseTransform(%q) = %#v, want %#v", tt.in, got, tt.want)
		}
		if got.String() != tt.str {
			t.Errorf("ParseTransform(%q).String() = %q, want %q", tt.in, got.String(), tt.str)
		}
		again, err := ParseTransform(got.String())
		if err != nil || !reflect.DeepEqual(again, got) {
			t.Errorf("String() of %q does not parse back: %#v, %v", tt.in, again, err)
		}
	}

	bad := []struct{ in, want string }{
		{"", `transform must not be empty`},
		{"   ", `transform must not be empty`},
		{"(3,4)", `transform "(3,4)" has no name before its arguments`},
		{"parital(3,4)", `unknown transform "parital" (did you mean "partial"?)`},
		{"Redact", `unknown transform "Redact" (did you mean "redact"?)`},
		{"scramble", `unknown transform "scramble": use one of clear, redact, null, partial(first,last), email, hash, token, pseudonym, year, month, bucket(width), noise(pct)`},
		{"redact()", `transform "redact()": redact takes no arguments`},
		{"hash(1)", `transform "hash(1)": hash takes no arguments`},
		{"partial", `transform "partial": partial takes 2 arguments, partial(first,last), e.g. partial(3,4)`},
		{"partial()", `transform "partial()": partial takes 2 arguments, partial(first,last), e.g. partial(3,4)`},
		{"partial(3)", `transform "partial(3)": partial takes 2 arguments, partial(first,last), e.g. partial(3,4)`},
		{"partial(1,2,3)", `transform "partial(1,2,3)": partial takes 2 arguments, partial(first,last), e.g. partial(3,4)`},
		{"partial(3,)", `transform "partial(3,)": last of partial is missing`},
		{"partial(-1,4)", `transform "partial(-1,4)": first of partial: "-1" is negative`},
		{"partial(3.5,4)", `transform "partial(3.5,4)": first of partial: "3.5" is not a non-negative integer`},
		{"partial(3,x)", `transform "partial(3,x)": last of partial: "x" is not a non-negative integer`},
		{"partial(3,4", `transform "partial(3,4": missing ) after the arguments, or something after it: write partial(first,last)`},
		{"partial(3,4)x", `transform "partial(3,4)x": missing ) after the arguments, or something after it: write partial(first,last)`},
		{"partial((3),4)", `transform "partial((3),4)": unexpected parenthesis: write partial(first,last)`},
		{"partial(99999999999,1)", `transform "partial(99999999999,1)": first of partial: "99999999999" is too large`},
		{"bucket", `transform "bucket": bucket takes 1 argument, bucket(width), e.g. bucket(10)`},
		{"bucket(0)", `transform "bucket(0)": width of bucket must be greater than 0`},
		{"bucket(-5)", `transform "bucket(-5)": width of bucket: "-5" is negative`},
		{"bucket(1e3)", `transform "bucket(1e3)": width of bucket: "1e3" is not a decimal number such as 10 or 2.5`},
		{"bucket(NaN)", `transform "bucket(NaN)": width of bucket: "NaN" is not a decimal number such as 10 or 2.5`},
		{"bucket(.)", `transform "bucket(.)": width of bucket: "." is not a number`},
		{"noise(0)", `transform "noise(0)": pct of noise must be greater than 0 and at most 100`},
		{"noise(100.5)", `transform "noise(100.5)": pct of noise must be greater than 0 and at most 100`},
		{"noise(5%)", `transform "noise(5%)": pct of noise: "5%" is not a decimal number such as 10 or 2.5`},
	}
	for _, tt := range bad {
		got, err := ParseTransform(tt.in)
		if err == nil {
			t.Errorf("ParseTransform(%q) = %v, want error %q", tt.in, got, tt.want)
			continue
		}
		if err.Error() != tt.want {
			t.Errorf("ParseTransform(%q) error:\n got %s\nwant %s", tt.in, err, tt.want)
		}
	}
}

func TestTransformNeedsKey(t *testing.T) {
	for name, want := range map[string]bool{
		"clear": false, "redact": false, "partial(1,1)": false, "email": false, "year": false, "month": false, "bucket(5)": false,
		"hash": true, "token": true, "pseudonym": true, "noise(5)": true,
	} {
		if got := mustTransform(t, name).NeedsKey(); got != want {
			t.Errorf("%s.NeedsKey() = %v, want %v", name, got, want)
		}
	}
}

func mustTransform(t *testing.T, s string) Transform {
	t.Helper()
	tr, err := ParseTransform(s)
	if err != nil {
		t.Fatal(err)
	}
	return tr
}

func TestKeyGen(t *testing.T) {
	a, b := KeyGen(), KeyGen()
	if len(a) != 64 || strings.Trim(a, "0123456789abcdef") != "" {
		t.Fatalf("KeyGen() = %q, want 64 lower-case hex digits", a)
	}
	if a == b {
		t.Fatal("KeyGen returned the same key twice")
	}
	file := filepath.Join(t.TempDir(), "token.key")
	if err := os.WriteFile(file, []byte(a+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	key, err := (&Config{Tokens: Tokens{KeyFile: file}}).TokenKey()
	if err != nil {
		t.Fatal(err)
	}
	if hex.EncodeToString(key) != a {
		t.Errorf("TokenKey() = %x, want %s", key, a)
	}
}

func TestTokenKeyErrors(t *testing.T) {
	dir := t.TempDir()
	write := func(name, content string) string {
		file := filepath.Join(dir, name)
		if err := os.WriteFile(file, []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
		return file
	}
	const secret = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdeX"
	short := write("short.key", "abcd\n")
	nothex := write("nothex.key", secret)
	missing := filepath.Join(dir, "missing.key")
	for _, tt := range []struct{ file, want string }{
		{"", "no [tokens] key_file: create a key with `pgveil keygen` and name its file there"},
		{missing, `"` + missing + "\": no such file; create one with `pgveil keygen`"},
		{dir, `"` + dir + `" is not a regular file`},
		{short, `"` + short + "\" must hold 32 random bytes as 64 hex digits (`pgveil keygen` writes one), not 4 characters"},
		{nothex, `"` + nothex + "\" must hold 32 random bytes as 64 hex digits (`pgveil keygen` writes one): it holds something else"},
	} {
		_, err := (&Config{Tokens: Tokens{KeyFile: tt.file}}).TokenKey()
		if err == nil || err.Error() != tt.want {
			t.Errorf("TokenKey(%q) error:\n got %v\nwant %s", tt.file, err, tt.want)
		}
		if err != nil && strings.Contains(err.Error(), secret[:16]) {
			t.Errorf("TokenKey(%q) error shows the file's contents: %v", tt.file, err)
		}
	}
	if _, err := (*Config)(nil).TokenKey(); err == nil {
		t.Error("TokenKey on a nil Config succeeded")
	}
}
