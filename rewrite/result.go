package rewrite

import (
	"encoding/binary"
	"errors"
)

// Masker transforms single values of one result column (package
// rewrite/transform implements it).
type Masker interface {
	// Apply appends the masked form of the non-NULL value v, in wire format
	// (0 text, 1 binary) of type typeOID, to dst; null means SQL NULL.
	Apply(dst, v []byte, format int16, typeOID uint32) (out []byte, null bool)
	// ResultType is the type of the output for an input of typeOID.
	ResultType(typeOID uint32) uint32
}

// ColumnMask says what happens to one result column.
type ColumnMask struct {
	Masker Masker // nil: the value is forwarded unchanged
	Type   uint32 // the column's type as the server sends it
}

// ResultMask is the plan for one result set: a mask per column.
type ResultMask []ColumnMask

// Clear reports whether the plan changes nothing.
func (m ResultMask) Clear() bool {
	for _, c := range m {
		if c.Masker != nil {
			return false
		}
	}
	return true
}

// ErrShape means a message does not have the shape the plan expects (a
// different column count, or a malformed message): the caller must not
// forward it.
var ErrShape = errors.New("result does not match the analysed statement")

// MaskDataRow appends to dst the DataRow msg (type byte, length, body) with
// each masked column transformed, and returns it. format gives each
// column's wire format. With nothing to mask, it returns msg itself.
// It allocates nothing beyond growing dst.
func MaskDataRow(dst, msg []byte, m ResultMask, format func(col int) int16) ([]byte, error) {
	if len(msg) < 7 || msg[0] != 'D' {
		return nil, ErrShape
	}
	body := msg[5:]
	n := int(binary.BigEndian.Uint16(body))
	if n != len(m) {
		return nil, ErrShape
	}
	if m.Clear() {
		return msg, nil
	}
	start := len(dst)
	dst = append(dst, 'D', 0, 0, 0, 0, body[0], body[1])
	rest := body[2:]
	for i := 0; i < n; i++ {
		if len(rest) < 4 {
			return nil, ErrShape
		}
		l := int32(binary.BigEndian.Uint32(rest))
		rest = rest[4:]
		var v []byte
		if l >= 0 {
			if int(l) > len(rest) {
				return nil, ErrShape
			}
			v, rest = rest[:l], rest[l:]
		}
		c := m[i]
		if c.Masker == nil || l < 0 {
			dst = appendValue(dst, v, l < 0)
			continue
		}
		lenAt := len(dst)
		dst = append(dst, 0, 0, 0, 0)
		out, null := c.Masker.Apply(dst, v, format(i), c.Type)
		if null {
			dst = append(out[:lenAt], 0xff, 0xff, 0xff, 0xff)
			continue
		}
		dst = out
		binary.BigEndian.PutUint32(dst[lenAt:], uint32(len(dst)-lenAt-4))
	}
	if len(rest) != 0 {
		return nil, ErrShape
	}
	binary.BigEndian.PutUint32(dst[start+1:], uint32(len(dst)-start-1))
	return dst, nil
}

func appendValue(dst, v []byte, null bool) []byte {
	if null {
		return append(dst, 0xff, 0xff, 0xff, 0xff)
	}
	dst = binary.BigEndian.AppendUint32(dst, uint32(len(v)))
	return append(dst, v...)
}

// MaskRowDescription appends to dst the RowDescription msg with the type
// of each masked column replaced by what its transform produces, so that
// clients decode masked values correctly. With nothing to change it
// returns msg itself.
func MaskRowDescription(dst, msg []byte, m ResultMask) ([]byte, error) {
	if len(msg) < 7 || msg[0] != 'T' {
		return nil, ErrShape
	}
	body := msg[5:]
	n := int(binary.BigEndian.Uint16(body))
	if n != len(m) {
		return nil, ErrShape
	}
	changes := false
	for _, c := range m {
		if c.Masker != nil && c.Masker.ResultType(c.Type) != c.Type {
			changes = true
		}
	}
	if !changes {
		return msg, nil
	}
	start := len(dst)
	dst = append(dst, msg...)
	pos := start + 7
	for i := 0; i < n; i++ {
		// name\0, table OID (4), attnum (2), type OID (4), size (2), typmod (4), format (2)
		nameEnd := pos
		for nameEnd < len(dst) && dst[nameEnd] != 0 {
			nameEnd++
		}
		pos = nameEnd + 1
		if pos+18 > len(dst) {
			return nil, ErrShape
		}
		if c := m[i]; c.Masker != nil {
			if t := c.Masker.ResultType(c.Type); t != c.Type {
				binary.BigEndian.PutUint32(dst[pos+6:], t)
				binary.BigEndian.PutUint16(dst[pos+10:], 0xffff) // size: variable
				binary.BigEndian.PutUint32(dst[pos+12:], 0xffffffff)
			}
		}
		pos += 18
	}
	if pos != len(dst) {
		return nil, ErrShape
	}
	return dst, nil
}

// RowDescriptionTypes returns the type OID of each field of a
// RowDescription message, appended to dst.
func RowDescriptionTypes(dst []uint32, msg []byte) ([]uint32, error) {
	if len(msg) < 7 || msg[0] != 'T' {
		return nil, ErrShape
	}
	n := int(binary.BigEndian.Uint16(msg[5:]))
	pos := 7
	for i := 0; i < n; i++ {
		for pos < len(msg) && msg[pos] != 0 {
			pos++
		}
		pos++
		if pos+18 > len(msg) {
			return nil, ErrShape
		}
		dst = append(dst, binary.BigEndian.Uint32(msg[pos+6:]))
		pos += 18
	}
	return dst, nil
}
