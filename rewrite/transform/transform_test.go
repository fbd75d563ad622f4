package transform

import (
	"bytes"
	"crypto/hkdf"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"math"
	"strings"
	"testing"
	"time"
	"unicode"
	"unicode/utf8"
)

func testKeys(t testing.TB, seed byte) *Keys {
	t.Helper()
	m := make([]byte, 32)
	for i := range m {
		m[i] = seed + byte(i)
	}
	k, err := NewKeys(m)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

func mustNew(t testing.TB, name string, args []float64, kind string, k *Keys) Func {
	t.Helper()
	f, err := New(Spec{Name: name, Args: args}, kind, k)
	if err != nil {
		t.Fatal(err)
	}
	return f
}

// Binary value builders.
func i2(x int16) []byte   { return binary.BigEndian.AppendUint16(nil, uint16(x)) }
func i4(x int32) []byte   { return binary.BigEndian.AppendUint32(nil, uint32(x)) }
func i8(x int64) []byte   { return binary.BigEndian.AppendUint64(nil, uint64(x)) }
func f4(x float32) []byte { return binary.BigEndian.AppendUint32(nil, math.Float32bits(x)) }
func f8(x float64) []byte { return binary.BigEndian.AppendUint64(nil, math.Float64bits(x)) }

var pgEpoch = time.Date(2000, 1, 1, 0, 0, 0, 0, time.UTC)

func binDate(y int, m time.Month, d int) []byte {
	return i4(int32((time.Date(y, m, d, 0, 0, 0, 0, time.UTC).Unix() - pgEpoch.Unix()) / 86400))
}

func binTS(tm time.Time) []byte {
	days := int64(math.Floor(float64(tm.Unix()-pgEpoch.Unix()) / 86400))
	secs := tm.Unix() - pgEpoch.Unix() - days*86400
	return i8(days*usecsPerDay + secs*1e6 + int64(tm.Nanosecond()/1000))
}

// numericBin builds a binary numeric by hand.
func numericBin(weight int16, sign, dscale uint16, digits ...uint16) []byte {
	b := binary.BigEndian.AppendUint16(nil, uint16(len(digits)))
	b = binary.BigEndian.AppendUint16(b, uint16(weight))
	b = binary.BigEndian.AppendUint16(b, sign)
	b = binary.BigEndian.AppendUint16(b, dscale)
	for _, d := range digits {
		b = binary.BigEndian.AppendUint16(b, d)
	}
	return b
}

type tcase struct {
	name   string
	v      []byte
	format int16
	typ    uint32
	want   []byte // nil: want NULL
}

func runCases(t *testing.T, f Func, cases []tcase) {
	t.Helper()
	for _, c := range cases {
		prefix := []byte("PFX")
		out, null := f.Apply(prefix, c.v, c.format, c.typ)
		if c.want == nil {
			if !null || string(out) != "PFX" {
				t.Errorf("%s: got %q null=%v, want NULL", c.name, out, null)
			}
			continue
		}
		if null || !bytes.Equal(out[3:], c.want) || string(out[:3]) != "PFX" {
			t.Errorf("%s: got %q (% x) null=%v, want %q (% x)", c.name, out, out, null, c.want, c.want)
		}
	}
}

func s(x string) []byte { return []byte(x) }

func TestNewErrors(t *testing.T) {
	k := testKeys(t, 1)
	for _, sp := range []Spec{
		{Name: "nope"}, {Name: "partial", Args: []float64{1}}, {Name: "partial", Args: []float64{-1, 2}},
		{Name: "partial", Args: []float64{1.5, 2}}, {Name: "bucket", Args: []float64{0}},
		{Name: "bucket", Args: []float64{math.Inf(1)}}, {Name: "noise", Args: []float64{101}},
		{Name: "clear", Args: []float64{1}}, {Name: "bucket"},
	} {
		if _, err := New(sp, "", k); err == nil {
			t.Errorf("New(%v) succeeded", sp)
		}
	}
	for _, n := range []string{"hash", "token", "pseudonym"} {
		if _, err := New(Spec{Name: n}, "", nil); err == nil {
			t.Errorf("New(%s) without keys succeeded", n)
		}
	}
	if _, err := NewKeys(make([]byte, 16)); err == nil {
		t.Error("NewKeys accepted a 16-byte key")
	}
}

func TestClearRedact(t *testing.T) {
	runCases(t, mustNew(t, "clear", nil, "", nil), []tcase{
		{"text", s("张伟"), 0, OIDText, s("张伟")},
		{"int4 bin", i4(42), 1, OIDInt4, i4(42)},
	})
	for _, n := range []string{"redact", "null"} {
		f := mustNew(t, n, nil, "", nil)
		runCases(t, f, []tcase{
			{"text", s("张伟"), 0, OIDText, nil},
			{"int4 bin", i4(42), 1, OIDInt4, nil},
		})
		if f.ResultType(OIDInt4) != OIDInt4 {
			t.Error("redact changed the type")
		}
	}
}

func TestPartial(t *testing.T) {
	runCases(t, mustNew(t, "partial", []float64{3, 4}, "", nil), []tcase{
		{"mobile", s("13812345678"), 0, OIDText, s("138****5678")},
		{"mobile varchar bin", s("13812345678"), 1, OIDVarchar, s("138****5678")},
		{"short", s("1234567"), 0, OIDText, s("*******")},
		{"empty", s(""), 0, OIDText, s("")},
		{"int8", s("13812345678"), 0, OIDInt8, nil},
		{"int8 bin", i8(13812345678), 1, OIDInt8, nil},
		{"bad format", s("13812345678"), 2, OIDText, nil},
	})
	runCases(t, mustNew(t, "partial", []float64{6, 4}, "", nil), []tcase{
		{"id", s("310115198001011234"), 0, OIDBpchar, s("310115********1234")},
		{"id X", s("31011519800101123X"), 0, OIDName, s("310115********123X")},
	})
	runCases(t, mustNew(t, "partial", []float64{1, 0}, "", nil), []tcase{
		{"hanzi", s("张三丰"), 0, OIDText, s("张**")},
		{"hanzi 2", s("欧阳娜娜"), 1, OIDText, s("欧***")},
	})
	runCases(t, mustNew(t, "partial", []float64{1, 1}, "", nil), []tcase{
		{"hanzi all", s("张三"), 0, OIDText, s("**")},
		{"invalid utf8", []byte{'a', 0xff, 0xfe, 'b'}, 0, OIDText, s("a**b")},
	})
}

func TestEmail(t *testing.T) {
	runCases(t, mustNew(t, "email", nil, "email", nil), []tcase{
		{"ascii", s("zhangwei@163.com"), 0, OIDText, s("z***@163.com")},
		{"varchar bin", s("li.na@qq.com"), 1, OIDVarchar, s("l***@qq.com")},
		{"hanzi local", s("张伟@example.cn"), 0, OIDText, s("张***@example.cn")},
		{"quoted @", s(`"a@b"@mail.example.com`), 0, OIDText, s(`"***@mail.example.com`)},
		{"no at", s("zhangwei"), 0, OIDText, nil},
		{"no local", s("@163.com"), 0, OIDText, nil},
		{"no domain", s("zhangwei@"), 0, OIDText, nil},
		{"no dot", s("a@localhost"), 0, OIDText, nil},
		{"space", s("a b@163.com"), 0, OIDText, nil},
		{"int4", i4(1), 1, OIDInt4, nil},
	})
}

func refHMAC(t *testing.T, seed byte, info string, msg string) string {
	m := make([]byte, 32)
	for i := range m {
		m[i] = seed + byte(i)
	}
	key, err := hkdf.Key(sha256.New, m, nil, info, 32)
	if err != nil {
		t.Fatal(err)
	}
	h := hmac.New(sha256.New, key)
	h.Write([]byte(msg))
	return hex.EncodeToString(h.Sum(nil))
}

func TestHash(t *testing.T) {
	k1, k2 := testKeys(t, 1), testKeys(t, 2)
	f := mustNew(t, "hash", nil, "", k1)
	if f.ResultType(OIDInt4) != OIDText {
		t.Error("hash ResultType not text")
	}
	h42 := s(refHMAC(t, 1, infoHash, "42"))
	runCases(t, f, []tcase{
		{"phone", s("13812345678"), 0, OIDText, s(refHMAC(t, 1, infoHash, "13812345678"))},
		{"int4 text", s("42"), 0, OIDInt4, h42},
		{"int2 bin", i2(42), 1, OIDInt2, h42},
		{"int4 bin", i4(42), 1, OIDInt4, h42},
		{"int8 bin", i8(42), 1, OIDInt8, h42},
		{"varchar bin", s("42"), 1, OIDVarchar, h42},
		{"numeric bin", numericBin(0, 0, 0, 42), 1, OIDNumeric, h42},
		{"bool bin", []byte{1}, 1, OIDBool, s(refHMAC(t, 1, infoHash, "t"))},
		{"date bin", binDate(1990, 10, 4), 1, OIDDate, s(refHMAC(t, 1, infoHash, "1990-10-04"))},
		{"uuid bin", mustHex("a0eebc999c0b4ef8bb6d6bb9bd380a11"), 1, OIDUUID, s(refHMAC(t, 1, infoHash, "a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11"))},
		{"float bin", f8(1.5), 1, OIDFloat8, s(refHMAC(t, 1, infoHash, "1.5"))},
		{"float text", s("1.5"), 0, OIDFloat8, s(refHMAC(t, 1, infoHash, "1.5"))},
		{"timestamp bin", i8(0), 1, OIDTimestamp, s(refHMAC(t, 1, infoHash, "2000-01-01 00:00:00"))},
		{"timestamptz bin", i8(0), 1, OIDTimestamptz, nil},
		{"bytea bin", s("x"), 1, OIDBytea, nil},
		{"int4 short", []byte{1, 2}, 1, OIDInt4, nil},
		{"bad format", s("42"), 3, OIDText, nil},
	})
	a, _ := f.Apply(nil, s("13812345678"), 0, OIDText)
	b, _ := mustNew(t, "hash", nil, "", k2).Apply(nil, s("13812345678"), 0, OIDText)
	if bytes.Equal(a, b) {
		t.Error("hash equal under different keys")
	}
}

func mustHex(x string) []byte {
	b, err := hex.DecodeString(x)
	if err != nil {
		panic(err)
	}
	return b
}

func TestSIVVectors(t *testing.T) {
	// RFC 5297 A.1 (deterministic) and A.2 (nonce-based, several AD).
	for _, v := range []struct {
		key  string
		ad   []string
		p    string
		want string
	}{
		{"fffefdfcfbfaf9f8f7f6f5f4f3f2f1f0f0f1f2f3f4f5f6f7f8f9fafbfcfdfeff",
			[]string{"101112131415161718191a1b1c1d1e1f2021222324252627"},
			"112233445566778899aabbccddee",
			"85632d07c6e8f37f950acd320a2ecc9340c02b9690c4dc04daef7f6afe5c"},
		{"7f7e7d7c7b7a79787776757473727170404142434445464748494a4b4c4d4e4f",
			[]string{"00112233445566778899aabbccddeeffdeaddadadeaddadaffeeddccbbaa99887766554433221100", "102030405060708090a0", "09f911029d74e35bd84156c5635688c0"},
			"7468697320697320736f6d6520706c61696e7465787420746f20656e6372797074207573696e67205349562d414553",
			"7bdb6e3b432667eb06f4d14bff2fbd0fcb900f2fddbe404326601965c889bf17dba77ceb094fa663b7a3f748ba8af829ea64ad544a272e9c485b62a3fd5c0d"},
		// AES-SIV-512 (the token transform's size), no AD; checked against
		// Python cryptography's AESSIV.
		{hex.EncodeToString(seq(64)), nil, hex.EncodeToString([]byte("abc")), "e93d3850e990f9a1964bf990e23945150e036d"},
		{hex.EncodeToString(seq(64)), nil, hex.EncodeToString([]byte("13812345678")), "30e8e15c1b5eba0118dd6042858841fad6d7efde5a13f62672e0b6"},
		{hex.EncodeToString(seq(64)), nil, hex.EncodeToString([]byte("310115198001011234")), "2957b7210f24f59fe9b367b17fb1b1d30811c4dcf73d344335397c5b100dff91e0de"},
		{hex.EncodeToString(seq(64)), nil, hex.EncodeToString([]byte(strings.Repeat("x", 40))), "ac195ab6b7275519da7bf6d3af8a3ca0d2b0ab9980b13c0da4f814540c95def5575cfbe6f555f05f3c00fe9c8e769548caf1edf7d2e7963c"},
	} {
		sv, err := newSIV(mustHex(v.key))
		if err != nil {
			t.Fatal(err)
		}
		var ad [][]byte
		for _, a := range v.ad {
			ad = append(ad, mustHex(a))
		}
		sc := sv.pool.Get().(*sivScratch)
		got := sv.seal(sc, nil, ad, mustHex(v.p))
		if hex.EncodeToString(got) != v.want {
			t.Errorf("SIV(%s...) = %x, want %s", v.p[:8], got, v.want)
		}
		p, err := sv.open(ad, got)
		if err != nil || hex.EncodeToString(p) != v.p {
			t.Errorf("open = %x, %v", p, err)
		}
		got[len(got)-1] ^= 1
		if _, err := sv.open(ad, got); err == nil {
			t.Error("open accepted a tampered ciphertext")
		}
	}
}

func seq(n int) []byte {
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(i)
	}
	return b
}

