package transform

import (
	"encoding/binary"
	"strconv"
	"unicode"
	"unicode/utf8"
)

// Word lists for pseudonyms. Changing them changes every pseudonym.
var (
	hanSurnames = [...]string{"王", "李", "张", "刘", "陈", "杨", "黄", "赵", "吴", "周",
		"徐", "孙", "马", "朱", "胡", "郭", "何", "高", "林", "罗",
		"郑", "梁", "谢", "宋", "唐", "许", "韩", "冯", "邓", "曹"}
	hanGiven = [...]string{"伟", "芳", "娜", "敏", "静", "丽", "强", "磊", "军", "洋",
		"勇", "艳", "杰", "娟", "涛", "明", "超", "秀", "霞", "平",
		"刚", "桂", "英", "华", "玉", "兰", "文", "辉", "鹏", "宇",
		"浩", "凯", "婷", "雪", "琳", "晨", "欣", "怡", "子", "轩"}
	latinFirst = [...]string{"Wei", "Fang", "Na", "Min", "Jing", "Li", "Qiang", "Lei", "Jun", "Yang",
		"Yong", "Yan", "Jie", "Juan", "Tao", "Ming", "Chao", "Xia", "Ping", "Gang",
		"Hua", "Hui", "Peng", "Yu", "Hao", "Ting", "Xue", "Lin", "Chen", "Xin"}
	latinLast = [...]string{"Wang", "Li", "Zhang", "Liu", "Chen", "Yang", "Huang", "Zhao", "Wu", "Zhou",
		"Xu", "Sun", "Ma", "Zhu", "Hu", "Guo", "He", "Gao", "Lin", "Luo"}
	emailDomains = [...]string{"qq.com", "163.com", "126.com", "sina.com", "sohu.com",
		"foxmail.com", "gmail.com", "outlook.com", "yeah.net", "139.com"}
	mobilePrefixes = [...]string{"130", "131", "132", "133", "134", "135", "136", "137", "138", "139",
		"150", "151", "152", "153", "155", "156", "157", "158", "159",
		"180", "181", "182", "183", "184", "185", "186", "187", "188", "189"}
	provinces = [...]struct{ prov, city string }{
		{"广东省", "广州市"}, {"浙江省", "杭州市"}, {"江苏省", "南京市"}, {"四川省", "成都市"},
		{"湖北省", "武汉市"}, {"山东省", "济南市"}, {"福建省", "福州市"}, {"河南省", "郑州市"},
		{"湖南省", "长沙市"}, {"陕西省", "西安市"}}
	districts = [...]string{"城东区", "城西区", "高新区", "新城区", "开发区", "滨江区", "江北区", "南湖区"}
	roads     = [...]string{"人民路", "建设路", "中山路", "解放路", "和平路", "长江路", "黄河路", "文化路", "幸福路", "学府路"}
	idRegions = [...]string{"110101", "110105", "310101", "310115", "320102", "330106", "440103", "440305", "510104", "420102"}
)

var idWeights = [17]int{7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2}

// idCheckDigit returns the ISO 7064 MOD 11-2 check character of the first
// 17 digits of a PRC resident ID number.
func idCheckDigit(d []byte) byte {
	sum := 0
	for i, w := range idWeights {
		sum += int(d[i]-'0') * w
	}
	return "10X98765432"[sum%11]
}

// rng is a deterministic stream seeded by an HMAC (splitmix64 over a
// counter). Not a CSPRNG on its own: its seed is secret and per value.
type rng struct{ a, b, n uint64 }

func newRNG(seed []byte) rng {
	return rng{a: binary.BigEndian.Uint64(seed), b: binary.BigEndian.Uint64(seed[8:]) | 1}
}

func (r *rng) next() uint64 {
	r.n++
	z := r.a + r.n*0x9e3779b97f4a7c15 ^ r.b
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9
	z = (z ^ (z >> 27)) * 0x94d049bb133111eb
	return z ^ (z >> 31)
}

func (r *rng) intn(n int) int { return int(r.next() % uint64(n)) }

