package rewrite

import (
	"context"
	"errors"
	"fmt"
	"strings"

	pg_query "github.com/pganalyze/pg_query_go/v6"
	"google.golang.org/protobuf/reflect/protoreflect"
)

// RowFilters maps a table ("crm.customers") to a boolean SQL expression
// over its columns ("consent_cross_border"): the only rows of that table a
// session may see.
type RowFilters map[string]string

// RowFilterError is a statement whose row filters cannot be applied
// safely; the caller refuses it. Reason is user-facing and echoes no data.
type RowFilterError struct{ Reason string }

func (e *RowFilterError) Error() string { return e.Reason }

// ApplyRowFilters rewrites sql so that every reference to a filtered table
// reads only the rows its filter allows: the reference is replaced by
// (SELECT * FROM table WHERE filter) under the same alias, anywhere in the
// statement (subqueries, CTEs, joins, set operations). It returns "" when
// sql references no filtered table. References it cannot rewrite, such as
// a view over a filtered table or a CTE named like one, are refused with a
// *RowFilterError.
func ApplyRowFilters(ctx context.Context, sql string, searchPath []string, cat Catalog, filters RowFilters) (string, error) {
	if len(filters) == 0 {
		return "", nil
	}
	tree, err := pg_query.Parse(sql)
	if err != nil {
		return "", &RowFilterError{Reason: "the statement does not parse"}
	}
	filteredNames := make(map[string]bool) // relname of every filtered table
	for q := range filters {
		if _, name, ok := strings.Cut(q, "."); ok {
			filteredNames[name] = true
		}
	}
	ctes := make(map[string]bool)
	walkNodes(tree.ProtoReflect(), func(n *pg_query.Node) bool {
		if c := n.GetCommonTableExpr(); c != nil {
			ctes[c.Ctename] = true
		}
		return true
	})
	for name := range ctes {
		if filteredNames[name] {
			return "", &RowFilterError{Reason: fmt.Sprintf("a WITH query named %q hides a table with a row filter", name)}
		}
	}

	changed := false
	var failure error
	walkNodes(tree.ProtoReflect(), func(n *pg_query.Node) bool {
		if failure != nil {
			return false
		}
		rv := n.GetRangeVar()
		if rv == nil {
			return true
		}
		if rv.Schemaname == "" && ctes[rv.Relname] {
			return true // a WITH query, not a table
		}
		if rv.Catalogname != "" {
			failure = &RowFilterError{Reason: "cross-database references are not supported"}
			return false
		}
		rel, err := cat.Relation(ctx, rv.Schemaname, rv.Relname, searchPath)
		if err != nil {
			failure = err
			return false
		}
		q := rel.Schema + "." + rel.Name
		if filter, ok := filters[q]; ok {
			sub, err := filteredSubselect(rel, filter, rv)
			if err != nil {
				failure = err
				return false
			}
			n.Node = sub
			changed = true
			return false // do not descend into the replacement
		}
		if rel.Kind == 'v' || rel.Kind == 'm' {
			if base, err := viewReadsFiltered(ctx, rel, searchPath, cat, filters, 0); err != nil || base != "" {
				if err == nil {
					err = &RowFilterError{Reason: fmt.Sprintf("view %s reads %s, which has a row filter; query the table instead", q, base)}
				}
				failure = err
				return false
			}
		}
		return true
	})
	if failure != nil {
		return "", failure
	}
	if !changed {
		return "", nil
	}
	out, err := pg_query.Deparse(tree)
	if err != nil {
		return "", &RowFilterError{Reason: "the statement cannot be rewritten for row filters"}
	}
	return out, nil
}

// filteredSubselect builds (SELECT * FROM schema.table WHERE filter) AS
// alias, keeping the reference's alias and column alias list.
func filteredSubselect(rel *Relation, filter string, rv *pg_query.RangeVar) (*pg_query.Node_RangeSubselect, error) {
	sql := "SELECT * FROM " + quoteIdent(rel.Schema) + "." + quoteIdent(rel.Name) + " WHERE (" + filter + ")"
	if !rv.Inh {
		sql = "SELECT * FROM ONLY " + quoteIdent(rel.Schema) + "." + quoteIdent(rel.Name) + " WHERE (" + filter + ")"
	}
	sub, err := pg_query.Parse(sql)
	if err != nil || len(sub.Stmts) != 1 {
		return nil, &RowFilterError{Reason: fmt.Sprintf("the row filter of %s.%s does not parse", rel.Schema, rel.Name)}
	}
	alias := rv.Alias
	if alias == nil {
		alias = &pg_query.Alias{Aliasname: rv.Relname}
	}
	return &pg_query.Node_RangeSubselect{RangeSubselect: &pg_query.RangeSubselect{
		Subquery: sub.Stmts[0].Stmt,
		Alias:    alias,
	}}, nil
}

// viewReadsFiltered reports the first filtered table a view reads,
// directly or through other views.
func viewReadsFiltered(ctx context.Context, view *Relation, searchPath []string, cat Catalog, filters RowFilters, depth int) (string, error) {
	if depth > 16 {
		return "", &RowFilterError{Reason: "views nested too deeply"}
	}
	tree, err := pg_query.Parse(view.ViewDef)
	if err != nil {
		return "", &RowFilterError{Reason: fmt.Sprintf("the definition of view %s.%s does not parse", view.Schema, view.Name)}
	}
	// A view's definition is stored fully qualified where needed, but
	// resolve it in its own schema first, as PostgreSQL did when it was
	// created.
	path := append([]string{view.Schema}, searchPath...)
	var found string
	var failure error
	walkNodes(tree.ProtoReflect(), func(n *pg_query.Node) bool {
		rv := n.GetRangeVar()
		if rv == nil || found != "" || failure != nil {
			return found == "" && failure == nil
		}
		rel, err := cat.Relation(ctx, rv.Schemaname, rv.Relname, path)
		if errors.Is(err, ErrUnknownRelation) {
			return true // a WITH query inside the view
		}
		if err != nil {
			failure = err
			return false
		}
		if _, ok := filters[rel.Schema+"."+rel.Name]; ok {
			found = rel.Schema + "." + rel.Name
			return false
		}
		if rel.Kind == 'v' || rel.Kind == 'm' {
			found, failure = viewReadsFiltered(ctx, rel, searchPath, cat, filters, depth+1)
		}
		return true
	})
	return found, failure
}

// walkNodes calls visit for every Node in the tree, depth first; visit
// returns false to skip the node's children.
func walkNodes(m protoreflect.Message, visit func(*pg_query.Node) bool) {
	if n, ok := m.Interface().(*pg_query.Node); ok {
		if !visit(n) {
			return
		}
	}
	m.Range(func(fd protoreflect.FieldDescriptor, v protoreflect.Value) bool {
		if fd.Kind() != protoreflect.MessageKind && fd.Kind() != protoreflect.GroupKind {
			return true
		}
		if fd.IsList() {
			l := v.List()
			for i := 0; i < l.Len(); i++ {
				walkNodes(l.Get(i).Message(), visit)
			}
		} else if !fd.IsMap() {
			walkNodes(v.Message(), visit)
		}
		return true
	})
}

// quoteIdent quotes an identifier for SQL.
func quoteIdent(s string) string {
	return `"` + strings.ReplaceAll(s, `"`, `""`) + `"`
}
