package masking

import (
	"context"

	"errors"
	"fmt"
	pg_query "github.com/pganalyze/pg_query_go/v6"
	"slices"
	"strings"

	"github.com/pgveil/pgveil/proxy"
	"github.com/pgveil/pgveil/rewrite"
	"github.com/pgveil/pgveil/rewrite/transform"
	"github.com/pgveil/pgveil/rules"
)

// planQuery analyses sql for a session and decides, per statement, whether
// it may run and how its result columns are masked.
func (e *Engine) planQuery(ctx context.Context, s *session, sql string) *queryPlan {
	path := s.info.SearchPath
	if reason := gate(sql); reason != "" {
		return &queryPlan{refusal: s.refusal(reason)}
	}
	if tree, err := pg_query.Parse(sql); err == nil {
		for _, st := range tree.Stmts {
			if !isDML(st.Stmt) {
				continue
			}
			if len(tree.Stmts) != 1 {
				return &queryPlan{refusal: s.refusal("a write must be the only statement of its query")}
			}
			return e.planDML(ctx, s, st.Stmt)
		}
	}
	analyses, err := rewrite.Analyze(ctx, sql, path, s.cat)
	if err != nil {
		var ae *rewrite.AnalysisError
		switch {
		case errors.As(err, &ae):
			return &queryPlan{refusal: s.refusal("cannot analyse the statement: " + ae.Reason)}
		case errors.Is(err, rewrite.ErrUnknownRelation):
			return &queryPlan{refusal: s.refusal("cannot analyse the statement: it reads a relation pgveil cannot resolve")}
		default:
			e.log.Warn("statement analysis failed", "session", s.info.ID, "err", err)
			return &queryPlan{refusal: s.refusal("cannot analyse the statement")}
		}
	}
	// Issued tokens compared with token-masked columns are replaced by
	// their cleartext; what runs upstream is then analysed again.
	// The checks run on the statement with those comparisons replaced by
	// TRUE: any other use of a token-masked column is then refused as usual.
	send := sql
	if tr := e.replaceTokens(ctx, s, sql, analyses); tr.sql != "" {
		checked, err := rewrite.Analyze(ctx, tr.check, path, s.cat)
		if err != nil || len(checked) != len(analyses) {
			return &queryPlan{refusal: s.refusal("cannot analyse the statement")}
		}
		send, analyses = tr.sql, checked
	}
	plan := &queryPlan{statements: make([]stmtPlan, len(analyses))}
	fs := facts(send)
	if len(fs) != len(analyses) {
		return &queryPlan{refusal: s.refusal("cannot analyse the statement")}
	}
	for i, a := range analyses {
		sp, refusal := e.planStatement(ctx, s, a, fs[i])
		if refusal != nil {
			return &queryPlan{refusal: refusal}
		}
		plan.statements[i] = sp
	}
	if send != sql {
		plan.rewritten = send
	}
	if len(s.policy.RowFilter) > 0 {
		rewritten, err := rewrite.ApplyRowFilters(ctx, send, path, s.cat, rewrite.RowFilters(s.policy.RowFilter))
		if err != nil {
			var rfe *rewrite.RowFilterError
			if errors.As(err, &rfe) {
				return &queryPlan{refusal: s.refusal(rfe.Reason)}
			}
			return &queryPlan{refusal: s.refusal("cannot apply the policy's row filters")}
		}
		if rewritten != "" {
			plan.rewritten = rewritten
		}
	}
	return plan
}

