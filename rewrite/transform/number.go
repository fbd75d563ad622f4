package transform

import (
	"encoding/binary"
	"math"
	"math/bits"
	"strconv"
)

// decimal is m * 10^-s, exactly. It covers the values pgveil needs to
// bucket exactly: integers, numerics with up to 18 significant digits and
// the shortest decimal form of floats.
type decimal struct {
	m int64
	s int // digits after the decimal point; may be negative
}

var pow10 = [...]int64{1, 10, 100, 1000, 10000, 100000, 1000000, 10000000, 100000000, 1000000000,
	10000000000, 100000000000, 1000000000000, 10000000000000, 100000000000000,
	1000000000000000, 10000000000000000, 100000000000000000, 1000000000000000000}

// mulPow10 returns m*10^k (k >= 0) or ok=false on overflow.
func mulPow10(m int64, k int) (int64, bool) {
	if k == 0 || m == 0 {
		return m, true
	}
	if k < 0 || k >= len(pow10) {
		return 0, false
	}
	return mulInt64(m, pow10[k])
}

func mulInt64(a, b int64) (int64, bool) {
	if a == 0 || b == 0 {
		return 0, true
	}
	neg := (a < 0) != (b < 0)
	ua, ub := absU(a), absU(b)
	hi, lo := bits.Mul64(ua, ub)
	if hi != 0 {
		return 0, false
	}
	if neg {
		if lo > 1<<63 {
			return 0, false
		}
		return int64(-lo), true
	}
	if lo > math.MaxInt64 {
		return 0, false
	}
	return int64(lo), true
}

func absU(a int64) uint64 {
	if a < 0 {
		return uint64(-a)
	}
	return uint64(a)
}

func floorDiv(a, b int64) int64 {
	q := a / b
	if (a%b != 0) && ((a < 0) != (b < 0)) {
		q--
	}
	return q
}

// parseDecimal parses [+-]digits[.digits][(e|E)[+-]digits]. Leading
// zeros are skipped; more than 18 significant digits -> ok=false.
func parseDecimal(b []byte) (decimal, bool) {
	var d decimal
	i := 0
	neg := false
	if i < len(b) && (b[i] == '+' || b[i] == '-') {
		neg = b[i] == '-'
		i++
	}
	var m uint64
	nd, sig := 0, 0
	seenDot := false
	for ; i < len(b); i++ {
		c := b[i]
		if c == '.' {
			if seenDot {
				return d, false
			}
			seenDot = true
			continue
		}
		if c < '0' || c > '9' {
			break
		}
		nd++
		if seenDot {
			d.s++
		}
		if m == 0 && c == '0' {
			continue
		}
		sig++
		if sig > 18 {
			return d, false
		}
		m = m*10 + uint64(c-'0')
	}
	if nd == 0 {
		return d, false
	}
	if i < len(b) && (b[i] == 'e' || b[i] == 'E') {
		i++
		eneg := false
		if i < len(b) && (b[i] == '+' || b[i] == '-') {
			eneg = b[i] == '-'
			i++
		}
		e, ne := 0, 0
		for ; i < len(b) && b[i] >= '0' && b[i] <= '9'; i++ {
			e = e*10 + int(b[i]-'0')
			ne++
			if e > 100000 {
				return d, false
			}
		}
		if ne == 0 {
			return d, false
		}
		if eneg {
			d.s += e
		} else {
			d.s -= e
		}
	}
	if i != len(b) {
		return d, false
	}
	d.m = int64(m)
	if neg {
		d.m = -d.m
	}
	return d, true
}

// decimalFromFloat returns the shortest decimal that round-trips to f.
func decimalFromFloat(f float64) (decimal, bool) {
	return decimalFromFloatBits(f, 64)
}

func decimalFromFloatBits(f float64, bitSize int) (decimal, bool) {
	if math.IsNaN(f) || math.IsInf(f, 0) {
		return decimal{}, false
	}
	var buf [32]byte
	return parseDecimal(strconv.AppendFloat(buf[:0], f, 'e', -1, bitSize))
}

