package masking

import (
	"context"
	"errors"
	"fmt"

	pg_query "github.com/pganalyze/pg_query_go/v6"

	"github.com/pgveil/pgveil/rewrite"
)

// Writes in masked sessions (policies without read_only): pgveil checks a
// DML statement by analysing SELECTs that read exactly what it reads.
//
//   - rows: the RETURNING list over the target and FROM/USING relations,
//     filtered by the statement's WHERE: its lineage masks what RETURNING
//     sends back, and its uses are checked like any query's (a WHERE on a
//     masked column is refused: the row count in the command tag would
//     answer a guess);
//   - sources: the values written (SET expressions, INSERT ... SELECT),
//     which may not derive from a masked column at all: that would move a
//     masked value somewhere the policy does not mask it (laundering).
//
// What the shadows cannot express is refused: WITH on DML, ON CONFLICT,
// multi-column assignments from subqueries, more than one statement.

// dmlShadow is the analysable form of one DML statement.
type dmlShadow struct {
	rows    string // SELECT <returning or 1> FROM target, from/using WHERE ...
	sources string // SELECT <values written> FROM ... ; "" when only literals/params
	target  *pg_query.RangeVar
}

var errDMLUnsupported = errors.New("unsupported write")

// isDML reports whether a parsed statement is INSERT, UPDATE or DELETE.
func isDML(n *pg_query.Node) bool {
	return n.GetInsertStmt() != nil || n.GetUpdateStmt() != nil || n.GetDeleteStmt() != nil
}

// shadowDML builds the shadows of a DML statement, or errDMLUnsupported.
func shadowDML(n *pg_query.Node) (*dmlShadow, error) {
	switch {
	case n.GetUpdateStmt() != nil:
		u := n.GetUpdateStmt()
		if u.WithClause != nil {
			return nil, errDMLUnsupported
		}
		from := append([]*pg_query.Node{{Node: &pg_query.Node_RangeVar{RangeVar: u.Relation}}}, u.FromClause...)
		var values []*pg_query.Node
		for _, t := range u.TargetList {
			rt := t.GetResTarget()
			if rt == nil || rt.Val == nil || rt.Val.GetMultiAssignRef() != nil {
				return nil, errDMLUnsupported
			}
			values = append(values, resTarget(rt.Val))
		}
		return shadow(u.Relation, from, u.WhereClause, u.ReturningList, values)
	case n.GetDeleteStmt() != nil:
		d := n.GetDeleteStmt()
		if d.WithClause != nil {
			return nil, errDMLUnsupported
		}
		from := append([]*pg_query.Node{{Node: &pg_query.Node_RangeVar{RangeVar: d.Relation}}}, d.UsingClause...)
		return shadow(d.Relation, from, d.WhereClause, d.ReturningList, nil)
	case n.GetInsertStmt() != nil:
		ins := n.GetInsertStmt()
		if ins.WithClause != nil || ins.OnConflictClause != nil {
			return nil, errDMLUnsupported
		}
		sh, err := shadow(ins.Relation, []*pg_query.Node{{Node: &pg_query.Node_RangeVar{RangeVar: ins.Relation}}}, falseExpr(), ins.ReturningList, nil)
		if err != nil {
			return nil, err
		}
		// INSERT ... SELECT (VALUES lists are a SelectStmt too): the rows
		// written must not carry masked values.
		if sel := ins.SelectStmt; sel != nil {
			out, err := deparseOne(sel)
			if err != nil {
				return nil, err
			}
			sh.sources = out
		}
		return sh, nil
	}
	return nil, errDMLUnsupported
}

func shadow(target *pg_query.RangeVar, from []*pg_query.Node, where *pg_query.Node, returning, values []*pg_query.Node) (*dmlShadow, error) {
	if target == nil {
		return nil, errDMLUnsupported
	}
	list := returning
	if len(list) == 0 {
		list = []*pg_query.Node{resTarget(pg_query.MakeAConstIntNode(1, 0))}
	}
	rows, err := deparseOne(&pg_query.Node{Node: &pg_query.Node_SelectStmt{SelectStmt: &pg_query.SelectStmt{
		TargetList: list, FromClause: from, WhereClause: where,
	}}})
	if err != nil {
		return nil, err
	}
	sh := &dmlShadow{rows: rows, target: target}
	if len(values) > 0 {
		src, err := deparseOne(&pg_query.Node{Node: &pg_query.Node_SelectStmt{SelectStmt: &pg_query.SelectStmt{
			TargetList: values, FromClause: from, WhereClause: where,
		}}})
		if err != nil {
			return nil, err
		}
		sh.sources = src
	}
	return sh, nil
}

