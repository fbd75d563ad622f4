package rewrite

// Lineage analysis: which base columns each result column of a statement
// derives from, and where base columns are evaluated outside a plain
// projection (predicates, grouping, ordering). The analysis walks
// pg_query's parse tree with PostgreSQL's own name-resolution rules: one
// scope per query level, FROM items with the visibility flags PostgreSQL
// gives them (join children hide their columns behind the join, aliases
// hide relation names), outer references to enclosing levels, CTEs, and
// views looked through via their definition. Whatever it cannot follow
// soundly it refuses with an *AnalysisError rather than guess: a guess here
// is an unmasked column.
//
// Refused: text that does not parse; unknown relations (wrapping
// ErrUnknownRelation); views whose definition is missing, does not parse,
// does not match their columns, or refers back to themselves; SELECT INTO;
// data-modifying statements in WITH and COPY; functions in FROM other than
// a known list of set-returning functions (generate_series, unnest,
// json[b]_each[_text], json[b]_array_elements[_text], ...); XMLTABLE,
// JSON_TABLE and other table functions; forward references inside WITH
// RECURSIVE and recursive references outside the recursive term of a
// UNION; composite expansion (f(x)).*; ambiguous or unresolvable names,
// as PostgreSQL would. Functions in expressions are not refused here:
// Analysis.Functions lists them for the caller's allowlist.

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"strings"

	pg_query "github.com/pganalyze/pg_query_go/v6"
	"google.golang.org/protobuf/reflect/protoreflect"
)

// StatementKind says what the caller may expect from a statement.
type StatementKind int

const (
	// KindOther is DML, DDL and everything else the caller decides about
	// (COPY and PREPARE carry the Columns of their query when it reads).
	KindOther StatementKind = iota
	// KindSelect returns rows described by Columns: SELECT, VALUES, TABLE,
	// WITH ... SELECT.
	KindSelect
	// KindUtility returns no personal data: SET, SHOW, BEGIN, COMMIT,
	// ROLLBACK, SAVEPOINT, RELEASE, DISCARD, DEALLOCATE, CLOSE, FETCH/MOVE,
	// EXPLAIN without ANALYZE (whose query is analysed for Relations and
	// Uses).
	KindUtility
	// KindCursor is DECLARE ... CURSOR FOR a query: it returns no rows
	// itself, but later FETCHes on Cursor return rows described by Columns.
	KindCursor
)

func (k StatementKind) String() string {
	switch k {
	case KindSelect:
		return "Select"
	case KindUtility:
		return "Utility"
	case KindCursor:
		return "Cursor"
	}
	return "Other"
}

// Analysis is what pgveil knows about one statement.
type Analysis struct {
	Kind StatementKind
	// Tag names the statement for errors and logs: "SELECT", "SET",
	// "INSERT", "CREATE TABLE AS". It never carries statement text.
	Tag string
	// Columns describes each result column, in order: for KindSelect and
	// KindCursor, and for COPY ... TO and PREPARE of a query.
	Columns []OutputColumn
	// Relations is every relation the statement reads, including those
	// inside views, subqueries and CTEs, sorted by schema and name.
	Relations []RelationRef
	// Uses is every evaluation of a base column outside a plain projection,
	// sorted and deduplicated.
	Uses []ColumnUse
	// Functions lists the functions the statement itself calls (not those
	// inside view definitions), as written and lower-cased: "lower",
	// "pg_catalog.md5". The caller allowlists them: a function's body can
	// read what the analysis cannot see.
	Functions []string
	// Setting is the parameter a SET, RESET or SHOW names: "search_path",
	// "all" for SHOW ALL and RESET ALL.
	Setting string
	// Cursor is the portal name of DECLARE, CLOSE and FETCH/MOVE.
	Cursor string
}

// RelationRef names a relation a statement reads.
type RelationRef struct {
	Schema, Name string
	OID          uint32
}

func (r RelationRef) String() string { return r.Schema + "." + r.Name }

// OutputColumn is the lineage of one result column.
type OutputColumn struct {
	// Name is the column name PostgreSQL reports: the alias, the column
	// name, the function name, or "?column?".
	Name string
	// Sources is every base column the value derives from, deduplicated
	// and sorted. Empty means the value carries no column data.
	Sources []QualifiedColumn
	// Direct is true iff the value is a base column's value unchanged:
	// through aliases, subqueries, CTEs, views, or set operations whose
	// branches are all direct (Sources then lists each branch's column).
	Direct bool
	// WholeRow is true when the value derives from a whole-row reference
	// (SELECT c FROM t c, row_to_json(c), c.*::text): Sources lists every
	// column of the row.
	WholeRow bool
}

// ColumnUse is one evaluation of a base column outside a plain projection.
type ColumnUse struct {
	Column QualifiedColumn
	// Clause is where: "WHERE", "JOIN" (ON, USING, NATURAL), "GROUP BY",
	// "HAVING", "ORDER BY" (also inside an aggregate), "DISTINCT ON",
	// "WINDOW" (PARTITION BY, ORDER BY, frame), "FILTER", "LIMIT",
	// "OFFSET", "TABLESAMPLE", "FROM" (arguments of a set-returning
	// function in FROM: the row count depends on them), or "SELECT": a
	// value computed (not merely passed through) in the projection of a
	// subquery, CTE or view, which is evaluated even when it never reaches
	// the result. The statement's own projection is described by Columns
	// instead: a column there with Direct false is computed too.
	Clause string
	// Equality is true when the use is `col = col2` between two direct base
	// columns, `col = literal/parameter`, `col IN (literals/parameters)`,
	// JOIN USING/NATURAL, or `col IN (SELECT direct column)`.
	Equality bool
	// View is the view ("crm.customer_contacts") whose definition holds the
	// use; "" when the statement itself does.
	View string
}

// AnalysisError is returned for statements the analysis refuses. Reason is
// meant for the client: it may name relations and columns, never a value
// from the statement.
type AnalysisError struct {
	Reason string
	Err    error // the cause, such as ErrUnknownRelation; may be nil
}

func (e *AnalysisError) Error() string { return "cannot analyse statement: " + e.Reason }
func (e *AnalysisError) Unwrap() error { return e.Err }

func refuse(format string, args ...any) error {
	return &AnalysisError{Reason: fmt.Sprintf(format, args...)}
}

// maxDepth bounds query nesting (subqueries, views, CTEs) so that hostile
// input cannot exhaust the stack.
const maxDepth = 100

// Analyze parses sql and analyses each of its statements. searchPath
// resolves unqualified relation names through cat. Any statement that
// cannot be analysed makes the whole call fail with an *AnalysisError (or
// a catalog error).
func Analyze(ctx context.Context, sql string, searchPath []string, cat Catalog) ([]*Analysis, error) {
	tree, err := pg_query.Parse(sql)
	if err != nil {
		// The parser's message may quote the statement: do not pass it on.
		return nil, &AnalysisError{Reason: "statement does not parse"}
	}
	out := make([]*Analysis, 0, len(tree.Stmts))
	for _, raw := range tree.Stmts {
		a := &analyzer{ctx: ctx, searchPath: searchPath, cat: cat}
		an, err := a.statement(raw.GetStmt())
		if err != nil {
			return nil, err
		}
		a.finish(an)
		out = append(out, an)
	}
	return out, nil
}

// lineage is what an expression's value derives from.
type lineage struct {
	src    []QualifiedColumn // sorted, deduplicated
	direct bool
	whole  bool
}

func qcLess(a, b QualifiedColumn) bool {
	if a.Schema != b.Schema {
		return a.Schema < b.Schema
	}
	if a.Table != b.Table {
		return a.Table < b.Table
	}
	return a.Column < b.Column
}

func mergeSrc(a, b []QualifiedColumn) []QualifiedColumn {
	if len(b) == 0 {
		return a
	}
	if len(a) == 0 {
		return b
	}
	out := make([]QualifiedColumn, 0, len(a)+len(b))
	i, j := 0, 0
	for i < len(a) && j < len(b) {
		switch {
		case a[i] == b[j]:
			out = append(out, a[i])
			i++
			j++
		case qcLess(a[i], b[j]):
			out = append(out, a[i])
			i++
		default:
			out = append(out, b[j])
			j++
		}
	}
	out = append(out, a[i:]...)
	return append(out, b[j:]...)
}

// derive combines values into a computed one.
func derive(ls ...lineage) lineage {
	var out lineage
	for _, l := range ls {
		out.src = mergeSrc(out.src, l.src)
		out.whole = out.whole || l.whole
	}
	return out
}

// alternatives combines values of which the result is one unchanged (set
// operation branches, USING columns): direct if every one is.
func alternatives(a, b lineage) lineage {
	return lineage{src: mergeSrc(a.src, b.src), direct: a.direct && b.direct, whole: a.whole || b.whole}
}

func (l lineage) equal(o lineage) bool {
	if l.direct != o.direct || l.whole != o.whole || len(l.src) != len(o.src) {
		return false
	}
	for i := range l.src {
		if l.src[i] != o.src[i] {
			return false
		}
	}
	return true
}

type column struct {
	name string
	lin  lineage
}

// nsItem is a FROM-clause entry as name resolution sees it.
type nsItem struct {
	refname     string // alias or relation name; "" for an unaliased subquery
	schema      string // set for an unaliased catalog relation
	relVisible  bool   // can be named: t.col, t.*, t
	colsVisible bool   // its columns resolve unqualified names and *
	cols        []column
	sysCols     bool // a table: ctid, xmin, ... resolve (to no data)
}

