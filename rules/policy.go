package rules

import (
	"fmt"
	"slices"
	"strings"
)

// Identity is who a session is, as far as policies are concerned.
type Identity struct {
	User   string   // the pgveil user name: "anna.keller"
	Roles  []string // the user's roles: ["analyst", "bi"]
	Region string   // see Config.Region: "EU", or RegionUnknown
}

// Decision is what happens to one column in one session, and why.
type Decision struct {
	Transform Transform // what to apply; share, do not modify, its Args
	Kind      string    // classification kind, "" if not classified
	Policy    string    // policy name, "" if none matched
	// Reason says why, for logs and `pgveil explain`:
	//   column crm.customers.mobile is "phone"; policy "overseas-analysts" masks phone with partial(3,4)
	//   column crm.customers.birthday is "birth_date"; kind not named in policy "china-staff": default clear
	//   no policy matches region "unknown", roles [sales]: classified columns are redacted
	//   not classified
	Reason string
}

// ReasonNotClassified is the Reason of every decision about a column no
// [[classify]] pattern matches.
const ReasonNotClassified = "not classified"

// SessionPolicy is the policy a session gets: one [[policy]], parsed, or,
// when no policy matches, one that redacts every classified column.
// Config.Session returns it; it is shared between sessions and must be
// treated as read-only.
type SessionPolicy struct {
	Name       string            // the [[policy]] name; "" when no policy matched
	ReadOnly   bool              // writes are refused
	DenyTables []string          // ["crm.staff_notes"]: refused outright
	Predicates string            // "deny" (also for an unset predicates) or "allow_tokens"
	RowFilter  map[string]string // table -> filter: "crm.customers" -> "consent_cross_border"
	// AllClear is true iff every kind [[classify]] declares gets clear and
	// there are no row filters: the session's results need no rewriting.
	// It says nothing about ReadOnly and DenyTables, which still apply.
	// It is false when no policy matched.
	AllClear bool
	Default  Transform            // for classified columns whose kind Mask does not name
	Mask     map[string]Transform // kind -> transform, from [policy.mask]

	cfg       *Config
	cls       *classifier
	decisions map[colKey]Decision // for columns classified by exact patterns
	reasons   map[string]string   // kind -> the Reason after "column s.t.c "
	unmatched string              // the Reason of every classified column when Name is ""
}

// colKey names a column; in a wildcard pattern's index, the parts the
// pattern leaves open are "".
type colKey struct{ schema, table, column string }

// classifier answers Config.Kind. Patterns with fewer * win; parsing
// refuses configurations where two patterns of equal specificity give one
// column different kinds, so the first hit in a level is the answer.
type classifier struct {
	exact map[colKey]string
	// wild[m] holds the patterns whose wildcard parts are the bits of m
	// (1 schema, 2 table, 4 column), keyed with those parts "".
	wild [8]map[colKey]string
	// kinds lists the kinds [[classify]] declares, sorted.
	kinds []string
}

// wildOrder lists the wildcard masks from most to least specific.
var wildOrder = [...]int{1, 2, 4, 3, 5, 6, 7}

// A pattern is one [[classify]] columns entry, split.
type pattern struct {
	parts [3]string // "*" where the pattern matches anything
	mask  int       // bit i set when parts[i] is "*"
}

func (p pattern) wildcards() int { return p.mask&1 + p.mask>>1&1 + p.mask>>2&1 }

func (p pattern) key() colKey {
	k := colKey{p.parts[0], p.parts[1], p.parts[2]}
	if p.mask&1 != 0 {
		k.schema = ""
	}
	if p.mask&2 != 0 {
		k.table = ""
	}
	if p.mask&4 != 0 {
		k.column = ""
	}
	return k
}

// intersect returns the pattern that matches exactly the columns both p
// and q match, and false if there are none.
func (p pattern) intersect(q pattern) (pattern, bool) {
	var r pattern
	for i := range 3 {
		switch {
		case p.parts[i] == "*":
			r.parts[i] = q.parts[i]
			r.mask |= q.mask & (1 << i)
		case q.parts[i] == "*" || q.parts[i] == p.parts[i]:
			r.parts[i] = p.parts[i]
		default:
			return pattern{}, false
		}
	}
	return r, true
}

// covers reports whether p matches every column q matches.
func (p pattern) covers(q pattern) bool {
	for i := range 3 {
		if p.parts[i] != "*" && p.parts[i] != q.parts[i] {
			return false
		}
	}
	return true
}

// String writes p as it is written in [[classify]] columns.
func (p pattern) String() string { return strings.Join(p.parts[:], ".") }