func resTarget(val *pg_query.Node) *pg_query.Node {
	return &pg_query.Node{Node: &pg_query.Node_ResTarget{ResTarget: &pg_query.ResTarget{Val: val}}}
}

// falseExpr is WHERE false: an INSERT reads no existing rows.
func falseExpr() *pg_query.Node {
	return &pg_query.Node{Node: &pg_query.Node_AConst{AConst: &pg_query.A_Const{Val: &pg_query.A_Const_Boolval{Boolval: &pg_query.Boolean{Boolval: false}}}}}
}

// treeVersion is the parse-tree version pg_query stamps on its trees; a
// tree built by hand needs it to be deparsed.
var treeVersion = func() int32 {
	t, err := pg_query.Parse("SELECT 1")
	if err != nil {
		panic("pg_query: " + err.Error())
	}
	return t.Version
}()

func deparseOne(n *pg_query.Node) (string, error) {
	return pg_query.Deparse(&pg_query.ParseResult{Version: treeVersion, Stmts: []*pg_query.RawStmt{{Stmt: n}}})
}

// planDML plans a single INSERT, UPDATE or DELETE for a masked session.
func (e *Engine) planDML(ctx context.Context, s *session, n *pg_query.Node) *queryPlan {
	if s.policy.ReadOnly {
		return &queryPlan{refusal: s.refusal("writes are not allowed: the policy is read_only")}
	}
	sh, err := shadowDML(n)
	if err != nil {
		return &queryPlan{refusal: s.refusal("this form of INSERT, UPDATE or DELETE is not supported in a masked session (WITH, ON CONFLICT or multi-column assignment)")}
	}
	rel, err := s.cat.Relation(ctx, sh.target.Schemaname, sh.target.Relname, s.info.SearchPath)
	if err != nil {
		return &queryPlan{refusal: s.refusal("cannot resolve the table written to")}
	}
	q := rel.Schema + "." + rel.Name
	if _, filtered := s.policy.RowFilter[q]; filtered {
		return &queryPlan{refusal: s.refusal(fmt.Sprintf("writes to %s, which has a row filter, are not supported", q))}
	}
	if sh.sources != "" {
		src, err := rewrite.Analyze(ctx, sh.sources, s.info.SearchPath, s.cat)
		if err != nil || len(src) != 1 {
			return &queryPlan{refusal: s.refusal("cannot analyse the values written")}
		}
		for _, col := range src[0].Columns {
			for _, c := range col.Sources {
				if d := s.policy.Decide(c.Schema, c.Table, c.Column); d.Transform.Name != "clear" {
					return &queryPlan{refusal: s.refusal(fmt.Sprintf("the values written derive from %s (%q, masked): that would copy masked data where it is not masked", c, d.Kind))}
				}
			}
		}
		if _, refusal := e.planStatement(ctx, s, &rewrite.Analysis{Kind: rewrite.KindSelect, Tag: "INSERT",
			Columns: src[0].Columns, Relations: src[0].Relations, Uses: src[0].Uses}, stmtFacts{}); refusal != nil {
			return &queryPlan{refusal: refusal}
		}
	}
	rows, err := rewrite.Analyze(ctx, sh.rows, s.info.SearchPath, s.cat)
	if err != nil || len(rows) != 1 {
		return &queryPlan{refusal: s.refusal("cannot analyse the statement")}
	}
	sp, refusal := e.planStatement(ctx, s, rows[0], stmtFacts{})
	if refusal != nil {
		return &queryPlan{refusal: refusal}
	}
	return &queryPlan{statements: []stmtPlan{sp}}
}