func (it *nsItem) find(name string) (lineage, int) {
	var l lineage
	n := 0
	for _, c := range it.cols {
		if c.name == name {
			l = c.lin
			n++
		}
	}
	if n == 0 && it.sysCols && isSystemColumn(name) {
		return lineage{}, 1
	}
	return l, n
}

func (it *nsItem) wholeRow() lineage {
	l := lineage{whole: true}
	for _, c := range it.cols {
		l.src = mergeSrc(l.src, c.lin.src)
	}
	return l
}

func isSystemColumn(name string) bool {
	switch name {
	case "ctid", "xmin", "xmax", "cmin", "cmax", "tableoid":
		return true
	}
	return false
}

type cte struct {
	name    string
	cols    []column
	pending bool // being defined: a reference now is one PostgreSQL refuses or we cannot follow
}

// scope is one query level.
type scope struct {
	parent *scope
	items  []*nsItem
	ctes   []*cte
}

// sibling is a scope at the same query level (same CTEs, same parent) that
// sees items instead: for LATERAL, JOIN ON and non-lateral subqueries.
func (s *scope) sibling(items []*nsItem) *scope {
	return &scope{parent: s.parent, items: items, ctes: s.ctes}
}

func (s *scope) findCTE(name string) *cte {
	for ; s != nil; s = s.parent {
		for i := len(s.ctes) - 1; i >= 0; i-- {
			if s.ctes[i].name == name {
				return s.ctes[i]
			}
		}
	}
	return nil
}

// findRel finds the item a qualified reference names, innermost level
// first.
func (s *scope) findRel(schema, name string) (*nsItem, error) {
	for ; s != nil; s = s.parent {
		var found *nsItem
		for _, it := range s.items {
			if !it.relVisible || it.refname != name || (schema != "" && it.schema != schema) {
				continue
			}
			if found != nil {
				return nil, refuse("table reference %q is ambiguous", name)
			}
			found = it
		}
		if found != nil {
			return found, nil
		}
	}
	return nil, nil
}

// findCol resolves an unqualified column name, innermost level first.
func (s *scope) findCol(name string) (lineage, bool, error) {
	for ; s != nil; s = s.parent {
		l, n, err := s.findColHere(name)
		if err != nil || n > 0 {
			return l, n > 0, err
		}
	}
	return lineage{}, false, nil
}

func (s *scope) findColHere(name string) (lineage, int, error) {
	var l lineage
	total := 0
	for _, it := range s.items {
		if !it.colsVisible {
			continue
		}
		il, n := it.find(name)
		if n > 0 {
			l = il
			total += n
		}
	}
	if total > 1 {
		return lineage{}, 0, refuse("column reference %q is ambiguous", name)
	}
	return l, total, nil
}

type analyzer struct {
	ctx        context.Context
	searchPath []string
	cat        Catalog

	relCache  map[string]*Relation
	read      map[string]RelationRef
	uses      map[ColumnUse]struct{}
	funcs     map[string]struct{}
	viewCols  map[string][]column
	viewStack []string
	view      string // the view whose definition is being analysed
	// top is the statement's own query level (or the set-operation branch
	// of it being analysed): its projection is reported as Columns. The
	// computed projections of every other level (subqueries, CTEs, views)
	// are reported as Uses in "SELECT", since they may never reach the
	// result yet are evaluated.
	top   *pg_query.SelectStmt
	depth int
}

func (a *analyzer) finish(an *Analysis) {
	for _, r := range a.read {
		an.Relations = append(an.Relations, r)
	}
	sort.Slice(an.Relations, func(i, j int) bool {
		x, y := an.Relations[i], an.Relations[j]
		if x.Schema != y.Schema {
			return x.Schema < y.Schema
		}
		return x.Name < y.Name
	})
	for u := range a.uses {
		// A column also used in a way that is not an equality in the same
		// clause is reported only as that: the weaker claim wins.
		if u.Equality {
			weaker := u
			weaker.Equality = false
			if _, ok := a.uses[weaker]; ok {
				continue
			}
		}
		an.Uses = append(an.Uses, u)
	}
	sort.Slice(an.Uses, func(i, j int) bool {
		x, y := an.Uses[i], an.Uses[j]
		if x.Column != y.Column {
			return qcLess(x.Column, y.Column)
		}
		if x.Clause != y.Clause {
			return x.Clause < y.Clause
		}
		if x.View != y.View {
			return x.View < y.View
		}
		return !x.Equality && y.Equality
	})
	for f := range a.funcs {
		an.Functions = append(an.Functions, f)
	}
	sort.Strings(an.Functions)
}

func (a *analyzer) use(l lineage, clause string, eq bool) {
	if clause == "" || len(l.src) == 0 {
		return
	}
	if a.uses == nil {
		a.uses = make(map[ColumnUse]struct{})
	}
	for _, c := range l.src {
		a.uses[ColumnUse{Column: c, Clause: clause, Equality: eq && l.direct, View: a.view}] = struct{}{}
	}
}

func outputColumns(cols []column) []OutputColumn {
	out := make([]OutputColumn, len(cols))
	for i, c := range cols {
		out[i] = OutputColumn{Name: c.name, Sources: c.lin.src, Direct: c.lin.direct, WholeRow: c.lin.whole}
	}
	return out
}

// statement dispatches on the statement type.
func (a *analyzer) statement(n *pg_query.Node) (*Analysis, error) {
	an := &Analysis{Kind: KindOther, Tag: nodeTag(n)}
	switch {
	case n.GetSelectStmt() != nil:
		cols, err := a.topQuery(n)
		if err != nil {
			return nil, err
		}
		an.Kind, an.Tag, an.Columns = KindSelect, "SELECT", outputColumns(cols)
	case n.GetExplainStmt() != nil:
		ex := n.GetExplainStmt()
		an.Tag = "EXPLAIN"
		if explainAnalyze(ex) {
			// EXPLAIN ANALYZE runs the query and reports row counts
			// removed by filters: the caller decides.
			an.Tag = "EXPLAIN ANALYZE"
			return an, nil
		}
		an.Kind = KindUtility
		inner := ex.GetQuery()
		switch {
		case inner.GetSelectStmt() != nil:
			if _, err := a.topQuery(inner); err != nil {
				return nil, err
			}
		case inner.GetDeclareCursorStmt() != nil:
			if _, err := a.topQuery(inner.GetDeclareCursorStmt().GetQuery()); err != nil {
				return nil, err
			}
		}
	case n.GetVariableSetStmt() != nil:
		vs := n.GetVariableSetStmt()
		an.Kind, an.Tag, an.Setting = KindUtility, "SET", vs.GetName()
		switch vs.GetKind() {
		case pg_query.VariableSetKind_VAR_RESET:
			an.Tag = "RESET"
		case pg_query.VariableSetKind_VAR_RESET_ALL:
			an.Tag, an.Setting = "RESET", "all"
		}
	case n.GetVariableShowStmt() != nil:
		an.Kind, an.Tag, an.Setting = KindUtility, "SHOW", n.GetVariableShowStmt().GetName()
	case n.GetTransactionStmt() != nil:
		an.Kind, an.Tag = KindUtility, transactionTag(n.GetTransactionStmt().GetKind())
	case n.GetDiscardStmt() != nil:
		an.Kind, an.Tag = KindUtility, "DISCARD"
	case n.GetDeallocateStmt() != nil:
		an.Kind, an.Tag = KindUtility, "DEALLOCATE"
	case n.GetClosePortalStmt() != nil:
		an.Kind, an.Tag, an.Cursor = KindUtility, "CLOSE CURSOR", n.GetClosePortalStmt().GetPortalname()
	case n.GetFetchStmt() != nil:
		f := n.GetFetchStmt()
		an.Kind, an.Tag, an.Cursor = KindUtility, "FETCH", f.GetPortalname()
		if f.GetIsmove() {
			an.Tag = "MOVE"
		}
	case n.GetDeclareCursorStmt() != nil:
		d := n.GetDeclareCursorStmt()
		if d.GetQuery().GetSelectStmt() == nil {
			return nil, refuse("DECLARE CURSOR of anything but a query is not supported")
		}
		cols, err := a.topQuery(d.GetQuery())
		if err != nil {
			return nil, err
		}
		an.Kind, an.Tag, an.Cursor, an.Columns = KindCursor, "DECLARE CURSOR", d.GetPortalname(), outputColumns(cols)
	case n.GetCopyStmt() != nil:
		c := n.GetCopyStmt()
		an.Tag = "COPY"
		if c.GetIsFrom() {
			return an, nil
		}
		cols, err := a.copyColumns(c)
		if err != nil {
			return nil, err
		}
		an.Columns = outputColumns(cols)
	case n.GetPrepareStmt() != nil:
		an.Tag = "PREPARE"
		if q := n.GetPrepareStmt().GetQuery(); q.GetSelectStmt() != nil {
			cols, err := a.topQuery(q)
			if err != nil {
				return nil, err
			}
			an.Columns = outputColumns(cols)
		}
	}
	return an, nil
}

