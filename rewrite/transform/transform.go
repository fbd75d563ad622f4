// Package transform implements pgveil's masking transforms on single column
// values in PostgreSQL's text and binary wire formats.
//
// Every transform is deterministic for a given key and fails closed: a value
// a transform cannot interpret (unparseable text, an unsupported type or
// wire format, a result out of the type's range) becomes SQL NULL; it never
// passes through unmasked.
//
// Transforms (Spec.Name, Spec.Args):
//
//	clear              identity (any type, any format)
//	redact, null       NULL; ResultType is the input type
//	partial(f, l)      keep the first f and last l code points, one '*' per
//	                   masked code point; everything is masked when the value
//	                   has at most f+l code points. Text-like types only.
//	email              "zhangwei@163.com" -> "z***@163.com" (split at the last
//	                   '@'; the domain needs an inner dot; no spaces);
//	                   anything else -> NULL. Text-like types only.
//	hash               hex(HMAC-SHA256(hash key, canonical text)), all 64 hex
//	                   digits (not truncated); ResultType text.
//	token              "tok_" + base32 (lowercase, unpadded) of
//	                   AES-SIV-CMAC-256 (RFC 5297, 64-byte key, no associated
//	                   data) over the canonical text; Keys.Reveal inverts it.
//	                   A token is 4 + ceil((16+n)*8/5) characters for an
//	                   n-byte value. ResultType text.
//	pseudonym          a consistent fake of the column's classification kind,
//	                   chosen by HMAC(pseudonym key, value):
//	                     person_name: Hanzi surname + 1-2 given characters
//	                       if the input has a Han character, else "First Last"
//	                     phone: the digits are replaced, other characters
//	                       kept; 11 digits (or 13 starting 86) become a
//	                       13x/15x/18x mobile number, other counts random
//	                       digits of the same count
//	                     email: fake local part @ a common domain
//	                     address: "广东省广州市城东区人民路123号" style
//	                     national_id: 18 characters, valid birth date and
//	                       ISO 7064 MOD 11-2 check digit
//	                     birth_date (as text): YYYY-MM-DD, YYYY/MM/DD,
//	                       YYYY.MM.DD or YYYYMMDD -> a date in 1950..2005
//	                       in the same layout; other text as below
//	                     anything else (account_id, openids, QQ numbers):
//	                       same length, digits/ASCII letters (case kept)/Han
//	                       characters replaced within their class, other
//	                       characters kept; a leading non-zero digit
//	                       stays non-zero
//	                   Text-like types only; ResultType is the input type.
//	year, month        date/timestamp/timestamptz generalised to the first
//	                   day of the year/month, time 00:00:00, type kept. Text
//	                   format: only ISO DateStyle is parsed; the UTC offset
//	                   text of timestamptz (the session time zone's) and " BC"
//	                   are kept as they are. Binary format: timestamptz is
//	                   generalised in UTC. ±infinity -> NULL.
//	bucket(w)          numbers -> lower bound of the w-wide bucket
//	                   floor(v/w)*w, computed exactly in decimal (floats via
//	                   their shortest decimal form, so 0.3 stays 0.3 with
//	                   w=0.1). Integers with a fractional w are floored to an
//	                   integer. Numerics keep max(dscale, w's decimals).
//	                   Type kept.
//	noise(p)           numbers multiplied by 1+u*p/100, u in [-1,1) chosen by
//	                   HMAC(noise key, value text); integers rounded,
//	                   numerics keep their dscale (arithmetic in float64).
//	                   Type kept.
//
// bucket and noise accept int2, int4, int8, float4, float8 and numeric in
// text and binary format. NaN and ±Infinity -> NULL. Numeric values are
// handled exactly up to 18 significant digits (after aligning value and
// width to a common scale); beyond that -> NULL.
//
// Text-like types are text, varchar, bpchar and name; their binary format is
// the same bytes as their text format.
//
// The canonical text used by hash, token and to seed pseudonym and noise is
// the value's PostgreSQL text output, so the text and binary formats of a
// value agree. In text format the bytes are used as they are (for any type,
// bpchar padding included). In binary format the supported types are the
// text-like types, bool, int2, int4, int8, oid, float4, float8 (formatted as
// PostgreSQL 12+ does with the default extra_float_digits), uuid, date,
// timestamp and numeric (up to 18 significant digits); any other binary
// value (timestamptz, whose text depends on the session time zone, bytea,
// ...) becomes NULL for hash and token.
//
// Func values are safe for concurrent use. Apply does not allocate when dst
// has enough capacity (scratch state comes from sync.Pools).
package transform

import (
	"fmt"
	"math"
)

// PostgreSQL type OIDs used by the transforms.
const (
	OIDBool        uint32 = 16
	OIDBytea       uint32 = 17
	OIDName        uint32 = 19
	OIDInt8        uint32 = 20
	OIDInt2        uint32 = 21
	OIDInt4        uint32 = 23
	OIDText        uint32 = 25
	OIDOID         uint32 = 26
	OIDFloat4      uint32 = 700
	OIDFloat8      uint32 = 701
	OIDBpchar      uint32 = 1042
	OIDVarchar     uint32 = 1043
	OIDDate        uint32 = 1082
	OIDTimestamp   uint32 = 1114
	OIDTimestamptz uint32 = 1184
	OIDNumeric     uint32 = 1700
	OIDUUID        uint32 = 2950
)

