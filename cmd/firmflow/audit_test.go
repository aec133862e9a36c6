package main

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/firmflow/firmflow/services/audit/chain"
	"github.com/firmflow/firmflow/services/audit/export"
)

// writeExport writes a small export signed with a fresh development key pair and
// returns its path and the public key's.
func writeExport(t *testing.T, dir string) (file, publicKey string) {
	t.Helper()
	keyFile, publicKey, err := chain.EnsureKeyPair(dir)
	if err != nil {
		t.Fatal(err)
	}
	signer, _, err := chain.LoadSigningKey(keyFile)
	if err != nil {
		t.Fatal(err)
	}
	firm := uuid.New()
	var buf bytes.Buffer
	w := export.NewWriter(&buf)
	if err := w.Chain(firm, chain.Genesis()); err != nil {
		t.Fatal(err)
	}
	head := chain.Head{FirmID: firm}
	for i := range 3 {
		e := chain.Event{ID: uuid.New(), Time: time.Now(), Kind: "access", Actor: "users/u", Action: "GET /v1/x", Code: "OK"}
		head.Append(&e, time.Now().Add(time.Duration(i)*time.Second))
		if err := w.Event(&e); err != nil {
			t.Fatal(err)
		}
	}
	signed, err := chain.Sign(chain.Checkpoint{FirmID: firm, Sequence: head.Sequence, Hash: head.Hash, Time: head.RecordTime}, signer)
	if err != nil {
		t.Fatal(err)
	}
	if err := w.Checkpoint(signed); err != nil {
		t.Fatal(err)
	}
	file = filepath.Join(dir, "export.jsonl")
	if err := os.WriteFile(file, buf.Bytes(), 0o600); err != nil {
		t.Fatal(err)
	}
	return file, publicKey
}

func TestAuditVerifyAcceptsAnIntactExportAndRejectsAChangedOne(t *testing.T) {
	dir := t.TempDir()
	file, publicKey := writeExport(t, dir)
	var out bytes.Buffer
	if code, stderr := runCLI(t, &out, "audit", "verify", file, "--public-key", publicKey); code != 0 {
		t.Fatalf("intact export: exit %d %s\n%s", code, stderr, out.String())
	}
	if !strings.Contains(out.String(), "OK") {
		t.Errorf("output: %s", out.String())
	}

	raw, _ := os.ReadFile(file)
	changed := filepath.Join(dir, "changed.jsonl")
	if err := os.WriteFile(changed, bytes.Replace(raw, []byte(`"users/u"`), []byte(`"users/v"`), 1), 0o600); err != nil {
		t.Fatal(err)
	}
	out.Reset()
	code, _ := runCLI(t, &out, "audit", "verify", "--public-key", publicKey, changed)
	if code != 1 || !strings.Contains(out.String(), string(chain.EventAltered)) {
		t.Errorf("changed export: exit %d\n%s", code, out.String())
	}

	_, otherKey, err := chain.EnsureKeyPair(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	if code, _ := runCLI(t, &out, "audit", "verify", file, "--public-key", otherKey); code != 1 {
		t.Errorf("an export checked with another key: exit %d, want 1", code)
	}
	if code, stderr := runCLI(t, &out, "audit", "verify", file); code != 2 || !strings.Contains(stderr, "--public-key is required") {
		t.Errorf("verify without a public key: exit %d %q, want 2 naming the flag", code, stderr)
	}
}