func (a *analyzer) copyColumns(c *pg_query.CopyStmt) ([]column, error) {
	if q := c.GetQuery(); q != nil {
		if q.GetSelectStmt() == nil {
			return nil, refuse("COPY of a data-modifying statement is not supported")
		}
		return a.topQuery(q)
	}
	rv := c.GetRelation()
	if rv == nil {
		return nil, refuse("COPY without a relation or query")
	}
	_, cols, err := a.relation(rv.GetSchemaname(), rv.GetRelname())
	if err != nil {
		return nil, err
	}
	if len(c.GetAttlist()) == 0 {
		return cols, nil
	}
	var out []column
	for _, at := range c.GetAttlist() {
		name := at.GetString_().GetSval()
		found := false
		for _, col := range cols {
			if col.name == name {
				out = append(out, col)
				found = true
				break
			}
		}
		if !found {
			return nil, refuse("column %q does not exist", name)
		}
	}
	return out, nil
}

func explainAnalyze(ex *pg_query.ExplainStmt) bool {
	for _, o := range ex.GetOptions() {
		d := o.GetDefElem()
		if d == nil || d.GetDefname() != "analyze" {
			continue
		}
		arg := d.GetArg()
		if arg == nil {
			return true
		}
		switch {
		case arg.GetBoolean() != nil:
			return arg.GetBoolean().GetBoolval()
		case arg.GetInteger() != nil:
			return arg.GetInteger().GetIval() != 0
		case arg.GetString_() != nil:
			switch strings.ToLower(arg.GetString_().GetSval()) {
			case "false", "off", "no", "0":
				return false
			}
			return true
		}
		return true // unknown spelling: assume it runs
	}
	return false
}

func transactionTag(k pg_query.TransactionStmtKind) string {
	switch k {
	case pg_query.TransactionStmtKind_TRANS_STMT_BEGIN:
		return "BEGIN"
	case pg_query.TransactionStmtKind_TRANS_STMT_START:
		return "START TRANSACTION"
	case pg_query.TransactionStmtKind_TRANS_STMT_COMMIT:
		return "COMMIT"
	case pg_query.TransactionStmtKind_TRANS_STMT_ROLLBACK, pg_query.TransactionStmtKind_TRANS_STMT_ROLLBACK_TO:
		return "ROLLBACK"
	case pg_query.TransactionStmtKind_TRANS_STMT_SAVEPOINT:
		return "SAVEPOINT"
	case pg_query.TransactionStmtKind_TRANS_STMT_RELEASE:
		return "RELEASE"
	case pg_query.TransactionStmtKind_TRANS_STMT_PREPARE:
		return "PREPARE TRANSACTION"
	case pg_query.TransactionStmtKind_TRANS_STMT_COMMIT_PREPARED:
		return "COMMIT PREPARED"
	case pg_query.TransactionStmtKind_TRANS_STMT_ROLLBACK_PREPARED:
		return "ROLLBACK PREPARED"
	}
	return "TRANSACTION"
}

// nodeTag names a statement node in upper words: create_table_as_stmt →
// "CREATE TABLE AS".
func nodeTag(n *pg_query.Node) string {
	if n == nil {
		return "EMPTY"
	}
	m := n.ProtoReflect()
	fd := m.WhichOneof(m.Descriptor().Oneofs().ByName("node"))
	if fd == nil {
		return "EMPTY"
	}
	switch name := string(fd.Name()); name {
	case "create_stmt":
		return "CREATE TABLE"
	case "view_stmt":
		return "CREATE VIEW"
	case "index_stmt":
		return "CREATE INDEX"
	default:
		name = strings.TrimSuffix(name, "_stmt")
		return strings.ToUpper(strings.ReplaceAll(name, "_", " "))
	}
}

// relation resolves a catalog relation (not a CTE) and returns its
// columns, looking through views.
func (a *analyzer) relation(schema, name string) (*Relation, []column, error) {
	key := schema + "\x00" + name
	rel := a.relCache[key]
	if rel == nil {
		r, err := a.cat.Relation(a.ctx, schema, name, a.searchPath)
		if err != nil {
			if errors.Is(err, ErrUnknownRelation) {
				q := name
				if schema != "" {
					q = schema + "." + name
				}
				return nil, nil, &AnalysisError{Reason: fmt.Sprintf("relation %q does not exist", q), Err: err}
			}
			return nil, nil, fmt.Errorf("catalog lookup: %w", err)
		}
		if r == nil {
			return nil, nil, &AnalysisError{Reason: fmt.Sprintf("relation %q does not exist", name), Err: ErrUnknownRelation}
		}
		if a.relCache == nil {
			a.relCache = make(map[string]*Relation)
		}
		a.relCache[key] = r
		rel = r
	}
	qname := rel.Schema + "." + rel.Name
	if a.read == nil {
		a.read = make(map[string]RelationRef)
	}
	a.read[qname] = RelationRef{Schema: rel.Schema, Name: rel.Name, OID: rel.OID}

	if rel.Kind != 'v' && rel.Kind != 'm' {
		cols := make([]column, len(rel.Columns))
		for i, c := range rel.Columns {
			cols[i] = column{name: c.Name, lin: lineage{
				src:    []QualifiedColumn{{Schema: rel.Schema, Table: rel.Name, Column: c.Name}},
				direct: true,
			}}
		}
		return rel, cols, nil
	}
	if cols, ok := a.viewCols[qname]; ok {
		return rel, cols, nil
	}
	if rel.ViewDef == "" {
		return nil, nil, refuse("the definition of view %q is not available", qname)
	}
	for _, v := range a.viewStack {
		if v == qname {
			return nil, nil, refuse("view %q is defined in terms of itself", qname)
		}
	}
	tree, err := pg_query.Parse(rel.ViewDef)
	if err != nil || len(tree.Stmts) != 1 || tree.Stmts[0].GetStmt().GetSelectStmt() == nil {
		return nil, nil, refuse("the definition of view %q cannot be analysed", qname)
	}
	a.viewStack = append(a.viewStack, qname)
	saved := a.view
	a.view = qname
	vcols, err := a.query(tree.Stmts[0].GetStmt(), nil)
	a.view = saved
	a.viewStack = a.viewStack[:len(a.viewStack)-1]
	if err != nil {
		return nil, nil, err
	}
	if len(vcols) != len(rel.Columns) {
		return nil, nil, refuse("the definition of view %q does not match its columns", qname)
	}
	cols := make([]column, len(vcols))
	for i, c := range vcols {
		cols[i] = column{name: rel.Columns[i].Name, lin: c.lin}
	}
	if a.viewCols == nil {
		a.viewCols = make(map[string][]column)
	}
	a.viewCols[qname] = cols
	return rel, cols, nil
}

// topQuery analyses the query a statement runs (or declares, copies,
// prepares, explains): its projection is the result, described by Columns.
func (a *analyzer) topQuery(n *pg_query.Node) ([]column, error) {
	a.top = n.GetSelectStmt()
	return a.query(n, nil)
}

// query analyses a SelectStmt node as a query level below outer.
func (a *analyzer) query(n *pg_query.Node, outer *scope) ([]column, error) {
	s := n.GetSelectStmt()
	if s == nil {
		return nil, refuse("%s is not supported as a query", nodeTag(n))
	}
	return a.selectStmt(s, outer)
}

func (a *analyzer) selectStmt(s *pg_query.SelectStmt, outer *scope) ([]column, error) {
	a.depth++
	defer func() { a.depth-- }()
	if a.depth > maxDepth {
		return nil, refuse("the statement nests too deeply")
	}
	if s.GetIntoClause() != nil {
		return nil, refuse("SELECT INTO is not supported")
	}
	lvl := &scope{parent: outer}
	if w := s.GetWithClause(); w != nil {
		if err := a.with(w, lvl); err != nil {
			return nil, err
		}
	}

	// Set operations: the branches are queries of their own; ORDER BY
	// and LIMIT apply to the result.
	if op := s.GetOp(); op != pg_query.SetOperation_SETOP_NONE && op != pg_query.SetOperation_SET_OPERATION_UNDEFINED {
		isTop := s == a.top
		if isTop {
			a.top = s.GetLarg()
		}
		l, err := a.selectStmt(s.GetLarg(), lvl)
		if err != nil {
			return nil, err
		}
		if isTop {
			a.top = s.GetRarg()
		}
		r, err := a.selectStmt(s.GetRarg(), lvl)
		if err != nil {
			return nil, err
		}
		if len(l) != len(r) {
			return nil, refuse("each %s query must have the same number of columns", setOpName(op))
		}
		out := make([]column, len(l))
		for i := range l {
			out[i] = column{name: l[i].name, lin: alternatives(l[i].lin, r[i].lin)}
		}
		return out, a.resultClauses(s, lvl, out)
	}

	if len(s.GetValuesLists()) > 0 {
		var out []column
		for ri, row := range s.GetValuesLists() {
			items := row.GetList().GetItems()
			if ri == 0 {
				out = make([]column, len(items))
				for i := range out {
					out[i].name = fmt.Sprintf("column%d", i+1)
				}
			} else if len(items) != len(out) {
				return nil, refuse("VALUES lists must all be the same length")
			}
			for i, it := range items {
				l, err := a.expr(it, lvl, "")
				if err != nil {
					return nil, err
				}
				a.projected(s, it, l)
				if ri == 0 {
					out[i].lin = l
				} else {
					out[i].lin = alternatives(out[i].lin, l)
				}
			}
		}
		return out, a.resultClauses(s, lvl, out)
	}

	for _, f := range s.GetFromClause() {
		_, ns, err := a.fromItem(f, lvl)
		if err != nil {
			return nil, err
		}
		lvl.items = append(lvl.items, ns...)
	}
	if w := s.GetWhereClause(); w != nil {
		if _, err := a.expr(w, lvl, "WHERE"); err != nil {
			return nil, err
		}
	}

	var out []column
	for _, t := range s.GetTargetList() {
		rt := t.GetResTarget()
		if rt == nil {
			return nil, refuse("unsupported target list entry")
		}
		expanded, cols, err := a.expandStar(rt.GetVal(), lvl)
		if err != nil {
			return nil, err
		}
		if expanded {
			out = append(out, cols...)
			continue
		}
		l, err := a.expr(rt.GetVal(), lvl, "")
		if err != nil {
			return nil, err
		}
		a.projected(s, rt.GetVal(), l)
		name := rt.GetName()
		if name == "" {
			name, _ = figureName(rt.GetVal())
		}
		out = append(out, column{name: name, lin: l})
	}

	for _, g := range s.GetGroupClause() {
		if err := a.groupItem(g, lvl, out); err != nil {
			return nil, err
		}
	}
	if h := s.GetHavingClause(); h != nil {
		if _, err := a.expr(h, lvl, "HAVING"); err != nil {
			return nil, err
		}
	}
	for _, w := range s.GetWindowClause() {
		if err := a.window(w.GetWindowDef(), lvl); err != nil {
			return nil, err
		}
	}
	for _, d := range s.GetDistinctClause() {
		if d == nil || d.GetNode() == nil {
			continue // plain DISTINCT
		}
		if err := a.sortItem(d, lvl, out, "DISTINCT ON"); err != nil {
			return nil, err
		}
	}
	return out, a.resultClauses(s, lvl, out)
}

