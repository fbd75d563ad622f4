// Package democrm owns the sample China CRM that pgveil's demo, tests and
// benchmarks run against: the crm schema (customers, orders, free-text staff
// notes, a view), the roles a proxy deployment uses (crm_reader for data,
// pgveil_catalog for the catalog), and a deterministic generator of
// realistic mainland personal information — Hanzi names with pinyin, mobile
// numbers, valid 18-digit resident ID numbers, addresses, WeChat OpenIDs,
// QQ numbers — that Load streams into PostgreSQL with COPY.
//
// The data is fake but well-formed on purpose: masking rules and detectors
// must be tested against values that pass the same checks real ones do
// (ID check digits, mobile prefixes, real area codes). A few fixed seed
// values (SeedPII) are always present so that tests can look for leaks.
//
// Typical use, as a superuser:
//
//	CreateDatabaseSQL                  (in any database, e.g. postgres)
//	Load(ctx, conn, 1000, 5000, 1)     (connected to Database)
//	SetupSQL(readerPW, catalogPW)      (connected to Database)
//
// Load and SetupSQL may run in either order, but as the same role: SetupSQL
// grants on existing tables and sets default privileges for future ones.
package democrm

import (
	"context"
	"fmt"
	"io"
	"strconv"
	"strings"

	"github.com/jackc/pgx/v5/pgconn"
)

// Database is the name of the sample database.
const Database = "crm"

// Role names created by SetupSQL.
const (
	ReaderRole  = "crm_reader"     // what pgveil logs in as to run client queries
	CatalogRole = "pgveil_catalog" // what pgveil logs in as to read column types and views
)

// CreateDatabaseSQL creates Database. It must be sent on its own (CREATE
// DATABASE cannot run in a transaction block), connected to another
// database. template0 with UTF8 and the C locale works on any cluster,
// whatever its default encoding; Hanzi need UTF8.
const CreateDatabaseSQL = `CREATE DATABASE ` + Database + ` TEMPLATE template0 ENCODING 'UTF8' LC_COLLATE 'C' LC_CTYPE 'C'`

// SchemaSQL creates the crm schema and its tables, dropping earlier tables
// and the view. Load runs it; it is exported as documentation of the
// columns. Keys, the index and the view are in constraintsSQL, which Load
// runs after the data is in: building an index once is faster than
// maintaining it row by row.
const SchemaSQL = `
CREATE SCHEMA IF NOT EXISTS crm;
DROP VIEW IF EXISTS crm.customer_contacts;
DROP TABLE IF EXISTS crm.staff_notes, crm.orders, crm.customers;

CREATE TABLE crm.customers (
    id                   bigint NOT NULL,
    name                 text NOT NULL,
    name_pinyin          text,
    mobile               text,
    email                text,
    id_number            text,
    birthday             date,
    gender               text,
    city                 text,
    province             text,
    address              text,
    wechat_openid        text,
    qq_number            text,
    vip_level            int NOT NULL DEFAULT 0,
    consent_cross_border boolean NOT NULL DEFAULT false,
    created_at           timestamptz NOT NULL DEFAULT now()
);
COMMENT ON TABLE crm.customers IS 'Sample CRM customers: every column but id, vip_level, consent_cross_border and created_at is personal information (PIPL)';
COMMENT ON COLUMN crm.customers.id_number IS '18-digit PRC resident ID number (GB 11643-1999)';
COMMENT ON COLUMN crm.customers.consent_cross_border IS 'Separate consent to cross-border transfer (PIPL art. 39)';

CREATE TABLE crm.orders (
    id           bigint NOT NULL,
    customer_id  bigint NOT NULL,
    created_at   timestamptz NOT NULL,
    amount       numeric(12,2) NOT NULL,
    status       text NOT NULL,
    campaign     text,
    city         text,
    ship_phone   text,
    ship_address text
);

CREATE TABLE crm.staff_notes (
    id          serial,
    customer_id bigint,
    note        text
);
COMMENT ON TABLE crm.staff_notes IS 'Free-text customer service notes; they quote personal information';
`

const constraintsSQL = `
ALTER TABLE crm.customers ADD PRIMARY KEY (id);
ALTER TABLE crm.orders ADD PRIMARY KEY (id);
ALTER TABLE crm.orders ADD FOREIGN KEY (customer_id) REFERENCES crm.customers (id);
CREATE INDEX orders_customer_id_idx ON crm.orders (customer_id);
ALTER TABLE crm.staff_notes ADD PRIMARY KEY (id);
SELECT setval('crm.staff_notes_id_seq', greatest((SELECT max(id) FROM crm.staff_notes), 1));
CREATE VIEW crm.customer_contacts AS SELECT id, name, mobile, email FROM crm.customers;
`