// align brings a and b to the same scale.
func align(a, b decimal) (x, y int64, s int, ok bool) {
	s = max(a.s, b.s)
	if x, ok = mulPow10(a.m, s-a.s); !ok {
		return
	}
	y, ok = mulPow10(b.m, s-b.s)
	return
}

// bucket returns floor(v/w)*w exactly, at scale max(v.s, w.s).
func (v decimal) bucket(w decimal) (decimal, bool) {
	a, b, s, ok := align(v, w)
	if !ok || b <= 0 {
		return decimal{}, false
	}
	r, ok := mulInt64(floorDiv(a, b), b)
	return decimal{r, s}, ok
}

// floorInt returns floor(v) as an integer.
func (v decimal) floorInt() (int64, bool) {
	if v.s <= 0 {
		return mulPow10(v.m, -v.s)
	}
	if v.s >= len(pow10) {
		if v.m < 0 {
			return -1, true
		}
		return 0, true
	}
	return floorDiv(v.m, pow10[v.s]), true
}

// rescale returns v at scale s >= v.s.
func (v decimal) rescale(s int) (decimal, bool) {
	if s < v.s {
		return decimal{}, false
	}
	m, ok := mulPow10(v.m, s-v.s)
	return decimal{m, s}, ok
}

// appendText appends v in PostgreSQL numeric text style with exactly
// scale digits after the point (v.s <= scale required; v is rescaled).
func (v decimal) appendText(dst []byte, scale int) []byte {
	if scale < 0 {
		scale = 0
	}
	if v.s != scale {
		if v.s < scale {
			v, _ = v.rescale(scale)
		} else {
			// drop digits (callers only do this when they are zero)
			k := v.s - scale
			if k < len(pow10) {
				v.m /= pow10[k]
			} else {
				v.m = 0
			}
			v.s = scale
		}
	}
	u := absU(v.m)
	if v.m < 0 {
		dst = append(dst, '-')
	}
	var buf [20]byte
	i := len(buf)
	for {
		i--
		buf[i] = '0' + byte(u%10)
		u /= 10
		if u == 0 {
			break
		}
	}
	digs := buf[i:]
	if len(digs) <= scale { // integer part is 0
		dst = append(dst, '0', '.')
		for k := len(digs); k < scale; k++ {
			dst = append(dst, '0')
		}
		return append(dst, digs...)
	}
	ip := len(digs) - scale
	dst = append(dst, digs[:ip]...)
	if scale > 0 {
		dst = append(dst, '.')
		dst = append(dst, digs[ip:]...)
	}
	return dst
}

// float converts v to the nearest float64 (or float32 when bitSize is 32).
func (v decimal) float(bitSize int) (float64, bool) {
	var buf [48]byte
	b := strconv.AppendInt(buf[:0], v.m, 10)
	b = append(b, 'e')
	b = strconv.AppendInt(b, int64(-v.s), 10)
	f, err := strconv.ParseFloat(string(b), bitSize)
	return f, err == nil
}

// Numeric binary format: int16 ndigits, int16 weight, uint16 sign,
// uint16 dscale, ndigits x int16 base-10000 digits (most significant
// first); value = sum digit[i] * 10000^(weight-i).
const (
	numericPos  = 0x0000
	numericNeg  = 0x4000
	numericMaxS = 1000 // PostgreSQL's NUMERIC_MAX_DISPLAY_SCALE
)