// projected records a value computed in the projection of a query level
// other than the statement's own: a plain column reference passes data
// through, anything else evaluates it (and may fail on it).
func (a *analyzer) projected(s *pg_query.SelectStmt, n *pg_query.Node, l lineage) {
	if s == a.top || l.direct || n.GetColumnRef() != nil {
		return
	}
	a.use(l, "SELECT", false)
}

func setOpName(op pg_query.SetOperation) string {
	switch op {
	case pg_query.SetOperation_SETOP_INTERSECT:
		return "INTERSECT"
	case pg_query.SetOperation_SETOP_EXCEPT:
		return "EXCEPT"
	}
	return "UNION"
}

// resultClauses walks ORDER BY, LIMIT and OFFSET. For set operations and
// VALUES they see only the result columns.
func (a *analyzer) resultClauses(s *pg_query.SelectStmt, lvl *scope, out []column) error {
	sortScope := lvl
	if len(s.GetFromClause()) == 0 && (len(s.GetValuesLists()) > 0 || s.GetLarg() != nil) {
		sortScope = lvl.sibling([]*nsItem{{colsVisible: true, cols: out}})
	}
	for _, o := range s.GetSortClause() {
		if err := a.sortItem(o.GetSortBy().GetNode(), sortScope, out, "ORDER BY"); err != nil {
			return err
		}
	}
	if n := s.GetLimitCount(); n != nil {
		if _, err := a.expr(n, lvl, "LIMIT"); err != nil {
			return err
		}
	}
	if n := s.GetLimitOffset(); n != nil {
		if _, err := a.expr(n, lvl, "OFFSET"); err != nil {
			return err
		}
	}
	return nil
}

// position returns the 1-based target position an integer constant names.
func position(n *pg_query.Node) (int, bool) {
	c := n.GetAConst()
	if c == nil || c.GetIval() == nil {
		return 0, false
	}
	return int(c.GetIval().GetIval()), true
}

func bareName(n *pg_query.Node) (string, bool) {
	cr := n.GetColumnRef()
	if cr == nil || len(cr.GetFields()) != 1 || cr.GetFields()[0].GetString_() == nil {
		return "", false
	}
	return cr.GetFields()[0].GetString_().GetSval(), true
}

// sortItem is an ORDER BY or DISTINCT ON entry: a position, a result
// column name, or else an expression over the FROM items.
func (a *analyzer) sortItem(n *pg_query.Node, lvl *scope, out []column, clause string) error {
	if n == nil {
		return nil
	}
	if p, ok := position(n); ok {
		if p < 1 || p > len(out) {
			return refuse("%s position %d is not in select list", clause, p)
		}
		a.use(out[p-1].lin, clause, false)
		return nil
	}
	if name, ok := bareName(n); ok {
		found := false
		for _, c := range out {
			if c.name == name {
				a.use(c.lin, clause, false)
				found = true
			}
		}
		if found {
			return nil
		}
	}
	_, err := a.expr(n, lvl, clause)
	return err
}

// groupItem is a GROUP BY entry: FROM columns take precedence over result
// names, as in PostgreSQL.
func (a *analyzer) groupItem(n *pg_query.Node, lvl *scope, out []column) error {
	const clause = "GROUP BY"
	if gs := n.GetGroupingSet(); gs != nil {
		for _, c := range gs.GetContent() {
			if err := a.groupItem(c, lvl, out); err != nil {
				return err
			}
		}
		return nil
	}
	if l := n.GetList(); l != nil {
		for _, c := range l.GetItems() {
			if err := a.groupItem(c, lvl, out); err != nil {
				return err
			}
		}
		return nil
	}
	if p, ok := position(n); ok {
		if p < 1 || p > len(out) {
			return refuse("GROUP BY position %d is not in select list", p)
		}
		a.use(out[p-1].lin, clause, false)
		return nil
	}
	if name, ok := bareName(n); ok {
		_, found, err := lvl.findColHere(name)
		if err != nil {
			return err
		}
		if found == 0 {
			for _, c := range out {
				if c.name == name {
					a.use(c.lin, clause, false)
					return nil
				}
			}
		}
	}
	_, err := a.expr(n, lvl, clause)
	return err
}

func (a *analyzer) window(w *pg_query.WindowDef, s *scope) error {
	if w == nil {
		return nil
	}
	for _, p := range w.GetPartitionClause() {
		if _, err := a.expr(p, s, "WINDOW"); err != nil {
			return err
		}
	}
	for _, o := range w.GetOrderClause() {
		if _, err := a.expr(o.GetSortBy().GetNode(), s, "WINDOW"); err != nil {
			return err
		}
	}
	for _, e := range []*pg_query.Node{w.GetStartOffset(), w.GetEndOffset()} {
		if e != nil {
			if _, err := a.expr(e, s, "WINDOW"); err != nil {
				return err
			}
		}
	}
	return nil
}

// with defines the CTEs of a WITH clause in lvl.
func (a *analyzer) with(w *pg_query.WithClause, lvl *scope) error {
	var defs []*pg_query.CommonTableExpr
	for _, c := range w.GetCtes() {
		ce := c.GetCommonTableExpr()
		if ce == nil {
			return refuse("unsupported WITH entry")
		}
		if ce.GetCtequery().GetSelectStmt() == nil {
			return refuse("data-modifying statements in WITH are not supported")
		}
		defs = append(defs, ce)
	}
	if !w.GetRecursive() {
		for _, ce := range defs {
			cols, err := a.query(ce.GetCtequery(), lvl)
			if err != nil {
				return err
			}
			if err := applyColnames(cols, ce.GetAliascolnames(), ce.GetCtename()); err != nil {
				return err
			}
			c := &cte{name: ce.GetCtename(), cols: cols}
			if err := searchCycle(c, ce); err != nil {
				return err
			}
			lvl.ctes = append(lvl.ctes, c)
		}
		return nil
	}
	// WITH RECURSIVE: every name is visible everywhere. References to a
	// CTE not yet defined are refused; a CTE's reference to itself is
	// followed to a fixed point.
	ctes := make([]*cte, len(defs))
	for i, ce := range defs {
		ctes[i] = &cte{name: ce.GetCtename(), pending: true}
	}
	lvl.ctes = append(lvl.ctes, ctes...)
	for i, ce := range defs {
		c := ctes[i]
		sel := ce.GetCtequery().GetSelectStmt()
		if sel.GetOp() != pg_query.SetOperation_SETOP_UNION || sel.GetWithClause() != nil ||
			len(sel.GetSortClause()) > 0 || sel.GetLimitCount() != nil || sel.GetLimitOffset() != nil {
			cols, err := a.query(ce.GetCtequery(), lvl)
			if err != nil {
				return err
			}
			if err := applyColnames(cols, ce.GetAliascolnames(), c.name); err != nil {
				return err
			}
			c.cols, c.pending = cols, false
			if err := searchCycle(c, ce); err != nil {
				return err
			}
			continue
		}
		cols, err := a.selectStmt(sel.GetLarg(), lvl)
		if err != nil {
			return err
		}
		if err := applyColnames(cols, ce.GetAliascolnames(), c.name); err != nil {
			return err
		}
		c.cols, c.pending = cols, false
		for iter := 0; ; iter++ {
			if iter > 4*len(cols)+64 {
				return refuse("recursive query %q does not settle", c.name)
			}
			r, err := a.selectStmt(sel.GetRarg(), lvl)
			if err != nil {
				return err
			}
			if len(r) != len(c.cols) {
				return refuse("each UNION query must have the same number of columns")
			}
			next := make([]column, len(r))
			changed := false
			for j := range r {
				next[j] = column{name: c.cols[j].name, lin: alternatives(c.cols[j].lin, r[j].lin)}
				if !next[j].lin.equal(c.cols[j].lin) {
					changed = true
				}
			}
			c.cols = next
			if !changed {
				break
			}
		}
		if err := searchCycle(c, ce); err != nil {
			return err
		}
	}
	return nil
}

