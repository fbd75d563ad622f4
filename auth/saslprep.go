package auth

import (
	"unicode/utf8"

	"github.com/xdg-go/stringprep"
	"golang.org/x/text/unicode/norm"
)

// saslprep normalizes a password the way PostgreSQL's pg_saslprep does
// before hashing it for SCRAM (RFC 4013 SASLprep, with PostgreSQL's
// quirks), and falls back to the raw bytes wherever PostgreSQL does:
//
//   - input that is not valid UTF-8 is used as is;
//   - pure ASCII input is used as is (even control characters, which
//     SASLprep would prohibit);
//   - non-ASCII spaces (RFC 3454 C.1.2, which includes U+200B) map to
//     U+0020, then characters "commonly mapped to nothing" (B.1) are
//     dropped; if nothing is left, the raw input is used;
//   - the mapped string is NFKC-normalized;
//   - prohibited (C.1.2–C.9) and unassigned (A.1) code points, and the
//     bidirectional rules (D.1, D.2), are checked on the mapped string
//     BEFORE normalization, as PostgreSQL does; any failure means the raw
//     input is used.
//
// github.com/xdg-go/stringprep's SASLprep profile differs from PostgreSQL
// (it checks after normalization, maps U+200B to nothing and lacks U+1806
// in B.1), so only its tables are used here.
func saslprep(password string) string {
	if !utf8.ValidString(password) || isASCII(password) {
		return password
	}

	mapped := make([]rune, 0, len(password))
	for _, r := range password {
		switch {
		case stringprep.TableC1_2.Contains(r):
			mapped = append(mapped, ' ')
		case mappedToNothing(r):
			// dropped
		default:
			mapped = append(mapped, r)
		}
	}
	if len(mapped) == 0 {
		return password
	}

	hasRandAL, hasL := false, false
	for _, r := range mapped {
		if prohibited(r) {
			return password
		}
		if stringprep.TableD1.Contains(r) {
			hasRandAL = true
		}
		if stringprep.TableD2.Contains(r) {
			hasL = true
		}
	}
	if hasRandAL {
		if hasL || !stringprep.TableD1.Contains(mapped[0]) || !stringprep.TableD1.Contains(mapped[len(mapped)-1]) {
			return password
		}
	}

	return norm.NFKC.String(string(mapped))
}

func isASCII(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] >= utf8.RuneSelf {
			return false
		}
	}
	return true
}

// mappedToNothing reports whether r is in RFC 3454 table B.1.
func mappedToNothing(r rune) bool {
	switch {
	case r == 0x00AD, r == 0x034F, r == 0x1806,
		r >= 0x180B && r <= 0x180D,
		r >= 0x200B && r <= 0x200D,
		r == 0x2060,
		r >= 0xFE00 && r <= 0xFE0F,
		r == 0xFEFF:
		return true
	}
	return false
}

var prohibitedTables = []stringprep.Set{
	stringprep.TableA1, // unassigned in Unicode 3.2
	stringprep.TableC1_2,
	stringprep.TableC2_1,
	stringprep.TableC2_2,
	stringprep.TableC3,
	stringprep.TableC4,
	stringprep.TableC5,
	stringprep.TableC6,
	stringprep.TableC7,
	stringprep.TableC8,
	stringprep.TableC9,
}

func prohibited(r rune) bool {
	for _, t := range prohibitedTables {
		if t.Contains(r) {
			return true
		}
	}
	return false
}
