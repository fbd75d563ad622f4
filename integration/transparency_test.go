package integration

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/pgveil/pgveil/integration/harness"
)

// TestPsqlTransparency runs every psql script in testdata/transparency
// twice, once straight against PostgreSQL as crm_reader and once through
// pgveil as li.na (a clear session that logs in upstream as crm_reader),
// and requires byte-identical output: the direct run is the oracle.
//
// Only the PIDs psql prints for asynchronous notifications are
// normalized; they name a backend, which differs between the two runs.
// Set PGVEIL_TRANSPARENCY_KEEP=DIR to keep all outputs in DIR.
func TestPsqlTransparency(t *testing.T) {
	psql := clientsLookPath(t, "psql")
	files, err := filepath.Glob(filepath.Join("testdata", "transparency", "*.sql"))
	if err != nil {
		t.Fatal(err)
	}
	if len(files) < 20 {
		t.Fatalf("found %d scripts in testdata/transparency, want at least 20", len(files))
	}
	p := harness.StartProxy(t, nil)
	for _, f := range files {
		abs, err := filepath.Abs(f)
		if err != nil {
			t.Fatal(err)
		}
		name := strings.TrimSuffix(filepath.Base(f), ".sql")
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			// The two runs are sequential on purpose: a script that LISTENs
			// would otherwise hear the other run's NOTIFYs.
			direct := runPsqlScript(t, psql, p.DirectEnv(), abs)
			proxied := runPsqlScript(t, psql, p.Env(harness.Local), abs)
			for _, r := range []struct {
				side string
				res  psqlRun
			}{{"direct", direct}, {"pgveil", proxied}} {
				if bad := transparencyConnectionTrouble(r.res.out); bad != "" {
					t.Errorf("%s run of %s: unexpected connection trouble: %q (exit %d)\n%s", r.side, name, bad, r.res.exit, transparencyTail(r.res.out, 20))
				}
			}
			if direct.exit != proxied.exit {
				t.Errorf("psql exit status: direct %d, pgveil %d", direct.exit, proxied.exit)
			}
			d := normalizeNotifyPIDs(direct.out)
			pr := normalizeNotifyPIDs(proxied.out)
			if keep := os.Getenv("PGVEIL_TRANSPARENCY_KEEP"); keep != "" {
				// A directory to keep every output in, to read them.
				os.MkdirAll(keep, 0o755)
				os.WriteFile(filepath.Join(keep, name+".direct.out"), direct.out, 0o644)
				os.WriteFile(filepath.Join(keep, name+".pgveil.out"), proxied.out, 0o644)
			}
			if !bytes.Equal(d, pr) {
				dir := t.TempDir()
				dp := filepath.Join(dir, name+".direct.out")
				pp := filepath.Join(dir, name+".pgveil.out")
				os.WriteFile(dp, d, 0o644)
				os.WriteFile(pp, pr, 0o644)
				t.Errorf("psql output of %s differs between direct (-) and pgveil (+):\n%s\nfull outputs: %s %s",
					name, transparencyDiff(d, pr, 3, 40), dp, pp)
			}
			if len(d) == 0 {
				t.Errorf("psql printed nothing for %s", name)
			}
		})
	}
}

type psqlRun struct {
	out  []byte // stdout and stderr, interleaved as psql wrote them
	exit int
}

// runPsqlScript runs psql -X -a -f script with env (PG* variables) on top
// of a fixed, minimal environment, in a fresh working directory (scripts
// may \copy to relative paths).
func runPsqlScript(t *testing.T, psql string, env []string, script string) psqlRun {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, psql, "-X", "-a", "-v", "ON_ERROR_STOP=0", "-f", script)
	cmd.Dir = t.TempDir()
	cmd.Env = append(clientsBaseEnv(cmd.Dir), env...)
	var out bytes.Buffer
	cmd.Stdout = &out
	cmd.Stderr = &out
	err := cmd.Run()
	exit := 0
	if err != nil {
		var ee *exec.ExitError
		if !errors.As(err, &ee) {
			t.Fatalf("running psql: %v", err)
		}
		exit = ee.ExitCode()
	}
	if ctx.Err() != nil {
		t.Fatalf("psql -f %s did not finish within 90s; output so far:\n%s", filepath.Base(script), transparencyTail(out.Bytes(), 20))
	}
	return psqlRun{out: out.Bytes(), exit: exit}
}

