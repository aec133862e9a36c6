package e2e

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"github.com/firmflow/firmflow/cmd/firmflow/internal/e2e/harness"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"
)

// readmes are the documents whose ```sh blocks TestReadmeExamples runs, in this order
// and in one shell: the audit README continues the README's session ($FIRM, jar.txt,
// $CSRF).
var readmes = []string{"README.md", "services/audit/README.md"}

// TestReadmeExamples runs every command of the README's ```sh blocks, top to bottom,
// the way a newcomer pastes them into a shell next to `make run`: bash with
// `set -euo pipefail`, API and CA pointing at a stack of its own, a temp dir as the
// working directory (with .data the stack's data dir, as `make run` has it) and curl
// answering an HTTP error with a failure (--fail-with-body, from a .curlrc). The first
// command that fails fails the test with its README line and output. Blocks fenced
// otherwise (```console, ```text, plain ```) are shown, not run: `make run` itself,
// operator commands that need a terminal.
func TestReadmeExamples(t *testing.T) {
	for _, tool := range []string{"bash", "curl", "jq"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Fatalf("%s is not installed; the README's examples need it: apt-get install -y jq curl (Debian/Ubuntu) or brew install jq curl (macOS)", tool)
		}
	}
	root := repoRoot(t)
	var commands []readmeCommand
	for _, name := range readmes {
		doc, err := readmeBlocks(root, name)
		if err != nil {
			t.Fatal(err)
		}
		cmds, err := doc.commands()
		if err != nil {
			t.Fatal(err)
		}
		if len(cmds) == 0 {
			t.Fatalf("%s: no commands in ```sh blocks", name)
		}
		t.Logf("%s: %d ```sh blocks with %d commands to run; %d other blocks skipped", name, doc.run, len(cmds), doc.skipped)
		commands = append(commands, cmds...)
	}

	// The CLI builds while the stack starts.
	binDir := t.TempDir()
	built := make(chan error, 1)
	go func() { built <- buildFirmflow(root, binDir) }()
	sys := start(t, nil)
	if err := <-built; err != nil {
		t.Fatal(err)
	}
	firmflow := filepath.Join(binDir, "firmflow")
	work := t.TempDir()
	caFile := sys.stack.Material.PKI.CAFile
	// The stack's data dir is what `make run` keeps in .data: tls/ca.pem, keys/audit.pub.
	if err := os.Symlink(filepath.Dir(filepath.Dir(caFile)), filepath.Join(work, ".data")); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(work, ".curlrc"), []byte("fail-with-body\nsilent\nshow-error\n"), 0o600); err != nil {
		t.Fatal(err)
	}

	var script strings.Builder
	script.WriteString("set -euo pipefail\n")
	// `go run ./cmd/firmflow` needs the repository as working directory; here the
	// same CLI is prebuilt.
	fmt.Fprintf(&script, "go() { if [ \"${1-} ${2-}\" = 'run ./cmd/firmflow' ]; then shift 2; %q \"$@\"; else command go \"$@\"; fi; }\n", firmflow)
	for i, c := range commands {
		fmt.Fprintf(&script, "printf '\\n%s%d@@\\n'\n%s\n", commandMarker, i, c.text)
	}
	fmt.Fprintf(&script, "printf '\\n%s%d@@\\n'\n", commandMarker, len(commands))

	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, "bash", "-c", script.String())
	cmd.Dir = work
	// MAILPIT is the stack's SMTP server behind the part of Mailpit's API the examples use.
	cmd.Env = append(os.Environ(), "API="+sys.url, "CA="+caFile, "CURL_HOME="+work, "MAILPIT="+sys.h.MailAPI)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	runErr := cmd.Run()

	outputs, reached := splitOutputs(out.String())
	if runErr == nil && reached != len(commands) {
		runErr = fmt.Errorf("the shell stopped after command %d of %d", reached, len(commands))
	}
	if runErr != nil {
		if reached >= len(commands) || reached < 0 {
			t.Fatalf("README examples: %v\n%s", runErr, harness.Tail(out.String(), 40))
		}
		c := commands[reached]
		t.Fatalf("%s:%d failed (%v) after %d of %d commands passed:\n%s\noutput:\n%s",
			c.file, c.line, runErr, reached, len(commands), c.text, truncate(outputs[reached], 4000))
	}
	t.Logf("ran %d README commands, %d passed", len(commands), reached)
}

const commandMarker = "@@readme-cmd "

var markerLine = regexp.MustCompile(`(?m)^@@readme-cmd (\d+)@@$`)

// splitOutputs cuts the shell's output at the markers printed before each command:
// outputs[i] is what command i printed; reached is the last marker seen, the
// command that was running when the shell stopped (len(commands) when all passed).
func splitOutputs(out string) (outputs map[int]string, reached int) {
	outputs = map[int]string{}
	reached = -1
	locs := markerLine.FindAllStringSubmatchIndex(out, -1)
	for i, loc := range locs {
		n, _ := strconv.Atoi(out[loc[2]:loc[3]])
		end := len(out)
		if i+1 < len(locs) {
			end = locs[i+1][0]
		}
		outputs[n] = strings.TrimSpace(out[loc[1]:end])
		reached = n
	}
	return outputs, reached
}

// readmeCommand is one command of a ```sh block and where it stands.
type readmeCommand struct {
	file string
	line int
	text string
}

type shBlock struct {
	line  int // of the block's first line
	lines []string
}

type readmeDoc struct {
	file         string
	blocks       []shBlock
	run, skipped int
}

