package e2e

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"
)

// TestTypeScriptClientAgainstTheStack runs the TypeScript client's own test
// (clients/typescript, `npm test`: tsc, then node --test) against a live stack: it signs
// up, makes an API key, syncs clients page by page and reads a typed 400. It compiles
// the client against the committed types, so a change to the API that breaks the
// client's code fails here too. The client's npm packages come from its package-lock
// (make test installs them).
func TestTypeScriptClientAgainstTheStack(t *testing.T) {
	dir := filepath.Join(repoRoot(t), "clients", "typescript")
	if _, err := exec.LookPath("npm"); err != nil {
		t.Fatal("npm is not installed; the TypeScript client's test needs Node.js 20 or later and npm")
	}
	if _, err := os.Stat(filepath.Join(dir, "node_modules", ".package-lock.json")); err != nil {
		t.Fatalf("the TypeScript client's packages are not installed: make node (npm ci in %s)", dir)
	}
	sys := start(t, nil)

	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, "npm", "test", "--silent")
	cmd.Dir = dir
	cmd.Env = append(os.Environ(),
		"FIRMFLOW_URL="+sys.url,
		// Node trusts the stack's CA for fetch as for every TLS connection.
		"NODE_EXTRA_CA_CERTS="+sys.stack.Material.PKI.CAFile,
		"NO_COLOR=1",
	)
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("npm test in clients/typescript: %v\n%s", err, out)
	}
	t.Logf("%s", out)
}
