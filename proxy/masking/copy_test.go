package masking

import (
	"bytes"
	"testing"

	pg_query "github.com/pganalyze/pg_query_go/v6"

	"github.com/pgveil/pgveil/rewrite"
)

func copyFormatOf(t *testing.T, sql string) (*copyFormat, string) {
	t.Helper()
	tree, err := pg_query.Parse(sql)
	if err != nil {
		t.Fatal(err)
	}
	return copyOptions(tree.Stmts[0].Stmt.GetCopyStmt())
}

func TestCopyOptions(t *testing.T) {
	for _, c := range []struct {
		sql  string
		want copyFormat
	}{
		{"COPY t TO STDOUT", copyFormat{delim: '\t', null: `\N`, relation: true}},
		{"COPY (SELECT 1) TO STDOUT", copyFormat{delim: '\t', null: `\N`}},
		{"COPY t TO STDOUT WITH (FORMAT csv, HEADER)", copyFormat{csv: true, delim: ',', quote: '"', escape: '"', header: true, relation: true}},
		{"COPY t TO STDOUT WITH (FORMAT csv, HEADER false, DELIMITER ';', NULL 'NA', QUOTE '''', ESCAPE '\\')",
			copyFormat{csv: true, delim: ';', quote: '\'', escape: '\\', null: "NA", relation: true}},
		{"COPY t TO STDOUT CSV HEADER DELIMITER '|' FORCE QUOTE *", copyFormat{csv: true, delim: '|', quote: '"', escape: '"', header: true, forceQuote: true, relation: true}},
		{"COPY t TO STDOUT WITH DELIMITER ',' NULL ''", copyFormat{delim: ',', relation: true}},
		{"COPY t TO STDOUT WITH (FORMAT text, HEADER on, ENCODING 'UTF8')", copyFormat{delim: '\t', null: `\N`, header: true, relation: true}},
	} {
		f, reason := copyFormatOf(t, c.sql)
		if reason != "" {
			t.Errorf("%s: refused: %s", c.sql, reason)
			continue
		}
		if *f != c.want {
			t.Errorf("%s: %+v, want %+v", c.sql, *f, c.want)
		}
	}
	for _, sql := range []string{
		"COPY t TO STDOUT WITH (FORMAT binary)",
		"COPY t TO STDOUT BINARY",
		"COPY t FROM STDIN",
		"COPY t TO '/tmp/x'",
		"COPY t TO PROGRAM 'cat'",
		"COPY t TO STDOUT WITH (ENCODING 'LATIN1')",
		"COPY t TO STDOUT WITH (QUOTE '\"')",
		"COPY t TO STDOUT WITH (FORMAT csv, DELIMITER 'ab')",
		"COPY t TO STDOUT WITH (FORMAT csv, DELIMITER ',', NULL 'a,b')",
		"COPY t TO STDOUT WITH (FORMAT csv, FREEZE)",
	} {
		if _, reason := copyFormatOf(t, sql); reason == "" {
			t.Errorf("%s: allowed", sql)
		}
	}
}

var tricky = []string{"", "plain", "tab\there", "new\nline", "cr\rlf", "back\\slash", `\N`, `\.`, "quote\"d", "comma,semi;pipe|",
	"it's", "张伟 北京市", "ctl\b\f\v\x01", "  spaces  ", "NA", "\\\\t"}

func TestCopyRoundTrip(t *testing.T) {
	formats := []*copyFormat{
		{delim: '\t', null: `\N`},
		{delim: ',', null: ""},
		{delim: '|', null: "NA"},
		{csv: true, delim: ',', quote: '"', escape: '"'},
		{csv: true, delim: ';', quote: '\'', escape: '\\', null: "NA"},
		{csv: true, delim: '\t', quote: '"', escape: '"', forceQuote: true},
	}
	for fi, f := range formats {
		for _, v := range tricky {
			for _, n := range []int{1, 3} {
				var row []byte
				for i := 0; i < n; i++ {
					if i > 0 {
						row = append(row, f.delim)
					}
					if f.csv {
						row = encodeCSV(row, []byte(v), f, n == 1)
					} else {
						row = encodeText(row, []byte(v), f.delim)
					}
				}
				row = append(row, '\n')
				var fields []copyField
				var ok bool
				if f.csv {
					fields, ok = splitCSV(nil, row, f)
				} else {
					fields, ok = splitText(nil, row, f.delim)
				}
				if !ok || len(fields) != n {
					t.Errorf("format %d, %q x%d: row %q splits into %d fields, ok %v", fi, v, n, row, len(fields), ok)
					continue
				}
				for _, fl := range fields {
					raw := row[fl.start:fl.end]
					if !fl.quoted && string(raw) == f.null {
						if !f.csv && v == f.null {
							continue // text format cannot tell them apart, in PostgreSQL either
						}
						t.Errorf("format %d: %q encodes as the NULL string %q", fi, v, raw)
						continue
					}
					var got []byte
					if f.csv {
						got = decodeCSV(nil, raw, f)
					} else if got, ok = decodeText(nil, raw); !ok {
						t.Errorf("format %d: %q does not decode", fi, raw)
						continue
					}
					if string(got) != v {
						t.Errorf("format %d: %q -> %q -> %q", fi, v, raw, got)
					}
				}
			}
		}
	}
}

