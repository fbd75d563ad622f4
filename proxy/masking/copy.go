package masking

// COPY ... TO STDOUT in masked sessions: the gate admits only text and CSV
// output to the client; the planner checks the copied query like a SELECT
// and records the output format; the server side parses each CopyData
// row, masks its columns in text format and encodes it again. A row that
// does not parse as the format announced goes out as a row of NULLs.

import (
	"context"
	"fmt"
	"strings"

	pg_query "github.com/pganalyze/pg_query_go/v6"

	"github.com/pgveil/pgveil/proxy"
	"github.com/pgveil/pgveil/proxy/track"
	"github.com/pgveil/pgveil/rewrite"
)

// copyFormat is the output format of a COPY TO, from its options.
type copyFormat struct {
	csv        bool
	delim      byte
	quote      byte // CSV only
	escape     byte // CSV only
	null       string
	header     bool
	forceQuote bool // FORCE_QUOTE of any column: every non-NULL value is quoted
	relation   bool // COPY table [(cols)] TO, not COPY (query) TO
}

// copyOptions checks a CopyStmt for a masked session and returns its
// format, or a user-facing reason to refuse it.
func copyOptions(c *pg_query.CopyStmt) (*copyFormat, string) {
	if c.GetIsFrom() {
		return nil, "COPY FROM is not allowed"
	}
	if c.GetIsProgram() || c.GetFilename() != "" {
		return nil, "COPY TO a file or program is not allowed; use COPY ... TO STDOUT"
	}
	f := &copyFormat{relation: c.GetQuery() == nil}
	var delim, quote, escape, null *string
	str := func(d *pg_query.DefElem) (string, bool) {
		if s := d.GetArg().GetString_(); s != nil {
			return s.GetSval(), true
		}
		return "", false
	}
	for _, o := range c.GetOptions() {
		d := o.GetDefElem()
		if d == nil {
			return nil, "COPY options pgveil cannot read are not allowed"
		}
		switch name := strings.ToLower(d.GetDefname()); name {
		case "format":
			v, ok := str(d)
			switch strings.ToLower(v) {
			case "text":
				f.csv = false
			case "csv":
				f.csv = true
			default:
				if !ok {
					return nil, "COPY format pgveil cannot read is not allowed"
				}
				return nil, "COPY in " + strings.ToLower(v) + " format is not allowed in a masked session; use text or csv"
			}
		case "delimiter", "quote", "escape", "null":
			v, ok := str(d)
			if !ok {
				return nil, "COPY option " + name + " must be a string"
			}
			if name != "null" && len(v) != 1 {
				return nil, "COPY option " + name + " must be a single one-byte character"
			}
			switch name {
			case "delimiter":
				delim = &v
			case "quote":
				quote = &v
			case "escape":
				escape = &v
			default:
				null = &v
			}
		case "header":
			on, ok := boolOption(d.GetArg())
			if !ok {
				return nil, "COPY HEADER value pgveil cannot read is not allowed"
			}
			f.header = on
		case "force_quote":
			f.forceQuote = true
		case "encoding":
			v, _ := str(d)
			switch strings.ToLower(strings.ReplaceAll(v, "-", "")) {
			case "utf8", "unicode":
			default:
				return nil, "COPY ENCODING other than UTF8 is not allowed in a masked session"
			}
		default:
			return nil, "COPY option " + name + " is not allowed in a masked session"
		}
	}
	if f.csv {
		f.delim, f.quote, f.null = ',', '"', ""
	} else {
		f.delim, f.null = '\t', `\N`
		if quote != nil || escape != nil || f.forceQuote {
			return nil, "COPY options QUOTE, ESCAPE and FORCE_QUOTE need CSV format"
		}
	}
	if delim != nil {
		f.delim = (*delim)[0]
	}
	if quote != nil {
		f.quote = (*quote)[0]
	}
	f.escape = f.quote
	if escape != nil {
		f.escape = (*escape)[0]
	}
	if null != nil {
		f.null = *null
	}
	if f.delim == '\n' || f.delim == '\r' || f.delim == '\\' && !f.csv || f.delim >= 0x80 || f.quote >= 0x80 || f.escape >= 0x80 ||
		strings.ContainsAny(f.null, "\r\n") || strings.IndexByte(f.null, f.delim) >= 0 || f.csv && f.delim == f.quote {
		return nil, "COPY delimiter, quote, escape or NULL options pgveil cannot parse back are not allowed"
	}
	return f, ""
}

