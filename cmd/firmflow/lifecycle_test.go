package main

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/firmflow/firmflow/pkg/keyfile"
	"github.com/firmflow/firmflow/services/lifecycle/certificate"
)

func TestVerifyCertificateCommand(t *testing.T) {
	dir := t.TempDir()
	keyPath, pubPath, err := keyfile.EnsureEd25519(dir, "lifecycle")
	if err != nil {
		t.Fatal(err)
	}
	key, err := keyfile.LoadPrivate(keyPath)
	if err != nil {
		t.Fatal(err)
	}
	now := time.Date(2026, 12, 2, 10, 0, 0, 0, time.UTC)
	signed, err := certificate.Sign(certificate.Certificate{
		Deletion: "operations/x", Firm: "firms/f", RequestedBy: "users/u", RequestTime: now, GraceEnd: now, CompleteAt: now,
		Deleted: map[string][]certificate.TableCount{"workflow": {{Table: "clients", Rows: 4}}}, ResidueClean: true,
		BackupsClearAfter: now.AddDate(0, 0, 35),
	}, key)
	if err != nil {
		t.Fatal(err)
	}
	file := filepath.Join(dir, "certificate.json")
	if err := os.WriteFile(file, signed, 0o600); err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	if code, stderr := runCLI(t, &out, "lifecycle", "verify-certificate", file, "--public-key", pubPath); code != 0 {
		t.Fatalf("exit %d %s\n%s", code, stderr, out.String())
	}
	if !strings.Contains(out.String(), "workflow   4 rows in 1 tables (0 held before)") || !strings.Contains(out.String(), "result      OK") {
		t.Errorf("output:\n%s", out.String())
	}

	tampered := bytes.Replace(signed, []byte(`"rows":4`), []byte(`"rows":3`), 1)
	if err := os.WriteFile(file, tampered, 0o600); err != nil {
		t.Fatal(err)
	}
	out.Reset()
	if code, _ := runCLI(t, &out, "lifecycle", "verify-certificate", "--public-key", pubPath, file); code != 1 {
		t.Fatalf("a tampered certificate: exit %d, want 1:\n%s", code, out.String())
	}
}