func TestDecodeTextEscapes(t *testing.T) {
	for raw, want := range map[string]string{
		`a\tb`: "a\tb", `\101\x41\x4a\7`: "AAJ\a", `\\N`: `\N`, `\q`: "q", `\xg`: "xg", `\0101`: "\b1",
	} {
		got, ok := decodeText(nil, []byte(raw))
		if !ok || string(got) != want {
			t.Errorf("%q: %q %v, want %q", raw, got, ok, want)
		}
	}
	if _, ok := decodeText(nil, []byte(`abc\`)); ok {
		t.Error("trailing backslash decoded")
	}
}

// bracketMasker wraps values in <>, and masks "secret" to NULL.
type bracketMasker struct{}

func (bracketMasker) Apply(dst, v []byte, format int16, typeOID uint32) ([]byte, bool) {
	if format != 0 {
		panic("binary")
	}
	if string(v) == "secret" {
		return dst, true
	}
	dst = append(dst, '<')
	dst = append(dst, v...)
	return append(dst, '>'), false
}

func (bracketMasker) ResultType(t uint32) uint32 { return t }

func TestMaskCopyRow(t *testing.T) {
	mask := rewrite.ResultMask{{}, {Masker: bracketMasker{}, Type: 25}, {Masker: bracketMasker{}, Type: 25}}
	text := &copyFormat{delim: '\t', null: `\N`}
	csv := &copyFormat{csv: true, delim: ',', quote: '"', escape: '"'}
	for _, c := range []struct {
		f        *copyFormat
		row, out string
		ok       bool
	}{
		{text, "1\tab\\tc\tsecret\n", "1\t<ab\\tc>\t\\N\n", true},
		{text, "\\N\t\\N\ta\\\\b\n", "\\N\t\\N\t<a\\\\b>\n", true},
		{text, "x\\ty\t\t张\n", "x\\ty\t<>\t<张>\n", true},
		{text, "1\t2\n", "", false},
		{text, "1\t2\t3\t4\n", "", false},
		{text, "1\t2\t3", "", false},
		{text, "1\t2\t3\\\n", "", false},
		{csv, "1,\"a,b\",\"\"\n", "1,\"<a,b>\",<>\n", true},
		{csv, "\"x\"\"y\",,\"multi\nline\"\n", "\"x\"\"y\",,\"<multi\nline>\"\n", true},
		{csv, "1,\"q\"\"\",secret\n", "1,\"<q\"\">\",\n", true},
		{csv, "1,\"unterminated,x\n", "", false},
		{csv, "1,2\n", "", false},
	} {
		var st copyOut
		dst := []byte("prefix")
		out, ok := maskCopyRow(dst, []byte(c.row), c.f, mask, &st)
		if ok != c.ok {
			t.Errorf("%q: ok %v, want %v", c.row, ok, c.ok)
			continue
		}
		if ok && string(out) != "prefix"+c.out {
			t.Errorf("%q: %q, want %q", c.row, out[6:], c.out)
		}
	}
	if got := appendNullCopyRow(nil, text, 3); string(got) != "\\N\t\\N\t\\N\n" {
		t.Errorf("null text row %q", got)
	}
	if got := appendNullCopyRow(nil, csv, 3); string(got) != ",,\n" {
		t.Errorf("null csv row %q", got)
	}
}

func TestMaskCopyRowAllocs(t *testing.T) {
	mask := rewrite.ResultMask{{}, {Masker: bracketMasker{}, Type: 25}, {Masker: bracketMasker{}, Type: 25}}
	f := &copyFormat{csv: true, delim: ',', quote: '"', escape: '"'}
	row := []byte("1,\"a,b\",plain\n")
	var st copyOut
	dst := make([]byte, 0, 256)
	maskCopyRow(dst, row, f, mask, &st)
	allocs := testing.AllocsPerRun(100, func() {
		out, ok := maskCopyRow(dst[:0], row, f, mask, &st)
		if !ok || !bytes.HasSuffix(out, []byte("<plain>\n")) {
			t.Fatal("row")
		}
	})
	if allocs != 0 {
		t.Errorf("%v allocations per row", allocs)
	}
}
