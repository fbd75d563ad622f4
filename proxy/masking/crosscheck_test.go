package masking

import (
	"testing"

	"github.com/jackc/pgx/v5/pgproto3"

	"github.com/pgveil/pgveil/proxy/track"
)

// TestCrossCheckRedactsWhatTheServerSaysIsMasked: the plan says both
// columns are clear; the server's RowDescription says where they come
// from. Whatever it names as a masked column, or from a table the
// analysis never saw, is redacted for that statement from then on.
func TestCrossCheckRedactsWhatTheServerSaysIsMasked(t *testing.T) {
	const sql = "SELECT id, city FROM crm.customers"
	cases := []struct {
		desc       string
		table      uint32
		attnum     int16
		wantMasked bool
	}{
		{"consistent: city is clear", customers.OID, 7, false},
		{"server says mobile", customers.OID, 3, true},
		{"table the analysis never saw", 99999, 1, true},
		{"computed (no table)", 0, 0, false},
	}
	for _, c := range cases {
		s := benchSession(t)
		if p := s.plan(sql); p.refusal != nil {
			t.Fatal(p.refusal)
		}
		a := track.Attribution{Origin: track.OriginQuery, Statement: &track.Statement{SQL: sql}}
		rd, _ := (&pgproto3.RowDescription{Fields: []pgproto3.FieldDescription{
			{Name: []byte("id"), TableOID: customers.OID, TableAttributeNumber: 1, DataTypeOID: 20, DataTypeSize: 8, TypeModifier: -1},
			{Name: []byte("city"), TableOID: c.table, TableAttributeNumber: uint16(c.attnum), DataTypeOID: 25, DataTypeSize: -1, TypeModifier: -1},
		}}).Encode(nil)
		if _, err := s.Server(nil, rd, a); err != nil {
			t.Fatal(err)
		}
		row, _ := (&pgproto3.DataRow{Values: [][]byte{[]byte("7"), []byte("13812345678")}}).Encode(nil)
		out, err := s.Server(nil, row, a)
		if err != nil {
			t.Fatal(err)
		}
		var d pgproto3.DataRow
		if err := d.Decode(out[5:]); err != nil {
			t.Fatal(err)
		}
		if masked := d.Values[1] == nil; masked != c.wantMasked || string(d.Values[0]) != "7" {
			t.Errorf("%s: row %q, second column masked = %v, want %v", c.desc, d.Values, masked, c.wantMasked)
		}
	}
}