// pseudonymFunc generates a consistent fake value of the column's kind.
type pseudonymFunc struct {
	k    *Keys
	kind string
}

func (pseudonymFunc) ResultType(t uint32) uint32 { return t }

func (f pseudonymFunc) Apply(dst, v []byte, format int16, typ uint32) ([]byte, bool) {
	if !textLike(format, typ) {
		return dst, true
	}
	s := f.k.pseudo.get()
	defer f.k.pseudo.put(s)
	r := newRNG(s.sumOf(v))
	switch f.kind {
	case "person_name":
		return fakeName(dst, v, &r), false
	case "phone":
		return fakePhone(dst, v, &r), false
	case "email":
		return fakeEmail(dst, &r), false
	case "address":
		return fakeAddress(dst, &r), false
	case "national_id":
		return fakeNationalID(dst, &r), false
	case "birth_date":
		if out, ok := fakeBirthDate(dst, v, &r); ok {
			return out, false
		}
	}
	return fakeShaped(dst, v, &r), false
}

func hasHan(v []byte) bool {
	for len(v) > 0 {
		c, sz := utf8.DecodeRune(v)
		if unicode.Is(unicode.Han, c) {
			return true
		}
		v = v[sz:]
	}
	return false
}

func fakeName(dst, v []byte, r *rng) []byte {
	if hasHan(v) {
		dst = append(dst, hanSurnames[r.intn(len(hanSurnames))]...)
		dst = append(dst, hanGiven[r.intn(len(hanGiven))]...)
		if r.intn(3) != 0 { // two-character given names are the more common
			dst = append(dst, hanGiven[r.intn(len(hanGiven))]...)
		}
		return dst
	}
	dst = append(dst, latinFirst[r.intn(len(latinFirst))]...)
	dst = append(dst, ' ')
	return append(dst, latinLast[r.intn(len(latinLast))]...)
}

// fakePhone replaces the digits of v, keeping every other character and
// the layout. With 11 digits (or 13 starting with 86) the digits form a
// valid-looking Chinese mobile number (13x/15x/18x); otherwise random
// digits of the same count (the first kept non-zero).
func fakePhone(dst, v []byte, r *rng) []byte {
	nd := 0
	for _, c := range v {
		if c >= '0' && c <= '9' {
			nd++
		}
	}
	var digs [32]byte
	gen := digs[:0]
	switch {
	case nd == 11 || (nd == 13 && firstDigits(v, "86")):
		if nd == 13 {
			gen = append(gen, '8', '6')
		}
		gen = append(gen, mobilePrefixes[r.intn(len(mobilePrefixes))]...)
		for len(gen) < nd {
			gen = append(gen, '0'+byte(r.intn(10)))
		}
	case nd <= len(digs):
		for len(gen) < nd {
			d := byte(r.intn(10))
			if len(gen) == 0 && d == 0 {
				d = 1 + byte(r.intn(9))
			}
			gen = append(gen, '0'+d)
		}
	default:
		return fakeShaped(dst, v, r)
	}
	i := 0
	for _, c := range v {
		if c >= '0' && c <= '9' {
			c = gen[i]
			i++
		}
		dst = append(dst, c)
	}
	return dst
}

func firstDigits(v []byte, p string) bool {
	i := 0
	for _, c := range v {
		if c >= '0' && c <= '9' {
			if i == len(p) {
				return true
			}
			if c != p[i] {
				return false
			}
			i++
		}
	}
	return i == len(p)
}

func fakeEmail(dst []byte, r *rng) []byte {
	for _, s := range [2]string{latinFirst[r.intn(len(latinFirst))], latinLast[r.intn(len(latinLast))]} {
		for i := 0; i < len(s); i++ {
			c := s[i]
			if c >= 'A' && c <= 'Z' {
				c += 'a' - 'A'
			}
			dst = append(dst, c)
		}
		if r.intn(2) == 0 {
			dst = append(dst, '.')
		}
	}
	if dst[len(dst)-1] == '.' {
		dst = dst[:len(dst)-1]
	}
	dst = strconv.AppendInt(dst, int64(10+r.intn(990)), 10)
	dst = append(dst, '@')
	return append(dst, emailDomains[r.intn(len(emailDomains))]...)
}