func TestToken(t *testing.T) {
	k1, k2 := testKeys(t, 1), testKeys(t, 2)
	f := mustNew(t, "token", nil, "", k1)
	if f.ResultType(OIDInt8) != OIDText {
		t.Error("token ResultType not text")
	}
	for _, c := range []tcase{
		{"phone", s("13812345678"), 0, OIDText, s("13812345678")},
		{"id", s("310115198001011234"), 1, OIDBpchar, s("310115198001011234")},
		{"name", s("张伟"), 0, OIDVarchar, s("张伟")},
		{"empty", s(""), 0, OIDText, s("")},
		{"long", s(strings.Repeat("长", 100)), 0, OIDText, s(strings.Repeat("长", 100))},
		{"int8 bin", i8(-9000000000), 1, OIDInt8, s("-9000000000")},
		{"numeric bin", numericBin(0, numericNeg, 1, 1, 5000), 1, OIDNumeric, s("-1.5")},
	} {
		out, null := f.Apply(nil, c.v, c.format, c.typ)
		if null || !strings.HasPrefix(string(out), "tok_") {
			t.Fatalf("%s: %q null=%v", c.name, out, null)
		}
		if strings.ToLower(string(out)) != string(out) || strings.ContainsAny(string(out), "=+/") {
			t.Errorf("%s: token %q not lowercase base32", c.name, out)
		}
		again, _ := f.Apply(nil, c.v, c.format, c.typ)
		if !bytes.Equal(out, again) {
			t.Errorf("%s: not deterministic", c.name)
		}
		got, err := k1.Reveal(string(out))
		if err != nil || got != string(c.want) {
			t.Errorf("%s: Reveal = %q, %v; want %q", c.name, got, err, c.want)
		}
		if _, err := k2.Reveal(string(out)); err == nil {
			t.Errorf("%s: revealed with the wrong key", c.name)
		}
		other, _ := mustNew(t, "token", nil, "", k2).Apply(nil, c.v, c.format, c.typ)
		if bytes.Equal(out, other) {
			t.Errorf("%s: same token under different keys", c.name)
		}
	}
	// text and binary agree
	a, _ := f.Apply(nil, s("42"), 0, OIDInt4)
	b, _ := f.Apply(nil, i4(42), 1, OIDInt4)
	if !bytes.Equal(a, b) {
		t.Errorf("text/binary tokens differ: %s %s", a, b)
	}
	for _, bad := range []string{"", "tok_", "abc", "tok_!!!", "tok_aaaa", "TOK_" + string(a[4:])} {
		if _, err := k1.Reveal(bad); err == nil {
			t.Errorf("Reveal(%q) succeeded", bad)
		}
	}
	runCases(t, f, []tcase{{"timestamptz bin", i8(1), 1, OIDTimestamptz, nil}})
}

