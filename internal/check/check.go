// Package check implements `pgveil check`: it compares a loaded
// configuration with the upstream PostgreSQL server it names, and reports
// what would make pgveil silently mask less than the DBA thinks, or make a
// gap in the proxy cost more (see THREATS.md, "Defence in depth").
//
// It logs in once, as [upstream] catalog_user, and only reads the catalog:
// it never logs in as a [[users]] upstream_user (their passwords are not
// used), and the one statement built from configuration text, the row
// filter probe, is an EXPLAIN sent alone through the extended protocol in
// a read-only session, so it can neither run nor be followed by anything.
//
// What is checked:
//
//   - the upstream is reachable as catalog_user;
//   - every [[classify]] pattern without * names an existing column, and
//     every pattern with * matches at least one column (a warning);
//   - every [policy.row_filter] table exists and its filter is a valid
//     expression over it (EXPLAIN SELECT 1 FROM table WHERE filter);
//   - for every distinct upstream_user of [[users]]: the role exists and
//     has none of TEMP on the database, EXECUTE on the large object and
//     *_to_xml functions, membership in pg_read_server_files,
//     pg_write_server_files or pg_execute_server_program, SUPERUSER,
//     REPLICATION or BYPASSRLS, nor ownership of a table holding classified
//     columns. Every upstream_user is checked, not only those of users some
//     masking policy matches: which policy applies depends on the region a
//     connection arrives from, so any user may end up masked.
//
// Every finding is one line: "OK" for a passed check, "WARNING" or "ERROR"
// for a problem. Both kinds of problem count; Run returns how many there
// were. Nothing secret (passwords, verifiers, data) is ever printed.
package check

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5/pgconn"

	"github.com/pgveil/pgveil/proxy"
	"github.com/pgveil/pgveil/rules"
)

// statementTimeout bounds each catalog query and EXPLAIN.
const statementTimeout = 30 * time.Second

// report writes findings and counts problems.
type report struct {
	w        io.Writer
	problems int
}

func (r *report) section(title string) { fmt.Fprintf(r.w, "\n# %s\n", title) }
func (r *report) ok(format string, args ...any) {
	fmt.Fprintf(r.w, "OK      %s\n", fmt.Sprintf(format, args...))
}
func (r *report) warn(format string, args ...any) {
	r.problems++
	fmt.Fprintf(r.w, "WARNING %s\n", fmt.Sprintf(format, args...))
}
func (r *report) fail(format string, args ...any) {
	r.problems++
	fmt.Fprintf(r.w, "ERROR   %s\n", fmt.Sprintf(format, args...))
}

// column is one column of a relation upstream.
type column struct {
	schema, table, name string
	rel                 uint32 // pg_class oid
}

// Run checks cfg against its upstream and writes one line per finding to
// w. It returns the number of problems (warnings and errors) found; 0 means
// everything checked passed. err is non-nil only when checking could not
// go on (a catalog query failed or the output could not be written); the
// findings so far have then been written.
func Run(ctx context.Context, cfg *rules.Config, w io.Writer) (problems int, err error) {
	r := &report{w: w}
	defer func() {
		problems = r.problems
		if err == nil {
			if r.problems == 0 {
				fmt.Fprintln(w, "\nno problems found")
			} else {
				fmt.Fprintf(w, "\n%d problem(s) found\n", r.problems)
			}
		}
	}()

	r.section("upstream")
	conn := connect(ctx, cfg, r)
	if conn == nil {
		return
	}
	defer conn.Close(context.Background())

	cols, err := columns(ctx, conn)
	if err != nil {
		return 0, err
	}
	r.section("classify")
	classified := checkClassify(cfg, cols, r)

	r.section("row filters")
	if err := checkRowFilters(ctx, conn, cfg, r); err != nil {
		return 0, err
	}

	r.section("upstream roles")
	if err := checkRoles(ctx, conn, cfg, classified, r); err != nil {
		return 0, err
	}
	return
}

