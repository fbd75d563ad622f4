package auth

import (
	"errors"
	"strings"
	"testing"
)

// FuzzParseVerifier checks that ParseVerifier never panics, that what it
// accepts round-trips exactly through String, and that its errors never
// quote the input. Seeds are in testdata/fuzz/FuzzParseVerifier.
func FuzzParseVerifier(f *testing.F) {
	// The text ParseVerifier's errors are made of: a part of the input found
	// in an error is only a leak if it is not part of that text.
	var b strings.Builder
	for _, tc := range badVerifiers {
		_, err := ParseVerifier(tc.in)
		b.WriteString(err.Error() + "\n")
	}
	vocabulary := b.String()

	f.Fuzz(func(t *testing.T, s string) {
		v, err := ParseVerifier(s)
		if err != nil {
			if v != nil {
				t.Fatalf("ParseVerifier returned both a verifier and an error")
			}
			if !errors.Is(err, ErrInvalidVerifier) {
				t.Fatalf("error %v does not wrap ErrInvalidVerifier", err)
			}
			for _, part := range strings.FieldsFunc(s, func(r rune) bool { return r == '$' || r == ':' }) {
				if len(part) >= 12 && strings.Contains(err.Error(), part) && !strings.Contains(vocabulary, part) {
					t.Fatalf("error %q quotes part of the input", err)
				}
			}
			return
		}
		if got := v.String(); got != s {
			t.Fatalf("String() = %q, want %q", got, s)
		}
		if !v.valid() {
			t.Fatalf("ParseVerifier accepted an unusable verifier %q", s)
		}
	})
}