// planStatement decides one statement.
func (e *Engine) planStatement(ctx context.Context, s *session, a *rewrite.Analysis, f stmtFacts) (stmtPlan, *proxy.Error) {
	switch {
	case a.Kind == rewrite.KindSelect:
	case a.Tag == "COPY" && f.copy != nil && len(a.Columns) > 0:
		return e.planCopy(ctx, s, a, f.copy)
	case a.Kind == rewrite.KindCursor, a.Tag == "PREPARE" && len(a.Columns) > 0:
		// Check and plan the query now; its rows come with FETCH/EXECUTE.
		sp, refusal := e.planStatement(ctx, s, &rewrite.Analysis{Kind: rewrite.KindSelect, Tag: a.Tag,
			Columns: a.Columns, Relations: a.Relations, Uses: a.Uses}, stmtFacts{})
		sp.hasRows = false
		if a.Kind == rewrite.KindCursor {
			sp.declares, sp.holdable = a.Cursor, f.holdable
		} else {
			sp.prepares = f.prepare
		}
		return sp, refusal
	case a.Tag == "EXECUTE" && f.execute != "":
		return stmtPlan{executes: f.execute}, nil
	case a.Kind == rewrite.KindUtility && a.Tag == "EXPLAIN":
		// EXPLAIN without ANALYZE does not run the query, but its plan
		// names what it reads: the query is checked like any SELECT. The
		// plan text (one column) goes out as it is.
		if _, refusal := e.planStatement(ctx, s, &rewrite.Analysis{Kind: rewrite.KindSelect, Tag: a.Tag,
			Relations: a.Relations, Uses: a.Uses}, stmtFacts{}); refusal != nil {
			return stmtPlan{}, refusal
		}
		return stmtPlan{hasRows: true, mask: rewrite.ResultMask{{}}}, nil
	case a.Kind == rewrite.KindUtility:
		sp := stmtPlan{deallocs: f.dealloc, discardAll: f.discard, setPath: f.setPath, pathReset: f.pathReset}
		switch a.Tag {
		case "FETCH", "MOVE":
			sp.fetchFrom = a.Cursor
		case "CLOSE CURSOR":
			sp.closes = a.Cursor
			if f.closeAll {
				sp.closes = "*"
			}
		}
		return sp, nil
	default:
		return stmtPlan{}, s.refusal(fmt.Sprintf("%s statements are not allowed in a masked session", a.Tag))
	}
	pol := s.policy
	for _, r := range a.Relations {
		q := r.Schema + "." + r.Name
		if slices.Contains(pol.DenyTables, q) {
			return stmtPlan{}, s.refusal(fmt.Sprintf("table %s may not be read", q))
		}
		if reason := systemViewReason(r.Schema, r.Name); reason != "" {
			return stmtPlan{}, s.refusal(reason)
		}
	}
	if reason := e.functionsReason(ctx, s, a.Functions); reason != "" {
		return stmtPlan{}, s.refusal(reason)
	}
	// Predicates: a masked column may only be projected, not evaluated,
	// except for grouping by a deterministic, one-to-one transform (token,
	// hash): groups of cleartext are then exactly groups of masked values.
	if pol.Predicates != "allow" {
		for _, u := range a.Uses {
			d := pol.Decide(u.Column.Schema, u.Column.Table, u.Column.Column)
			if u.Clause == "GROUP BY" && (d.Transform.Name == "token" || d.Transform.Name == "hash") {
				continue
			}
			if d.Transform.Name != "clear" {
				return stmtPlan{}, s.refusal(fmt.Sprintf("%s may not be used in %s: it is %q, masked with %s",
					u.Column, u.Clause, d.Kind, d.Transform))
			}
		}
	}
	// Computing on a masked column in the select list evaluates it in
	// cleartext upstream: an error (1/0 in a CASE) or a row count (a
	// set-returning function) then answers a guess. Only plain references
	// may project masked columns; whole rows holding one are refused too.
	for i, col := range a.Columns {
		if col.Direct && !col.WholeRow {
			continue
		}
		for _, src := range col.Sources {
			d := pol.Decide(src.Schema, src.Table, src.Column)
			if d.Transform.Name != "clear" {
				return stmtPlan{}, s.refusal(fmt.Sprintf("column %d (%s) computes on %s, which is %q masked with %s: computed values of masked columns are not allowed",
					i+1, col.Name, src, d.Kind, d.Transform))
			}
		}
	}
	relations := make(map[uint32]*rewrite.Relation, len(a.Relations))
	for _, ref := range a.Relations {
		rel, err := s.cat.Relation(ctx, ref.Schema, ref.Name, s.info.SearchPath)
		if err != nil {
			return stmtPlan{}, s.refusal("cannot resolve a relation the statement reads")
		}
		relations[rel.OID] = rel
	}
	mask := make(rewrite.ResultMask, len(a.Columns))
	for i, col := range a.Columns {
		cm, err := e.columnMask(ctx, s, col)
		if err != nil {
			return stmtPlan{}, s.refusal(fmt.Sprintf("column %d (%s): %v", i+1, col.Name, err))
		}
		mask[i] = cm
	}
	return stmtPlan{mask: mask, hasRows: true, relations: relations}, nil
}

// redactAll is the masker for values derived from classified columns.
var redactAll = func() transform.Func {
	f, err := transform.New(transform.Spec{Name: "redact"}, "", nil)
	if err != nil {
		panic(err)
	}
	return f
}()