func boolOption(arg *pg_query.Node) (bool, bool) {
	switch {
	case arg == nil:
		return true, true
	case arg.GetBoolean() != nil:
		return arg.GetBoolean().GetBoolval(), true
	case arg.GetInteger() != nil:
		switch arg.GetInteger().GetIval() {
		case 0:
			return false, true
		case 1:
			return true, true
		}
	case arg.GetString_() != nil:
		switch strings.ToLower(arg.GetString_().GetSval()) {
		case "true", "on", "yes", "1":
			return true, true
		case "false", "off", "no", "0":
			return false, true
		}
	}
	return false, false
}

// planCopy plans COPY ... TO STDOUT: its columns are checked and masked
// exactly like a SELECT's; its rows come as CopyData.
func (e *Engine) planCopy(ctx context.Context, s *session, a *rewrite.Analysis, f *copyFormat) (stmtPlan, *proxy.Error) {
	if f.relation {
		// Row filters are applied by rewriting range references inside
		// queries; COPY table TO reads the table directly. Refuse rather
		// than copy rows the policy hides.
		for _, r := range a.Relations {
			q := r.Schema + "." + r.Name
			if _, ok := s.policy.RowFilter[q]; ok {
				return stmtPlan{}, s.refusal(fmt.Sprintf("table %s has a row filter: use COPY (SELECT ... FROM %s) TO STDOUT", q, q))
			}
		}
	}
	sp, refusal := e.planStatement(ctx, s, &rewrite.Analysis{Kind: rewrite.KindSelect, Tag: a.Tag,
		Columns: a.Columns, Relations: a.Relations, Uses: a.Uses}, stmtFacts{})
	if refusal != nil {
		return stmtPlan{}, refusal
	}
	sp.hasRows = false
	sp.copy = f
	return sp, nil
}

// copyOut is the state of the COPY TO in progress (server goroutine only).
type copyOut struct {
	header bool // the next CopyData is the header line
	binary bool // the server announced binary: rows are dropped
	scratch,
	value []byte
	fields []copyField
}

type copyField struct {
	start, end int  // the raw field in the row
	quoted     bool // CSV: some part was quoted (never NULL)
}

// copyResponse notes the start of a COPY TO (CopyOutResponse).
func (s *session) copyResponse(msg []byte, a track.Attribution) {
	sp := s.stmtPlan(a)
	s.copy.header = sp != nil && sp.copy != nil && sp.copy.header
	s.copy.binary = len(msg) < 6 || msg[5] != 0
}

// copyData masks one CopyData message of a COPY TO.
func (s *session) copyData(dst, msg []byte, a track.Attribution) []byte {
	sp := s.stmtPlan(a)
	if sp == nil || sp.copy == nil || s.copy.binary || len(msg) < 5 {
		s.e.log.Debug("COPY data without an analysed COPY: dropped", "session", s.info.ID, "origin", a.Origin.String())
		return dst
	}
	if s.copy.header {
		s.copy.header = false
		return msg
	}
	start := len(dst)
	dst = append(dst, 'd', 0, 0, 0, 0)
	out, ok := maskCopyRow(dst, msg[5:], sp.copy, sp.mask, &s.copy)
	if !ok {
		s.e.log.Debug("COPY row does not match its analysed statement: sent as NULLs", "session", s.info.ID)
		out = appendNullCopyRow(dst[:start+5], sp.copy, len(sp.mask))
	}
	putLen(out[start:])
	return out
}