// SetupSQL returns the statements that create (or update) the roles and
// their grants; run them connected to Database as a superuser. They can be
// run again, e.g. to change the passwords.
//
// crm_reader may read every table and view in crm. pgveil_catalog gets the
// same USAGE and SELECT: reading pg_catalog needs no grant, but
// information_schema only lists columns a role holds a privilege on, and
// describing a query's result needs the tables to be accessible.
func SetupSQL(readerPassword, catalogPassword string) string {
	var b strings.Builder
	b.WriteString("CREATE SCHEMA IF NOT EXISTS crm;\n")
	for _, r := range []struct{ role, password string }{
		{ReaderRole, readerPassword},
		{CatalogRole, catalogPassword},
	} {
		// Roles are cluster-wide, so they may exist from an earlier run.
		fmt.Fprintf(&b, "DO $$BEGIN IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = %s) THEN CREATE ROLE %s; END IF; END$$;\n",
			quoteLiteral(r.role), r.role)
		fmt.Fprintf(&b, "ALTER ROLE %s WITH LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE PASSWORD %s;\n", r.role, quoteLiteral(r.password))
	}
	roles := ReaderRole + ", " + CatalogRole
	fmt.Fprintf(&b, "GRANT CONNECT ON DATABASE %s TO %s;\n", Database, roles)
	fmt.Fprintf(&b, "GRANT USAGE ON SCHEMA crm TO %s;\n", roles)
	fmt.Fprintf(&b, "GRANT SELECT ON ALL TABLES IN SCHEMA crm TO %s;\n", roles)
	fmt.Fprintf(&b, "ALTER DEFAULT PRIVILEGES IN SCHEMA crm GRANT SELECT ON TABLES TO %s;\n", roles)
	return b.String()
}

// quoteLiteral quotes s as an SQL string literal (standard_conforming_strings
// is on in every supported PostgreSQL, so only quotes need doubling).
func quoteLiteral(s string) string {
	return "'" + strings.ReplaceAll(s, "'", "''") + "'"
}

// Load (re)creates the crm tables in the database conn is connected to and
// fills them with Generate(seed, customers, orders), streaming rows through
// COPY FROM STDIN as they are generated, so memory use does not grow with
// the row counts. Everything happens in one transaction: on a server with
// wal_level=minimal (pgserver's) the COPYs then skip the WAL. Keys, the
// index and the view are added after the data, then the tables are
// analyzed.
//
// On error the transaction is rolled back if the connection still works.
func Load(ctx context.Context, conn *pgconn.PgConn, customers, orders int, seed int64) (err error) {
	d := Generate(seed, customers, orders)
	if _, err := conn.Exec(ctx, "BEGIN;"+SchemaSQL).ReadAll(); err != nil {
		conn.Exec(context.Background(), "ROLLBACK").ReadAll()
		return fmt.Errorf("democrm: create schema: %w", err)
	}
	defer func() {
		if err != nil && !conn.IsClosed() {
			conn.Exec(context.Background(), "ROLLBACK").ReadAll()
		}
	}()

	copies := []struct {
		table string
		sql   string
		r     io.Reader
	}{
		{"customers", "COPY crm.customers (id, name, name_pinyin, mobile, email, id_number, birthday, gender, city, province, address, wechat_openid, qq_number, vip_level, consent_cross_border, created_at) FROM STDIN",
			newRowReader(ctx, int64(d.NumCustomers), func(b []byte, id int64) []byte { return appendCustomer(b, d.Customer(id)) })},
		{"orders", "COPY crm.orders (id, customer_id, created_at, amount, status, campaign, city, ship_phone, ship_address) FROM STDIN",
			newRowReader(ctx, int64(d.NumOrders), func(b []byte, id int64) []byte { return appendOrder(b, d.Order(id)) })},
		{"staff_notes", "COPY crm.staff_notes (id, customer_id, note) FROM STDIN",
			newRowReader(ctx, int64(d.NumNotes), func(b []byte, id int64) []byte { return appendNote(b, d.Note(id)) })},
	}
	for _, c := range copies {
		tag, err := conn.CopyFrom(ctx, c.r, c.sql)
		if err != nil {
			return fmt.Errorf("democrm: copy %s: %w", c.table, err)
		}
		if want := c.r.(*rowReader).n; tag.RowsAffected() != want {
			return fmt.Errorf("democrm: copy %s: %d rows loaded, want %d", c.table, tag.RowsAffected(), want)
		}
	}
	if _, err := conn.Exec(ctx, constraintsSQL+"COMMIT;").ReadAll(); err != nil {
		return fmt.Errorf("democrm: add keys: %w", err)
	}
	if _, err := conn.Exec(ctx, "ANALYZE crm.customers, crm.orders, crm.staff_notes").ReadAll(); err != nil {
		return fmt.Errorf("democrm: analyze: %w", err)
	}
	return nil
}