func isHan(r rune) bool { return unicode.Is(unicode.Han, r) }

func contains(list []string, x string) bool {
	for _, y := range list {
		if y == x {
			return true
		}
	}
	return false
}

func validID(id string) bool {
	if len(id) != 18 {
		return false
	}
	for _, c := range id[:17] {
		if c < '0' || c > '9' {
			return false
		}
	}
	if _, err := time.Parse("20060102", id[6:14]); err != nil {
		return false
	}
	return idCheckDigit([]byte(id)) == id[17]
}

func TestIDCheckDigit(t *testing.T) {
	// Publicly documented sample numbers.
	for _, id := range []string{"11010519491231002X", "440524188001010014", "110101199003074477"} {
		if !validID(id) {
			t.Errorf("%s: check digit %c", id, idCheckDigit([]byte(id)))
		}
	}
}

func TestPseudonym(t *testing.T) {
	k1, k2 := testKeys(t, 1), testKeys(t, 2)
	ps := func(kind string, k *Keys, v string, typ uint32, format int16) (string, bool) {
		out, null := mustNew(t, "pseudonym", nil, kind, k).Apply(nil, s(v), format, typ)
		return string(out), null
	}
	inputs := map[string][]string{
		"person_name": {"张伟", "欧阳娜娜", "Zhang Wei", "li na"},
		"phone":       {"13812345678", "+86 138-1234-5678", "021-6234 5678", "8613812345678"},
		"email":       {"zhangwei@163.com", "x"},
		"address":     {"上海市浦东新区世纪大道100号"},
		"national_id": {"310115198001011234", "31011519800101123X"},
		"account_id":  {"oX3a_9Zk-QQ", "123456789", "会员A0012"},
		"wechat":      {"o6_bmjrPTlm6_2sgVt7hMZOPfL2M"},
		"qq":          {"10001", "987654321"},
		"birth_date":  {"1990-10-04", "19901004", "1990/10/04", "Oct 4 1990"},
	}
	for kind, vs := range inputs {
		for _, v := range vs {
			out, null := ps(kind, k1, v, OIDText, 0)
			if null {
				t.Fatalf("%s %q: NULL", kind, v)
			}
			again, _ := ps(kind, k1, v, OIDVarchar, 1)
			other, _ := ps(kind, k2, v, OIDText, 0)
			if out != again {
				t.Errorf("%s %q: not deterministic (%q vs %q)", kind, v, out, again)
			}
			if out == other {
				t.Errorf("%s %q: same pseudonym under different keys: %q", kind, v, out)
			}
			if out == v {
				t.Errorf("%s %q: pseudonym equals input", kind, v)
			}
			if !utf8.ValidString(out) {
				t.Errorf("%s %q: invalid UTF-8 %q", kind, v, out)
			}
			t.Logf("%s %q -> %q", kind, v, out)
			switch kind {
			case "person_name":
				if hasHan([]byte(v)) {
					rs := []rune(out)
					if len(rs) < 2 || len(rs) > 3 || !contains(hanSurnames[:], string(rs[0])) {
						t.Errorf("name %q -> %q", v, out)
					}
					for _, r := range rs {
						if !isHan(r) {
							t.Errorf("name %q -> %q: non-Han", v, out)
						}
					}
				} else {
					first, last, ok := strings.Cut(out, " ")
					if !ok || !contains(latinFirst[:], first) || !contains(latinLast[:], last) {
						t.Errorf("name %q -> %q", v, out)
					}
				}
			case "phone":
				if len(out) != len(v) {
					t.Errorf("phone %q -> %q: length", v, out)
				}
				for i := range v {
					vd := v[i] >= '0' && v[i] <= '9'
					od := out[i] >= '0' && out[i] <= '9'
					if vd != od || (!vd && v[i] != out[i]) {
						t.Errorf("phone %q -> %q: layout", v, out)
						break
					}
				}
				digs := strings.Map(func(r rune) rune {
					if r >= '0' && r <= '9' {
						return r
					}
					return -1
				}, out)
				if len(digs) == 13 {
					if digs[:2] != "86" {
						t.Errorf("phone %q -> %q: country code", v, out)
					}
					digs = digs[2:]
				}
				if len(digs) == 11 && !contains(mobilePrefixes[:], digs[:3]) {
					t.Errorf("phone %q -> %q: prefix", v, out)
				}
			case "email":
				local, dom, ok := strings.Cut(out, "@")
				if !ok || local == "" || !contains(emailDomains[:], dom) {
					t.Errorf("email %q -> %q", v, out)
				}
			case "address":
				for _, part := range []string{"省", "市", "区", "路", "号"} {
					if !strings.Contains(out, part) {
						t.Errorf("address %q -> %q: no %s", v, out, part)
					}
				}
			case "national_id":
				if !validID(out) {
					t.Errorf("id %q -> %q: invalid", v, out)
				}
			case "birth_date":
				layout := map[string]string{"1990-10-04": "2006-01-02", "19901004": "20060102", "1990/10/04": "2006/01/02"}[v]
				if layout == "" {
					if len(out) != len(v) {
						t.Errorf("birth_date %q -> %q", v, out)
					}
				} else if tm, err := time.Parse(layout, out); err != nil || tm.Year() < 1950 || tm.Year() > 2005 {
					t.Errorf("birth_date %q -> %q: %v", v, out, err)
				}
			default:
				rv, ro := []rune(v), []rune(out)
				if len(rv) != len(ro) {
					t.Fatalf("%s %q -> %q: length", kind, v, out)
				}
				class := func(r rune) int {
					switch {
					case r >= '0' && r <= '9':
						return 1
					case r >= 'a' && r <= 'z':
						return 2
					case r >= 'A' && r <= 'Z':
						return 3
					case isHan(r):
						return 4
					}
					return int(r) + 10
				}
				if kind == "qq" && out[0] == '0' {
					t.Errorf("qq %q -> %q: leading zero", v, out)
				}
				for i := range rv {
					if class(rv[i]) != class(ro[i]) {
						t.Errorf("%s %q -> %q: class at %d", kind, v, out, i)
					}
				}
			}
		}
	}
	// many national ids: all valid
	f := mustNew(t, "pseudonym", nil, "national_id", k1)
	mf := mustNew(t, "pseudonym", nil, "phone", k1)
	seen := map[string]bool{}
	for i := range 2000 {
		v := []byte(time.Unix(int64(i)*7919, 0).UTC().Format("20060102150405"))
		out, _ := f.Apply(nil, v, 0, OIDText)
		if !validID(string(out)) {
			t.Fatalf("invalid id %q", out)
		}
		seen[string(out)] = true
		p, _ := mf.Apply(nil, s("1"+string(v[4:])), 0, OIDText)
		if len(p) != 11 || !contains(mobilePrefixes[:], string(p[:3])) {
			t.Fatalf("phone %q", p)
		}
	}
	if len(seen) < 1990 {
		t.Errorf("only %d distinct ids of 2000", len(seen))
	}
	runCases(t, f, []tcase{
		{"int4", i4(1), 1, OIDInt4, nil},
		{"int8 text", s("13812345678"), 0, OIDInt8, nil},
	})
}