// searchCycle adds the columns of SEARCH and CYCLE clauses: the sequence,
// cycle mark and path columns are all computed from the columns named.
func searchCycle(c *cte, ce *pg_query.CommonTableExpr) error {
	of := func(names []*pg_query.Node) (lineage, error) {
		var l lineage
		for _, n := range names {
			name := n.GetString_().GetSval()
			found := false
			for _, col := range c.cols {
				if col.name == name {
					l = derive(l, col.lin)
					found = true
				}
			}
			if !found {
				return lineage{}, refuse("column %q in SEARCH or CYCLE clause of %q does not exist", name, c.name)
			}
		}
		return l, nil
	}
	if sc := ce.GetSearchClause(); sc != nil {
		l, err := of(sc.GetSearchColList())
		if err != nil {
			return err
		}
		c.cols = append(c.cols, column{name: sc.GetSearchSeqColumn(), lin: l})
	}
	if cc := ce.GetCycleClause(); cc != nil {
		l, err := of(cc.GetCycleColList())
		if err != nil {
			return err
		}
		c.cols = append(c.cols, column{name: cc.GetCycleMarkColumn(), lin: l}, column{name: cc.GetCyclePathColumn(), lin: l})
	}
	return nil
}

func applyColnames(cols []column, names []*pg_query.Node, what string) error {
	if len(names) > len(cols) {
		return refuse("%q has %d columns available but %d columns specified", what, len(cols), len(names))
	}
	for i, n := range names {
		cols[i].name = n.GetString_().GetSval()
	}
	return nil
}

func copyCols(cols []column) []column {
	return append([]column(nil), cols...)
}

// fromItem analyses one FROM entry. lvl.items holds the entries to its left
// (visible to LATERAL). It returns the entry's columns and the namespace
// items it contributes.
func (a *analyzer) fromItem(n *pg_query.Node, lvl *scope) ([]column, []*nsItem, error) {
	switch {
	case n.GetRangeVar() != nil:
		rv := n.GetRangeVar()
		var cols []column
		it := &nsItem{refname: rv.GetRelname(), relVisible: true, colsVisible: true}
		if c := lvl.findCTE(rv.GetRelname()); rv.GetSchemaname() == "" && c != nil {
			if c.pending {
				return nil, nil, refuse("recursive reference to query %q is not supported here", c.name)
			}
			cols = copyCols(c.cols)
		} else {
			rel, rcols, err := a.relation(rv.GetSchemaname(), rv.GetRelname())
			if err != nil {
				return nil, nil, err
			}
			cols = copyCols(rcols)
			it.schema = rel.Schema
			it.refname = rel.Name
			it.sysCols = rel.Kind != 'v'
		}
		if al := rv.GetAlias(); al != nil {
			it.refname, it.schema = al.GetAliasname(), ""
			if err := applyColnames(cols, al.GetColnames(), al.GetAliasname()); err != nil {
				return nil, nil, err
			}
		}
		it.cols = cols
		return cols, []*nsItem{it}, nil

	case n.GetRangeSubselect() != nil:
		rs := n.GetRangeSubselect()
		sub := lvl.sibling(nil)
		if rs.GetLateral() {
			sub = lvl
		}
		cols, err := a.query(rs.GetSubquery(), sub)
		if err != nil {
			return nil, nil, err
		}
		it := &nsItem{colsVisible: true}
		if al := rs.GetAlias(); al != nil {
			it.refname, it.relVisible = al.GetAliasname(), true
			if err := applyColnames(cols, al.GetColnames(), al.GetAliasname()); err != nil {
				return nil, nil, err
			}
		}
		it.cols = cols
		return cols, []*nsItem{it}, nil

	case n.GetJoinExpr() != nil:
		return a.join(n.GetJoinExpr(), lvl)

	case n.GetRangeFunction() != nil:
		return a.rangeFunction(n.GetRangeFunction(), lvl)

	case n.GetRangeTableSample() != nil:
		ts := n.GetRangeTableSample()
		if ts.GetRelation().GetRangeVar() == nil {
			return nil, nil, refuse("TABLESAMPLE of anything but a table is not supported")
		}
		for _, e := range append(append([]*pg_query.Node(nil), ts.GetArgs()...), ts.GetRepeatable()) {
			if e != nil {
				if _, err := a.expr(e, lvl.sibling(nil), "TABLESAMPLE"); err != nil {
					return nil, nil, err
				}
			}
		}
		return a.fromItem(ts.GetRelation(), lvl)
	}
	return nil, nil, refuse("%s in FROM is not supported", nodeTag(n))
}

func (a *analyzer) join(j *pg_query.JoinExpr, lvl *scope) ([]column, []*nsItem, error) {
	lcols, lns, err := a.fromItem(j.GetLarg(), lvl)
	if err != nil {
		return nil, nil, err
	}
	rlvl := lvl.sibling(append(append([]*nsItem(nil), lvl.items...), lns...))
	rcols, rns, err := a.fromItem(j.GetRarg(), rlvl)
	if err != nil {
		return nil, nil, err
	}

	var using []string
	if j.GetIsNatural() {
		for _, lc := range lcols {
			for _, rc := range rcols {
				if lc.name == rc.name {
					using = append(using, lc.name)
					break
				}
			}
		}
	} else {
		for _, u := range j.GetUsingClause() {
			using = append(using, u.GetString_().GetSval())
		}
	}
	full := j.GetJointype() == pg_query.JoinType_JOIN_FULL
	lused := make([]bool, len(lcols))
	rused := make([]bool, len(rcols))
	var merged []column
	for _, name := range using {
		li, ri := -1, -1
		for i, c := range lcols {
			if c.name == name {
				if li >= 0 {
					return nil, nil, refuse("common column name %q appears more than once in left table", name)
				}
				li = i
			}
		}
		for i, c := range rcols {
			if c.name == name {
				if ri >= 0 {
					return nil, nil, refuse("common column name %q appears more than once in right table", name)
				}
				ri = i
			}
		}
		if li < 0 || ri < 0 {
			return nil, nil, refuse("column %q specified in USING clause does not exist in both tables", name)
		}
		if lused[li] {
			return nil, nil, refuse("column name %q appears more than once in USING clause", name)
		}
		lused[li], rused[ri] = true, true
		l, r := lcols[li].lin, rcols[ri].lin
		eq := l.direct && r.direct && len(l.src) > 0 && len(r.src) > 0
		a.use(l, "JOIN", eq)
		a.use(r, "JOIN", eq)
		m := alternatives(l, r)
		if full {
			m.direct = false // COALESCE(l, r)
		}
		merged = append(merged, column{name: name, lin: m})
	}
	cols := append([]column(nil), merged...)
	for i, c := range lcols {
		if !lused[i] {
			cols = append(cols, c)
		}
	}
	for i, c := range rcols {
		if !rused[i] {
			cols = append(cols, c)
		}
	}

	if q := j.GetQuals(); q != nil {
		on := lvl.sibling(append(append([]*nsItem(nil), lns...), rns...))
		if _, err := a.expr(q, on, "JOIN"); err != nil {
			return nil, nil, err
		}
	}

	jit := &nsItem{colsVisible: true, cols: cols}
	var ns []*nsItem
	if al := j.GetAlias(); al != nil {
		jit.refname, jit.relVisible = al.GetAliasname(), true
		cols = copyCols(cols)
		if err := applyColnames(cols, al.GetColnames(), al.GetAliasname()); err != nil {
			return nil, nil, err
		}
		jit.cols = cols
		ns = []*nsItem{jit}
	} else {
		for _, it := range append(append([]*nsItem(nil), lns...), rns...) {
			h := *it
			h.colsVisible = false
			ns = append(ns, &h)
		}
		ns = append(ns, jit)
	}
	if ua := j.GetJoinUsingAlias(); ua != nil {
		ns = append(ns, &nsItem{refname: ua.GetAliasname(), relVisible: true, cols: merged})
	}
	return cols, ns, nil
}

// srfColumns are the set-returning functions understood in FROM, with the
// names of the columns they return ("" means named after the function or
// the alias). Their values derive from their arguments.
var srfColumns = map[string][]string{
	"generate_series":          {""},
	"generate_subscripts":      {""},
	"unnest":                   nil, // one column per argument
	"json_array_elements":      {"value"},
	"json_array_elements_text": {"value"},
	"jsonb_array_elements":     {"value"},
	"jsonb_array_elements_text": {
		"value"},
	"json_each":             {"key", "value"},
	"json_each_text":        {"key", "value"},
	"jsonb_each":            {"key", "value"},
	"jsonb_each_text":       {"key", "value"},
	"json_object_keys":      {""},
	"jsonb_object_keys":     {""},
	"regexp_split_to_table": {""},
	"regexp_matches":        {""},
	"string_to_table":       {""},
	// Record-returning: columns come from the column definition list.
	"json_to_record":     {},
	"json_to_recordset":  {},
	"jsonb_to_record":    {},
	"jsonb_to_recordset": {},
}