// connect logs in as catalog_user in a read-only session, or reports why
// it cannot and returns nil.
func connect(ctx context.Context, cfg *rules.Config, r *report) *pgconn.PgConn {
	up := &cfg.Upstream
	where := net.JoinHostPort(up.Host, strconv.Itoa(up.Port))
	if up.CatalogUser == "" {
		r.fail("[upstream] catalog_user is not set: pgveil cannot read the catalog, and check cannot log in")
		return nil
	}
	password, err := cfg.CatalogPassword()
	if err != nil {
		r.fail("catalog_user %s: password unavailable: %v", up.CatalogUser, err)
		return nil
	}
	pc, err := proxy.UpstreamConfig(up, up.CatalogUser, password, up.Database)
	if err != nil {
		r.fail("[upstream]: %v", err)
		return nil
	}
	pc.RuntimeParams["application_name"] = "pgveil check"
	pc.RuntimeParams["default_transaction_read_only"] = "on"
	pc.RuntimeParams["statement_timeout"] = strconv.FormatInt(statementTimeout.Milliseconds(), 10)
	cctx, cancel := context.WithTimeout(ctx, up.ConnectTimeout.Duration)
	defer cancel()
	conn, err := pgconn.ConnectConfig(cctx, pc)
	if err != nil {
		r.fail("cannot connect to %s as catalog_user %s: %v", where, up.CatalogUser, err)
		return nil
	}
	db := up.Database
	if db == "" {
		db = up.CatalogUser
	}
	r.ok("connected to %s, database %s, as catalog_user %s (PostgreSQL %s)", where, db, up.CatalogUser, conn.ParameterStatus("server_version"))
	return conn
}

// query runs sql with text parameters and returns its rows as strings
// (NULL as "").
func query(ctx context.Context, conn *pgconn.PgConn, sql string, params ...string) ([][]string, error) {
	vals := make([][]byte, len(params))
	for i, p := range params {
		vals[i] = []byte(p)
	}
	res := conn.ExecParams(ctx, sql, vals, nil, nil, nil).Read()
	if res.Err != nil {
		return nil, res.Err
	}
	out := make([][]string, len(res.Rows))
	for i, row := range res.Rows {
		out[i] = make([]string, len(row))
		for j, v := range row {
			out[i][j] = string(v)
		}
	}
	return out, nil
}

// columns lists the live columns of every table, view, materialized view
// and foreign table outside temporary and TOAST schemas.
func columns(ctx context.Context, conn *pgconn.PgConn) ([]column, error) {
	rows, err := query(ctx, conn, `SELECT n.nspname, c.relname, a.attname, c.oid
FROM pg_catalog.pg_attribute a
JOIN pg_catalog.pg_class c ON c.oid = a.attrelid
JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
WHERE a.attnum > 0 AND NOT a.attisdropped
  AND c.relkind IN ('r', 'p', 'v', 'm', 'f')
  AND n.nspname !~ '^pg_(toast|temp_|toast_temp_)'
ORDER BY 1, 2, a.attnum`)
	if err != nil {
		return nil, fmt.Errorf("reading columns: %w", err)
	}
	cols := make([]column, len(rows))
	for i, row := range rows {
		oid, err := strconv.ParseUint(row[3], 10, 32)
		if err != nil {
			return nil, fmt.Errorf("reading columns: bad oid %q", row[3])
		}
		cols[i] = column{row[0], row[1], row[2], uint32(oid)}
	}
	return cols, nil
}

// systemSchema reports whether wildcard patterns should skip schema: a
// pattern like "*.*.name" is not meant to classify the system catalogs.
func systemSchema(schema string) bool {
	return schema == "pg_catalog" || schema == "information_schema"
}

// matches reports whether the pattern parts match col.
func matches(parts []string, col column) bool {
	for i, v := range []string{col.schema, col.table, col.name} {
		if parts[i] != "*" && parts[i] != v {
			return false
		}
	}
	return parts[0] != "*" || !systemSchema(col.schema)
}

// checkClassify reports patterns that match nothing upstream and returns
// the relations (oid -> schema.table) holding classified columns.
func checkClassify(cfg *rules.Config, cols []column, r *report) map[uint32]string {
	classified := map[uint32]string{}
	if len(cfg.Classify) == 0 {
		r.ok("no [[classify]] entries")
		return classified
	}
	for _, c := range cfg.Classify {
		for _, pat := range c.Columns {
			parts := strings.Split(pat, ".")
			if len(parts) != 3 { // rules.Parse refuses these
				r.fail("%q (kind %q) is not schema.table.column", pat, c.Kind)
				continue
			}
			n := 0
			for _, col := range cols {
				if matches(parts, col) {
					n++
					classified[col.rel] = col.schema + "." + col.table
				}
			}
			wild := slices.Contains(parts, "*")
			switch {
			case !wild && n == 0:
				r.fail("%s (kind %q): no such column upstream; pgveil will not mask it under another name (check spelling and case)", pat, c.Kind)
			case wild && n == 0:
				r.warn("%s (kind %q) matches no column upstream", pat, c.Kind)
			case !wild:
				r.ok("%s (kind %q) exists", pat, c.Kind)
			default:
				r.ok("%s (kind %q) matches %d column(s)", pat, c.Kind, n)
			}
		}
	}
	return classified
}

