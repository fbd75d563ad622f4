package rewrite

import (
	"context"
	"errors"
	"strings"
	"testing"
)

// rfCatalog is a minimal catalog for row-filter tests: crm.customers and
// crm.orders tables, a view over customers, and a view over orders.
type rfCatalog map[string]*Relation

func (c rfCatalog) Relation(_ context.Context, schema, name string, path []string) (*Relation, error) {
	if schema != "" {
		if r, ok := c[schema+"."+name]; ok {
			return r, nil
		}
		return nil, ErrUnknownRelation
	}
	for _, s := range path {
		if r, ok := c[s+"."+name]; ok {
			return r, nil
		}
	}
	return nil, ErrUnknownRelation
}

var rfCRM = rfCatalog{
	"crm.customers":         {Schema: "crm", Name: "customers", Kind: 'r'},
	"crm.orders":            {Schema: "crm", Name: "orders", Kind: 'r'},
	"crm.customer_contacts": {Schema: "crm", Name: "customer_contacts", Kind: 'v', ViewDef: " SELECT customers.id, customers.name FROM crm.customers;"},
	"crm.order_view":        {Schema: "crm", Name: "order_view", Kind: 'v', ViewDef: " SELECT orders.id FROM crm.orders;"},
}

var rfFilters = RowFilters{"crm.customers": "consent_cross_border"}

func TestApplyRowFilters(t *testing.T) {
	cases := []struct {
		desc, sql, want string
	}{
		{"plain reference", "SELECT name FROM crm.customers",
			`SELECT name FROM (SELECT * FROM crm.customers WHERE consent_cross_border) customers`},
		{"alias and search path", "SELECT c.name FROM customers c WHERE c.id = 1",
			`SELECT c.name FROM (SELECT * FROM crm.customers WHERE consent_cross_border) c WHERE c.id = 1`},
		{"join, subquery and CTE", "WITH x AS (SELECT id FROM crm.customers) SELECT o.id FROM crm.orders o JOIN x ON x.id = o.customer_id WHERE EXISTS (SELECT 1 FROM crm.customers c2 WHERE c2.id = o.customer_id)",
			`WITH x AS (SELECT id FROM (SELECT * FROM crm.customers WHERE consent_cross_border) customers) SELECT o.id FROM crm.orders o JOIN x ON x.id = o.customer_id WHERE EXISTS (SELECT 1 FROM (SELECT * FROM crm.customers WHERE consent_cross_border) c2 WHERE c2.id = o.customer_id)`},
		{"column alias list kept", "SELECT a FROM crm.customers AS t(a, b)",
			`SELECT a FROM (SELECT * FROM crm.customers WHERE consent_cross_border) t(a, b)`},
		{"ONLY kept", "SELECT id FROM ONLY crm.customers",
			`SELECT id FROM (SELECT * FROM ONLY crm.customers WHERE consent_cross_border) customers`},
		{"set operation", "SELECT id FROM crm.orders UNION SELECT id FROM crm.customers",
			`SELECT id FROM crm.orders UNION SELECT id FROM (SELECT * FROM crm.customers WHERE consent_cross_border) customers`},
	}
	for _, c := range cases {
		got, err := ApplyRowFilters(context.Background(), c.sql, []string{"crm"}, rfCRM, rfFilters)
		if err != nil {
			t.Errorf("%s: %v", c.desc, err)
			continue
		}
		if got != c.want {
			t.Errorf("%s:\n got %s\nwant %s", c.desc, got, c.want)
		}
	}
}

func TestApplyRowFiltersLeavesOtherStatementsAlone(t *testing.T) {
	for _, sql := range []string{"SELECT 1", "SELECT id FROM crm.orders", "SELECT id FROM crm.order_view"} {
		got, err := ApplyRowFilters(context.Background(), sql, []string{"crm"}, rfCRM, rfFilters)
		if err != nil || got != "" {
			t.Errorf("%s: got %q, %v; want unchanged", sql, got, err)
		}
	}
}

func TestApplyRowFiltersRefuses(t *testing.T) {
	cases := map[string]string{
		"view over a filtered table":   "SELECT name FROM crm.customer_contacts",
		"CTE shadowing a filtered one": "WITH customers AS (SELECT * FROM crm.customers) SELECT * FROM customers",
		"unknown relation":             "SELECT * FROM nope",
	}
	for desc, sql := range cases {
		_, err := ApplyRowFilters(context.Background(), sql, []string{"crm"}, rfCRM, rfFilters)
		var rfe *RowFilterError
		if err == nil || !(errors.As(err, &rfe) || errors.Is(err, ErrUnknownRelation)) {
			t.Errorf("%s: err = %v, want a refusal", desc, err)
		}
		if rfe != nil && strings.Contains(rfe.Reason, "consent") {
			t.Errorf("%s: reason reveals the filter: %q", desc, rfe.Reason)
		}
	}
}