// decodeNumeric decodes a binary numeric into a decimal at scale dscale.
// NaN, ±Infinity and values with more than 18 significant digits fail.
func decodeNumeric(v []byte) (d decimal, dscale int, ok bool) {
	if len(v) < 8 {
		return d, 0, false
	}
	nd := int(int16(binary.BigEndian.Uint16(v)))
	weight := int(int16(binary.BigEndian.Uint16(v[2:])))
	sign := binary.BigEndian.Uint16(v[4:])
	dscale = int(binary.BigEndian.Uint16(v[6:]))
	if nd < 0 || len(v) != 8+2*nd || (sign != numericPos && sign != numericNeg) || dscale > numericMaxS {
		return d, 0, false
	}
	var m int64
	lead := true
	for i := 0; i < nd; i++ {
		g := int64(binary.BigEndian.Uint16(v[8+2*i:]))
		if g > 9999 {
			return d, 0, false
		}
		if lead && g == 0 {
			continue
		}
		lead = false
		var ok bool
		if m, ok = mulInt64(m, 10000); !ok {
			return d, 0, false
		}
		m += g
		if m > 999999999999999999 {
			return d, 0, false
		}
	}
	d = decimal{m: m, s: -4 * (weight - nd + 1)}
	if sign == numericNeg {
		d.m = -d.m
	}
	if d.m == 0 {
		return decimal{0, dscale}, dscale, true
	}
	// bring to dscale: digits beyond dscale must be zero
	if d.s > dscale {
		k := d.s - dscale
		if k >= len(pow10) || d.m%pow10[k] != 0 {
			return d, 0, false
		}
		d.m /= pow10[k]
		d.s = dscale
	} else if d.s < dscale {
		if d, ok = d.rescale(dscale); !ok {
			return d, 0, false
		}
	}
	return d, dscale, true
}

// appendNumeric encodes d (d.s >= 0 is the dscale) in binary numeric format.
func appendNumeric(dst []byte, d decimal) ([]byte, bool) {
	if d.s < 0 {
		var ok bool
		if d, ok = d.rescale(0); !ok {
			return dst, false
		}
	}
	if d.s > numericMaxS {
		return dst, false
	}
	dscale := d.s
	sign := uint16(numericPos)
	u := absU(d.m)
	if d.m < 0 {
		sign = numericNeg
	}
	// pad the fraction to a multiple of 4 digits, as uint128-free as
	// possible: u*10^pad may exceed uint64, so handle via hi/lo split.
	pad := (4 - dscale%4) % 4
	fracGroups := (dscale + pad) / 4
	// groups, least significant first
	var g [48]uint16
	n := 0
	// u * 10^pad in 128 bits
	hi, lo := bits.Mul64(u, uint64(pow10[pad]))
	for hi != 0 || lo != 0 {
		var r uint64
		hi, r = bits.Div64(0, hi, 10000)
		lo, r = bits.Div64(r, lo, 10000)
		g[n] = uint16(r)
		n++
	}
	if n == 0 {
		dst = binary.BigEndian.AppendUint16(dst, 0)
		dst = binary.BigEndian.AppendUint16(dst, 0)
		dst = binary.BigEndian.AppendUint16(dst, numericPos)
		return binary.BigEndian.AppendUint16(dst, uint16(dscale)), true
	}
	weight := n - fracGroups - 1
	// strip trailing zero groups (least significant)
	low := 0
	for low < n && g[low] == 0 {
		low++
	}
	nd := n - low
	dst = binary.BigEndian.AppendUint16(dst, uint16(nd))
	dst = binary.BigEndian.AppendUint16(dst, uint16(int16(weight)))
	dst = binary.BigEndian.AppendUint16(dst, sign)
	dst = binary.BigEndian.AppendUint16(dst, uint16(dscale))
	for i := n - 1; i >= low; i-- {
		dst = binary.BigEndian.AppendUint16(dst, g[i])
	}
	return dst, true
}

// number is a parsed numeric column value.
type number struct {
	typ    uint32
	format int16
	i      int64   // ints
	f      float64 // floats
	d      decimal // numeric (d.s = dscale)
}

func isNumberType(typ uint32) bool {
	switch typ {
	case OIDInt2, OIDInt4, OIDInt8, OIDFloat4, OIDFloat8, OIDNumeric:
		return true
	}
	return false
}

func intRange(typ uint32) (lo, hi int64) {
	switch typ {
	case OIDInt2:
		return math.MinInt16, math.MaxInt16
	case OIDInt4:
		return math.MinInt32, math.MaxInt32
	}
	return math.MinInt64, math.MaxInt64
}

func floatBits(typ uint32) int {
	if typ == OIDFloat4 {
		return 32
	}
	return 64
}

