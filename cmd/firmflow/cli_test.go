package main

import (
	"bytes"
	"context"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// runCLI runs the CLI in-process with stdout going to out and returns the exit
// status and what it wrote to stderr.
func runCLI(t *testing.T, out io.Writer, args ...string) (int, string) {
	t.Helper()
	var stderr bytes.Buffer
	code := cli(context.Background(), args, &streams{stdin: strings.NewReader(""), stdout: out, stderr: &stderr})
	return code, stderr.String()
}

func TestHelpListsEveryCommandAndExitsZero(t *testing.T) {
	for _, args := range [][]string{{"help"}, {"--help"}, {"-h"}} {
		var out bytes.Buffer
		code, stderr := runCLI(t, &out, args...)
		if code != 0 || stderr != "" {
			t.Errorf("%v: exit %d, stderr %q", args, code, stderr)
		}
		for _, c := range commands() {
			if !strings.Contains(out.String(), "  "+c.name) {
				t.Errorf("%v: help lacks %q:\n%s", args, c.name, out.String())
			}
		}
	}
}

func TestEveryCommandHasHelp(t *testing.T) {
	for _, c := range commands() {
		args := append(strings.Fields(c.name), "--help")
		var out bytes.Buffer
		if code, stderr := runCLI(t, &out, args...); code != 0 || !strings.Contains(out.String(), "Usage:\n  firmflow "+c.name) {
			t.Errorf("%v: exit %d %q\n%s", args, code, stderr, out.String())
		}
		var viaHelp bytes.Buffer
		if code, _ := runCLI(t, &viaHelp, append([]string{"help"}, strings.Fields(c.name)...)...); code != 0 || viaHelp.String() != out.String() {
			t.Errorf("help %s differs from %s --help:\n%s", c.name, c.name, viaHelp.String())
		}
	}
	for _, group := range []string{"staff", "audit", "lifecycle", "backup", "dr"} {
		var out bytes.Buffer
		if code, _ := runCLI(t, &out, group, "--help"); code != 0 || !strings.Contains(out.String(), group+" ") {
			t.Errorf("%s --help: exit %d\n%s", group, code, out.String())
		}
	}
}

func TestBadCommandLinesExit2WithUsageAndStartNothing(t *testing.T) {
	cases := []struct {
		args []string
		want string // in stderr
	}{
		{nil, "no command given"},
		{[]string{"serve"}, `unknown command "serve"`},
		{[]string{"dev", "--no-such-flag"}, "flag provided but not defined: -no-such-flag"},
		{[]string{"init", "extra"}, `unexpected argument "extra"`},
		{[]string{"staff"}, "which command?"},
		{[]string{"staff", "promote"}, `unknown command "promote"`},
		{[]string{"staff", "create", "only@one.example"}, "want 2 arguments"},
		{[]string{"lifecycle", "verify-certificate"}, "want one FILE"},
		{[]string{"provision", "extra"}, `unexpected argument "extra"`},
		{[]string{"backup", "drill"}, "--cipher-pass-file is required"},
		{[]string{"backup", "drill", "--private", "extra"}, `unexpected argument "extra"`},
		{[]string{"dr"}, "which command?"},
		{[]string{"dr", "drill"}, "--private is required"},
		{[]string{"help", "nothing"}, `unknown command "nothing"`},
	}
	for _, c := range cases {
		var out bytes.Buffer
		code, stderr := runCLI(t, &out, c.args...)
		if code != 2 || !strings.Contains(stderr, c.want) || !strings.Contains(stderr, "Usage:") {
			t.Errorf("%v: exit %d, stderr %q; want 2, %q and the usage", c.args, code, stderr, c.want)
		}
		if out.Len() != 0 {
			t.Errorf("%v wrote to stdout: %q", c.args, out.String())
		}
	}
}

func TestVersion(t *testing.T) {
	for _, args := range [][]string{{"version"}, {"--version"}} {
		var out bytes.Buffer
		if code, _ := runCLI(t, &out, args...); code != 0 || !strings.HasPrefix(out.String(), "firmflow ") {
			t.Errorf("%v: exit %d %q", args, code, out.String())
		}
	}
}

// TestInitCreatesEverythingDevNeedsInTheGivenDir: `init --data-dir X` writes under
// X (not ./.data) every file a stack needs, and a second run changes nothing.
func TestInitCreatesEverythingDevNeedsInTheGivenDir(t *testing.T) {
	t.Chdir(t.TempDir())
	dir := filepath.Join(t.TempDir(), "material")
	var out bytes.Buffer
	if code, stderr := runCLI(t, &out, "init", "--data-dir", dir); code != 0 {
		t.Fatalf("init: exit %d %s", code, stderr)
	}
	if _, err := os.Stat(".data"); err == nil {
		t.Error("init wrote ./.data although --data-dir said otherwise")
	}
	want := []string{"tls/ca.pem", "keys/principal.key", "keys/principal.pub", "keys/kek", "keys/page-token",
		"keys/audit.key", "keys/audit.pub", "keys/lifecycle.key", "keys/lifecycle.pub", "keys/export.key"}
	for _, service := range []string{"gateway", "identity", "workflow", "audit", "billing", "lifecycle", "operator"} {
		want = append(want, "tls/"+service+".pem", "tls/"+service+"-key.pem")
	}
	before := map[string][]byte{}
	for _, f := range want {
		data, err := os.ReadFile(filepath.Join(dir, f))
		if err != nil || len(data) == 0 {
			t.Errorf("%s: %v", f, err)
		}
		before[f] = data
	}
	if code, stderr := runCLI(t, &out, "init", "--data-dir", dir); code != 0 {
		t.Fatalf("second init: exit %d %s", code, stderr)
	}
	for _, f := range want {
		if data, _ := os.ReadFile(filepath.Join(dir, f)); !bytes.Equal(data, before[f]) {
			t.Errorf("a second init replaced %s", f)
		}
	}
}
