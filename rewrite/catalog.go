package rewrite

import (
	"context"
	"errors"
)

// Catalog is what analysis needs to know about the upstream database. The
// proxy implements it by querying PostgreSQL's catalog (with a cache);
// tests use a fake. A lookup that fails is an error, never a guess: the
// statement is then refused.
type Catalog interface {
	// Relation resolves a relation name as PostgreSQL would: schema == ""
	// means search searchPath in order (pg_catalog implicitly first, as
	// PostgreSQL does, unless searchPath names it). It returns
	// ErrUnknownRelation when no such relation exists.
	Relation(ctx context.Context, schema, name string, searchPath []string) (*Relation, error)
}

// ErrUnknownRelation is returned by Catalog.Relation for a name that does
// not resolve.
var ErrUnknownRelation = errors.New("unknown relation")

// Relation is a table, view, materialized view or foreign table.
type Relation struct {
	OID     uint32
	Schema  string // "crm"
	Name    string // "customers"
	Kind    byte   // pg_class.relkind: 'r' table, 'p' partitioned, 'v' view, 'm' matview, 'f' foreign
	Columns []Column
	// ViewDef is pg_get_viewdef's text for views and materialized views:
	// analysis looks through it to the base columns.
	ViewDef string
}

// Column is one attribute of a relation, in attnum order (dropped columns
// left out).
type Column struct {
	Name    string
	AttNum  int16
	TypeOID uint32
}

// QualifiedColumn names a base column: what classification rules match on.
type QualifiedColumn struct {
	Schema, Table, Column string
}

func (c QualifiedColumn) String() string { return c.Schema + "." + c.Table + "." + c.Column }