// parsePattern splits a [[classify]] column pattern into its three parts.
func parsePattern(s string) (pattern, error) {
	parts := strings.Split(s, ".")
	if len(parts) != 3 {
		return pattern{}, fmt.Errorf("%q is not schema.table.column: write three names separated by dots, e.g. \"crm.customers.phone\" or \"*.*.phone\"", s)
	}
	var p pattern
	for i, part := range parts {
		switch {
		case part == "":
			return pattern{}, fmt.Errorf("%q has an empty name: write schema.table.column, e.g. \"crm.customers.phone\"", s)
		case strings.TrimSpace(part) != part:
			return pattern{}, fmt.Errorf("%q has blanks around a name: names are matched exactly as PostgreSQL stores them", s)
		case part == "*":
			p.mask |= 1 << i
		case strings.Contains(part, "*"):
			return pattern{}, fmt.Errorf("%q: * stands for a whole name, as in \"crm.*.phone\"", s)
		}
		p.parts[i] = part
	}
	return p, nil
}

// newClassifier indexes classify. Invalid patterns are left out (Parse
// reports them); where two patterns of equal specificity disagree, which
// Parse refuses, the first written wins.
func newClassifier(classify []Classification) *classifier {
	cls := &classifier{exact: map[colKey]string{}}
	for _, c := range classify {
		if c.Kind != "" && !slices.Contains(cls.kinds, c.Kind) {
			cls.kinds = append(cls.kinds, c.Kind)
		}
		for _, col := range c.Columns {
			p, err := parsePattern(col)
			if err != nil {
				continue
			}
			m := cls.exact
			if p.mask != 0 {
				if cls.wild[p.mask] == nil {
					cls.wild[p.mask] = map[colKey]string{}
				}
				m = cls.wild[p.mask]
			}
			if _, dup := m[p.key()]; !dup {
				m[p.key()] = c.Kind
			}
		}
	}
	slices.Sort(cls.kinds)
	return cls
}

func (cls *classifier) kind(schema, table, column string) (string, bool) {
	if k, ok := cls.exact[colKey{schema, table, column}]; ok {
		return k, true
	}
	for _, m := range wildOrder {
		idx := cls.wild[m]
		if idx == nil {
			continue
		}
		key := colKey{schema, table, column}
		if m&1 != 0 {
			key.schema = ""
		}
		if m&2 != 0 {
			key.table = ""
		}
		if m&4 != 0 {
			key.column = ""
		}
		if k, ok := idx[key]; ok {
			return k, true
		}
	}
	return "", false
}

// compiled is what Parse precomputes for Kind, Session and Decide.
type compiled struct {
	cls      *classifier
	policies []*SessionPolicy // one per Config.Policy entry
}

// compile precomputes c's classifications and policies. Transforms that
// do not parse, which Parse refuses, become redact. It returns nil for a
// configuration with neither, so that such a Config compares equal to one
// built by hand.
func (c *Config) compile() *compiled {
	if len(c.Classify) == 0 && len(c.Policy) == 0 {
		return nil
	}
	comp := &compiled{cls: newClassifier(c.Classify)}
	for i := range c.Policy {
		comp.policies = append(comp.policies, c.sessionPolicy(&c.Policy[i], comp.cls))
	}
	return comp
}

// compiledOrNew returns what Parse precomputed, or computes it for a
// Config built by hand.
func (c *Config) compiledOrNew() *compiled {
	if c.compiled != nil {
		return c.compiled
	}
	if comp := c.compile(); comp != nil {
		return comp
	}
	return &compiled{cls: newClassifier(nil)}
}

func parseOrRedact(s string) Transform {
	t, err := ParseTransform(s)
	if err != nil {
		return Redact
	}
	return t
}

func (c *Config) sessionPolicy(pol *Policy, cls *classifier) *SessionPolicy {
	sp := &SessionPolicy{
		Name:       pol.Name,
		ReadOnly:   pol.ReadOnly,
		DenyTables: pol.DenyTables,
		Predicates: pol.Predicates,
		RowFilter:  pol.RowFilter,
		Default:    parseOrRedact(pol.Default),
		Mask:       make(map[string]Transform, len(pol.Mask)),
		cfg:        c,
		cls:        cls,
		decisions:  make(map[colKey]Decision, len(cls.exact)),
	}
	if sp.Predicates == "" {
		sp.Predicates = "deny"
	}
	for _, kind := range sortedKeys(pol.Mask) {
		sp.Mask[kind] = parseOrRedact(pol.Mask[kind])
	}
	sp.AllClear = len(pol.RowFilter) == 0
	sp.reasons = make(map[string]string, len(cls.kinds))
	for _, kind := range cls.kinds {
		if !sp.transform(kind).IsClear() {
			sp.AllClear = false
		}
		sp.reasons[kind] = sp.reason(kind)
	}
	for k, kind := range cls.exact {
		sp.decisions[k] = sp.decide(kind, k.schema, k.table, k.column)
	}
	return sp
}

