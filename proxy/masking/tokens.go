package masking

import (
	"context"
	"strings"

	pg_query "github.com/pganalyze/pg_query_go/v6"

	"github.com/pgveil/pgveil/rewrite"
	"github.com/pgveil/pgveil/rewrite/transform"
)

// Token predicates: an analyst who got a token from a report may filter by
// it (WHERE id_number = 'tok_...'). pgveil replaces the token by its
// cleartext before the statement goes upstream. This is only safe when
//
//   - every literal of the comparison is a token pgveil issued (AES-SIV
//     authenticates them, so a guess cannot be dressed up as a token);
//   - the column compared is token-masked wherever its name could resolve
//     in this statement: revealing the cleartext into a comparison with a
//     clear column would show which rows hold the value;
//   - nothing else compares a token-masked column: after the replacement,
//     the statement's equality uses of such columns may not outnumber the
//     comparisons replaced (an extra guess or a join is refused).

// tokenRewrite is the result of replacing issued tokens in a statement.
type tokenRewrite struct {
	sql   string // to send: the statement with tokens replaced; "" if none were
	check string // to analyse: the statement with those comparisons replaced by TRUE
}

// replaceTokens rewrites sql's comparisons of token-masked columns with
// issued tokens. analyses are the statement's analyses (for the relations
// it reads).
func (e *Engine) replaceTokens(ctx context.Context, s *session, sql string, analyses []*rewrite.Analysis) tokenRewrite {
	kinds := e.maskedColumnKinds(ctx, s, analyses)
	if len(kinds) == 0 {
		return tokenRewrite{}
	}
	names := make(map[string]bool)
	if e.keys != nil && strings.Contains(sql, transform.TokenPrefix) {
		for n, k := range kinds {
			if k.transform == "token" {
				names[n] = true
			}
		}
	}
	tree, err := pg_query.Parse(sql)
	if err != nil {
		return tokenRewrite{}
	}
	checkTree, err := pg_query.Parse(sql)
	if err != nil {
		return tokenRewrite{}
	}
	// The two trees are walked in the same order, so the k-th qualifying
	// comparison of one is the k-th of the other.
	var qualifying []int
	k := 0
	walk(tree.ProtoReflect(), func(n *pg_query.Node) bool {
		x := n.GetAExpr()
		if x == nil {
			return true
		}
		k++
		if sameKindJoin(x, kinds) {
			qualifying = append(qualifying, k)
			return false
		}
		if !tokenComparable(x, names) {
			return true
		}
		var consts []*pg_query.A_Const
		switch x.Kind {
		case pg_query.A_Expr_Kind_AEXPR_OP:
			consts = append(consts, constOf(x.Lexpr), constOf(x.Rexpr))
		case pg_query.A_Expr_Kind_AEXPR_IN:
			for _, item := range x.Rexpr.GetList().GetItems() {
				consts = append(consts, constOf(item))
			}
		}
		var literals []*pg_query.A_Const
		for _, c := range consts {
			if c != nil {
				literals = append(literals, c)
			}
		}
		clear := make([]string, len(literals))
		for i, c := range literals {
			v, err := e.keys.Reveal(c.GetSval().GetSval())
			if err != nil {
				return true // not all issued tokens: leave it, the use check refuses it
			}
			clear[i] = v
		}
		if len(literals) == 0 {
			return true
		}
		for i, c := range literals {
			c.Val = &pg_query.A_Const_Sval{Sval: &pg_query.String{Sval: clear[i]}}
		}
		qualifying = append(qualifying, k)
		return false
	})
	if len(qualifying) == 0 {
		return tokenRewrite{}
	}
	k = 0
	next := 0
	walk(checkTree.ProtoReflect(), func(n *pg_query.Node) bool {
		if n.GetAExpr() == nil {
			return true
		}
		k++
		if next < len(qualifying) && qualifying[next] == k {
			next++
			n.Node = &pg_query.Node_AConst{AConst: &pg_query.A_Const{Val: &pg_query.A_Const_Boolval{Boolval: &pg_query.Boolean{Boolval: true}}}}
			return false
		}
		return true
	})
	send, err := pg_query.Deparse(tree)
	if err != nil || next != len(qualifying) {
		return tokenRewrite{}
	}
	check, err := pg_query.Deparse(checkTree)
	if err != nil {
		return tokenRewrite{}
	}
	return tokenRewrite{sql: send, check: check}
}