func TestYearMonth(t *testing.T) {
	ts := func(y int, m time.Month, d, h, mi, sec, us int) []byte {
		return binTS(time.Date(y, m, d, h, mi, sec, us*1000, time.UTC))
	}
	year := mustNew(t, "year", nil, "birth_date", nil)
	month := mustNew(t, "month", nil, "birth_date", nil)
	runCases(t, year, []tcase{
		{"date", s("1990-10-04"), 0, OIDDate, s("1990-01-01")},
		{"date BC", s("0044-03-15 BC"), 0, OIDDate, s("0044-01-01 BC")},
		{"date 5-digit year", s("12345-06-07"), 0, OIDDate, s("12345-01-01")},
		{"timestamp", s("1990-10-04 12:34:56"), 0, OIDTimestamp, s("1990-01-01 00:00:00")},
		{"timestamp frac", s("1990-10-04 12:34:56.789"), 0, OIDTimestamp, s("1990-01-01 00:00:00")},
		{"timestamptz", s("1990-10-04 12:34:56+08"), 0, OIDTimestamptz, s("1990-01-01 00:00:00+08")},
		{"timestamptz frac off", s("1990-10-04 12:34:56.5-03:30"), 0, OIDTimestamptz, s("1990-01-01 00:00:00-03:30")},
		{"timestamptz lmt", s("1850-10-04 12:34:56+08:05:43 BC"), 0, OIDTimestamptz, s("1850-01-01 00:00:00+08:05:43 BC")},
		{"date bin", binDate(1990, 10, 4), 1, OIDDate, binDate(1990, 1, 1)},
		{"date bin pre-2000", binDate(1969, 12, 31), 1, OIDDate, binDate(1969, 1, 1)},
		{"date bin leap", binDate(2024, 2, 29), 1, OIDDate, binDate(2024, 1, 1)},
		{"timestamp bin", ts(1990, 10, 4, 12, 34, 56, 789), 1, OIDTimestamp, ts(1990, 1, 1, 0, 0, 0, 0)},
		{"timestamptz bin (UTC)", ts(2023, 12, 31, 23, 59, 59, 999999), 1, OIDTimestamptz, ts(2023, 1, 1, 0, 0, 0, 0)},
		{"timestamp bin far past", ts(1600, 3, 1, 1, 0, 0, 0), 1, OIDTimestamp, ts(1600, 1, 1, 0, 0, 0, 0)},
		// fail closed
		{"US style", s("10/04/1990"), 0, OIDDate, nil},
		{"German style", s("04.10.1990"), 0, OIDDate, nil},
		{"Postgres style", s("Thu Oct 04 12:34:56 1990 CST"), 0, OIDTimestamptz, nil},
		{"infinity", s("infinity"), 0, OIDDate, nil},
		{"bad month", s("1990-13-04"), 0, OIDDate, nil},
		{"date trailing", s("1990-10-04x"), 0, OIDDate, nil},
		{"timestamp with offset", s("1990-10-04 12:34:56+08"), 0, OIDTimestamp, nil},
		{"timestamptz no offset", s("1990-10-04 12:34:56"), 0, OIDTimestamptz, nil},
		{"date as timestamp", s("1990-10-04"), 0, OIDTimestamp, nil},
		{"date bin infinity", i4(math.MaxInt32), 1, OIDDate, nil},
		{"timestamp bin -infinity", i8(math.MinInt64), 1, OIDTimestamp, nil},
		{"date bin short", i2(1), 1, OIDDate, nil},
		{"text type", s("1990-10-04"), 0, OIDText, nil},
		{"int4", i4(19901004), 1, OIDInt4, nil},
	})
	runCases(t, month, []tcase{
		{"date", s("1990-10-04"), 0, OIDDate, s("1990-10-01")},
		{"timestamptz", s("1990-10-04 12:34:56+08"), 0, OIDTimestamptz, s("1990-10-01 00:00:00+08")},
		{"date bin", binDate(1990, 10, 4), 1, OIDDate, binDate(1990, 10, 1)},
		{"date bin old", binDate(1900, 3, 31), 1, OIDDate, binDate(1900, 3, 1)},
		{"timestamp bin", ts(1990, 10, 4, 12, 34, 56, 789), 1, OIDTimestamp, ts(1990, 10, 1, 0, 0, 0, 0)},
		{"timestamp bin pre-epoch", ts(1999, 12, 31, 23, 0, 0, 0), 1, OIDTimestamp, ts(1999, 12, 1, 0, 0, 0, 0)},
	})
}