// Kind returns the kind of personal data the column schema.table.column
// holds, and false if no [[classify]] pattern matches it. Names are
// compared exactly, as PostgreSQL stores them (folded to lower case unless
// quoted). An exact pattern wins over patterns with *, and a pattern with
// fewer * over one with more.
func (c *Config) Kind(schema, table, column string) (kind string, ok bool) {
	if c == nil {
		return "", false
	}
	return c.compiledOrNew().cls.kind(schema, table, column)
}

// Kinds returns the kinds [[classify]] declares, sorted.
func (c *Config) Kinds() []string {
	if c == nil {
		return nil
	}
	return slices.Clone(c.compiledOrNew().cls.kinds)
}

// matches reports whether w admits id: each non-empty list must contain
// the identity's value (for roles, any one of them).
func (w *When) matches(id Identity) bool {
	if len(w.Region) > 0 && !slices.Contains(w.Region, id.Region) {
		return false
	}
	if len(w.Users) > 0 && !slices.Contains(w.Users, id.User) {
		return false
	}
	if len(w.Roles) == 0 {
		return true
	}
	for _, r := range id.Roles {
		if slices.Contains(w.Roles, r) {
			return true
		}
	}
	return false
}

// Session returns the policy for a session of id: the first [[policy]]
// whose when matches. When none does (or c is nil), it returns a policy
// with Name "" under which every classified column is redacted: pgveil
// fails closed. It never returns nil. The result of a match is shared;
// treat it as read-only.
func (c *Config) Session(id Identity) *SessionPolicy {
	var comp *compiled
	if c != nil {
		comp = c.compiledOrNew()
		for i := range c.Policy {
			if c.Policy[i].When.matches(id) {
				return comp.policies[i]
			}
		}
	} else {
		comp = &compiled{cls: newClassifier(nil)}
	}
	return &SessionPolicy{
		Predicates: "deny",
		Default:    Redact,
		cfg:        c,
		cls:        comp.cls,
		unmatched:  fmt.Sprintf("no policy matches region %q, roles %v: classified columns are redacted", id.Region, id.Roles),
	}
}

// Decide says what happens to the column schema.table.column in this
// session: clear if it is not classified; otherwise its kind's transform
// from [policy.mask], else the policy's default, else (no policy matched)
// redact. A nil SessionPolicy redacts every column. Decisions about columns
// that exact patterns classify, and about unclassified columns, do not
// allocate.
func (p *SessionPolicy) Decide(schema, table, column string) Decision {
	if p == nil {
		return Decision{Transform: Redact, Reason: "no session policy: every column is redacted"}
	}
	if d, ok := p.decisions[colKey{schema, table, column}]; ok {
		return d
	}
	kind, ok := p.cls.kind(schema, table, column)
	if !ok {
		return Decision{Transform: Clear, Reason: ReasonNotClassified}
	}
	return p.decide(kind, schema, table, column)
}

// Config returns the configuration the policy belongs to (nil for the
// policy of a nil Config).
func (p *SessionPolicy) Config() *Config { return p.cfg }

// Transform returns the transform for columns of kind in this session.
func (p *SessionPolicy) Transform(kind string) Transform {
	if p == nil {
		return Redact
	}
	return p.transform(kind)
}

func (p *SessionPolicy) transform(kind string) Transform {
	if p.Name == "" {
		return Redact
	}
	if t, ok := p.Mask[kind]; ok {
		return t
	}
	return p.Default
}

func (p *SessionPolicy) decide(kind, schema, table, column string) Decision {
	if p.Name == "" {
		return Decision{Transform: Redact, Kind: kind, Reason: p.unmatched}
	}
	reason, ok := p.reasons[kind]
	if !ok {
		reason = p.reason(kind)
	}
	return Decision{
		Transform: p.transform(kind),
		Kind:      kind,
		Policy:    p.Name,
		Reason:    "column " + schema + "." + table + "." + column + " " + reason,
	}
}

// reason returns the Reason of a decision about a column of kind, without
// its start, "column s.t.c ".
func (p *SessionPolicy) reason(kind string) string {
	if t, ok := p.Mask[kind]; ok {
		return fmt.Sprintf("is %q; policy %q masks %s with %s", kind, p.Name, kind, t)
	}
	return fmt.Sprintf("is %q; kind not named in policy %q: default %s", kind, p.Name, p.Default)
}
