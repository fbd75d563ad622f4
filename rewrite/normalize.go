// Package rewrite decides what pgveil does with the SQL of a session:
// analysis of which classified columns each result column derives from,
// and the rewriting of results and queries that masking needs (the masking
// issue). It parses SQL with PostgreSQL's own grammar (pg_query_go), never
// with regular expressions, and imports nothing from the network.
//
// For now it normalizes statements for logs: literals are replaced by
// placeholders, so a log line never carries a value a client typed.
package rewrite

import (
	lru "github.com/hashicorp/golang-lru/v2"
	pg_query "github.com/pganalyze/pg_query_go/v6"
)

// Normalized is a statement as it may appear in logs.
type Normalized struct {
	SQL         string // literals replaced by $n; "" if the text does not parse
	Fingerprint string // pg_query fingerprint: equal for statements that differ only in literals
	ParseError  bool   // the text did not parse: log neither it nor the error (which may quote it)
}

// Normalizer normalizes statements, remembering recent results: BI tools
// and drivers send the same few statements over and over. It is safe for
// concurrent use.
type Normalizer struct {
	cache *lru.Cache[string, Normalized]
}

// NewNormalizer returns a Normalizer remembering up to size statements.
func NewNormalizer(size int) *Normalizer {
	c, err := lru.New[string, Normalized](size)
	if err != nil {
		panic("rewrite: " + err.Error()) // only for size <= 0
	}
	return &Normalizer{cache: c}
}

// Normalize returns sql with its literals replaced, and its fingerprint.
func (n *Normalizer) Normalize(sql string) Normalized {
	if r, ok := n.cache.Get(sql); ok {
		return r
	}
	var r Normalized
	norm, err := pg_query.Normalize(sql)
	if err != nil {
		r.ParseError = true
	} else {
		r.SQL = norm
		if fp, err := pg_query.Fingerprint(sql); err == nil {
			r.Fingerprint = fp
		}
	}
	n.cache.Add(sql, r)
	return r
}