// rowReader is the io.Reader COPY reads from: it generates rows 1..n on
// demand into a buffer of about 64 KiB, the size pgconn sends per CopyData.
type rowReader struct {
	ctx    context.Context
	n      int64
	nextID int64
	row    func(b []byte, id int64) []byte
	buf    []byte
	off    int
}

const rowBufferSize = 64 << 10

func newRowReader(ctx context.Context, n int64, row func([]byte, int64) []byte) *rowReader {
	return &rowReader{ctx: ctx, n: n, nextID: 1, row: row, buf: make([]byte, 0, rowBufferSize+4096)}
}

func (r *rowReader) Read(p []byte) (int, error) {
	if r.off == len(r.buf) {
		if r.nextID > r.n {
			return 0, io.EOF
		}
		// A cancelled Load fails the COPY (CopyFail) rather than finishing it.
		if err := r.ctx.Err(); err != nil {
			return 0, err
		}
		r.buf, r.off = r.buf[:0], 0
		for len(r.buf) < rowBufferSize && r.nextID <= r.n {
			r.buf = r.row(r.buf, r.nextID)
			r.nextID++
		}
	}
	n := copy(p, r.buf[r.off:])
	r.off += n
	return n, nil
}

// COPY text format: tab-separated, \N for NULL, backslash escapes.

const (
	timestampLayout = "2006-01-02 15:04:05-07"
	dateLayout      = "2006-01-02"
)

func appendCustomer(b []byte, c Customer) []byte {
	b = strconv.AppendInt(b, c.ID, 10)
	b = appendField(b, c.Name)
	b = appendField(b, c.NamePinyin)
	b = appendField(b, c.Mobile)
	b = appendNullable(b, c.Email)
	b = appendField(b, c.IDNumber)
	b = append(b, '\t')
	b = c.Birthday.AppendFormat(b, dateLayout)
	b = appendField(b, c.Gender)
	b = appendField(b, c.City)
	b = appendField(b, c.Province)
	b = appendField(b, c.Address)
	b = appendNullable(b, c.WechatOpenID)
	b = appendNullable(b, c.QQNumber)
	b = append(b, '\t')
	b = strconv.AppendInt(b, int64(c.VIPLevel), 10)
	if c.ConsentCrossBorder {
		b = append(b, "\tt\t"...)
	} else {
		b = append(b, "\tf\t"...)
	}
	b = c.CreatedAt.AppendFormat(b, timestampLayout)
	return append(b, '\n')
}

func appendOrder(b []byte, o Order) []byte {
	b = strconv.AppendInt(b, o.ID, 10)
	b = append(b, '\t')
	b = strconv.AppendInt(b, o.CustomerID, 10)
	b = append(b, '\t')
	b = o.CreatedAt.AppendFormat(b, timestampLayout)
	b = append(b, '\t')
	b = appendCents(b, o.AmountCents)
	b = appendField(b, o.Status)
	b = appendNullable(b, o.Campaign)
	b = appendField(b, o.City)
	b = appendField(b, o.ShipPhone)
	b = appendField(b, o.ShipAddress)
	return append(b, '\n')
}

func appendNote(b []byte, n StaffNote) []byte {
	b = strconv.AppendInt(b, n.ID, 10)
	b = append(b, '\t')
	b = strconv.AppendInt(b, n.CustomerID, 10)
	b = appendField(b, n.Note)
	return append(b, '\n')
}

// appendCents writes 12345 as "123.45".
func appendCents(b []byte, cents int64) []byte {
	if cents < 0 {
		b = append(b, '-')
		cents = -cents
	}
	b = strconv.AppendInt(b, cents/100, 10)
	return append(b, '.', byte('0'+cents/10%10), byte('0'+cents%10))
}

// appendField writes a tab and s, escaped for COPY's text format.
func appendField(b []byte, s string) []byte {
	b = append(b, '\t')
	for i := 0; i < len(s); i++ {
		switch c := s[i]; c {
		case '\\':
			b = append(b, '\\', '\\')
		case '\t':
			b = append(b, '\\', 't')
		case '\n':
			b = append(b, '\\', 'n')
		case '\r':
			b = append(b, '\\', 'r')
		default:
			b = append(b, c)
		}
	}
	return b
}

// appendNullable is appendField with "" written as NULL.
func appendNullable(b []byte, s string) []byte {
	if s == "" {
		return append(b, '\t', '\\', 'N')
	}
	return appendField(b, s)
}