// parseNumber reads v; NaN and infinities fail.
func parseNumber(v []byte, format int16, typ uint32) (number, bool) {
	n := number{typ: typ, format: format}
	switch format {
	case FormatText:
		switch typ {
		case OIDInt2, OIDInt4, OIDInt8:
			x, err := strconv.ParseInt(string(v), 10, 64)
			lo, hi := intRange(typ)
			if err != nil || x < lo || x > hi {
				return n, false
			}
			n.i = x
		case OIDFloat4, OIDFloat8:
			x, err := strconv.ParseFloat(string(v), floatBits(typ))
			if err != nil || math.IsNaN(x) || math.IsInf(x, 0) {
				return n, false
			}
			n.f = x
		case OIDNumeric:
			d, ok := parseDecimal(v)
			if !ok || d.s < 0 {
				return n, false
			}
			for _, c := range v {
				if c == 'e' || c == 'E' {
					return n, false
				}
			}
			n.d = d
		default:
			return n, false
		}
	case FormatBinary:
		switch typ {
		case OIDInt2, OIDInt4, OIDInt8:
			x, ok := binaryInt(v, typ)
			if !ok {
				return n, false
			}
			n.i = x
		case OIDFloat4:
			if len(v) != 4 {
				return n, false
			}
			n.f = float64(math.Float32frombits(binary.BigEndian.Uint32(v)))
		case OIDFloat8:
			if len(v) != 8 {
				return n, false
			}
			n.f = math.Float64frombits(binary.BigEndian.Uint64(v))
		case OIDNumeric:
			d, _, ok := decodeNumeric(v)
			if !ok {
				return n, false
			}
			n.d = d
		default:
			return n, false
		}
		if math.IsNaN(n.f) || math.IsInf(n.f, 0) {
			return n, false
		}
	default:
		return n, false
	}
	return n, true
}

// appendFloatText formats f as PostgreSQL (12 and later, with the default
// extra_float_digits >= 1) does: the shortest decimal that round-trips,
// in plain notation when the decimal exponent is in [-4, 15) for float8
// or [-4, 6) for float4, else as d.ddde[+-]XX; NaN, Infinity, -Infinity.
func appendFloatText(dst []byte, f float64, bitSize int) []byte {
	switch {
	case math.IsNaN(f):
		return append(dst, "NaN"...)
	case math.IsInf(f, 1):
		return append(dst, "Infinity"...)
	case math.IsInf(f, -1):
		return append(dst, "-Infinity"...)
	case f == 0:
		if math.Signbit(f) {
			return append(dst, "-0"...)
		}
		return append(dst, '0')
	}
	var buf [32]byte
	e := strconv.AppendFloat(buf[:0], f, 'e', -1, bitSize)
	exp := 0
	for i := len(e) - 1; i > 0; i-- {
		if e[i] == 'e' {
			x, _ := strconv.Atoi(string(e[i+1:]))
			exp = x
			break
		}
	}
	limit := 15
	if bitSize == 32 {
		limit = 6
	}
	if exp < -4 || exp >= limit {
		return append(dst, e...)
	}
	return strconv.AppendFloat(dst, f, 'f', -1, bitSize)
}

// appendInt writes an integer result of type n.typ in n.format.
func (n number) appendInt(dst []byte, x int64) ([]byte, bool) {
	lo, hi := intRange(n.typ)
	if x < lo || x > hi {
		return dst, true
	}
	if n.format == FormatText {
		return strconv.AppendInt(dst, x, 10), false
	}
	switch n.typ {
	case OIDInt2:
		return binary.BigEndian.AppendUint16(dst, uint16(x)), false
	case OIDInt4:
		return binary.BigEndian.AppendUint32(dst, uint32(x)), false
	}
	return binary.BigEndian.AppendUint64(dst, uint64(x)), false
}

func (n number) appendFloat(dst []byte, f float64) ([]byte, bool) {
	if math.IsNaN(f) || math.IsInf(f, 0) {
		return dst, true
	}
	if n.typ == OIDFloat4 {
		f32 := float32(f)
		if math.IsInf(float64(f32), 0) {
			return dst, true
		}
		if n.format == FormatText {
			return appendFloatText(dst, float64(f32), 32), false
		}
		return binary.BigEndian.AppendUint32(dst, math.Float32bits(f32)), false
	}
	if n.format == FormatText {
		return appendFloatText(dst, f, 64), false
	}
	return binary.BigEndian.AppendUint64(dst, math.Float64bits(f)), false
}