// tokenComparable reports `col = literal` (either side) or `col IN
// (literals)` where col's name is one of names and every other operand is
// a string literal.
func tokenComparable(x *pg_query.A_Expr, names map[string]bool) bool {
	switch x.Kind {
	case pg_query.A_Expr_Kind_AEXPR_OP:
		if len(x.Name) != 1 || x.Name[0].GetString_().GetSval() != "=" {
			return false
		}
		l, r := columnName(x.Lexpr), columnName(x.Rexpr)
		switch {
		case l != "" && constOf(x.Rexpr) != nil:
			return names[l]
		case r != "" && constOf(x.Lexpr) != nil:
			return names[r]
		}
	case pg_query.A_Expr_Kind_AEXPR_IN:
		if len(x.Name) != 1 || x.Name[0].GetString_().GetSval() != "=" || !names[columnName(x.Lexpr)] {
			return false
		}
		items := x.Rexpr.GetList().GetItems()
		for _, item := range items {
			if constOf(item) == nil {
				return false
			}
		}
		return len(items) > 0
	}
	return false
}

func columnName(n *pg_query.Node) string {
	cr := n.GetColumnRef()
	if cr == nil || len(cr.Fields) == 0 {
		return ""
	}
	return cr.Fields[len(cr.Fields)-1].GetString_().GetSval()
}

// constOf returns a string literal operand, or nil.
func constOf(n *pg_query.Node) *pg_query.A_Const {
	c := n.GetAConst()
	if c == nil || c.GetSval() == nil {
		return nil
	}
	return c
}

// maskedKind is the kind and transform every column of one name has.
type maskedKind struct{ kind, transform string }

// maskedColumnKinds returns, for each column name that in every relation
// the statement reads belongs only to masked columns of one kind and one
// transform, that kind and transform. A name that is also a clear column,
// or a column of another kind, somewhere in the statement is left out.
func (e *Engine) maskedColumnKinds(ctx context.Context, s *session, analyses []*rewrite.Analysis) map[string]maskedKind {
	kinds := make(map[string]maskedKind)
	excluded := make(map[string]bool)
	for _, a := range analyses {
		for _, ref := range a.Relations {
			rel, err := s.cat.Relation(ctx, ref.Schema, ref.Name, s.info.SearchPath)
			if err != nil {
				return nil
			}
			for _, col := range rel.Columns {
				d := s.policy.Decide(rel.Schema, rel.Name, col.Name)
				mk := maskedKind{d.Kind, d.Transform.String()}
				if prev, seen := kinds[col.Name]; d.Transform.Name == "clear" || (seen && prev != mk) {
					excluded[col.Name] = true
					continue
				}
				kinds[col.Name] = mk
			}
		}
	}
	for n := range excluded {
		delete(kinds, n)
	}
	return kinds
}

// sameKindJoin reports `a = b` where both sides are column references
// whose names are masked columns of the same kind and transform: an
// equality join the issue allows, since it reveals only that two masked
// values are equal.
func sameKindJoin(x *pg_query.A_Expr, kinds map[string]maskedKind) bool {
	if x.Kind != pg_query.A_Expr_Kind_AEXPR_OP || len(x.Name) != 1 || x.Name[0].GetString_().GetSval() != "=" {
		return false
	}
	l, r := columnName(x.Lexpr), columnName(x.Rexpr)
	if l == "" || r == "" {
		return false
	}
	kl, okl := kinds[l]
	kr, okr := kinds[r]
	return okl && okr && kl == kr
}