func TestCivil(t *testing.T) {
	for d := int64(-800000); d < 800000; d += 37 {
		y, m, dd := civilFromDays(d)
		tm := time.Unix(d*86400, 0).UTC()
		if int(y) != tm.Year() || time.Month(m) != tm.Month() || dd != tm.Day() {
			t.Fatalf("civilFromDays(%d) = %d-%d-%d, want %v", d, y, m, dd, tm)
		}
		if daysFromCivil(y, m, dd) != d {
			t.Fatalf("daysFromCivil round trip %d", d)
		}
	}
	if got := string(appendDate(nil, 0, 3, 15)); got != "0001-03-15 BC" {
		t.Errorf("appendDate year 0 = %q", got)
	}
	if got := string(appendDate(nil, 12, 3, 5)); got != "0012-03-05" {
		t.Errorf("appendDate = %q", got)
	}
}

func TestNumericBinary(t *testing.T) {
	for _, c := range []struct {
		text string
		bin  []byte
	}{
		{"123.45", numericBin(0, 0, 2, 123, 4500)},
		{"0.001", numericBin(-1, 0, 3, 10)},
		{"10000", numericBin(1, 0, 0, 1)},
		{"-1.5", numericBin(0, numericNeg, 1, 1, 5000)},
		{"0", numericBin(0, 0, 0)},
		{"0.00", numericBin(0, 0, 2)},
		{"12345678.9", numericBin(1, 0, 1, 1234, 5678, 9000)},
		{"999999999999999999", numericBin(4, 0, 0, 99, 9999, 9999, 9999, 9999)},
		{"0.000000000000000001", numericBin(-5, 0, 18, 100)},
		{"0." + strings.Repeat("0", 40), numericBin(0, 0, 40)},
		{"-123456789012345678", numericBin(4, numericNeg, 0, 12, 3456, 7890, 1234, 5678)},
	} {
		d, ds, ok := decodeNumeric(c.bin)
		if !ok {
			t.Errorf("%s: decode failed", c.text)
			continue
		}
		if got := string(d.appendText(nil, ds)); got != c.text {
			t.Errorf("%s: decoded %q", c.text, got)
		}
		pd, ok := parseDecimal([]byte(c.text))
		if !ok {
			t.Fatalf("%s: parse", c.text)
		}
		enc, ok := appendNumeric(nil, pd)
		if !ok || !bytes.Equal(enc, c.bin) {
			t.Errorf("%s: encoded % x, want % x", c.text, enc, c.bin)
		}
	}
	for _, bad := range [][]byte{
		numericBin(0, 0xC000, 0),              // NaN
		numericBin(0, 0xD000, 0),              // +Infinity
		numericBin(5, 0, 0, 1, 0, 0, 0, 0, 0), // 1e20: too many digits
		numericBin(0, 0, 0, 10000),            // digit out of range
		numericBin(0, 0, 0, 1)[:9],            // truncated
		numericBin(-1, 0, 2, 1234),            // 0.1234 with dscale 2: hidden digits
	} {
		if _, _, ok := decodeNumeric(bad); ok {
			t.Errorf("decodeNumeric(% x) succeeded", bad)
		}
	}
}