func (n number) appendNumeric(dst []byte, d decimal) ([]byte, bool) {
	if n.format == FormatText {
		return d.appendText(dst, d.s), false
	}
	out, ok := appendNumeric(dst, d)
	return out, !ok
}

// bucketFunc: floor(v/w)*w.
type bucketFunc struct {
	w  float64
	wd decimal
}

func (bucketFunc) ResultType(t uint32) uint32 { return t }

func (f bucketFunc) Apply(dst, v []byte, format int16, typ uint32) ([]byte, bool) {
	if !isNumberType(typ) {
		return dst, true
	}
	n, ok := parseNumber(v, format, typ)
	if !ok {
		return dst, true
	}
	switch typ {
	case OIDInt2, OIDInt4, OIDInt8:
		r, ok := decimal{n.i, 0}.bucket(f.wd)
		if !ok {
			return dst, true
		}
		x, ok := r.floorInt()
		if !ok {
			return dst, true
		}
		return n.appendInt(dst, x)
	case OIDNumeric:
		r, ok := n.d.bucket(f.wd) // r.s = max(dscale, width scale) >= 0
		if !ok {
			return dst, true
		}
		return n.appendNumeric(dst, r)
	}
	// floats: exact decimal arithmetic on the shortest decimal form;
	// fall back to float arithmetic when that overflows int64.
	bs := floatBits(typ)
	if d, ok := decimalFromFloatBits(n.f, bs); ok {
		if r, ok := d.bucket(f.wd); ok {
			if x, ok := r.float(bs); ok {
				return n.appendFloat(dst, x)
			}
		}
	}
	q := math.Floor(n.f / f.w)
	if q*f.w > n.f {
		q--
	}
	return n.appendFloat(dst, q*f.w)
}

// noiseFunc: v * (1 + u*pct/100), u in [-1,1] from HMAC(noise key,
// normalised value text). Integers are rounded half away from zero;
// numerics keep their dscale (computed in float64, so at most ~15
// significant digits are meaningful); out-of-range results are NULL.
type noiseFunc struct {
	k   *Keys
	pct float64
}

func (noiseFunc) ResultType(t uint32) uint32 { return t }

func (f noiseFunc) Apply(dst, v []byte, format int16, typ uint32) ([]byte, bool) {
	if !isNumberType(typ) {
		return dst, true
	}
	n, ok := parseNumber(v, format, typ)
	if !ok {
		return dst, true
	}
	s := f.k.noise.get()
	defer f.k.noise.put(s)
	// normalised text, so that text and binary formats agree
	c := s.scratch[:0]
	var x float64
	switch typ {
	case OIDInt2, OIDInt4, OIDInt8:
		c = strconv.AppendInt(c, n.i, 10)
		x = float64(n.i)
	case OIDNumeric:
		c = n.d.appendText(c, n.d.s)
		x, ok = n.d.float(64)
		if !ok {
			return dst, true
		}
	default:
		c = appendFloatText(c, n.f, floatBits(typ))
		x = n.f
	}
	s.scratch = c
	sum := s.sumOf(c)
	u := float64(binary.BigEndian.Uint64(sum)>>11)/(1<<53)*2 - 1
	y := x * (1 + u*f.pct/100)
	switch typ {
	case OIDInt2, OIDInt4, OIDInt8:
		r := math.Round(y)
		if r < -(1<<63) || r >= 1<<63 {
			return dst, true
		}
		return n.appendInt(dst, int64(r))
	case OIDNumeric:
		sc := n.d.s
		if sc >= len(pow10) {
			return dst, true
		}
		m := math.Round(y * float64(pow10[sc]))
		if m < -(1<<63) || m >= 1<<63 {
			return dst, true
		}
		return n.appendNumeric(dst, decimal{int64(m), sc})
	}
	return n.appendFloat(dst, y)
}
