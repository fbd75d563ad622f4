package rules

import (
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"math"
	"os"
	"strconv"
	"strings"
)

// A Transform is what happens to the value of a classified column: a
// [policy.mask] value or a policy's default, parsed. Name is one of the
// Transform* constants ("null" is read as TransformRedact); Args holds the
// arguments of partial, bucket and noise and is nil for the others.
type Transform struct {
	Name string
	Args []float64
}

// Transform names.
const (
	TransformClear     = "clear"     // the value as it is
	TransformRedact    = "redact"    // NULL, type kept; "null" is an alias
	TransformPartial   = "partial"   // partial(first,last): keep that many code points at each end, * between
	TransformEmail     = "email"     // z***@qq.com
	TransformHash      = "hash"      // keyed HMAC-SHA-256, irreversible
	TransformToken     = "token"     // deterministic, reversible only with the key
	TransformPseudonym = "pseudonym" // consistent fake value of the same kind
	TransformYear      = "year"      // dates generalised to 1 January, type kept
	TransformMonth     = "month"     // dates generalised to the 1st of the month
	TransformBucket    = "bucket"    // bucket(width): numbers rounded down to a multiple of width
	TransformNoise     = "noise"     // noise(pct): numbers moved by up to pct percent, deterministically per value
)

// Clear and Redact are the two transforms that need no arguments and no key.
var (
	Clear  = Transform{Name: TransformClear}
	Redact = Transform{Name: TransformRedact}
)

// transformSpecs lists every transform name, its alias target and its
// parameters, in the order error messages list them.
var transformSpecs = []struct {
	name   string
	params []string // parameter names, for messages
	alias  string   // the transform this name stands for, if an alias
}{
	{name: TransformClear},
	{name: TransformRedact},
	{name: "null", alias: TransformRedact},
	{name: TransformPartial, params: []string{"first", "last"}},
	{name: TransformEmail},
	{name: TransformHash},
	{name: TransformToken},
	{name: TransformPseudonym},
	{name: TransformYear},
	{name: TransformMonth},
	{name: TransformBucket, params: []string{"width"}},
	{name: TransformNoise, params: []string{"pct"}},
}

func transformUsage(name string, params []string) string {
	if len(params) == 0 {
		return name
	}
	return name + "(" + strings.Join(params, ",") + ")"
}

// ParseTransform reads a transform as written in a configuration file:
// "clear", "redact", "null", "partial(3,4)", "email", "hash", "token",
// "pseudonym", "year", "month", "bucket(10)" or "noise(5)". Blanks around
// the name, parentheses, arguments and commas are allowed; names are
// lower case. partial takes two non-negative integers, bucket a width
// greater than 0, noise a percentage greater than 0 and at most 100;
// numbers are written in decimal ("2.5", not "25e-1").
func ParseTransform(s string) (Transform, error) {
	t := strings.TrimSpace(s)
	name, rest := t, ""
	if i := strings.IndexByte(t, '('); i >= 0 {
		name, rest = strings.TrimSpace(t[:i]), t[i:]
	}
	if name == "" {
		if t == "" {
			return Transform{}, errors.New("transform must not be empty")
		}
		return Transform{}, fmt.Errorf("transform %q has no name before its arguments", s)
	}
	spec := -1
	for i := range transformSpecs {
		if transformSpecs[i].name == name {
			spec = i
			break
		}
	}
	if spec < 0 {
		names := make([]string, len(transformSpecs))
		usages := make([]string, len(transformSpecs))
		for i, sp := range transformSpecs {
			names[i] = sp.name
			usages[i] = transformUsage(sp.name, sp.params)
		}
		if sug := suggest(name, names); sug != "" {
			return Transform{}, fmt.Errorf("unknown transform %q (did you mean %q?)", name, sug)
		}
		return Transform{}, fmt.Errorf("unknown transform %q: use one of %s", name, strings.Join(usages, ", "))
	}
	sp := transformSpecs[spec]
	usage := transformUsage(sp.name, sp.params)
	tr := Transform{Name: sp.name}
	if sp.alias != "" {
		tr.Name = sp.alias
	}

	var args []string
	if rest != "" {
		if !strings.HasSuffix(rest, ")") {
			return Transform{}, fmt.Errorf("transform %q: missing ) after the arguments, or something after it: write %s", s, usage)
		}
		inner := rest[1 : len(rest)-1]
		if strings.ContainsAny(inner, "()") {
			return Transform{}, fmt.Errorf("transform %q: unexpected parenthesis: write %s", s, usage)
		}
		args = strings.Split(inner, ",")
		for i := range args {
			args[i] = strings.TrimSpace(args[i])
		}
		if len(args) == 1 && args[0] == "" {
			args = nil
		}
	}
	if len(args) != len(sp.params) || rest != "" && len(sp.params) == 0 {
		switch {
		case len(sp.params) == 0:
			return Transform{}, fmt.Errorf("transform %q: %s takes no arguments", s, sp.name)
		case len(sp.params) == 1:
			return Transform{}, fmt.Errorf("transform %q: %s takes 1 argument, %s(%s), e.g. %s", s, sp.name, sp.name, sp.params[0], transformExample(sp.name))
		default:
			return Transform{}, fmt.Errorf("transform %q: %s takes %d arguments, %s, e.g. %s", s, sp.name, len(sp.params), usage, transformExample(sp.name))
		}
	}
	if len(args) > 0 {
		tr.Args = make([]float64, len(args))
	}
	for i, a := range args {
		param := sp.params[i]
		if a == "" {
			return Transform{}, fmt.Errorf("transform %q: %s of %s is missing", s, param, sp.name)
		}
		integer := sp.name == TransformPartial
		x, err := parseDecimal(a, integer)
		if err != nil {
			return Transform{}, fmt.Errorf("transform %q: %s of %s: %v", s, param, sp.name, err)
		}
		switch sp.name {
		case TransformPartial:
			// parseDecimal refused negative numbers already.
		case TransformBucket:
			if x <= 0 {
				return Transform{}, fmt.Errorf("transform %q: width of bucket must be greater than 0", s)
			}
		case TransformNoise:
			if x <= 0 || x > 100 {
				return Transform{}, fmt.Errorf("transform %q: pct of noise must be greater than 0 and at most 100", s)
			}
		}
		tr.Args[i] = x
	}
	return tr, nil
}

