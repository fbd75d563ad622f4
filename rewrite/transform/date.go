package transform

import (
	"encoding/binary"
	"math"
)

const (
	maxInt32    = math.MaxInt32
	minInt32    = math.MinInt32
	pgEpochDays = 10957 // days from 1970-01-01 to 2000-01-01
	usecsPerDay = 86400 * 1000000
)

// civilFromDays converts days since 1970-01-01 to a proleptic Gregorian
// (astronomical) year, month and day (H. Hinnant's algorithm).
func civilFromDays(z int64) (y int64, m, d int) {
	z += 719468
	era := z / 146097
	if z < 0 && z%146097 != 0 {
		era--
	}
	doe := z - era*146097
	yoe := (doe - doe/1460 + doe/36524 - doe/146096) / 365
	y = yoe + era*400
	doy := doe - (365*yoe + yoe/4 - yoe/100)
	mp := (5*doy + 2) / 153
	d = int(doy - (153*mp+2)/5 + 1)
	if mp < 10 {
		m = int(mp + 3)
	} else {
		m = int(mp - 9)
	}
	if m <= 2 {
		y++
	}
	return y, m, d
}

// daysFromCivil is the inverse of civilFromDays.
func daysFromCivil(y int64, m, d int) int64 {
	if m <= 2 {
		y--
	}
	era := y / 400
	if y < 0 && y%400 != 0 {
		era--
	}
	yoe := y - era*400
	mm := int64(m)
	if mm > 2 {
		mm -= 3
	} else {
		mm += 9
	}
	doy := (153*mm+2)/5 + int64(d) - 1
	doe := yoe*365 + yoe/4 - yoe/100 + doy
	return era*146097 + doe - 719468
}

// appendDate appends an astronomical-year date in PostgreSQL's ISO style.
func appendDate(dst []byte, y int64, m, d int) []byte {
	bc := y <= 0
	if bc {
		y = 1 - y
	}
	// zero-pad to 4 digits
	var buf [20]byte
	i := len(buf)
	for v := y; ; v /= 10 {
		i--
		buf[i] = '0' + byte(v%10)
		if v < 10 {
			break
		}
	}
	for len(buf)-i < 4 {
		i--
		buf[i] = '0'
	}
	dst = append(dst, buf[i:]...)
	dst = append(dst, '-', '0'+byte(m/10), '0'+byte(m%10), '-', '0'+byte(d/10), '0'+byte(d%10))
	if bc {
		dst = append(dst, " BC"...)
	}
	return dst
}

// dateFunc generalises dates to the first day of their year or month.
type dateFunc struct{ month bool }

func (dateFunc) ResultType(t uint32) uint32 { return t }

func (f dateFunc) Apply(dst, v []byte, format int16, typ uint32) ([]byte, bool) {
	switch typ {
	case OIDDate, OIDTimestamp, OIDTimestamptz:
	default:
		return dst, true
	}
	switch format {
	case FormatText:
		return f.applyText(dst, v, typ)
	case FormatBinary:
		return f.applyBinary(dst, v, typ)
	}
	return dst, true
}

func (f dateFunc) firstDay(days int64) int64 {
	y, m, _ := civilFromDays(days)
	if !f.month {
		m = 1
	}
	return daysFromCivil(y, m, 1)
}

// applyBinary: date is int32 days since 2000-01-01; timestamp and
// timestamptz are int64 microseconds since 2000-01-01 00:00:00 (UTC for
// timestamptz, so timestamptz is generalised in UTC). ±infinity -> NULL.
func (f dateFunc) applyBinary(dst, v []byte, typ uint32) ([]byte, bool) {
	if typ == OIDDate {
		if len(v) != 4 {
			return dst, true
		}
		d := int32(binary.BigEndian.Uint32(v))
		if d == maxInt32 || d == minInt32 {
			return dst, true
		}
		nd := f.firstDay(int64(d)+pgEpochDays) - pgEpochDays
		if nd < minInt32 || nd > maxInt32 {
			return dst, true
		}
		return binary.BigEndian.AppendUint32(dst, uint32(int32(nd))), false
	}
	if len(v) != 8 {
		return dst, true
	}
	us := int64(binary.BigEndian.Uint64(v))
	if us == math.MaxInt64 || us == math.MinInt64 {
		return dst, true
	}
	days := us / usecsPerDay
	if us%usecsPerDay < 0 {
		days--
	}
	nd := f.firstDay(days+pgEpochDays) - pgEpochDays
	if nd < math.MinInt64/usecsPerDay {
		return dst, true
	}
	return binary.BigEndian.AppendUint64(dst, uint64(nd*usecsPerDay)), false
}

