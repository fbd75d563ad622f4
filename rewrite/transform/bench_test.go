package transform

import (
	"testing"
	"time"
)

func BenchmarkApply(b *testing.B) {
	k := testKeys(b, 1)
	ts := binTS(time.Date(1990, 10, 4, 12, 34, 56, 0, time.UTC))
	cases := []struct {
		name   string
		spec   Spec
		kind   string
		v      []byte
		format int16
		typ    uint32
	}{
		{"clear/text", Spec{Name: "clear"}, "", s("13812345678"), 0, OIDText},
		{"redact/text", Spec{Name: "redact"}, "", s("13812345678"), 0, OIDText},
		{"partial/phone", Spec{Name: "partial", Args: []float64{3, 4}}, "", s("13812345678"), 0, OIDText},
		{"partial/id", Spec{Name: "partial", Args: []float64{6, 4}}, "", s("310115198001011234"), 1, OIDVarchar},
		{"partial/hanzi", Spec{Name: "partial", Args: []float64{1, 0}}, "", s("欧阳娜娜"), 0, OIDText},
		{"email/text", Spec{Name: "email"}, "", s("zhangwei@163.com"), 0, OIDText},
		{"hash/text", Spec{Name: "hash"}, "", s("13812345678"), 0, OIDText},
		{"hash/int8-bin", Spec{Name: "hash"}, "", i8(13812345678), 1, OIDInt8},
		{"token/phone", Spec{Name: "token"}, "", s("13812345678"), 0, OIDText},
		{"token/id", Spec{Name: "token"}, "", s("310115198001011234"), 0, OIDText},
		{"token/int4-bin", Spec{Name: "token"}, "", i4(42), 1, OIDInt4},
		{"pseudonym/name-hanzi", Spec{Name: "pseudonym"}, "person_name", s("张伟"), 0, OIDText},
		{"pseudonym/name-latin", Spec{Name: "pseudonym"}, "person_name", s("Zhang Wei"), 0, OIDText},
		{"pseudonym/phone", Spec{Name: "pseudonym"}, "phone", s("13812345678"), 0, OIDText},
		{"pseudonym/email", Spec{Name: "pseudonym"}, "email", s("zhangwei@163.com"), 0, OIDText},
		{"pseudonym/address", Spec{Name: "pseudonym"}, "address", s("上海市浦东新区世纪大道100号"), 0, OIDText},
		{"pseudonym/national_id", Spec{Name: "pseudonym"}, "national_id", s("310115198001011234"), 0, OIDText},
		{"pseudonym/openid", Spec{Name: "pseudonym"}, "wechat_openid", s("o6_bmjrPTlm6_2sgVt7hMZOPfL2M"), 0, OIDText},
		{"year/date-text", Spec{Name: "year"}, "", s("1990-10-04"), 0, OIDDate},
		{"year/date-bin", Spec{Name: "year"}, "", binDate(1990, 10, 4), 1, OIDDate},
		{"month/timestamptz-text", Spec{Name: "month"}, "", s("1990-10-04 12:34:56+08"), 0, OIDTimestamptz},
		{"month/timestamp-bin", Spec{Name: "month"}, "", ts, 1, OIDTimestamp},
		{"bucket/int4-text", Spec{Name: "bucket", Args: []float64{10}}, "", s("37"), 0, OIDInt4},
		{"bucket/int4-bin", Spec{Name: "bucket", Args: []float64{10}}, "", i4(37), 1, OIDInt4},
		{"bucket/numeric-text", Spec{Name: "bucket", Args: []float64{1000}}, "", s("12345.67"), 0, OIDNumeric},
		{"bucket/numeric-bin", Spec{Name: "bucket", Args: []float64{1000}}, "", numericBin(1, 0, 2, 1, 2345, 6700), 1, OIDNumeric},
		{"bucket/float8-text", Spec{Name: "bucket", Args: []float64{0.1}}, "", s("37.25"), 0, OIDFloat8},
		{"bucket/float8-bin", Spec{Name: "bucket", Args: []float64{0.1}}, "", f8(37.25), 1, OIDFloat8},
		{"noise/int4-text", Spec{Name: "noise", Args: []float64{10}}, "", s("10000"), 0, OIDInt4},
		{"noise/int4-bin", Spec{Name: "noise", Args: []float64{10}}, "", i4(10000), 1, OIDInt4},
		{"noise/numeric-text", Spec{Name: "noise", Args: []float64{10}}, "", s("12345.67"), 0, OIDNumeric},
		{"noise/numeric-bin", Spec{Name: "noise", Args: []float64{10}}, "", numericBin(1, 0, 2, 1, 2345, 6700), 1, OIDNumeric},
		{"noise/float8-bin", Spec{Name: "noise", Args: []float64{10}}, "", f8(37.25), 1, OIDFloat8},
	}
	for _, c := range cases {
		f, err := New(c.spec, c.kind, k)
		if err != nil {
			b.Fatal(err)
		}
		b.Run(c.name, func(b *testing.B) {
			dst := make([]byte, 0, 256)
			b.ReportAllocs()
			for b.Loop() {
				dst, _ = f.Apply(dst[:0], c.v, c.format, c.typ)
			}
		})
	}
}