// clientsBaseEnv is the environment psql and pgbench run in, without any
// PG* variable of the test process: a UTF-8 locale so that psql aligns
// Hanzi, and a fixed width.
func clientsBaseEnv(home string) []string {
	return []string{
		"PATH=" + os.Getenv("PATH"),
		"HOME=" + home,
		"LC_ALL=C.UTF-8",
		"LANG=C.UTF-8",
		"COLUMNS=120",
		"TERM=dumb",
	}
}

func clientsLookPath(t *testing.T, name string) string {
	t.Helper()
	path, err := exec.LookPath(name)
	if err != nil {
		if p := "/usr/bin/" + name; transparencyFileExists(p) {
			return p
		}
		t.Skipf("%s not installed: %v", name, err)
	}
	return path
}

func transparencyFileExists(p string) bool {
	_, err := os.Stat(p)
	return err == nil
}

var notifyPID = regexp.MustCompile(`(received from server process with PID )[0-9]+`)

func normalizeNotifyPIDs(b []byte) []byte {
	return notifyPID.ReplaceAll(b, []byte("${1}N"))
}

// transparencyConnectionTrouble returns the first sign that psql lost or
// never had its connection; no script provokes any of these.
func transparencyConnectionTrouble(out []byte) string {
	for _, s := range []string{"could not connect", "FATAL", "connection to server was lost", "server closed the connection unexpectedly", "no connection to the server"} {
		if bytes.Contains(out, []byte(s)) {
			return s
		}
	}
	return ""
}

func transparencyTail(b []byte, n int) string {
	lines := strings.Split(string(b), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return transparencyClip(strings.Join(lines, "\n"), 4000)
}

func transparencyClip(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + fmt.Sprintf("... [%d more bytes]", len(s)-n)
}

// transparencyDiff is a short unified-style diff: the common prefix and
// suffix (by line) are trimmed, and the first lines of the differing middle
// are shown with context lines around them. Enough to see what differs;
// the full outputs are written to files.
func transparencyDiff(a, b []byte, context, maxLines int) string {
	al := strings.SplitAfter(string(a), "\n")
	bl := strings.SplitAfter(string(b), "\n")
	pre := 0
	for pre < len(al) && pre < len(bl) && al[pre] == bl[pre] {
		pre++
	}
	suf := 0
	for suf < len(al)-pre && suf < len(bl)-pre && al[len(al)-1-suf] == bl[len(bl)-1-suf] {
		suf++
	}
	var w strings.Builder
	start := max(pre-context, 0)
	fmt.Fprintf(&w, "@@ -%d,%d +%d,%d @@ (first difference at line %d)\n", start+1, len(al)-suf-start, start+1, len(bl)-suf-start, pre+1)
	line := func(prefix, s string) {
		s = strings.TrimSuffix(s, "\n")
		w.WriteString(prefix + transparencyClip(s, 300) + "\n")
	}
	for _, s := range al[start:pre] {
		line(" ", s)
	}
	dropped := 0
	for i, s := range al[pre : len(al)-suf] {
		if i >= maxLines {
			dropped++
			continue
		}
		line("-", s)
	}
	for i, s := range bl[pre : len(bl)-suf] {
		if i >= maxLines {
			dropped++
			continue
		}
		line("+", s)
	}
	if dropped > 0 {
		fmt.Fprintf(&w, "... %d more differing lines not shown\n", dropped)
	}
	end := min(len(al)-suf+context, len(al))
	for _, s := range al[len(al)-suf : end] {
		line(" ", s)
	}
	return w.String()
}
