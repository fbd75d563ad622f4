package masking

import (
	"strings"

	pg_query "github.com/pganalyze/pg_query_go/v6"
	"google.golang.org/protobuf/reflect/protoreflect"
)

// settableInMasked are the settings a masked session may SET or RESET:
// what BI drivers send. search_path is not among them: pgveil resolves
// table names with the session's login search_path, and a change would
// let the server read a different table than the one analysed.
var settableInMasked = map[string]bool{
	"datestyle": true, "intervalstyle": true, "timezone": true, "extra_float_digits": true,
	"application_name": true, "statement_timeout": true, "lock_timeout": true,
	"idle_in_transaction_session_timeout": true, "client_min_messages": true, "bytea_output": true,
	"transaction_isolation": true, "default_transaction_isolation": true,
	"transaction_read_only": true, "default_transaction_read_only": true,
}

// sideChannelFuncs are functions that move data where masking cannot see
// it: into settings, notifications, large objects, other connections, or
// SQL run from a string. (A denylist; the access-control work replaces it
// with an allowlist of functions.)
var sideChannelFuncs = map[string]bool{
	"set_config": true, "current_setting": true, "pg_notify": true,
	"query_to_xml": true, "query_to_xmlschema": true, "query_to_xml_and_xmlschema": true,
	"table_to_xml": true, "table_to_xmlschema": true, "table_to_xml_and_xmlschema": true,
	"cursor_to_xml": true, "cursor_to_xmlschema": true, "schema_to_xml": true, "database_to_xml": true,
	"dblink": true, "dblink_exec": true, "dblink_open": true, "dblink_fetch": true, "dblink_send_query": true,
	"pg_read_file": true, "pg_read_binary_file": true, "pg_ls_dir": true, "pg_stat_file": true,
	"pg_sleep": true, "pg_sleep_for": true, "pg_sleep_until": true, "pg_advisory_lock": true,
	"lo_get": true, "lo_import": true, "lo_export": true, "lo_from_bytea": true, "lo_put": true, "loread": true,
}

// gate checks what analysis does not: which session commands a masked
// session may run, and calls to side-channel functions anywhere. It
// returns a user-facing reason for the first statement refused, or "".
func gate(sql string) string {
	tree, err := pg_query.Parse(sql)
	if err != nil {
		return "the statement does not parse"
	}
	for _, raw := range tree.Stmts {
		n := raw.Stmt
		if reason := funcReason(n); reason != "" {
			return reason
		}
		switch {
		case n.GetSelectStmt() != nil:
		case n.GetTransactionStmt() != nil:
			if k := n.GetTransactionStmt().Kind; k == pg_query.TransactionStmtKind_TRANS_STMT_PREPARE ||
				k == pg_query.TransactionStmtKind_TRANS_STMT_COMMIT_PREPARED || k == pg_query.TransactionStmtKind_TRANS_STMT_ROLLBACK_PREPARED {
				return "two-phase commit is not allowed"
			}
		case n.GetVariableShowStmt() != nil:
			name := strings.ToLower(n.GetVariableShowStmt().Name)
			if strings.Contains(name, ".") {
				return "SHOW of custom settings is not allowed"
			}
		case n.GetVariableSetStmt() != nil:
			s := n.GetVariableSetStmt()
			switch s.Kind {
			case pg_query.VariableSetKind_VAR_RESET_ALL:
			case pg_query.VariableSetKind_VAR_SET_MULTI: // SET TRANSACTION ..., SET SESSION CHARACTERISTICS
			default:
				if strings.ToLower(s.Name) == "search_path" {
					if s.IsLocal {
						return "SET LOCAL search_path is not allowed: use SET search_path outside a transaction"
					}
					if s.Kind == pg_query.VariableSetKind_VAR_SET_VALUE {
						for _, a := range s.Args {
							if !plainSchemaName(a.GetAConst().GetSval().GetSval()) {
								return "search_path may only name schemas in plain lower case (or $user)"
							}
						}
					}
					break // tracked by the session
				}
				if !settableInMasked[strings.ToLower(s.Name)] {
					return "setting " + s.Name + " is not allowed"
				}
			}
		case n.GetDiscardStmt() != nil, n.GetDeallocateStmt() != nil:
		case n.GetCopyStmt() != nil:
			// COPY ... TO STDOUT in text or CSV: its query is analysed and
			// its rows masked like a SELECT's (copy.go).
			if _, reason := copyOptions(n.GetCopyStmt()); reason != "" {
				return reason
			}
		case n.GetExplainStmt() != nil:
			// EXPLAIN ANALYZE runs the query and reports rows removed by
			// filters; the planner refuses it (the analyzer marks it).
		case isDML(n):
			// Checked against the policy (read_only, shadows) by the planner.
		case n.GetPrepareStmt() != nil, n.GetExecuteStmt() != nil,
			n.GetDeclareCursorStmt() != nil, n.GetFetchStmt() != nil, n.GetClosePortalStmt() != nil:
			// Their queries are analysed like any other; their rows are
			// masked with the plan registered under their name.
		default:
			return statementName(n) + " statements are not allowed"
		}
	}
	return ""
}

