package integration

import (
	"context"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/pgveil/pgveil/integration/harness"
)

// biStatements are what BI drivers send at connect time and for schema
// sync (abridged from pgjdbc's DatabaseMetaData, psqlODBC's connect
// sequence and SQLAlchemy's reflection): all must work in a masked
// session, since the analyst's tools cannot be changed.
var biStatements = []string{
	// pgjdbc connect
	"SET extra_float_digits = 3",
	"SET application_name = 'PostgreSQL JDBC Driver'",
	// psqlODBC connect
	"SET DateStyle = 'ISO'",
	"SET extra_float_digits = 2",
	"SELECT pg_client_encoding()",
	"SHOW transaction_isolation",
	"SELECT oid, typbasetype FROM pg_type WHERE typname = 'lo'",
	// SQLAlchemy
	"SELECT pg_catalog.version()",
	"SELECT current_schema()",
	"SHOW standard_conforming_strings",
	"SELECT c.relname FROM pg_catalog.pg_class c JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace WHERE n.nspname = 'crm' AND c.relkind = ANY (ARRAY['r', 'p'])",
	"SELECT a.attname, pg_catalog.format_type(a.atttypid, a.atttypmod), (SELECT pg_catalog.pg_get_expr(d.adbin, d.adrelid) FROM pg_catalog.pg_attrdef d WHERE d.adrelid = a.attrelid AND d.adnum = a.attnum AND a.atthasdef) AS \"default\", a.attnotnull FROM pg_catalog.pg_attribute a WHERE a.attrelid = 'crm.customers'::regclass AND a.attnum > 0 AND NOT a.attisdropped ORDER BY a.attnum",
	// pgjdbc getTables
	"SELECT NULL AS TABLE_CAT, n.nspname AS TABLE_SCHEM, c.relname AS TABLE_NAME, CASE n.nspname ~ '^pg_' OR n.nspname = 'information_schema' WHEN true THEN 'SYSTEM TABLE' ELSE 'TABLE' END AS TABLE_TYPE, d.description AS REMARKS FROM pg_catalog.pg_namespace n, pg_catalog.pg_class c LEFT JOIN pg_catalog.pg_description d ON (c.oid = d.objoid AND d.objsubid = 0 AND d.classoid = 'pg_class'::regclass) WHERE c.relnamespace = n.oid AND n.nspname LIKE 'crm' ORDER BY TABLE_TYPE, TABLE_SCHEM, TABLE_NAME",
	// pgjdbc getPrimaryKeys
	"SELECT NULL AS TABLE_CAT, n.nspname AS TABLE_SCHEM, ct.relname AS TABLE_NAME, a.attname AS COLUMN_NAME, (information_schema._pg_expandarray(i.indkey)).n AS KEY_SEQ, ci.relname AS PK_NAME, information_schema._pg_expandarray(i.indkey) AS KEYS, a.attnum AS A_ATTNUM FROM pg_catalog.pg_class ct JOIN pg_catalog.pg_attribute a ON (ct.oid = a.attrelid) JOIN pg_catalog.pg_namespace n ON (ct.relnamespace = n.oid) JOIN pg_catalog.pg_index i ON (a.attrelid = i.indrelid) JOIN pg_catalog.pg_class ci ON (ci.oid = i.indexrelid) WHERE true AND n.nspname = 'crm' AND ct.relname = 'customers' AND i.indisprimary",
	// information_schema (DBeaver, Superset)
	"SELECT table_name, column_name, data_type, is_nullable FROM information_schema.columns WHERE table_schema = 'crm' ORDER BY table_name, ordinal_position",
	// a typical chart query
	"SELECT city, count(*) AS orders, sum(amount) AS revenue FROM crm.orders GROUP BY city ORDER BY revenue DESC LIMIT 10",
	"BEGIN", "SAVEPOINT _EXEC_SVP_1", "RELEASE _EXEC_SVP_1", "COMMIT",
}

func TestMaskingBIStatements(t *testing.T) {
	p := harness.StartProxy(t, nil)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	for _, mode := range []pgx.QueryExecMode{pgx.QueryExecModeSimpleProtocol, pgx.QueryExecModeExec} {
		tap := &wiretap{}
		conn := connectTapped(t, p.DSN(harness.Overseas), mode, tap)
		for _, sql := range biStatements {
			rows, err := conn.Query(ctx, sql)
			if err == nil {
				for rows.Next() {
				}
				err = rows.Err()
			}
			if err != nil {
				t.Errorf("%v: %s: %v", mode, sql, err)
			}
		}
		assertNoLeak(t, tap.bytes())
	}
}
