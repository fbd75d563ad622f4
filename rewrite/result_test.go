package rewrite

import (
	"bytes"
	"testing"

	"github.com/jackc/pgx/v5/pgproto3"
)

// starMasker replaces every byte with '*'; nullMasker redacts; hexMasker
// changes the type to text.
type starMasker struct{}

func (starMasker) Apply(dst, v []byte, _ int16, _ uint32) ([]byte, bool) {
	return append(dst, bytes.Repeat([]byte("*"), len(v))...), false
}
func (starMasker) ResultType(t uint32) uint32 { return t }

type nullMasker struct{}

func (nullMasker) Apply(dst, _ []byte, _ int16, _ uint32) ([]byte, bool) { return dst, true }
func (nullMasker) ResultType(t uint32) uint32                            { return t }

type textMasker struct{}

func (textMasker) Apply(dst, v []byte, _ int16, _ uint32) ([]byte, bool) {
	return append(dst, "h:"...), false
}
func (textMasker) ResultType(uint32) uint32 { return 25 }

func dataRow(vals ...[]byte) []byte {
	b, _ := (&pgproto3.DataRow{Values: vals}).Encode(nil)
	return b
}

func decodeRow(t *testing.T, msg []byte) [][]byte {
	t.Helper()
	var d pgproto3.DataRow
	if err := d.Decode(msg[5:]); err != nil {
		t.Fatalf("masked row does not decode: %v", err)
	}
	return d.Values
}

func text(int) int16 { return 0 }

func TestMaskDataRow(t *testing.T) {
	row := dataRow([]byte("1"), []byte("13812345678"), nil, []byte("张伟"))
	m := ResultMask{{}, {Masker: starMasker{}, Type: 25}, {Masker: starMasker{}, Type: 25}, {Masker: nullMasker{}, Type: 25}}
	out, err := MaskDataRow(nil, row, m, text)
	if err != nil {
		t.Fatal(err)
	}
	got := decodeRow(t, out)
	if string(got[0]) != "1" || string(got[1]) != "***********" || got[2] != nil || got[3] != nil {
		t.Fatalf("masked row = %q", got)
	}
}

func TestMaskDataRowClearReturnsInput(t *testing.T) {
	row := dataRow([]byte("a"), []byte("b"))
	out, err := MaskDataRow(nil, row, ResultMask{{}, {}}, text)
	if err != nil || &out[0] != &row[0] {
		t.Fatalf("clear plan should return the message itself: %v", err)
	}
}

func TestMaskDataRowRejectsWrongShape(t *testing.T) {
	cases := map[string][]byte{
		"column count differs": dataRow([]byte("a")),
		"truncated":            dataRow([]byte("a"), []byte("bcd"))[:12],
		"not a DataRow":        {'T', 0, 0, 0, 6, 0, 0},
	}
	for desc, msg := range cases {
		if _, err := MaskDataRow(nil, msg, ResultMask{{}, {Masker: starMasker{}}}, text); err == nil {
			t.Errorf("%s: no error", desc)
		}
	}
}

func TestMaskRowDescriptionChangesTypes(t *testing.T) {
	rd, _ := (&pgproto3.RowDescription{Fields: []pgproto3.FieldDescription{
		{Name: []byte("id"), TableOID: 1, TableAttributeNumber: 1, DataTypeOID: 20, DataTypeSize: 8, TypeModifier: -1},
		{Name: []byte("qq"), TableOID: 1, TableAttributeNumber: 2, DataTypeOID: 23, DataTypeSize: 4, TypeModifier: -1, Format: 1},
	}}).Encode(nil)
	out, err := MaskRowDescription(nil, rd, ResultMask{{Type: 20}, {Masker: textMasker{}, Type: 23}})
	if err != nil {
		t.Fatal(err)
	}
	var d pgproto3.RowDescription
	if err := d.Decode(out[5:]); err != nil {
		t.Fatal(err)
	}
	f := d.Fields[1]
	if d.Fields[0].DataTypeOID != 20 || f.DataTypeOID != 25 || f.DataTypeSize != -1 || f.TypeModifier != -1 || f.Format != 1 || string(f.Name) != "qq" {
		t.Fatalf("fields = %+v", d.Fields)
	}
	types, err := RowDescriptionTypes(nil, rd)
	if err != nil || len(types) != 2 || types[1] != 23 {
		t.Fatalf("types = %v, %v", types, err)
	}
	same, _ := MaskRowDescription(nil, rd, ResultMask{{Type: 20}, {Masker: starMasker{}, Type: 23}})
	if &same[0] != &rd[0] {
		t.Fatal("no type change should return the message itself")
	}
}

func BenchmarkMaskDataRow(b *testing.B) {
	row := dataRow([]byte("12345"), []byte("13812345678"), []byte("zhangwei@163.com"), []byte("北京市"))
	m := ResultMask{{}, {Masker: starMasker{}, Type: 25}, {Masker: nullMasker{}, Type: 25}, {}}
	buf := make([]byte, 0, 256)
	b.ReportAllocs()
	for b.Loop() {
		buf, _ = MaskDataRow(buf[:0], row, m, text)
	}
}