func digits(v []byte, n int) (int, bool) {
	if len(v) < n {
		return 0, false
	}
	x := 0
	for _, c := range v[:n] {
		if c < '0' || c > '9' {
			return 0, false
		}
		x = x*10 + int(c-'0')
	}
	return x, true
}

// applyText parses PostgreSQL's ISO DateStyle output only:
//
//	date:        YYYY-MM-DD[ BC]
//	timestamp:   YYYY-MM-DD HH:MM:SS[.f...][ BC]
//	timestamptz: YYYY-MM-DD HH:MM:SS[.f...](+|-)HH[:MM[:SS]][ BC]
//
// The year may have more than 4 digits. The result keeps the year (and
// month), sets the day to 01 and the time to 00:00:00, and keeps the
// UTC-offset text and " BC" as they are. Anything else -> NULL.
func (f dateFunc) applyText(dst, v []byte, typ uint32) ([]byte, bool) {
	// year
	ny := 0
	for ny < len(v) && v[ny] >= '0' && v[ny] <= '9' {
		ny++
	}
	if ny < 4 || ny > 9 || len(v) < ny+6 || v[ny] != '-' || v[ny+3] != '-' {
		return dst, true
	}
	mon, ok1 := digits(v[ny+1:], 2)
	day, ok2 := digits(v[ny+4:], 2)
	if !ok1 || !ok2 || mon < 1 || mon > 12 || day < 1 || day > 31 {
		return dst, true
	}
	rest := v[ny+6:]
	var offset []byte
	if typ != OIDDate {
		// " HH:MM:SS"
		if len(rest) < 9 || rest[0] != ' ' || rest[3] != ':' || rest[6] != ':' {
			return dst, true
		}
		h, ok1 := digits(rest[1:], 2)
		mi, ok2 := digits(rest[4:], 2)
		s, ok3 := digits(rest[7:], 2)
		if !ok1 || !ok2 || !ok3 || h > 24 || mi > 59 || s > 60 {
			return dst, true
		}
		rest = rest[9:]
		if len(rest) > 0 && rest[0] == '.' {
			i := 1
			for i < len(rest) && rest[i] >= '0' && rest[i] <= '9' {
				i++
			}
			if i == 1 {
				return dst, true
			}
			rest = rest[i:]
		}
		if typ == OIDTimestamptz {
			// (+|-)HH[:MM[:SS]]
			if len(rest) < 3 || (rest[0] != '+' && rest[0] != '-') {
				return dst, true
			}
			if _, ok := digits(rest[1:], 2); !ok {
				return dst, true
			}
			i := 3
			for k := 0; k < 2 && len(rest) >= i+3 && rest[i] == ':'; k++ {
				if _, ok := digits(rest[i+1:], 2); !ok {
					return dst, true
				}
				i += 3
			}
			offset = rest[:i]
			rest = rest[i:]
		}
	}
	if len(rest) != 0 && string(rest) != " BC" {
		return dst, true
	}
	dst = append(dst, v[:ny+1]...)
	if f.month {
		dst = append(dst, v[ny+1:ny+3]...)
	} else {
		dst = append(dst, '0', '1')
	}
	dst = append(dst, "-01"...)
	if typ != OIDDate {
		dst = append(dst, " 00:00:00"...)
		dst = append(dst, offset...)
	}
	return append(dst, rest...), false
}

// appendTimestamp appends a timestamp (microseconds since 2000-01-01) as
// PostgreSQL prints it in ISO DateStyle: YYYY-MM-DD HH:MM:SS[.ffffff]
// with trailing fractional zeros dropped, " BC" last.
func appendTimestamp(dst []byte, us int64) []byte {
	days := us / usecsPerDay
	rem := us % usecsPerDay
	if rem < 0 {
		rem += usecsPerDay
		days--
	}
	y, m, d := civilFromDays(days + pgEpochDays)
	bc := y <= 0
	dst = appendDate(dst, y, m, d)
	if bc {
		dst = dst[:len(dst)-3]
	}
	secs := rem / 1000000
	frac := rem % 1000000
	h, mi, sec := secs/3600, secs/60%60, secs%60
	dst = append(dst, ' ', '0'+byte(h/10), '0'+byte(h%10), ':', '0'+byte(mi/10), '0'+byte(mi%10), ':', '0'+byte(sec/10), '0'+byte(sec%10))
	if frac != 0 {
		var f [6]byte
		for i := 5; i >= 0; i-- {
			f[i] = '0' + byte(frac%10)
			frac /= 10
		}
		n := 6
		for f[n-1] == '0' {
			n--
		}
		dst = append(dst, '.')
		dst = append(dst, f[:n]...)
	}
	if bc {
		dst = append(dst, " BC"...)
	}
	return dst
}
