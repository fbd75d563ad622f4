package masking

import (
	"strings"
	"testing"

	"github.com/jackc/pgx/v5/pgproto3"

	"github.com/pgveil/pgveil/proxy/track"
)

// TestScrubErrorWithholdsTextThatMayQuoteData: only SQLSTATEs whose
// messages cannot carry table data keep their text; DETAIL, HINT and
// CONTEXT never reach a masked client.
func TestScrubErrorWithholdsTextThatMayQuoteData(t *testing.T) {
	s := benchSession(t)
	cases := []struct {
		code, message string
		kept          bool
	}{
		{"42601", `syntax error at or near "SELEC"`, true},
		{"57014", "canceling statement due to user request", true},
		{"25P02", "current transaction is aborted", true},
		{"22P02", `invalid input syntax for type integer: "13812345678"`, false},
		{"42P01", `relation "13812345678" does not exist`, false},
		{"42703", `column "13812345678" of relation "orders" does not exist`, false},
		{"3D000", `database "13812345678" does not exist`, false},
		{"23505", "duplicate key value violates unique constraint", false},
		{"P0001", "raised by a function", false},
		{"XX000", "internal", false},
	}
	for _, c := range cases {
		in, _ := (&pgproto3.ErrorResponse{Severity: "ERROR", Code: c.code, Message: c.message,
			Detail: "Key (mobile)=(13812345678)", Hint: "h", Where: "w"}).Encode(nil)
		out, err := s.scrubError(nil, in, track.Attribution{})
		if err != nil {
			t.Fatal(err)
		}
		var got pgproto3.ErrorResponse
		if err := got.Decode(out[5:]); err != nil {
			t.Fatal(err)
		}
		if got.Code != c.code {
			t.Errorf("%s: SQLSTATE became %s", c.code, got.Code)
		}
		if kept := got.Message == c.message; kept != c.kept {
			t.Errorf("%s: message %q, kept = %v, want %v", c.code, got.Message, kept, c.kept)
		}
		if got.Detail != "" || got.Hint != "" || got.Where != "" || strings.Contains(string(out), "13812345678") && !c.kept {
			t.Errorf("%s: detail, hint, context or the value passed: %+v", c.code, got)
		}
	}
}
