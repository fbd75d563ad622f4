package main

import (
	"bytes"
	"strings"
	"testing"

	"github.com/pgveil/pgveil/auth"
	"github.com/pgveil/pgveil/rules"
)

// The README walks through examples/pgveil.toml: it must stay loadable.
func TestExampleConfigLoads(t *testing.T) {
	if _, err := rules.Load("../../examples/pgveil.toml", rules.SkipKeyFile); err != nil {
		t.Fatal(err)
	}
}

func TestPasswdPrintsAVerifierForStdin(t *testing.T) {
	var out, errs bytes.Buffer
	if code := run([]string{"passwd"}, strings.NewReader("correct horse\n"), &out, &errs); code != exitOK {
		t.Fatalf("exit %d: %s", code, errs.String())
	}
	v, err := auth.ParseVerifier(strings.TrimSpace(out.String()))
	if err != nil {
		t.Fatalf("output %q: %v", out.String(), err)
	}
	if !v.Verify("correct horse") || v.Verify("correct horse\n") {
		t.Fatal("verifier does not match the password without its newline")
	}
	if strings.Contains(out.String()+errs.String(), "horse") {
		t.Fatal("the password was echoed")
	}
}

func TestUsageErrorsExitTwo(t *testing.T) {
	cases := [][]string{nil, {"frobnicate"}, {"serve"}, {"serve", "--config", "/nonexistent.toml"}}
	for _, args := range cases {
		var out, errs bytes.Buffer
		if code := run(args, strings.NewReader(""), &out, &errs); code != exitUsage {
			t.Errorf("pgveil %v: exit %d, want %d", args, code, exitUsage)
		}
	}
}