// Wire formats.
const (
	FormatText   int16 = 0
	FormatBinary int16 = 1
)

// Spec mirrors rules.Transform: a transform name and its numeric arguments.
type Spec struct {
	Name string
	Args []float64
}

func (s Spec) String() string {
	if len(s.Args) == 0 {
		return s.Name
	}
	return fmt.Sprintf("%s%v", s.Name, s.Args)
}

// Func masks values of one column.
type Func interface {
	// Apply appends the masked form of v (a non-NULL value in the given
	// wire format, 0 text / 1 binary, of PostgreSQL type typeOID) to dst.
	// null=true means the result is SQL NULL (nothing appended; out is dst).
	// It does not allocate beyond growing dst.
	Apply(dst, v []byte, format int16, typeOID uint32) (out []byte, null bool)
	// ResultType is the PostgreSQL type OID of the output for an input of
	// typeOID.
	ResultType(typeOID uint32) uint32
}

// New builds the Func for s. kind is the column's classification kind
// ("person_name", "phone", "email", "national_id", "birth_date", "address",
// "account_id", or any other string); it guides pseudonym generation.
// keys may be nil only for transforms that need no key (clear, redact,
// null, partial, email, year, month, bucket).
func New(s Spec, kind string, keys *Keys) (Func, error) {
	nargs := func(n int) error {
		if len(s.Args) != n {
			return fmt.Errorf("transform %s: want %d argument(s), got %d", s.Name, n, len(s.Args))
		}
		for _, a := range s.Args {
			if math.IsNaN(a) || math.IsInf(a, 0) {
				return fmt.Errorf("transform %s: argument %v is not finite", s.Name, a)
			}
		}
		return nil
	}
	needKeys := func() error {
		if keys == nil {
			return fmt.Errorf("transform %s: needs the token key", s.Name)
		}
		return nil
	}
	switch s.Name {
	case "clear":
		if err := nargs(0); err != nil {
			return nil, err
		}
		return clearFunc{}, nil
	case "redact", "null":
		if err := nargs(0); err != nil {
			return nil, err
		}
		return nullFunc{}, nil
	case "partial":
		if err := nargs(2); err != nil {
			return nil, err
		}
		f, l := s.Args[0], s.Args[1]
		if f < 0 || l < 0 || f != math.Trunc(f) || l != math.Trunc(l) || f > 1<<20 || l > 1<<20 {
			return nil, fmt.Errorf("transform partial: arguments must be non-negative integers, got %v", s.Args)
		}
		return partialFunc{first: int(f), last: int(l)}, nil
	case "email":
		if err := nargs(0); err != nil {
			return nil, err
		}
		return emailFunc{}, nil
	case "hash":
		if err := nargs(0); err != nil {
			return nil, err
		}
		if err := needKeys(); err != nil {
			return nil, err
		}
		return hashFunc{k: keys}, nil
	case "token":
		if err := nargs(0); err != nil {
			return nil, err
		}
		if err := needKeys(); err != nil {
			return nil, err
		}
		return tokenFunc{k: keys}, nil
	case "pseudonym":
		if err := nargs(0); err != nil {
			return nil, err
		}
		if err := needKeys(); err != nil {
			return nil, err
		}
		return pseudonymFunc{k: keys, kind: kind}, nil
	case "year", "month":
		if err := nargs(0); err != nil {
			return nil, err
		}
		return dateFunc{month: s.Name == "month"}, nil
	case "bucket":
		if err := nargs(1); err != nil {
			return nil, err
		}
		w := s.Args[0]
		if !(w > 0) {
			return nil, fmt.Errorf("transform bucket: width must be > 0, got %v", w)
		}
		wd, ok := decimalFromFloat(w)
		if !ok || wd.m <= 0 {
			return nil, fmt.Errorf("transform bucket: width %v not representable", w)
		}
		return bucketFunc{w: w, wd: wd}, nil
	case "noise":
		if err := nargs(1); err != nil {
			return nil, err
		}
		p := s.Args[0]
		if p < 0 || p > 100 {
			return nil, fmt.Errorf("transform noise: percentage must be in [0,100], got %v", p)
		}
		if err := needKeys(); err != nil {
			return nil, err
		}
		return noiseFunc{k: keys, pct: p}, nil
	}
	return nil, fmt.Errorf("unknown transform %q", s.Name)
}

func isTextLike(typ uint32) bool {
	switch typ {
	case OIDText, OIDVarchar, OIDBpchar, OIDName:
		return true
	}
	return false
}

// textLike reports whether v can be treated as text: a text-like type in
// text or binary format (which are the same bytes).
func textLike(format int16, typ uint32) bool {
	return (format == FormatText || format == FormatBinary) && isTextLike(typ)
}

type clearFunc struct{}

func (clearFunc) Apply(dst, v []byte, _ int16, _ uint32) ([]byte, bool) {
	return append(dst, v...), false
}
func (clearFunc) ResultType(t uint32) uint32 { return t }

type nullFunc struct{}

func (nullFunc) Apply(dst, _ []byte, _ int16, _ uint32) ([]byte, bool) { return dst, true }
func (nullFunc) ResultType(t uint32) uint32                            { return t }