func funcName(fc *pg_query.FuncCall) (schema, name string) {
	parts := fc.GetFuncname()
	if len(parts) == 0 {
		return "", ""
	}
	name = parts[len(parts)-1].GetString_().GetSval()
	if len(parts) > 1 {
		schema = parts[len(parts)-2].GetString_().GetSval()
	}
	return schema, name
}

func (a *analyzer) noteFunc(fc *pg_query.FuncCall) {
	if a.view != "" {
		return
	}
	var parts []string
	for _, p := range fc.GetFuncname() {
		parts = append(parts, p.GetString_().GetSval())
	}
	if a.funcs == nil {
		a.funcs = make(map[string]struct{})
	}
	a.funcs[strings.Join(parts, ".")] = struct{}{}
}

func (a *analyzer) rangeFunction(rf *pg_query.RangeFunction, lvl *scope) ([]column, []*nsItem, error) {
	var cols []column
	namedByFunc := false // a single column named after its function takes the alias's name
	fns := rf.GetFunctions()
	for _, f := range fns {
		items := f.GetList().GetItems()
		if len(items) == 0 || items[0].GetFuncCall() == nil {
			return nil, nil, refuse("only function calls are supported in FROM")
		}
		fc := items[0].GetFuncCall()
		var coldefs []*pg_query.Node
		if len(items) > 1 && items[1].GetList() != nil {
			coldefs = items[1].GetList().GetItems()
		}
		if len(fns) == 1 && len(rf.GetColdeflist()) > 0 {
			coldefs = rf.GetColdeflist()
		}
		schema, name := funcName(fc)
		spec, known := srfColumns[name]
		if !known || (schema != "" && schema != "pg_catalog") || fc.GetOver() != nil || fc.GetAggStar() {
			return nil, nil, refuse("function %q in FROM is not supported", name)
		}
		a.noteFunc(fc)
		// Functions in FROM may refer to the items to their left.
		var args []lineage
		for _, arg := range fc.GetArgs() {
			l, err := a.expr(arg, lvl, "FROM")
			if err != nil {
				return nil, nil, err
			}
			args = append(args, l)
		}
		all := derive(args...)
		switch {
		case name == "unnest":
			if len(args) == 0 {
				return nil, nil, refuse("unnest needs an argument")
			}
			for _, l := range args {
				cols = append(cols, column{name: name, lin: derive(l)})
			}
			namedByFunc = len(args) == 1
		case spec != nil && len(spec) == 0: // record-returning
			if len(coldefs) == 0 {
				return nil, nil, refuse("function %q in FROM needs a column definition list", name)
			}
			for _, cd := range coldefs {
				cols = append(cols, column{name: cd.GetColumnDef().GetColname(), lin: all})
			}
		default:
			for _, cn := range spec {
				if cn == "" {
					cn, namedByFunc = name, true
				}
				cols = append(cols, column{name: cn, lin: all})
			}
		}
	}
	// A single scalar function's column takes the alias's name.
	if al := rf.GetAlias(); al != nil && len(fns) == 1 && len(cols) == 1 && namedByFunc {
		cols[0].name = al.GetAliasname()
	}
	if rf.GetOrdinality() {
		cols = append(cols, column{name: "ordinality"})
	}
	it := &nsItem{colsVisible: true, cols: cols}
	if len(fns) == 1 {
		it.refname, it.relVisible = funcNameOf(fns[0]), true
	}
	if al := rf.GetAlias(); al != nil {
		it.refname, it.relVisible = al.GetAliasname(), true
		if err := applyColnames(cols, al.GetColnames(), al.GetAliasname()); err != nil {
			return nil, nil, err
		}
	}
	return cols, []*nsItem{it}, nil
}

func funcNameOf(f *pg_query.Node) string {
	items := f.GetList().GetItems()
	if len(items) == 0 {
		return ""
	}
	_, name := funcName(items[0].GetFuncCall())
	return name
}

// expandStar expands `*`, `t.*` and `(t).*` in a target list.
func (a *analyzer) expandStar(n *pg_query.Node, lvl *scope) (bool, []column, error) {
	if cr := n.GetColumnRef(); cr != nil {
		f := cr.GetFields()
		if len(f) == 0 || f[len(f)-1].GetAStar() == nil {
			return false, nil, nil
		}
		if len(f) == 1 {
			var cols []column
			any := false
			for _, it := range lvl.items {
				if it.colsVisible {
					cols = append(cols, it.cols...)
					any = true
				}
			}
			if !any {
				return false, nil, refuse("SELECT * with no tables specified is not valid")
			}
			return true, cols, nil
		}
		it, err := a.refItem(f[:len(f)-1], lvl)
		if err != nil {
			return false, nil, err
		}
		return true, copyCols(it.cols), nil
	}
	if ind := n.GetAIndirection(); ind != nil {
		in := ind.GetIndirection()
		if len(in) == 0 || in[len(in)-1].GetAStar() == nil {
			return false, nil, nil
		}
		if len(in) == 1 {
			if cr := ind.GetArg().GetColumnRef(); cr != nil {
				if it, err := a.refItem(cr.GetFields(), lvl); err == nil {
					return true, copyCols(it.cols), nil
				}
			}
		}
		return false, nil, refuse("expanding a composite value with .* is not supported")
	}
	return false, nil, nil
}

// refItem finds the FROM item named by the qualifier fields (t, s.t or
// db.s.t).
func (a *analyzer) refItem(f []*pg_query.Node, s *scope) (*nsItem, error) {
	names := make([]string, len(f))
	for i, x := range f {
		if x.GetString_() == nil {
			return nil, refuse("unsupported column reference")
		}
		names[i] = x.GetString_().GetSval()
	}
	var schema, rel string
	switch len(names) {
	case 1:
		rel = names[0]
	case 2, 3:
		schema, rel = names[len(names)-2], names[len(names)-1]
	default:
		return nil, refuse("improper qualified name")
	}
	it, err := s.findRel(schema, rel)
	if err != nil {
		return nil, err
	}
	if it == nil {
		return nil, refuse("missing FROM-clause entry for table %q", rel)
	}
	return it, nil
}

// columnRef resolves a column reference as PostgreSQL does. item is set
// when the reference is a whole row of that FROM item.
func (a *analyzer) columnRef(cr *pg_query.ColumnRef, s *scope) (lineage, *nsItem, error) {
	f := cr.GetFields()
	if len(f) == 0 {
		return lineage{}, nil, refuse("empty column reference")
	}
	star := f[len(f)-1].GetAStar() != nil
	if star {
		if len(f) == 1 {
			// A bare * outside a target list: every visible column.
			l := lineage{whole: true}
			for _, it := range s.items {
				if it.colsVisible {
					l.src = mergeSrc(l.src, it.wholeRow().src)
				}
			}
			return l, nil, nil
		}
		it, err := a.refItem(f[:len(f)-1], s)
		if err != nil {
			return lineage{}, nil, err
		}
		return it.wholeRow(), it, nil
	}
	names := make([]string, len(f))
	for i, x := range f {
		if x.GetString_() == nil {
			return lineage{}, nil, refuse("unsupported column reference")
		}
		names[i] = x.GetString_().GetSval()
	}
	switch len(names) {
	case 1:
		l, ok, err := s.findCol(names[0])
		if err != nil || ok {
			return l, nil, err
		}
		it, err := s.findRel("", names[0])
		if err != nil {
			return lineage{}, nil, err
		}
		if it != nil {
			return it.wholeRow(), it, nil
		}
		return lineage{}, nil, refuse("column %q does not exist", names[0])
	case 2, 3, 4:
		col := names[len(names)-1]
		it, err := s.findRel(func() string {
			if len(names) >= 3 {
				return names[len(names)-3]
			}
			return ""
		}(), names[len(names)-2])
		if err != nil {
			return lineage{}, nil, err
		}
		if it != nil {
			l, n := it.find(col)
			if n > 1 {
				return lineage{}, nil, refuse("column reference %q is ambiguous", col)
			}
			if n == 0 {
				return lineage{}, nil, refuse("column %q does not exist", col)
			}
			return l, nil, nil
		}
		if len(names) == 2 {
			// a.b with no table a: field b of composite column a.
			l, ok, err := s.findCol(names[0])
			if err != nil {
				return lineage{}, nil, err
			}
			if ok {
				return derive(l), nil, nil
			}
		}
		return lineage{}, nil, refuse("missing FROM-clause entry for table %q", names[len(names)-2])
	}
	return lineage{}, nil, refuse("improper qualified name")
}

// eqOperand reports whether n is something an equality use may compare
// against: a column reference, a literal or a parameter (possibly cast).
func eqOperand(n *pg_query.Node) (isCol, ok bool) {
	if tc := n.GetTypeCast(); tc != nil {
		n = tc.GetArg()
		if n.GetColumnRef() != nil {
			return false, false
		}
	}
	switch {
	case n.GetColumnRef() != nil:
		f := n.GetColumnRef().GetFields()
		return true, len(f) > 0 && f[len(f)-1].GetAStar() == nil
	case n.GetAConst() != nil && !n.GetAConst().GetIsnull(), n.GetParamRef() != nil:
		return false, true
	}
	return false, false
}

func opName(names []*pg_query.Node) string {
	if len(names) == 0 {
		return ""
	}
	return names[len(names)-1].GetString_().GetSval()
}