// columnMask decides one output column: clear when nothing classified
// flows into it, the kind's transform for a direct reference, NULL for
// anything derived from a masked column.
func (e *Engine) columnMask(ctx context.Context, s *session, col rewrite.OutputColumn) (rewrite.ColumnMask, error) {
	pol := s.policy
	var first *rules.Decision
	masked := false
	for _, src := range col.Sources {
		d := pol.Decide(src.Schema, src.Table, src.Column)
		if d.Transform.Name == "clear" {
			continue
		}
		masked = true
		if first == nil {
			first = &d
		} else if first.Transform.String() != d.Transform.String() || first.Kind != d.Kind {
			first = nil
			break
		}
	}
	if !masked {
		return rewrite.ColumnMask{}, nil
	}
	if !col.Direct || col.WholeRow || first == nil {
		return rewrite.ColumnMask{Masker: redactAll}, nil
	}
	typ, err := e.columnType(ctx, s, col.Sources[0])
	if err != nil {
		return rewrite.ColumnMask{}, err
	}
	f, err := e.transform(first.Transform, first.Kind)
	if err != nil {
		return rewrite.ColumnMask{}, err
	}
	return rewrite.ColumnMask{Masker: f, Type: typ}, nil
}

func (e *Engine) columnType(ctx context.Context, s *session, c rewrite.QualifiedColumn) (uint32, error) {
	rel, err := s.cat.Relation(ctx, c.Schema, c.Table, s.info.SearchPath)
	if err != nil {
		return 0, err
	}
	for _, rc := range rel.Columns {
		if rc.Name == c.Column {
			return rc.TypeOID, nil
		}
	}
	return 0, fmt.Errorf("column %s not found in the catalog", c)
}

type funcKey struct{ spec, kind string }

func (e *Engine) transform(t rules.Transform, kind string) (transform.Func, error) {
	key := funcKey{t.String(), kind}
	if f, ok := e.funcs.Load(key); ok {
		return f.(transform.Func), nil
	}
	f, err := transform.New(transform.Spec{Name: t.Name, Args: t.Args}, kind, e.keys)
	if err != nil {
		return nil, err
	}
	e.funcs.Store(key, f)
	return f, nil
}

// systemViewReason refuses the system relations that hold data values or
// other sessions' SQL: statistics (most common values, histograms),
// activity, statement statistics, large objects, and role secrets. The
// catalog BI tools read for metadata (pg_class, pg_attribute, pg_type,
// information_schema, ...) stays allowed.
func systemViewReason(schema, name string) string {
	switch {
	case strings.HasPrefix(name, "pg_stat") && (schema == "pg_catalog" || name == "pg_stat_statements" || strings.HasPrefix(name, "pg_stat_statements")):
		return fmt.Sprintf("%s.%s holds data values or other sessions' statements", schema, name)
	case schema == "pg_catalog" && (strings.HasPrefix(name, "pg_largeobject") || name == "pg_authid" ||
		name == "pg_shadow" || name == "pg_user_mapping" || name == "pg_user_mappings" || name == "pg_hba_file_rules" ||
		name == "pg_file_settings" || name == "pg_ident_file_mappings" || name == "pg_backend_memory_contexts"):
		return fmt.Sprintf("%s.%s is not readable in a masked session", schema, name)
	}
	return ""
}

// builtinCatalog is a Catalog that knows PostgreSQL's built-in functions.
type builtinCatalog interface {
	BuiltinFunctions(ctx context.Context) (map[string]bool, error)
}

// functionsReason refuses calls to functions that are not PostgreSQL
// built-ins: a user-defined function can read tables inside, where
// analysis cannot see, and return what it read as an unclassified value.
func (e *Engine) functionsReason(ctx context.Context, s *session, functions []string) string {
	if len(functions) == 0 {
		return ""
	}
	bc, ok := s.cat.(builtinCatalog)
	if !ok {
		return "cannot verify the functions the statement calls"
	}
	builtins, err := bc.BuiltinFunctions(ctx)
	if err != nil {
		return "cannot verify the functions the statement calls"
	}
	for _, f := range functions {
		schema, name := "", f
		if i := strings.LastIndexByte(f, '.'); i >= 0 {
			schema, name = f[:i], f[i+1:]
		}
		if (schema != "" && schema != "pg_catalog" && schema != "information_schema") || !builtins[name] {
			return fmt.Sprintf("function %s is not a PostgreSQL built-in: pgveil cannot see what it reads", f)
		}
	}
	return ""
}