// funcReason reports a call to a side-channel function anywhere in n.
func funcReason(n *pg_query.Node) string {
	var reason string
	walk(n.ProtoReflect(), func(x *pg_query.Node) bool {
		fc := x.GetFuncCall()
		if fc == nil || reason != "" {
			return reason == ""
		}
		if len(fc.Funcname) > 0 {
			name := strings.ToLower(fc.Funcname[len(fc.Funcname)-1].GetString_().GetSval())
			if sideChannelFuncs[name] || strings.HasPrefix(name, "dblink") || strings.HasPrefix(name, "lo_") {
				reason = "function " + name + " is not allowed"
			}
		}
		return true
	})
	return reason
}

func walk(m protoreflect.Message, visit func(*pg_query.Node) bool) {
	if n, ok := m.Interface().(*pg_query.Node); ok && !visit(n) {
		return
	}
	m.Range(func(fd protoreflect.FieldDescriptor, v protoreflect.Value) bool {
		if fd.Kind() != protoreflect.MessageKind {
			return true
		}
		if fd.IsList() {
			for i, l := 0, v.List(); i < l.Len(); i++ {
				walk(l.Get(i).Message(), visit)
			}
		} else if !fd.IsMap() {
			walk(v.Message(), visit)
		}
		return true
	})
}

// statementName names a statement node's type for messages: "InsertStmt"
// becomes "INSERT".
func statementName(n *pg_query.Node) string {
	var name string
	n.ProtoReflect().Range(func(fd protoreflect.FieldDescriptor, _ protoreflect.Value) bool {
		name = string(fd.Message().Name())
		return false
	})
	name = strings.TrimSuffix(name, "Stmt")
	var b strings.Builder
	for i, r := range name {
		if i > 0 && r >= 'A' && r <= 'Z' {
			b.WriteByte(' ')
		}
		b.WriteRune(r)
	}
	return strings.ToUpper(b.String())
}

// stmtFacts is what the planner needs of a statement beyond lineage: the
// names of SQL-level cursors and prepared statements it creates or uses.
type stmtFacts struct {
	prepare, execute, dealloc   string // dealloc "*" = DEALLOCATE ALL
	closeAll, holdable, discard bool
	copy                        *copyFormat // COPY ... TO STDOUT in text or CSV
	// setPath is the schema list a SET search_path names, comma-joined
	// ("crm,$user"); pathReset is RESET search_path, SET ... TO DEFAULT,
	// RESET ALL or DISCARD ALL, which restore the login value.
	setPath   string
	pathReset bool
}

// facts returns stmtFacts per statement of sql (nil if it does not parse).
func facts(sql string) []stmtFacts {
	tree, err := pg_query.Parse(sql)
	if err != nil {
		return nil
	}
	out := make([]stmtFacts, len(tree.Stmts))
	for i, raw := range tree.Stmts {
		n, f := raw.Stmt, &out[i]
		switch {
		case n.GetPrepareStmt() != nil:
			f.prepare = n.GetPrepareStmt().Name
		case n.GetExecuteStmt() != nil:
			f.execute = n.GetExecuteStmt().Name
		case n.GetDeallocateStmt() != nil:
			f.dealloc = n.GetDeallocateStmt().Name
			if f.dealloc == "" || n.GetDeallocateStmt().Isall {
				f.dealloc = "*"
			}
		case n.GetClosePortalStmt() != nil:
			f.closeAll = n.GetClosePortalStmt().Portalname == ""
		case n.GetDeclareCursorStmt() != nil:
			f.holdable = n.GetDeclareCursorStmt().Options&0x0020 != 0 // CURSOR_OPT_HOLD
		case n.GetDiscardStmt() != nil:
			f.discard = n.GetDiscardStmt().Target == pg_query.DiscardMode_DISCARD_ALL
			f.pathReset = f.discard
		case n.GetVariableSetStmt() != nil:
			v := n.GetVariableSetStmt()
			switch {
			case v.Kind == pg_query.VariableSetKind_VAR_RESET_ALL:
				f.pathReset = true
			case strings.ToLower(v.Name) != "search_path":
			case v.Kind == pg_query.VariableSetKind_VAR_SET_DEFAULT, v.Kind == pg_query.VariableSetKind_VAR_RESET:
				f.pathReset = true
			case v.Kind == pg_query.VariableSetKind_VAR_SET_VALUE:
				var names []string
				for _, a := range v.Args {
					names = append(names, a.GetAConst().GetSval().GetSval())
				}
				f.setPath = strings.Join(names, ",")
			}
		case n.GetCopyStmt() != nil:
			f.copy, _ = copyOptions(n.GetCopyStmt())
		}
	}
	return out
}

// plainSchemaName accepts the names whose meaning PostgreSQL and pgveil
// agree on whether written as an identifier or a string: lower-case
// letters, digits, _ and $, not starting with a digit; or $user. pg_temp
// is refused (temporary objects can shadow real tables).
func plainSchemaName(s string) bool {
	if s == "$user" {
		return true
	}
	if s == "" || s == "pg_temp" || strings.HasPrefix(s, "pg_temp_") || (s[0] >= '0' && s[0] <= '9') {
		return false
	}
	for _, r := range s {
		if !(r >= 'a' && r <= 'z' || r >= '0' && r <= '9' || r == '_' || r == '$') {
			return false
		}
	}
	return true
}
