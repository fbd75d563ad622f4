package transform

import (
	"bytes"
	"encoding/binary"
	"encoding/hex"
	"math"
	"strconv"
	"unicode/utf8"
)

// canonical appends the PostgreSQL text form of v to dst. ok=false means
// the value cannot be canonicalised (unsupported binary type, bad length).
func canonical(dst, v []byte, format int16, typ uint32) ([]byte, bool) {
	switch format {
	case FormatText:
		return append(dst, v...), true
	case FormatBinary:
	default:
		return dst, false
	}
	if isTextLike(typ) {
		return append(dst, v...), true
	}
	switch typ {
	case OIDInt2, OIDInt4, OIDInt8:
		n, ok := binaryInt(v, typ)
		if !ok {
			return dst, false
		}
		return strconv.AppendInt(dst, n, 10), true
	case OIDOID:
		if len(v) != 4 {
			return dst, false
		}
		return strconv.AppendUint(dst, uint64(binary.BigEndian.Uint32(v)), 10), true
	case OIDBool:
		if len(v) != 1 {
			return dst, false
		}
		if v[0] != 0 {
			return append(dst, 't'), true
		}
		return append(dst, 'f'), true
	case OIDUUID:
		if len(v) != 16 {
			return dst, false
		}
		var b [36]byte
		hex.Encode(b[0:8], v[0:4])
		b[8] = '-'
		hex.Encode(b[9:13], v[4:6])
		b[13] = '-'
		hex.Encode(b[14:18], v[6:8])
		b[18] = '-'
		hex.Encode(b[19:23], v[8:10])
		b[23] = '-'
		hex.Encode(b[24:], v[10:])
		return append(dst, b[:]...), true
	case OIDDate:
		if len(v) != 4 {
			return dst, false
		}
		d := int32(binary.BigEndian.Uint32(v))
		if d == maxInt32 || d == minInt32 {
			return dst, false
		}
		y, m, dd := civilFromDays(int64(d) + pgEpochDays)
		return appendDate(dst, y, m, dd), true
	case OIDFloat4:
		if len(v) != 4 {
			return dst, false
		}
		return appendFloatText(dst, float64(math.Float32frombits(binary.BigEndian.Uint32(v))), 32), true
	case OIDFloat8:
		if len(v) != 8 {
			return dst, false
		}
		return appendFloatText(dst, math.Float64frombits(binary.BigEndian.Uint64(v)), 64), true
	case OIDTimestamp:
		if len(v) != 8 {
			return dst, false
		}
		us := int64(binary.BigEndian.Uint64(v))
		if us == math.MaxInt64 || us == math.MinInt64 {
			return dst, false
		}
		return appendTimestamp(dst, us), true
	case OIDNumeric:
		d, dscale, ok := decodeNumeric(v)
		if !ok {
			return dst, false
		}
		return d.appendText(dst, dscale), true
	}
	return dst, false
}

func binaryInt(v []byte, typ uint32) (int64, bool) {
	switch typ {
	case OIDInt2:
		if len(v) == 2 {
			return int64(int16(binary.BigEndian.Uint16(v))), true
		}
	case OIDInt4:
		if len(v) == 4 {
			return int64(int32(binary.BigEndian.Uint32(v))), true
		}
	case OIDInt8:
		if len(v) == 8 {
			return int64(binary.BigEndian.Uint64(v)), true
		}
	}
	return 0, false
}

// partial keeps the first/last code points.
type partialFunc struct{ first, last int }

func (f partialFunc) ResultType(t uint32) uint32 { return t }

func (f partialFunc) Apply(dst, v []byte, format int16, typ uint32) ([]byte, bool) {
	if !textLike(format, typ) {
		return dst, true
	}
	n := utf8.RuneCount(v)
	if n <= f.first+f.last {
		for range n {
			dst = append(dst, '*')
		}
		return dst, false
	}
	i := 0
	for range f.first {
		_, sz := utf8.DecodeRune(v[i:])
		i += sz
	}
	dst = append(dst, v[:i]...)
	for range n - f.first - f.last {
		_, sz := utf8.DecodeRune(v[i:])
		i += sz
		dst = append(dst, '*')
	}
	return append(dst, v[i:]...), false
}

// email keeps the first code point of the local part and the domain.
type emailFunc struct{}

func (emailFunc) ResultType(t uint32) uint32 { return t }

func (emailFunc) Apply(dst, v []byte, format int16, typ uint32) ([]byte, bool) {
	if !textLike(format, typ) {
		return dst, true
	}
	local, domain, ok := splitEmail(v)
	if !ok {
		return dst, true
	}
	_, sz := utf8.DecodeRune(local)
	dst = append(dst, local[:sz]...)
	dst = append(dst, "***@"...)
	return append(dst, domain...), false
}

// splitEmail splits at the last '@'; both sides must be non-empty, the
// domain must contain a dot not at its ends, and there must be no space.
func splitEmail(v []byte) (local, domain []byte, ok bool) {
	at := bytes.LastIndexByte(v, '@')
	if at <= 0 || at == len(v)-1 {
		return nil, nil, false
	}
	local, domain = v[:at], v[at+1:]
	dot := bytes.IndexByte(domain, '.')
	if dot <= 0 || domain[len(domain)-1] == '.' {
		return nil, nil, false
	}
	for _, c := range v {
		if c <= ' ' || c == 0x7f {
			return nil, nil, false
		}
	}
	return local, domain, true
}

// hash: hex HMAC-SHA256 of the canonical text.
type hashFunc struct{ k *Keys }

func (hashFunc) ResultType(uint32) uint32 { return OIDText }

func (f hashFunc) Apply(dst, v []byte, format int16, typ uint32) ([]byte, bool) {
	s := f.k.hash.get()
	defer f.k.hash.put(s)
	var ok bool
	s.scratch, ok = canonical(s.scratch[:0], v, format, typ)
	if !ok {
		return dst, true
	}
	return hex.AppendEncode(dst, s.sumOf(s.scratch)), false
}

// token: "tok_" + base32(AES-SIV(canonical text)).
type tokenFunc struct{ k *Keys }

func (tokenFunc) ResultType(uint32) uint32 { return OIDText }

func (f tokenFunc) Apply(dst, v []byte, format int16, typ uint32) ([]byte, bool) {
	sv := f.k.siv
	sc := sv.pool.Get().(*sivScratch)
	defer sv.put(sc)
	var ok bool
	sc.canon, ok = canonical(sc.canon[:0], v, format, typ)
	if !ok {
		return dst, true
	}
	sc.out = sv.seal(sc, sc.out[:0], nil, sc.canon)
	dst = append(dst, TokenPrefix...)
	return tokenEncoding.AppendEncode(dst, sc.out), false
}