// quoteIdent quotes s as an SQL identifier.
func quoteIdent(s string) string { return `"` + strings.ReplaceAll(s, `"`, `""`) + `"` }

// checkRowFilters checks that each row_filter table exists and that its
// filter is a valid condition on it.
func checkRowFilters(ctx context.Context, conn *pgconn.PgConn, cfg *rules.Config, r *report) error {
	found := false
	for _, pol := range cfg.Policy {
		tables := make([]string, 0, len(pol.RowFilter))
		for t := range pol.RowFilter {
			tables = append(tables, t)
		}
		sort.Strings(tables)
		for _, table := range tables {
			found = true
			filter := pol.RowFilter[table]
			schema, name, ok := strings.Cut(table, ".")
			if !ok || schema == "" || name == "" || strings.Contains(name, ".") {
				r.fail("policy %q: row_filter table %q is not schema.table: pgveil matches filtered tables by schema-qualified name, so this filter never applies", pol.Name, table)
				continue
			}
			rows, err := query(ctx, conn, `SELECT c.relkind FROM pg_catalog.pg_class c
JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
WHERE n.nspname = $1 AND c.relname = $2`, schema, name)
			if err != nil {
				return fmt.Errorf("looking up %s: %w", table, err)
			}
			if len(rows) == 0 {
				r.fail("policy %q: row_filter table %s does not exist upstream (names are matched exactly, as PostgreSQL stores them)", pol.Name, table)
				continue
			}
			if strings.ContainsRune(filter, 0) {
				r.fail("policy %q: row_filter on %s contains a NUL character", pol.Name, table)
				continue
			}
			sql := "EXPLAIN SELECT 1 FROM " + quoteIdent(schema) + "." + quoteIdent(name) + " WHERE " + filter
			if _, err := query(ctx, conn, sql); err != nil {
				var pgErr *pgconn.PgError
				switch {
				case errors.As(err, &pgErr) && pgErr.Code == "42501":
					r.warn("policy %q: row_filter on %s cannot be verified: catalog_user %s may not read the table (%s)", pol.Name, table, cfg.Upstream.CatalogUser, pgErr.Message)
				case errors.As(err, &pgErr):
					r.fail("policy %q: row_filter on %s is not a valid condition on the table: %s (SQLSTATE %s)", pol.Name, table, pgErr.Message, pgErr.Code)
				default:
					return fmt.Errorf("checking the row filter on %s: %w", table, err)
				}
				continue
			}
			r.ok("policy %q: row_filter on %s is valid", pol.Name, table)
		}
	}
	if !found {
		r.ok("no row filters")
	}
	return nil
}

// Functions that move data past pgveil's result masking: their names, and
// why a masked role should not be able to run them.
var riskyFunctions = []struct {
	names []string
	why   string
}{
	{[]string{"lo_import", "lo_export", "lo_get", "lo_put", "lo_from_bytea", "loread", "lowrite"},
		"large objects are a side channel for data: values copied into one come back as bytes pgveil does not trace to a classified column (lo_import/lo_export also read and write server files)"},
	{[]string{"query_to_xml", "query_to_xml_and_xmlschema", "table_to_xml", "table_to_xml_and_xmlschema", "cursor_to_xml",
		"schema_to_xml", "schema_to_xml_and_xmlschema", "database_to_xml", "database_to_xml_and_xmlschema"},
		"it runs a query or reads tables inside the server and returns the values as one XML document, out of reach of pgveil's column masking"},
}

// serverRoles are predefined roles that reach past the SQL data pgveil
// sees, and why.
var serverRoles = []struct{ role, why string }{
	{"pg_read_server_files", "COPY FROM and pg_read_file can read server files (data directory, exports) that bypass pgveil entirely"},
	{"pg_write_server_files", "COPY TO a server file writes unmasked rows where the role can read them back by other means"},
	{"pg_execute_server_program", "COPY TO/FROM PROGRAM runs shell commands as the server's OS user: full access to the data files"},
}