func putLen(msg []byte) {
	n := uint32(len(msg) - 1)
	msg[1], msg[2], msg[3], msg[4] = byte(n>>24), byte(n>>16), byte(n>>8), byte(n)
}

// appendNullCopyRow appends a row of n NULLs in format f.
func appendNullCopyRow(dst []byte, f *copyFormat, n int) []byte {
	for i := 0; i < n; i++ {
		if i > 0 {
			dst = append(dst, f.delim)
		}
		dst = append(dst, f.null...)
	}
	return append(dst, '\n')
}

// maskCopyRow appends row (one line of COPY output, with its newline)
// with each masked column transformed. It reports false when the row does
// not parse or has not len(m) columns; dst then holds garbage past its
// original length.
func maskCopyRow(dst, row []byte, f *copyFormat, m rewrite.ResultMask, st *copyOut) ([]byte, bool) {
	var ok bool
	if f.csv {
		st.fields, ok = splitCSV(st.fields[:0], row, f)
	} else {
		st.fields, ok = splitText(st.fields[:0], row, f.delim)
	}
	if !ok || len(st.fields) != len(m) {
		return dst, false
	}
	for i, fl := range st.fields {
		if i > 0 {
			dst = append(dst, f.delim)
		}
		raw := row[fl.start:fl.end]
		c := m[i]
		if c.Masker == nil {
			dst = append(dst, raw...)
			continue
		}
		if !fl.quoted && string(raw) == f.null {
			dst = append(dst, f.null...)
			continue
		}
		if f.csv {
			st.value = decodeCSV(st.value[:0], raw, f)
		} else {
			if st.value, ok = decodeText(st.value[:0], raw); !ok {
				return dst, false
			}
		}
		var null bool
		st.scratch, null = c.Masker.Apply(st.scratch[:0], st.value, 0, c.Type)
		switch {
		case null:
			dst = append(dst, f.null...)
		case f.csv:
			dst = encodeCSV(dst, st.scratch, f, len(m) == 1)
		default:
			dst = encodeText(dst, st.scratch, f.delim)
		}
	}
	return append(dst, '\n'), true
}

// splitText splits a text-format row into raw fields; the delimiter
// escaped by a backslash does not split.
func splitText(fields []copyField, row []byte, delim byte) ([]copyField, bool) {
	if len(row) == 0 || row[len(row)-1] != '\n' {
		return fields, false
	}
	row = row[:len(row)-1]
	start := 0
	for i := 0; i < len(row); i++ {
		switch c := row[i]; {
		case c == '\\':
			if i+1 >= len(row) {
				return fields, false
			}
			i++
		case c == delim:
			fields = append(fields, copyField{start: start, end: i})
			start = i + 1
		case c == '\n' || c == '\r':
			return fields, false
		}
	}
	return append(fields, copyField{start: start, end: len(row)}), true
}

// decodeText appends the value of a raw text-format field.
func decodeText(dst, raw []byte) ([]byte, bool) {
	for i := 0; i < len(raw); i++ {
		c := raw[i]
		if c != '\\' {
			dst = append(dst, c)
			continue
		}
		i++
		if i >= len(raw) {
			return dst, false
		}
		c = raw[i]
		switch c {
		case 'b':
			dst = append(dst, '\b')
		case 'f':
			dst = append(dst, '\f')
		case 'n':
			dst = append(dst, '\n')
		case 'r':
			dst = append(dst, '\r')
		case 't':
			dst = append(dst, '\t')
		case 'v':
			dst = append(dst, '\v')
		case '0', '1', '2', '3', '4', '5', '6', '7':
			v := c - '0'
			for k := 0; k < 2 && i+1 < len(raw) && raw[i+1] >= '0' && raw[i+1] <= '7'; k++ {
				i++
				v = v<<3 | (raw[i] - '0')
			}
			dst = append(dst, v)
		case 'x':
			if i+1 < len(raw) && isHex(raw[i+1]) {
				i++
				v := unhex(raw[i])
				if i+1 < len(raw) && isHex(raw[i+1]) {
					i++
					v = v<<4 | unhex(raw[i])
				}
				dst = append(dst, v)
			} else {
				dst = append(dst, 'x')
			}
		default:
			dst = append(dst, c)
		}
	}
	return dst, true
}