func fakeAddress(dst []byte, r *rng) []byte {
	p := provinces[r.intn(len(provinces))]
	dst = append(dst, p.prov...)
	dst = append(dst, p.city...)
	dst = append(dst, districts[r.intn(len(districts))]...)
	dst = append(dst, roads[r.intn(len(roads))]...)
	dst = strconv.AppendInt(dst, int64(1+r.intn(999)), 10)
	return append(dst, "号"...)
}

// fakeDate appends YYYY<sep>MM<sep>DD for a random date between
// 1950-01-01 and 2005-12-31 (sep may be 0: none).
func fakeDate(dst []byte, r *rng, sep byte) []byte {
	lo := daysFromCivil(1950, 1, 1)
	hi := daysFromCivil(2005, 12, 31)
	y, m, d := civilFromDays(lo + int64(r.intn(int(hi-lo+1))))
	dst = append(dst, '0'+byte(y/1000), '0'+byte(y/100%10), '0'+byte(y/10%10), '0'+byte(y%10))
	if sep != 0 {
		dst = append(dst, sep)
	}
	dst = append(dst, '0'+byte(m/10), '0'+byte(m%10))
	if sep != 0 {
		dst = append(dst, sep)
	}
	return append(dst, '0'+byte(d/10), '0'+byte(d%10))
}

// fakeBirthDate handles birth dates stored as text: YYYY-MM-DD,
// YYYY/MM/DD, YYYY.MM.DD or YYYYMMDD become a fake date in the same
// layout; anything else is left to fakeShaped.
func fakeBirthDate(dst, v []byte, r *rng) ([]byte, bool) {
	isDig := func(b []byte) bool {
		for _, c := range b {
			if c < '0' || c > '9' {
				return false
			}
		}
		return true
	}
	switch {
	case len(v) == 8 && isDig(v):
		return fakeDate(dst, r, 0), true
	case len(v) == 10 && v[4] == v[7] && (v[4] == '-' || v[4] == '/' || v[4] == '.') &&
		isDig(v[:4]) && isDig(v[5:7]) && isDig(v[8:]):
		return fakeDate(dst, r, v[4]), true
	}
	return dst, false
}

// fakeNationalID: region code from a small list, a birth date between
// 1950-01-01 and 2005-12-31, a 3-digit sequence and the check digit.
func fakeNationalID(dst []byte, r *rng) []byte {
	var id [18]byte
	b := append(id[:0], idRegions[r.intn(len(idRegions))]...)
	b = fakeDate(b, r, 0)
	seq := r.intn(1000)
	b = append(b, '0'+byte(seq/100), '0'+byte(seq/10%10), '0'+byte(seq%10))
	b = append(b, idCheckDigit(b))
	return append(dst, b...)
}

// fakeShaped keeps length and character classes: digits, ASCII lower
// and upper case letters and Han characters are replaced by random ones
// of the same class; every other character is kept. A leading non-zero
// digit stays non-zero (QQ numbers, account numbers).
func fakeShaped(dst, v []byte, r *rng) []byte {
	for i := 0; len(v) > 0; i++ {
		c, sz := utf8.DecodeRune(v)
		switch {
		case i == 0 && c >= '1' && c <= '9':
			dst = append(dst, '1'+byte(r.intn(9)))
		case c >= '0' && c <= '9':
			dst = append(dst, '0'+byte(r.intn(10)))
		case c >= 'a' && c <= 'z':
			dst = append(dst, 'a'+byte(r.intn(26)))
		case c >= 'A' && c <= 'Z':
			dst = append(dst, 'A'+byte(r.intn(26)))
		case c != utf8.RuneError && unicode.Is(unicode.Han, c):
			dst = append(dst, hanGiven[r.intn(len(hanGiven))]...)
		default:
			dst = append(dst, v[:sz]...)
		}
		v = v[sz:]
	}
	return dst
}
