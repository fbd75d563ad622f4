package rewrite

import (
	"bufio"
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata/lineage")

const caseMarker = "=== "

// goldenCase is one case of a golden file: the SQL (the case name) and the
// rendering of its analysis.
type goldenCase struct {
	sql, want string
}

func readGolden(t testing.TB, path string) []goldenCase {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var cases []goldenCase
	var body []string
	flush := func() {
		if len(cases) > 0 {
			cases[len(cases)-1].want = strings.TrimRight(strings.Join(body, "\n"), "\n ")
		}
		body = nil
	}
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		if sql, ok := strings.CutPrefix(line, caseMarker); ok {
			flush()
			cases = append(cases, goldenCase{sql: sql})
			continue
		}
		if len(cases) > 0 {
			body = append(body, line)
		}
	}
	flush()
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	return cases
}

func goldenFiles(t testing.TB) []string {
	files, err := filepath.Glob(filepath.Join("testdata", "lineage", "*.txt"))
	if err != nil || len(files) == 0 {
		t.Fatalf("no golden files: %v", err)
	}
	return files
}

// render is the readable form of an analysis the golden files hold.
func render(as []*Analysis, err error) string {
	var b strings.Builder
	if err != nil {
		var ae *AnalysisError
		if !errors.As(err, &ae) {
			fmt.Fprintf(&b, "catalog error: %v", err)
			return b.String()
		}
		fmt.Fprintf(&b, "refused: %s", ae.Reason)
		if errors.Is(err, ErrUnknownRelation) {
			b.WriteString(" [ErrUnknownRelation]")
		}
		return b.String()
	}
	for i, a := range as {
		if i > 0 {
			b.WriteString("\n")
		}
		fmt.Fprintf(&b, "%s %s", a.Kind, a.Tag)
		if a.Setting != "" {
			fmt.Fprintf(&b, " setting=%s", a.Setting)
		}
		if a.Cursor != "" {
			fmt.Fprintf(&b, " cursor=%s", a.Cursor)
		}
		for _, c := range a.Columns {
			fmt.Fprintf(&b, "\n  %s: %s", c.Name, renderColumn(c))
		}
		if len(a.Relations) > 0 {
			var rs []string
			for _, r := range a.Relations {
				rs = append(rs, r.String())
			}
			fmt.Fprintf(&b, "\n  relations: %s", strings.Join(rs, ", "))
		}
		for _, u := range a.Uses {
			fmt.Fprintf(&b, "\n  use %s %s", u.Clause, u.Column)
			if u.Equality {
				b.WriteString(" (equality)")
			}
			if u.View != "" {
				fmt.Fprintf(&b, " (in view %s)", u.View)
			}
		}
		if len(a.Functions) > 0 {
			fmt.Fprintf(&b, "\n  functions: %s", strings.Join(a.Functions, ", "))
		}
	}
	return b.String()
}

func renderColumn(c OutputColumn) string {
	if len(c.Sources) == 0 {
		if c.WholeRow {
			return "whole-row {}"
		}
		return "clean"
	}
	var ss []string
	for _, s := range c.Sources {
		ss = append(ss, s.String())
	}
	set := "{" + strings.Join(ss, ", ") + "}"
	switch {
	case c.WholeRow:
		return "whole-row " + set
	case c.Direct && len(ss) == 1:
		return "direct " + ss[0]
	case c.Direct:
		return "direct " + set
	}
	return "derived " + set
}

func TestAnalyzeGolden(t *testing.T) {
	cat := newFakeCatalog()
	total := 0
	for _, file := range goldenFiles(t) {
		cases := readGolden(t, file)
		total += len(cases)
		var out strings.Builder
		for _, c := range cases {
			got := render(Analyze(context.Background(), c.sql, testSearchPath, cat))
			if *update {
				fmt.Fprintf(&out, "%s%s\n%s\n\n", caseMarker, c.sql, got)
				continue
			}
			if got != c.want {
				t.Errorf("%s: %s\ngot:\n%s\nwant:\n%s", filepath.Base(file), c.sql, got, c.want)
			}
		}
		if *update {
			if err := os.WriteFile(file, []byte(out.String()), 0o644); err != nil {
				t.Fatal(err)
			}
		}
	}
	t.Logf("%d golden cases", total)
}

// TestAnalyzeErrorsEchoNoLiterals checks that refusals never quote a value
// the statement carries.
func TestAnalyzeErrorsEchoNoLiterals(t *testing.T) {
	cat := newFakeCatalog()
	const secret = "13812345678"
	for _, sql := range []string{
		"SELECT mobile FROM crm.customers WHERE mobile = '" + secret + "' AND",
		"SELECT '" + secret + "' INTO TEMP x",
		"SELECT * FROM query_to_xml('select " + secret + "', true, true, '')",
		"WITH d AS (DELETE FROM crm.customers WHERE mobile = '" + secret + "' RETURNING *) SELECT * FROM d",
	} {
		_, err := Analyze(context.Background(), sql, testSearchPath, cat)
		if err == nil {
			t.Errorf("%s: no error", sql)
			continue
		}
		if strings.Contains(err.Error(), secret) {
			t.Errorf("%s: error echoes the literal: %v", sql, err)
		}
	}
}

func TestAnalyzeUnknownRelationWrapped(t *testing.T) {
	_, err := Analyze(context.Background(), "SELECT * FROM nosuch", testSearchPath, newFakeCatalog())
	if !errors.Is(err, ErrUnknownRelation) {
		t.Fatalf("got %v, want ErrUnknownRelation", err)
	}
	var ae *AnalysisError
	if !errors.As(err, &ae) {
		t.Fatalf("got %T, want *AnalysisError", err)
	}
}

func TestAnalyzeResultSorted(t *testing.T) {
	as, err := Analyze(context.Background(),
		"SELECT coalesce(c.mobile, o.ship_phone, c.email) FROM crm.orders o JOIN crm.customers c ON c.id = o.customer_id",
		testSearchPath, newFakeCatalog())
	if err != nil {
		t.Fatal(err)
	}
	src := as[0].Columns[0].Sources
	if !sort.SliceIsSorted(src, func(i, j int) bool { return src[i].String() < src[j].String() }) || len(src) != 3 {
		t.Fatalf("sources not sorted and deduplicated: %v", src)
	}
}

func FuzzAnalyze(f *testing.F) {
	for _, file := range goldenFiles(f) {
		for _, c := range readGolden(f, file) {
			f.Add(c.sql)
		}
	}
	cat := newFakeCatalog()
	f.Fuzz(func(t *testing.T, sql string) {
		as, err := Analyze(context.Background(), sql, testSearchPath, cat)
		if err != nil {
			var ae *AnalysisError
			if !errors.As(err, &ae) {
				t.Fatalf("error of type %T: %v", err, err)
			}
			return
		}
		for _, a := range as {
			for _, c := range a.Columns {
				if c.Direct && len(c.Sources) == 0 {
					t.Fatalf("direct column %q without sources", c.Name)
				}
			}
		}
	})
}

func BenchmarkAnalyzeJoin(b *testing.B) {
	cat := newFakeCatalog()
	const sql = `SELECT c.id, c.name, c.mobile, o.amount, o.created_at
		FROM crm.customers c JOIN crm.orders o ON o.customer_id = c.id
		WHERE o.status = $1 AND c.city = $2
		ORDER BY o.created_at DESC LIMIT 50`
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		if _, err := Analyze(ctx, sql, testSearchPath, cat); err != nil {
			b.Fatal(err)
		}
	}
}