func isHex(c byte) bool {
	return c >= '0' && c <= '9' || c >= 'a' && c <= 'f' || c >= 'A' && c <= 'F'
}

func unhex(c byte) byte {
	switch {
	case c >= 'a':
		return c - 'a' + 10
	case c >= 'A':
		return c - 'A' + 10
	}
	return c - '0'
}

// encodeText appends v as a text-format field, escaped as PostgreSQL
// escapes it.
func encodeText(dst, v []byte, delim byte) []byte {
	for _, c := range v {
		switch c {
		case '\b':
			dst = append(dst, '\\', 'b')
		case '\f':
			dst = append(dst, '\\', 'f')
		case '\n':
			dst = append(dst, '\\', 'n')
		case '\r':
			dst = append(dst, '\\', 'r')
		case '\t':
			dst = append(dst, '\\', 't')
		case '\v':
			dst = append(dst, '\\', 'v')
		case '\\':
			dst = append(dst, '\\', '\\')
		default:
			if c == delim {
				dst = append(dst, '\\')
			}
			dst = append(dst, c)
		}
	}
	return dst
}

// splitCSV splits a CSV row into raw fields, following PostgreSQL's
// reader: quoted sections may appear anywhere in a field, and inside them
// the escape character escapes the quote and itself.
func splitCSV(fields []copyField, row []byte, f *copyFormat) ([]copyField, bool) {
	start, quoted, inQuote := 0, false, false
	for i := 0; i < len(row); i++ {
		c := row[i]
		if inQuote {
			if c == f.escape && i+1 < len(row) && (row[i+1] == f.quote || row[i+1] == f.escape) {
				i++
				continue
			}
			if c == f.quote {
				inQuote = false
			}
			continue
		}
		switch c {
		case f.quote:
			inQuote, quoted = true, true
		case f.delim:
			fields = append(fields, copyField{start: start, end: i, quoted: quoted})
			start, quoted = i+1, false
		case '\n':
			if i != len(row)-1 {
				return fields, false
			}
			return append(fields, copyField{start: start, end: i, quoted: quoted}), true
		case '\r':
			return fields, false
		}
	}
	return fields, false // no newline, or inside quotes at the end
}

// decodeCSV appends the value of a raw CSV field that splitCSV accepted.
func decodeCSV(dst, raw []byte, f *copyFormat) []byte {
	inQuote := false
	for i := 0; i < len(raw); i++ {
		c := raw[i]
		if inQuote {
			if c == f.escape && i+1 < len(raw) && (raw[i+1] == f.quote || raw[i+1] == f.escape) {
				i++
				dst = append(dst, raw[i])
				continue
			}
			if c == f.quote {
				inQuote = false
				continue
			}
			dst = append(dst, c)
			continue
		}
		if c == f.quote {
			inQuote = true
			continue
		}
		dst = append(dst, c)
	}
	return dst
}

// encodeCSV appends v as a CSV field, quoted when PostgreSQL would quote
// it (and when FORCE_QUOTE is in effect for any column).
func encodeCSV(dst, v []byte, f *copyFormat, single bool) []byte {
	quote := f.forceQuote || string(v) == f.null || single && string(v) == `\.`
	for i := 0; !quote && i < len(v); i++ {
		switch v[i] {
		case f.delim, f.quote, f.escape, '\n', '\r':
			quote = true
		}
	}
	if !quote {
		return append(dst, v...)
	}
	dst = append(dst, f.quote)
	for _, c := range v {
		if c == f.quote || c == f.escape {
			dst = append(dst, f.escape)
		}
		dst = append(dst, c)
	}
	return append(dst, f.quote)
}