// readmeBlocks reads a Markdown file's fenced blocks: ```sh ones to run, the others
// counted as skipped.
func readmeBlocks(root, name string) (readmeDoc, error) {
	data, err := os.ReadFile(filepath.Join(root, name))
	if err != nil {
		return readmeDoc{}, err
	}
	doc := readmeDoc{file: name}
	var current *shBlock
	inFence := false
	scanner := bufio.NewScanner(bytes.NewReader(data))
	for n := 1; scanner.Scan(); n++ {
		line := scanner.Text()
		trimmed := strings.TrimSpace(line)
		switch {
		case !inFence && strings.HasPrefix(trimmed, "```"):
			inFence = true
			if strings.TrimSpace(strings.TrimPrefix(trimmed, "```")) == "sh" {
				current = &shBlock{line: n + 1}
				doc.run++
			} else {
				doc.skipped++
			}
		case inFence && trimmed == "```":
			inFence = false
			if current != nil {
				doc.blocks = append(doc.blocks, *current)
				current = nil
			}
		case current != nil:
			current.lines = append(current.lines, line)
		}
	}
	if inFence {
		return doc, fmt.Errorf("%s: a fenced block is never closed", doc.file)
	}
	return doc, scanner.Err()
}

// commands splits the ```sh blocks into commands: a line, with the lines its trailing
// backslash or an open quote carries on to (bash -n decides). Blank and comment lines
// are no commands.
func (d readmeDoc) commands() ([]readmeCommand, error) {
	var out []readmeCommand
	for _, b := range d.blocks {
		var pending []string
		start := 0
		for i, line := range b.lines {
			if len(pending) == 0 {
				t := strings.TrimSpace(line)
				if t == "" || strings.HasPrefix(t, "#") {
					continue
				}
				start = b.line + i
			}
			pending = append(pending, line)
			if strings.HasSuffix(strings.TrimRight(line, " "), "\\") {
				continue
			}
			text := strings.Join(pending, "\n")
			if err := exec.Command("bash", "-n", "-c", text).Run(); err != nil {
				var exit *exec.ExitError
				if !errors.As(err, &exit) {
					return nil, err
				}
				continue // an open quote or bracket: the command goes on
			}
			out = append(out, readmeCommand{file: d.file, line: start, text: text})
			pending = nil
		}
		if len(pending) > 0 {
			return nil, fmt.Errorf("%s:%d: the command does not parse in bash:\n%s", d.file, start, strings.Join(pending, "\n"))
		}
	}
	return out, nil
}

// repoRoot is the directory of go.work above the test's package.
func repoRoot(t *testing.T) string {
	t.Helper()
	wd, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	root := repoRootFrom(wd)
	if root == "" {
		t.Fatalf("no go.work above %s", wd)
	}
	return root
}

func repoRootFrom(dir string) string {
	for d := dir; ; d = filepath.Dir(d) {
		if _, err := os.Stat(filepath.Join(d, "go.work")); err == nil {
			return d
		}
		if filepath.Dir(d) == d {
			return ""
		}
	}
}

// buildFirmflow builds the CLI the README calls as `go run ./cmd/firmflow` into dir.
func buildFirmflow(root, dir string) error {
	build := exec.Command("go", "build", "-o", filepath.Join(dir, "firmflow"), "./cmd/firmflow")
	build.Dir = root
	if out, err := build.CombinedOutput(); err != nil {
		return fmt.Errorf("build firmflow: %v\n%s", err, out)
	}
	return nil
}

// TestReadmeCommandSplitting pins how the runner reads Markdown: only ```sh blocks
// run, a command goes on over a trailing backslash or an open quote, and comments
// and blank lines are no commands.
func TestReadmeCommandSplitting(t *testing.T) {
	dir := t.TempDir()
	doc := "# Title\n\n```console\nmake run\n```\n\n```sh\n# a comment\nA=1\n\ncurl -X POST \\\n  -d '{}' x\necho '{\n  \"multi\": \"line\"\n}'\n```\n\n```\nfirm id\n```\n\n```sh\nB=$(echo \"$A\")   # trailing comment\n```\n"
	if err := os.WriteFile(filepath.Join(dir, "README.md"), []byte(doc), 0o600); err != nil {
		t.Fatal(err)
	}
	parsed, err := readmeBlocks(dir, "README.md")
	if err != nil {
		t.Fatal(err)
	}
	if parsed.run != 2 || parsed.skipped != 2 {
		t.Fatalf("ran %d blocks, skipped %d; want 2 and 2", parsed.run, parsed.skipped)
	}
	cmds, err := parsed.commands()
	if err != nil {
		t.Fatal(err)
	}
	want := []readmeCommand{
		{"README.md", 9, "A=1"},
		{"README.md", 11, "curl -X POST \\\n  -d '{}' x"},
		{"README.md", 13, "echo '{\n  \"multi\": \"line\"\n}'"},
		{"README.md", 23, `B=$(echo "$A")   # trailing comment`},
	}
	if len(cmds) != len(want) {
		t.Fatalf("got %d commands %+v, want %d", len(cmds), cmds, len(want))
	}
	for i := range want {
		if cmds[i] != want[i] {
			t.Errorf("command %d = %+v, want %+v", i, cmds[i], want[i])
		}
	}

	if err := os.WriteFile(filepath.Join(dir, "broken.md"), []byte("```sh\necho 'never closed\n```\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	broken, err := readmeBlocks(dir, "broken.md")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := broken.commands(); err == nil || !strings.Contains(err.Error(), "broken.md:2") {
		t.Errorf("an unterminated quote: %v, want an error naming broken.md:2", err)
	}

	outputs, reached := splitOutputs("\n@@readme-cmd 0@@\n{\"a\":1}\n@@readme-cmd 1@@\ncurl: (22) 415\n")
	if reached != 1 || outputs[0] != `{"a":1}` || outputs[1] != "curl: (22) 415" {
		t.Errorf("splitOutputs: reached %d, outputs %v", reached, outputs)
	}
}
