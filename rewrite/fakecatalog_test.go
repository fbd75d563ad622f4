package rewrite

import (
	"context"
	"strings"
)

// fakeCatalog is the CRM schema of the issue, plus a little of pg_catalog
// and some views that exercise view handling.
type fakeCatalog struct {
	rels map[string]*Relation // "schema.name"
}

func (c *fakeCatalog) Relation(_ context.Context, schema, name string, searchPath []string) (*Relation, error) {
	if schema != "" {
		if r, ok := c.rels[schema+"."+name]; ok {
			return r, nil
		}
		return nil, ErrUnknownRelation
	}
	path := searchPath
	hasCatalog := false
	for _, s := range path {
		if s == "pg_catalog" {
			hasCatalog = true
		}
	}
	if !hasCatalog {
		path = append([]string{"pg_catalog"}, path...)
	}
	for _, s := range path {
		if r, ok := c.rels[s+"."+name]; ok {
			return r, nil
		}
	}
	return nil, ErrUnknownRelation
}

var testSearchPath = []string{"crm", "public"}

func newFakeCatalog() *fakeCatalog {
	c := &fakeCatalog{rels: map[string]*Relation{}}
	oid := uint32(16384)
	add := func(schema, name string, kind byte, cols, viewDef string) {
		oid++
		r := &Relation{OID: oid, Schema: schema, Name: name, Kind: kind, ViewDef: viewDef}
		for i, col := range strings.Fields(cols) {
			r.Columns = append(r.Columns, Column{Name: col, AttNum: int16(i + 1), TypeOID: 25})
		}
		c.rels[schema+"."+name] = r
	}
	add("crm", "customers", 'r', "id name name_pinyin mobile email id_number birthday gender city province address wechat_openid qq_number vip_level consent_cross_border created_at", "")
	add("crm", "orders", 'r', "id customer_id created_at amount status campaign city ship_phone ship_address", "")
	add("crm", "staff_notes", 'r', "id customer_id note", "")
	add("crm", "customer_contacts", 'v', "id name mobile email", " SELECT customers.id,\n    customers.name,\n    customers.mobile,\n    customers.email\n   FROM crm.customers;")
	// A view with a predicate on a classified column, and a view over a view.
	add("crm", "beijing_customers", 'v', "id name", "SELECT id, name FROM crm.customers WHERE city = 'Beijing'")
	add("crm", "contact_digest", 'v', "id handle", "SELECT id, lower(email) FROM crm.customer_contacts")
	add("crm", "order_summary", 'm', "customer_id total", "SELECT customer_id, sum(amount) FROM crm.orders GROUP BY customer_id")
	// Views that cannot be followed.
	add("crm", "loop_a", 'v', "x", "SELECT x FROM crm.loop_b")
	add("crm", "loop_b", 'v', "x", "SELECT x FROM crm.loop_a")
	add("crm", "opaque", 'v', "x", "")
	add("pg_catalog", "pg_class", 'r', "oid relname relnamespace relkind reltuples", "")
	add("pg_catalog", "pg_namespace", 'r', "oid nspname nspowner", "")
	add("pg_catalog", "pg_attribute", 'r', "attrelid attname atttypid attnum", "")
	return c
}