// checkRoles reports privileges of each distinct upstream_user that
// weaken pgveil should a query slip through it.
func checkRoles(ctx context.Context, conn *pgconn.PgConn, cfg *rules.Config, classified map[uint32]string, r *report) error {
	usersOf := map[string][]string{}
	var roles []string
	for _, u := range cfg.Users {
		if _, seen := usersOf[u.UpstreamUser]; !seen {
			roles = append(roles, u.UpstreamUser)
		}
		usersOf[u.UpstreamUser] = append(usersOf[u.UpstreamUser], u.Name)
	}
	if len(roles) == 0 {
		r.ok("no [[users]]: no upstream roles to check")
		return nil
	}
	rels := make([]string, 0, len(classified))
	for oid := range classified {
		rels = append(rels, strconv.FormatUint(uint64(oid), 10))
	}
	relArray := "{" + strings.Join(rels, ",") + "}"
	var funcNames []string
	for _, f := range riskyFunctions {
		funcNames = append(funcNames, f.names...)
	}
	funcArray := "{" + strings.Join(funcNames, ",") + "}"

	for _, role := range roles {
		who := fmt.Sprintf("role %s (upstream_user of %s)", role, strings.Join(usersOf[role], ", "))
		before := r.problems
		rows, err := query(ctx, conn, `SELECT rolsuper, rolreplication, rolbypassrls,
  has_database_privilege($1::name, current_database(), 'TEMP'), current_database()
FROM pg_catalog.pg_roles WHERE rolname = $1`, role)
		if err != nil {
			return fmt.Errorf("reading role %s: %w", role, err)
		}
		if len(rows) == 0 {
			r.fail("%s does not exist upstream: its users cannot log in", who)
			continue
		}
		row := rows[0]
		if row[0] == "t" {
			r.warn("%s is SUPERUSER: it can read files, run programs and change anything; a single gap in pgveil exposes everything", who)
		}
		if row[1] == "t" {
			r.warn("%s has REPLICATION: a replication connection streams every table unmasked, without going through pgveil", who)
		}
		if row[2] == "t" {
			r.warn("%s has BYPASSRLS: row-level security policies that back up pgveil's row filters do not apply to it", who)
		}
		if row[3] == "t" {
			r.warn("%s has TEMP on database %s (PUBLIC has it by default): it can create temporary tables, views and functions whose contents pgveil cannot trace to classified columns; REVOKE TEMP ON DATABASE %s FROM PUBLIC and grant it only to roles that need it", who, row[4], quoteIdent(row[4]))
		}

		rows, err = query(ctx, conn, `SELECT p.proname, p.oid::regprocedure::text
FROM pg_catalog.pg_proc p
WHERE p.pronamespace = 'pg_catalog'::regnamespace AND p.proname = ANY($2::text[])
  AND has_function_privilege($1::name, p.oid, 'EXECUTE')
ORDER BY 1, 2`, role, funcArray)
		if err != nil {
			return fmt.Errorf("reading function privileges of %s: %w", role, err)
		}
		for _, f := range riskyFunctions {
			var sigs []string
			for _, row := range rows {
				if slices.Contains(f.names, row[0]) {
					sigs = append(sigs, row[1])
				}
			}
			if len(sigs) > 0 {
				r.warn("%s may EXECUTE %s: %s", who, strings.Join(sigs, ", "), f.why)
			}
		}

		for _, sr := range serverRoles {
			rows, err := query(ctx, conn, `SELECT EXISTS (SELECT FROM pg_catalog.pg_roles WHERE rolname = $2)
  AND pg_has_role($1::name, $2::name, 'MEMBER')`, role, sr.role)
			if err != nil {
				return fmt.Errorf("reading membership of %s in %s: %w", role, sr.role, err)
			}
			if rows[0][0] == "t" {
				r.warn("%s is a member of %s: %s", who, sr.role, sr.why)
			}
		}

		if len(rels) > 0 {
			rows, err := query(ctx, conn, `SELECT n.nspname || '.' || c.relname, pg_catalog.pg_get_userbyid(c.relowner)
FROM pg_catalog.pg_class c JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
WHERE c.oid = ANY($2::oid[]) AND pg_has_role($1::name, c.relowner, 'USAGE')
ORDER BY 1`, role, relArray)
			if err != nil {
				return fmt.Errorf("reading table owners: %w", err)
			}
			for _, row := range rows {
				r.warn("%s owns %s (owner %s), which holds classified columns: an owner can alter it, add triggers or rules, disable row-level security and grant access, all out of pgveil's reach", who, row[0], row[1])
			}
		}
		if r.problems == before {
			r.ok("%s: no TEMP, no risky functions, no server-file roles, not SUPERUSER/REPLICATION/BYPASSRLS, owns no classified table", who)
		}
	}
	return nil
}