func transformExample(name string) string {
	switch name {
	case TransformPartial:
		return "partial(3,4)"
	case TransformBucket:
		return "bucket(10)"
	case TransformNoise:
		return "noise(5)"
	}
	return name
}

// maxTransformArg bounds arguments: a larger one is a typo, and keeping
// them small keeps them exact in a float64 and in an int.
const maxTransformArg = 1 << 31

// parseDecimal reads a non-negative decimal number: digits, and unless
// integer is set, optionally a point and more digits.
func parseDecimal(s string, integer bool) (float64, error) {
	if strings.HasPrefix(s, "-") {
		return 0, fmt.Errorf("%q is negative", s)
	}
	digits, point := 0, false
	for i := 0; i < len(s); i++ {
		switch c := s[i]; {
		case c >= '0' && c <= '9':
			digits++
		case c == '.' && !point && !integer:
			point = true
		default:
			if integer {
				return 0, fmt.Errorf("%q is not a non-negative integer", s)
			}
			return 0, fmt.Errorf("%q is not a decimal number such as 10 or 2.5", s)
		}
	}
	if digits == 0 {
		return 0, fmt.Errorf("%q is not a number", s)
	}
	x, err := strconv.ParseFloat(s, 64)
	if err != nil || x > maxTransformArg || math.IsInf(x, 0) {
		return 0, fmt.Errorf("%q is too large", s)
	}
	return x, nil
}

// String writes t as ParseTransform reads it: "partial(3,4)", "noise(2.5)".
func (t Transform) String() string {
	if len(t.Args) == 0 {
		return t.Name
	}
	var b strings.Builder
	b.WriteString(t.Name)
	b.WriteByte('(')
	for i, a := range t.Args {
		if i > 0 {
			b.WriteByte(',')
		}
		b.WriteString(strconv.FormatFloat(a, 'f', -1, 64))
	}
	b.WriteByte(')')
	return b.String()
}

// IsClear reports whether t passes values through unchanged.
func (t Transform) IsClear() bool { return t.Name == TransformClear }

// NeedsKey reports whether t needs the [tokens] key: hash, token,
// pseudonym and noise do.
func (t Transform) NeedsKey() bool {
	switch t.Name {
	case TransformHash, TransformToken, TransformPseudonym, TransformNoise:
		return true
	}
	return false
}

// TokenKeySize is the length of the key behind hashes, tokens, pseudonyms
// and noise: a key file holds it as 2*TokenKeySize hex digits.
const TokenKeySize = 32

// KeyGen returns a new random token key as 64 hex digits, what `pgveil
// keygen` writes to a key file. It panics if the system's random source
// fails, as crypto/rand does.
func KeyGen() string {
	key := make([]byte, TokenKeySize)
	rand.Read(key) // never fails: it panics instead
	return hex.EncodeToString(key)
}

// TokenKey reads the key in [tokens] key_file: 32 bytes written as 64 hex
// digits, blanks and line breaks around them ignored. Errors name the file,
// never its contents.
func (c *Config) TokenKey() ([]byte, error) {
	if c == nil || c.Tokens.KeyFile == "" {
		return nil, errors.New("no [tokens] key_file: create a key with `pgveil keygen` and name its file there")
	}
	return readTokenKey(c.Tokens.KeyFile)
}

// readTokenKey reads and checks a key file. Its errors start with the
// file's name, quoted.
func readTokenKey(file string) ([]byte, error) {
	fail := func(err error) ([]byte, error) {
		if errors.Is(err, fs.ErrNotExist) {
			return nil, fmt.Errorf("%q: no such file; create one with `pgveil keygen`", file)
		}
		var pe *fs.PathError
		if errors.As(err, &pe) {
			err = pe.Err
		}
		return nil, fmt.Errorf("%q: %v", file, err)
	}
	// A device or a pipe could block or never end: only a regular file
	// holds a key.
	if fi, err := os.Stat(file); err != nil {
		return fail(err)
	} else if !fi.Mode().IsRegular() {
		return nil, fmt.Errorf("%q is not a regular file", file)
	}
	f, err := os.Open(file)
	if err != nil {
		return fail(err)
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, 4096))
	if err != nil {
		return fail(err)
	}
	text := strings.TrimSpace(string(data))
	if len(text) != 2*TokenKeySize {
		return nil, fmt.Errorf("%q must hold %d random bytes as %d hex digits (`pgveil keygen` writes one), not %d characters", file, TokenKeySize, 2*TokenKeySize, len(text))
	}
	key, err := hex.DecodeString(text)
	if err != nil {
		return nil, fmt.Errorf("%q must hold %d random bytes as %d hex digits (`pgveil keygen` writes one): it holds something else", file, TokenKeySize, 2*TokenKeySize)
	}
	return key, nil
}