func TestBucket(t *testing.T) {
	b10 := mustNew(t, "bucket", []float64{10}, "", nil)
	runCases(t, b10, []tcase{
		{"int4 text", s("37"), 0, OIDInt4, s("30")},
		{"int4 neg", s("-1"), 0, OIDInt4, s("-10")},
		{"int4 exact", s("40"), 0, OIDInt4, s("40")},
		{"int2 bin", i2(37), 1, OIDInt2, i2(30)},
		{"int4 bin", i4(-37), 1, OIDInt4, i4(-40)},
		{"int8 bin", i8(123456789012), 1, OIDInt8, i8(123456789010)},
		{"int8 min", i8(math.MinInt64), 1, OIDInt8, nil},
		{"int2 underflow", i2(-32768), 1, OIDInt2, nil},
		{"numeric text", s("123.45"), 0, OIDNumeric, s("120.00")},
		{"numeric text neg", s("-0.5"), 0, OIDNumeric, s("-10.0")},
		{"numeric bin", numericBin(0, 0, 2, 123, 4500), 1, OIDNumeric, numericBin(0, 0, 2, 120)},
		{"float8 text", s("37.5"), 0, OIDFloat8, s("30")},
		{"float8 bin", f8(37.5), 1, OIDFloat8, f8(30)},
		{"float4 bin", f4(-0.5), 1, OIDFloat4, f4(-10)},
		{"float8 huge", f8(1e300), 1, OIDFloat8, f8(1e300)},
		{"NaN text", s("NaN"), 0, OIDFloat8, nil},
		{"Inf bin", f8(math.Inf(1)), 1, OIDFloat8, nil},
		{"numeric NaN", s("NaN"), 0, OIDNumeric, nil},
		{"numeric exp", s("1e5"), 0, OIDNumeric, nil},
		{"garbage", s("12abc"), 0, OIDInt4, nil},
		{"int4 short bin", i2(1), 1, OIDInt4, nil},
		{"text", s("37"), 0, OIDText, nil},
		{"date", s("1990-10-04"), 0, OIDDate, nil},
	})
	b01 := mustNew(t, "bucket", []float64{0.1}, "", nil)
	runCases(t, b01, []tcase{
		{"numeric 0.3", s("0.3"), 0, OIDNumeric, s("0.3")},
		{"numeric 0.35", s("0.35"), 0, OIDNumeric, s("0.30")},
		{"float8 0.3", s("0.3"), 0, OIDFloat8, s("0.3")},
		{"float8 bin 0.3", f8(0.3), 1, OIDFloat8, f8(0.3)},
		{"float4 bin 0.3", f4(0.3), 1, OIDFloat4, f4(0.3)},
		{"int4", s("7"), 0, OIDInt4, s("7")},
	})
	b25 := mustNew(t, "bucket", []float64{2.5}, "", nil)
	runCases(t, b25, []tcase{
		{"int4 8", s("8"), 0, OIDInt4, s("7")}, // bucket 7.5, floored to an integer
		{"int4 5", s("5"), 0, OIDInt4, s("5")},
		{"numeric int", s("8"), 0, OIDNumeric, s("7.5")},
	})
	b1000 := mustNew(t, "bucket", []float64{1000}, "", nil)
	runCases(t, b1000, []tcase{
		{"salary", s("12345.67"), 0, OIDNumeric, s("12000.00")},
		{"float big", s("1.5e+20"), 0, OIDFloat8, s("1.5e+20")},
		{"float 1234567", s("1234567"), 0, OIDFloat8, s("1234000")},
	})
}