// equality handles `x = y` where both sides are columns, literals or
// parameters; it reports false if the expression is not of that shape.
func (a *analyzer) equality(l, r *pg_query.Node, s *scope, clause string) (lineage, bool, error) {
	lc, lok := eqOperand(l)
	rc, rok := eqOperand(r)
	if !lok || !rok || (!lc && !rc) {
		return lineage{}, false, nil
	}
	var ll, rl lineage
	var err error
	if lc {
		if ll, _, err = a.columnRef(l.GetColumnRef(), s); err != nil {
			return lineage{}, true, err
		}
	}
	if rc {
		if rl, _, err = a.columnRef(r.GetColumnRef(), s); err != nil {
			return lineage{}, true, err
		}
	}
	base := func(x lineage) bool { return x.direct && len(x.src) > 0 }
	switch {
	case lc && rc:
		eq := base(ll) && base(rl)
		a.use(ll, clause, eq)
		a.use(rl, clause, eq)
	case lc:
		a.use(ll, clause, true)
	default:
		a.use(rl, clause, true)
	}
	return derive(ll, rl), true, nil
}

func (a *analyzer) exprs(ns []*pg_query.Node, s *scope, clause string) (lineage, error) {
	var out lineage
	for _, n := range ns {
		l, err := a.expr(n, s, clause)
		if err != nil {
			return lineage{}, err
		}
		out = derive(out, l)
	}
	return out, nil
}

// expr returns the lineage of an expression's value and records the uses
// of base columns in it under clause ("" for a projection).
func (a *analyzer) expr(n *pg_query.Node, s *scope, clause string) (lineage, error) {
	if n == nil {
		return lineage{}, nil
	}
	switch x := n.GetNode().(type) {
	case *pg_query.Node_ColumnRef:
		l, _, err := a.columnRef(x.ColumnRef, s)
		if err != nil {
			return lineage{}, err
		}
		a.use(l, clause, false)
		return l, nil
	case *pg_query.Node_AConst, *pg_query.Node_ParamRef, *pg_query.Node_SqlvalueFunction,
		*pg_query.Node_String_, *pg_query.Node_Integer, *pg_query.Node_Float, *pg_query.Node_Boolean,
		*pg_query.Node_BitString, *pg_query.Node_AStar, *pg_query.Node_SetToDefault:
		return lineage{}, nil
	case *pg_query.Node_TypeCast:
		l, err := a.expr(x.TypeCast.GetArg(), s, clause)
		return derive(l), err
	case *pg_query.Node_CollateClause:
		l, err := a.expr(x.CollateClause.GetArg(), s, clause)
		return derive(l), err
	case *pg_query.Node_AExpr:
		e := x.AExpr
		switch e.GetKind() {
		case pg_query.A_Expr_Kind_AEXPR_OP:
			if opName(e.GetName()) == "=" && e.GetLexpr() != nil {
				l, ok, err := a.equality(e.GetLexpr(), e.GetRexpr(), s, clause)
				if ok || err != nil {
					return l, err
				}
			}
		case pg_query.A_Expr_Kind_AEXPR_IN:
			if lst := e.GetRexpr().GetList(); opName(e.GetName()) == "=" && lst != nil {
				if isCol, ok := eqOperand(e.GetLexpr()); ok && isCol {
					allConst := true
					for _, it := range lst.GetItems() {
						if c, ok := eqOperand(it); !ok || c {
							allConst = false
						}
					}
					if allConst {
						l, _, err := a.columnRef(e.GetLexpr().GetColumnRef(), s)
						if err != nil {
							return lineage{}, err
						}
						a.use(l, clause, true)
						return derive(l), nil
					}
				}
			}
		}
		return a.exprs([]*pg_query.Node{e.GetLexpr(), e.GetRexpr()}, s, clause)
	case *pg_query.Node_List:
		return a.exprs(x.List.GetItems(), s, clause)
	case *pg_query.Node_BoolExpr:
		return a.exprs(x.BoolExpr.GetArgs(), s, clause)
	case *pg_query.Node_NullTest:
		l, err := a.expr(x.NullTest.GetArg(), s, clause)
		return derive(l), err
	case *pg_query.Node_BooleanTest:
		l, err := a.expr(x.BooleanTest.GetArg(), s, clause)
		return derive(l), err
	case *pg_query.Node_CaseExpr:
		c := x.CaseExpr
		parts := []*pg_query.Node{c.GetArg(), c.GetDefresult()}
		for _, w := range c.GetArgs() {
			cw := w.GetCaseWhen()
			if cw == nil {
				return lineage{}, refuse("malformed CASE")
			}
			parts = append(parts, cw.GetExpr(), cw.GetResult())
		}
		return a.exprs(parts, s, clause)
	case *pg_query.Node_CoalesceExpr:
		return a.exprs(x.CoalesceExpr.GetArgs(), s, clause)
	case *pg_query.Node_MinMaxExpr:
		return a.exprs(x.MinMaxExpr.GetArgs(), s, clause)
	case *pg_query.Node_AArrayExpr:
		return a.exprs(x.AArrayExpr.GetElements(), s, clause)
	case *pg_query.Node_RowExpr:
		return a.exprs(x.RowExpr.GetArgs(), s, clause)
	case *pg_query.Node_GroupingFunc:
		// GROUPING() yields which columns are grouped, not their data.
		_, err := a.exprs(x.GroupingFunc.GetArgs(), s, clause)
		return lineage{}, err
	case *pg_query.Node_ResTarget:
		l, err := a.expr(x.ResTarget.GetVal(), s, clause)
		return derive(l), err
	case *pg_query.Node_FuncCall:
		return a.funcCall(x.FuncCall, s, clause)
	case *pg_query.Node_SubLink:
		return a.subLink(x.SubLink, s, clause)
	case *pg_query.Node_AIndirection:
		return a.indirection(x.AIndirection, s, clause)
	case *pg_query.Node_SelectStmt:
		// A query inside an expression node we do not model (such as
		// JSON_ARRAY(SELECT ...)): everything it returns feeds the value.
		cols, err := a.selectStmt(x.SelectStmt, s)
		if err != nil {
			return lineage{}, err
		}
		var l lineage
		for _, c := range cols {
			l = derive(l, c.lin)
		}
		a.use(l, clause, false)
		return l, nil
	case *pg_query.Node_RangeVar, *pg_query.Node_JoinExpr, *pg_query.Node_RangeSubselect,
		*pg_query.Node_RangeFunction, *pg_query.Node_CurrentOfExpr, *pg_query.Node_MergeSupportFunc:
		return lineage{}, refuse("%s is not supported in an expression", nodeTag(n))
	}
	// Other expression nodes (XML, JSON constructors, ...): the value
	// derives from every expression inside.
	return a.generic(n.ProtoReflect(), s, clause)
}

func (a *analyzer) generic(m protoreflect.Message, s *scope, clause string) (lineage, error) {
	var out lineage
	var err error
	visit := func(v protoreflect.Message) bool {
		var l lineage
		if node, ok := v.Interface().(*pg_query.Node); ok {
			l, err = a.expr(node, s, clause)
		} else {
			l, err = a.generic(v, s, clause)
		}
		out = derive(out, l)
		return err == nil
	}
	m.Range(func(fd protoreflect.FieldDescriptor, v protoreflect.Value) bool {
		if fd.Kind() != protoreflect.MessageKind {
			return true
		}
		if fd.IsList() {
			lst := v.List()
			for i := 0; i < lst.Len(); i++ {
				if !visit(lst.Get(i).Message()) {
					return false
				}
			}
			return true
		}
		if fd.IsMap() {
			return true
		}
		return visit(v.Message())
	})
	return out, err
}

func (a *analyzer) funcCall(fc *pg_query.FuncCall, s *scope, clause string) (lineage, error) {
	a.noteFunc(fc)
	schema, name := funcName(fc)
	// count() tells how many, not what: it yields no data of its argument.
	noData := name == "count" && (schema == "" || schema == "pg_catalog")
	var out lineage
	for _, arg := range fc.GetArgs() {
		l, err := a.expr(arg, s, clause)
		if err != nil {
			return lineage{}, err
		}
		if !noData {
			out = derive(out, l)
		}
	}
	orderClause := clause
	if orderClause == "" {
		orderClause = "ORDER BY"
	}
	for _, o := range fc.GetAggOrder() {
		if fc.GetAggWithinGroup() {
			// mode() WITHIN GROUP (ORDER BY x) returns an x.
			l, err := a.expr(o.GetSortBy().GetNode(), s, clause)
			if err != nil {
				return lineage{}, err
			}
			out = derive(out, l)
			continue
		}
		if _, err := a.expr(o.GetSortBy().GetNode(), s, orderClause); err != nil {
			return lineage{}, err
		}
	}
	if f := fc.GetAggFilter(); f != nil {
		if _, err := a.expr(f, s, "FILTER"); err != nil {
			return lineage{}, err
		}
	}
	if err := a.window(fc.GetOver(), s); err != nil {
		return lineage{}, err
	}
	return derive(out), nil
}

