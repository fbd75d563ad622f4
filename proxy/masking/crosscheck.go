package masking

import (
	"encoding/binary"
	"slices"

	"github.com/pgveil/pgveil/rewrite"
)

// crossCheck compares a RowDescription with the plan of its statement.
// For a plain column reference the server names the table (OID) and the
// column (attnum) it comes from; if that column is masked by the policy
// but the plan would send it in clear, or the table is one the analysis
// never saw, the analysis missed something: the column is redacted. It
// returns the corrected mask, or nil when the plan stands.
func (s *session) crossCheck(msg []byte, sp *stmtPlan) rewrite.ResultMask {
	if len(msg) < 7 {
		return nil
	}
	n := int(binary.BigEndian.Uint16(msg[5:]))
	if n != len(sp.mask) {
		return nil // the rows will not match the plan either: all NULL
	}
	var fixed rewrite.ResultMask
	pos := 7
	for i := 0; i < n; i++ {
		for pos < len(msg) && msg[pos] != 0 {
			pos++
		}
		pos++
		if pos+18 > len(msg) {
			return nil
		}
		table := binary.BigEndian.Uint32(msg[pos:])
		attnum := int16(binary.BigEndian.Uint16(msg[pos+4:]))
		pos += 18
		if table == 0 || attnum <= 0 || sp.mask[i].Masker != nil {
			continue // computed, or already masked
		}
		if s.columnClear(sp, table, attnum) {
			continue
		}
		if fixed == nil {
			fixed = slices.Clone(sp.mask)
		}
		fixed[i] = rewrite.ColumnMask{Masker: redactAll}
		s.e.log.Warn("RowDescription names a masked or unanalysed column the analysis did not: redacted",
			"session", s.info.ID, "policy", s.policy.Name, "column", i+1, "table_oid", table, "attnum", attnum)
	}
	return fixed
}

// columnClear reports whether the policy shows table.attnum in clear.
func (s *session) columnClear(sp *stmtPlan, table uint32, attnum int16) bool {
	rel := sp.relations[table]
	if rel == nil {
		return false // a table the analysis did not see
	}
	for _, c := range rel.Columns {
		if c.AttNum == attnum {
			return s.policy.Decide(rel.Schema, rel.Name, c.Name).Transform.Name == "clear"
		}
	}
	return false
}