func TestNoise(t *testing.T) {
	k1, k2 := testKeys(t, 1), testKeys(t, 2)
	n10 := mustNew(t, "noise", []float64{10}, "", k1)
	n10b := mustNew(t, "noise", []float64{10}, "", k2)
	for _, c := range []tcase{
		{"int4 text", s("10000"), 0, OIDInt4, nil},
		{"int4 bin", i4(10000), 1, OIDInt4, nil},
		{"int8 bin", i8(10000), 1, OIDInt8, nil},
		{"numeric", s("10000.00"), 0, OIDNumeric, nil},
		{"numeric bin", numericBin(1, 0, 2, 1), 1, OIDNumeric, nil},
		{"float8", s("10000"), 0, OIDFloat8, nil},
		{"float8 bin", f8(10000), 1, OIDFloat8, nil},
		{"float4 bin", f4(10000), 1, OIDFloat4, nil},
	} {
		out, null := n10.Apply(nil, c.v, c.format, c.typ)
		if null {
			t.Fatalf("%s: NULL", c.name)
		}
		again, _ := n10.Apply(nil, c.v, c.format, c.typ)
		if !bytes.Equal(out, again) {
			t.Errorf("%s: not deterministic", c.name)
		}
		x := decodeNum(t, out, c.format, c.typ)
		if x < 9000 || x > 11000 {
			t.Errorf("%s: %v out of ±10%%", c.name, x)
		}
		other, _ := n10b.Apply(nil, c.v, c.format, c.typ)
		if bytes.Equal(out, other) {
			t.Errorf("%s: same under different keys", c.name)
		}
		if c.typ == OIDNumeric && c.format == 0 && out[len(out)-3] != '.' {
			t.Errorf("%s: %q lost dscale", c.name, out)
		}
		t.Logf("%s: %q", c.name, out)
	}
	// text and binary agree
	a, _ := n10.Apply(nil, s("10000"), 0, OIDInt4)
	b, _ := n10.Apply(nil, i4(10000), 1, OIDInt4)
	if decodeNum(t, a, 0, OIDInt4) != decodeNum(t, b, 1, OIDInt4) {
		t.Errorf("int text %s vs binary %v", a, b)
	}
	a, _ = n10.Apply(nil, s("1.5"), 0, OIDFloat8)
	b, _ = n10.Apply(nil, f8(1.5), 1, OIDFloat8)
	if decodeNum(t, a, 0, OIDFloat8) != decodeNum(t, b, 1, OIDFloat8) {
		t.Errorf("float text %s vs binary %v", a, b)
	}
	a, _ = n10.Apply(nil, s("123.45"), 0, OIDNumeric)
	b, _ = n10.Apply(nil, numericBin(0, 0, 2, 123, 4500), 1, OIDNumeric)
	if d, ds, _ := decodeNumeric(b); string(d.appendText(nil, ds)) != string(a) {
		t.Errorf("numeric text %s vs binary % x", a, b)
	}
	// values spread over the whole range, different values get different factors
	lo, hi := 2.0, 0.0
	for i := 1; i <= 500; i++ {
		out, _ := n10.Apply(nil, f8(float64(i)), 1, OIDFloat8)
		r := math.Float64frombits(binary.BigEndian.Uint64(out)) / float64(i)
		lo, hi = min(lo, r), max(hi, r)
		if r < 0.9 || r > 1.1 {
			t.Fatalf("%d -> ratio %v", i, r)
		}
	}
	if lo > 0.91 || hi < 1.09 {
		t.Errorf("noise ratios only span [%v, %v]", lo, hi)
	}
	// results out of the type's range are NULL, never wrapped
	n100 := mustNew(t, "noise", []float64{100}, "", k1)
	nulls := 0
	for x := int16(32000); x < 32767; x++ {
		out, null := n100.Apply(nil, i2(x), 1, OIDInt2)
		if null {
			nulls++
			continue
		}
		if y := int16(binary.BigEndian.Uint16(out)); y < 0 || (x > 0 && y < 0) {
			t.Fatalf("int2 %d -> %d", x, y)
		}
	}
	if nulls == 0 {
		t.Error("no int2 overflow turned into NULL")
	}
	runCases(t, mustNew(t, "noise", []float64{0}, "", k1), []tcase{
		{"zero pct", s("12345"), 0, OIDInt4, s("12345")},
	})
	runCases(t, n10, []tcase{
		{"NaN", s("NaN"), 0, OIDNumeric, nil},
		{"text", s("1"), 0, OIDText, nil},
	})
}