func (a *analyzer) subLink(sl *pg_query.SubLink, s *scope, clause string) (lineage, error) {
	cols, err := a.query(sl.GetSubselect(), s)
	if err != nil {
		return lineage{}, err
	}
	var sub lineage
	for _, c := range cols {
		sub = derive(sub, c.lin)
	}
	switch sl.GetSubLinkType() {
	case pg_query.SubLinkType_EXISTS_SUBLINK:
		return lineage{}, nil
	case pg_query.SubLinkType_EXPR_SUBLINK:
		if len(cols) != 1 {
			return lineage{}, refuse("subquery must return only one column")
		}
		a.use(cols[0].lin, clause, false)
		return cols[0].lin, nil
	case pg_query.SubLinkType_ARRAY_SUBLINK:
		if len(cols) != 1 {
			return lineage{}, refuse("subquery must return only one column")
		}
		a.use(cols[0].lin, clause, false)
		return derive(cols[0].lin), nil
	case pg_query.SubLinkType_ANY_SUBLINK, pg_query.SubLinkType_ALL_SUBLINK, pg_query.SubLinkType_ROWCOMPARE_SUBLINK:
		te := sl.GetTestexpr()
		if isCol, ok := eqOperand(te); ok && isCol && sl.GetSubLinkType() == pg_query.SubLinkType_ANY_SUBLINK &&
			(len(sl.GetOperName()) == 0 || opName(sl.GetOperName()) == "=") && len(cols) == 1 &&
			cols[0].lin.direct && len(cols[0].lin.src) > 0 && te.GetTypeCast() == nil {
			tl, _, err := a.columnRef(te.GetColumnRef(), s)
			if err != nil {
				return lineage{}, err
			}
			eq := tl.direct && len(tl.src) > 0
			a.use(tl, clause, eq)
			a.use(cols[0].lin, clause, eq)
			return derive(tl, sub), nil
		}
		tl, err := a.expr(te, s, clause)
		if err != nil {
			return lineage{}, err
		}
		a.use(sub, clause, false)
		return derive(tl, sub), nil
	}
	return lineage{}, refuse("unsupported kind of subquery")
}

func (a *analyzer) indirection(ind *pg_query.A_Indirection, s *scope, clause string) (lineage, error) {
	in := ind.GetIndirection()
	// (t).col on a whole-row reference is that column.
	if cr := ind.GetArg().GetColumnRef(); cr != nil && len(in) >= 1 && in[0].GetString_() != nil {
		l, it, err := a.columnRef(cr, s)
		if err != nil {
			return lineage{}, err
		}
		if it != nil {
			cl, n := it.find(in[0].GetString_().GetSval())
			if n != 1 {
				return lineage{}, refuse("column %q does not exist", in[0].GetString_().GetSval())
			}
			l = cl
		}
		if len(in) == 1 && it != nil {
			a.use(l, clause, false)
			return l, nil
		}
		a.use(l, clause, false)
		rest, err := a.indices(in[1:], s, clause)
		return derive(l, rest), err
	}
	l, err := a.expr(ind.GetArg(), s, clause)
	if err != nil {
		return lineage{}, err
	}
	rest, err := a.indices(in, s, clause)
	return derive(l, rest), err
}

func (a *analyzer) indices(in []*pg_query.Node, s *scope, clause string) (lineage, error) {
	var out lineage
	for _, x := range in {
		if ix := x.GetAIndices(); ix != nil {
			l, err := a.exprs([]*pg_query.Node{ix.GetLidx(), ix.GetUidx()}, s, clause)
			if err != nil {
				return lineage{}, err
			}
			out = derive(out, l)
		}
	}
	return out, nil
}

// figureName names a result column as PostgreSQL's FigureColname does;
// strength 2 is a real name, 1 a type name, 0 the "?column?" fallback.
func figureName(n *pg_query.Node) (string, int) {
	switch x := n.GetNode().(type) {
	case *pg_query.Node_ColumnRef:
		f := x.ColumnRef.GetFields()
		for i := len(f) - 1; i >= 0; i-- {
			if s := f[i].GetString_(); s != nil {
				return s.GetSval(), 2
			}
		}
	case *pg_query.Node_AIndirection:
		in := x.AIndirection.GetIndirection()
		for i := len(in) - 1; i >= 0; i-- {
			if s := in[i].GetString_(); s != nil {
				return s.GetSval(), 2
			}
		}
		return figureName(x.AIndirection.GetArg())
	case *pg_query.Node_FuncCall:
		_, name := funcName(x.FuncCall)
		return name, 2
	case *pg_query.Node_AExpr:
		if x.AExpr.GetKind() == pg_query.A_Expr_Kind_AEXPR_NULLIF {
			return "nullif", 2
		}
	case *pg_query.Node_TypeCast:
		if name, st := figureName(x.TypeCast.GetArg()); st > 1 {
			return name, st
		}
		if names := x.TypeCast.GetTypeName().GetNames(); len(names) > 0 {
			return names[len(names)-1].GetString_().GetSval(), 1
		}
	case *pg_query.Node_CollateClause:
		return figureName(x.CollateClause.GetArg())
	case *pg_query.Node_GroupingFunc:
		return "grouping", 2
	case *pg_query.Node_SubLink:
		switch x.SubLink.GetSubLinkType() {
		case pg_query.SubLinkType_EXISTS_SUBLINK:
			return "exists", 2
		case pg_query.SubLinkType_ARRAY_SUBLINK:
			return "array", 2
		case pg_query.SubLinkType_EXPR_SUBLINK:
			if sel := x.SubLink.GetSubselect().GetSelectStmt(); sel != nil && len(sel.GetTargetList()) > 0 {
				rt := sel.GetTargetList()[0].GetResTarget()
				if rt.GetName() != "" {
					return rt.GetName(), 2
				}
				return figureName(rt.GetVal())
			}
		}
	case *pg_query.Node_CaseExpr:
		if name, st := figureName(x.CaseExpr.GetDefresult()); st > 1 {
			return name, st
		}
		return "case", 1
	case *pg_query.Node_AArrayExpr:
		return "array", 1
	case *pg_query.Node_RowExpr:
		return "row", 1
	case *pg_query.Node_CoalesceExpr:
		return "coalesce", 2
	case *pg_query.Node_MinMaxExpr:
		if x.MinMaxExpr.GetOp() == pg_query.MinMaxOp_IS_LEAST {
			return "least", 2
		}
		return "greatest", 2
	case *pg_query.Node_SqlvalueFunction:
		return sqlValueName(x.SqlvalueFunction.GetOp()), 2
	case *pg_query.Node_XmlExpr:
		return xmlName(x.XmlExpr.GetOp()), 2
	case *pg_query.Node_XmlSerialize:
		return "xmlserialize", 2
	case *pg_query.Node_JsonObjectConstructor:
		return "json_object", 2
	case *pg_query.Node_JsonArrayConstructor, *pg_query.Node_JsonArrayQueryConstructor:
		return "json_array", 2
	case *pg_query.Node_JsonObjectAgg:
		return "json_objectagg", 2
	case *pg_query.Node_JsonArrayAgg:
		return "json_arrayagg", 2
	case *pg_query.Node_JsonParseExpr:
		return "json", 2
	case *pg_query.Node_JsonScalarExpr:
		return "json_scalar", 2
	case *pg_query.Node_JsonSerializeExpr:
		return "json_serialize", 2
	}
	return "?column?", 0
}

func sqlValueName(op pg_query.SQLValueFunctionOp) string {
	switch op {
	case pg_query.SQLValueFunctionOp_SVFOP_CURRENT_DATE:
		return "current_date"
	case pg_query.SQLValueFunctionOp_SVFOP_CURRENT_TIME, pg_query.SQLValueFunctionOp_SVFOP_CURRENT_TIME_N:
		return "current_time"
	case pg_query.SQLValueFunctionOp_SVFOP_CURRENT_TIMESTAMP, pg_query.SQLValueFunctionOp_SVFOP_CURRENT_TIMESTAMP_N:
		return "current_timestamp"
	case pg_query.SQLValueFunctionOp_SVFOP_LOCALTIME, pg_query.SQLValueFunctionOp_SVFOP_LOCALTIME_N:
		return "localtime"
	case pg_query.SQLValueFunctionOp_SVFOP_LOCALTIMESTAMP, pg_query.SQLValueFunctionOp_SVFOP_LOCALTIMESTAMP_N:
		return "localtimestamp"
	case pg_query.SQLValueFunctionOp_SVFOP_CURRENT_ROLE:
		return "current_role"
	case pg_query.SQLValueFunctionOp_SVFOP_CURRENT_USER:
		return "current_user"
	case pg_query.SQLValueFunctionOp_SVFOP_USER:
		return "user"
	case pg_query.SQLValueFunctionOp_SVFOP_SESSION_USER:
		return "session_user"
	case pg_query.SQLValueFunctionOp_SVFOP_CURRENT_CATALOG:
		return "current_catalog"
	case pg_query.SQLValueFunctionOp_SVFOP_CURRENT_SCHEMA:
		return "current_schema"
	}
	return "?column?"
}

func xmlName(op pg_query.XmlExprOp) string {
	switch op {
	case pg_query.XmlExprOp_IS_XMLCONCAT:
		return "xmlconcat"
	case pg_query.XmlExprOp_IS_XMLELEMENT:
		return "xmlelement"
	case pg_query.XmlExprOp_IS_XMLFOREST:
		return "xmlforest"
	case pg_query.XmlExprOp_IS_XMLPARSE:
		return "xmlparse"
	case pg_query.XmlExprOp_IS_XMLPI:
		return "xmlpi"
	case pg_query.XmlExprOp_IS_XMLROOT:
		return "xmlroot"
	case pg_query.XmlExprOp_IS_XMLSERIALIZE:
		return "xmlserialize"
	case pg_query.XmlExprOp_IS_DOCUMENT:
		return "?column?"
	}
	return "?column?"
}
