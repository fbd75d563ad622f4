package main

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestCheckConfigErrorsExitTwo(t *testing.T) {
	path := filepath.Join(t.TempDir(), "broken.toml")
	if err := os.WriteFile(path, []byte("[upstream]\nhost = \"db\"\nsslmod = \"disable\"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, args := range [][]string{{"check"}, {"check", "--config", path}, {"check", "--config", "/nonexistent.toml"}} {
		var out, errs bytes.Buffer
		if code := run(args, strings.NewReader(""), &out, &errs); code != exitUsage {
			t.Errorf("%v: exit %d, want %d; stderr:\n%s", args, code, exitUsage, errs.String())
		}
	}
	var out, errs bytes.Buffer
	run([]string{"check", "--config", path}, strings.NewReader(""), &out, &errs)
	if !strings.Contains(errs.String(), "broken.toml:3:") {
		t.Errorf("config error not reported as FILE:LINE:\n%s", errs.String())
	}
}

// An unreachable upstream is a problem found: exit 1.
func TestCheckUnreachableUpstreamExitsOne(t *testing.T) {
	t.Setenv("PGVEIL_CHECK_TEST_PASSWORD", "secret-password-xyzzy")
	path := filepath.Join(t.TempDir(), "pgveil.toml")
	text := `[upstream]
host = "127.0.0.1"
port = 1
database = "crm"
sslmode = "disable"
catalog_user = "pgveil_catalog"
catalog_password_env = "PGVEIL_CHECK_TEST_PASSWORD"
connect_timeout = "5s"

[[listen]]
address = "127.0.0.1:0"
`
	if err := os.WriteFile(path, []byte(text), 0o600); err != nil {
		t.Fatal(err)
	}
	var out, errs bytes.Buffer
	if code := run([]string{"check", "--config", path}, strings.NewReader(""), &out, &errs); code != exitFailure {
		t.Fatalf("exit %d, want %d:\n%s%s", code, exitFailure, out.String(), errs.String())
	}
	if !strings.Contains(out.String(), "ERROR   cannot connect to 127.0.0.1:1 as catalog_user pgveil_catalog") {
		t.Errorf("output:\n%s", out.String())
	}
	if strings.Contains(out.String()+errs.String(), "xyzzy") {
		t.Error("password printed")
	}
}