func decodeNum(t *testing.T, b []byte, format int16, typ uint32) float64 {
	t.Helper()
	n, ok := parseNumber(b, format, typ)
	if !ok {
		t.Fatalf("cannot parse %q", b)
	}
	switch typ {
	case OIDInt2, OIDInt4, OIDInt8:
		return float64(n.i)
	case OIDNumeric:
		f, _ := n.d.float(64)
		return f
	}
	return n.f
}

// TestConcurrent exercises the pools under the race detector.
func TestConcurrent(t *testing.T) {
	k := testKeys(t, 1)
	fs := []Func{mustNew(t, "hash", nil, "", k), mustNew(t, "token", nil, "", k),
		mustNew(t, "pseudonym", nil, "phone", k), mustNew(t, "noise", []float64{5}, "", k)}
	want := make([][]byte, len(fs))
	for i, f := range fs {
		want[i], _ = f.Apply(nil, s("13812345678"), 0, OIDText)
	}
	done := make(chan bool)
	for range 8 {
		go func() {
			defer func() { done <- true }()
			var buf []byte
			for range 200 {
				for i, f := range fs {
					buf, _ = f.Apply(buf[:0], s("13812345678"), 0, OIDText)
					if i < 3 && !bytes.Equal(buf, want[i]) {
						t.Error("concurrent result differs")
						return
					}
				}
			}
		}()
	}
	for range 8 {
		<-done
	}
}

func TestCanonical(t *testing.T) {
	for _, c := range []struct {
		v    []byte
		typ  uint32
		want string // "" = fails
	}{
		{f8(1.5), OIDFloat8, "1.5"},
		{f8(1e15), OIDFloat8, "1e+15"},
		{f8(123456789012345), OIDFloat8, "123456789012345"},
		{f8(0.0001), OIDFloat8, "0.0001"},
		{f8(0.00001), OIDFloat8, "1e-05"},
		{f8(1.0 / 3), OIDFloat8, "0.3333333333333333"},
		{f8(math.Copysign(0, -1)), OIDFloat8, "-0"},
		{f8(math.NaN()), OIDFloat8, "NaN"},
		{f8(math.Inf(-1)), OIDFloat8, "-Infinity"},
		{f4(0.1), OIDFloat4, "0.1"},
		{f4(123456), OIDFloat4, "123456"},
		{f4(1234567), OIDFloat4, "1.234567e+06"},
		{binTS(time.Date(1990, 10, 4, 12, 34, 56, 789000000, time.UTC)), OIDTimestamp, "1990-10-04 12:34:56.789"},
		{binTS(time.Date(1969, 12, 31, 23, 59, 59, 1000, time.UTC)), OIDTimestamp, "1969-12-31 23:59:59.000001"},
		{binTS(time.Date(0, 3, 1, 1, 2, 3, 0, time.UTC)), OIDTimestamp, "0001-03-01 01:02:03 BC"},
		{binDate(-43, 3, 15), OIDDate, "0044-03-15 BC"},
		{i4(0x7fffffff), OIDDate, ""},
		{[]byte{1, 2, 3}, OIDFloat8, ""},
		{[]byte{0}, OIDBool, "f"},
		{i4(4000000000 - 1<<32), OIDOID, "4000000000"},
	} {
		got, ok := canonical(nil, c.v, 1, c.typ)
		if c.want == "" {
			if ok {
				t.Errorf("canonical(% x, %d) = %q, want failure", c.v, c.typ, got)
			}
			continue
		}
		if !ok || string(got) != c.want {
			t.Errorf("canonical(% x, %d) = %q %v, want %q", c.v, c.typ, got, ok, c.want)
		}
	}
}
