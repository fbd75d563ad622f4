package masking

import (
	"context"
	"fmt"
	"strings"

	"github.com/pgveil/pgveil/proxy"
	"github.com/pgveil/pgveil/rewrite"
)

// Explain describes what pgveil does with sql for a session of the given
// identity: the policy, and per statement either the refusal or, per
// output column, its lineage, its transform and why. It runs the same
// planning as the proxy, so what it prints is what a session gets.
func (e *Engine) Explain(ctx context.Context, info proxy.SessionInfo, sql string) string {
	var b strings.Builder
	f := e.Filter(info)
	pol := e.cfg.Session(ruleIdentity(info))
	fmt.Fprintf(&b, "session: user %q, roles %v, region %q, database %q\n", info.User, info.Roles, info.Region, info.Database)
	if f == nil {
		fmt.Fprintf(&b, "policy: %q shows everything in clear; statements are forwarded unchanged\n", pol.Name)
		return b.String()
	}
	s := f.(*session)
	fmt.Fprintf(&b, "policy: %s\n", s.policyName())
	p := e.planQuery(ctx, s, sql)
	if p.refusal != nil {
		fmt.Fprintf(&b, "REFUSED (SQLSTATE %s): %s\n", p.refusal.Code, p.refusal.Message)
		return b.String()
	}
	if p.rewritten != "" {
		fmt.Fprintf(&b, "row filters applied; sent upstream as:\n  %s\n", p.rewritten)
	}
	analyses, err := rewrite.Analyze(ctx, sql, info.SearchPath, s.cat)
	if err != nil {
		fmt.Fprintf(&b, "analysis failed: %v\n", err)
		return b.String()
	}
	for i, a := range analyses {
		fmt.Fprintf(&b, "statement %d: %s\n", i+1, a.Tag)
		if len(a.Columns) == 0 {
			b.WriteString("  no result columns\n")
		}
		for j, col := range a.Columns {
			fmt.Fprintf(&b, "  %d. %s: %s\n", j+1, col.Name, e.explainColumn(s, col, p.statements[i].mask[j]))
		}
	}
	return b.String()
}

func (e *Engine) explainColumn(s *session, col rewrite.OutputColumn, m rewrite.ColumnMask) string {
	if len(col.Sources) == 0 {
		return "clear (derives from no table column)"
	}
	var srcs, reasons []string
	for _, src := range col.Sources {
		srcs = append(srcs, src.String())
		d := s.policy.Decide(src.Schema, src.Table, src.Column)
		reasons = append(reasons, d.Reason)
	}
	how := "direct"
	switch {
	case col.WholeRow:
		how = "whole row"
	case !col.Direct:
		how = "derived"
	}
	action := "clear"
	if m.Masker != nil {
		action = "masked"
		if m.Masker == redactAll {
			action = "redacted (NULL)"
			if how != "direct" {
				action += ": values derived from masked columns are redacted"
			}
		}
	}
	return fmt.Sprintf("%s — %s from %s\n       %s", action, how, strings.Join(srcs, ", "), strings.Join(reasons, "\n       "))
}
