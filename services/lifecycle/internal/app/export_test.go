package app_test

import (
	"archive/zip"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/csv"
	"encoding/hex"
	"encoding/json"
	"io"
	"os"
	"path/filepath"
	"testing"
	"time"

	"google.golang.org/grpc/codes"

	"github.com/firmflow/firmflow/pkg/apierr"
	"github.com/firmflow/firmflow/services/lifecycle/internal/archive"
	"github.com/firmflow/firmflow/services/lifecycle/internal/domain"
)

func TestExportWritesAnEncryptedArchiveWithManifestAndExpires(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	firm, owner := f.firm()
	a := f.runner(t)

	e, err := a.CreateExport(ctx, owner, firm)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := a.CreateExport(ctx, owner, firm); !apierr.HasCode(err, codes.AlreadyExists) {
		t.Fatalf("second export while one runs: %v", err)
	}
	if _, err := a.OpenExport(ctx, owner, firm, e.ID); !apierr.HasCode(err, codes.FailedPrecondition) {
		t.Fatalf("download before it is written: %v", err)
	}
	f.services["billing"].setDown(true)
	if _, err := a.RunExports(ctx); err != nil {
		t.Fatal(err)
	}
	op, _ := a.Operation(ctx, owner, e.ID)
	if op.Export.State != domain.StateRunning || op.Export.Attempts != 1 || op.Export.LastError != "billing is unavailable; retrying" {
		t.Fatalf("with billing down: %+v", op.Export)
	}
	f.services["billing"].setDown(false)
	f.advance(time.Minute)
	if n, err := a.RunExports(ctx); err != nil || n != 1 {
		t.Fatalf("runs %d %v", n, err)
	}
	op, _ = a.Operation(ctx, owner, e.ID)
	if op.Export.State != domain.StateSucceeded || !op.Export.ExpireTime.Equal(f.clock().Add(7*24*time.Hour)) {
		t.Fatalf("done: %+v", op.Export)
	}
	raw, _ := os.ReadFile(filepath.Join(f.exportDir, op.Export.Archive))
	if bytes.Contains(raw, []byte("manifest.json")) || bytes.Contains(raw, []byte("workflow_rows")) {
		t.Fatal("the archive is readable at rest")
	}

	x, err := a.OpenExport(ctx, owner, firm, e.ID)
	if err != nil {
		t.Fatal(err)
	}
	var plain bytes.Buffer
	if err := x.WriteRange(&plain, 0, x.Size()); err != nil {
		t.Fatal(err)
	}
	x.Close()
	zr, err := zip.NewReader(bytes.NewReader(plain.Bytes()), int64(plain.Len()))
	if err != nil {
		t.Fatal(err)
	}
	files := map[string][]byte{}
	for _, zf := range zr.File {
		rc, _ := zf.Open()
		files[zf.Name], _ = io.ReadAll(rc)
		rc.Close()
	}
	var m archive.Manifest
	if err := json.Unmarshal(files["manifest.json"], &m); err != nil {
		t.Fatal(err)
	}
	if m.Firm != "firms/"+firm || len(m.Files) != 2*len(domain.DataServices) {
		t.Fatalf("manifest: %+v", m)
	}
	for _, mf := range m.Files {
		sum := sha256.Sum256(files[mf.Path])
		if hex.EncodeToString(sum[:]) != mf.SHA256 || mf.SchemaVersion != 1 {
			t.Errorf("%s: sha256 or schema version wrong", mf.Path)
		}
		if mf.Path == "workflow/workflow_rows.jsonl" && mf.Rows != 2 {
			t.Errorf("workflow rows %d, want 2", mf.Rows)
		}
	}
	records, err := csv.NewReader(bytes.NewReader(files["audit/audit_rows.csv"])).ReadAll()
	if err != nil || len(records) != 1+5 || records[0][0] != "table" {
		t.Fatalf("audit csv: %v %v", records, err)
	}

	// Another firm's owner cannot download it; after 7 days it is gone.
	_, other := f.firm()
	if _, err := a.OpenExport(ctx, other, firm, e.ID); !apierr.HasCode(err, codes.NotFound) {
		t.Errorf("other firm: %v", err)
	}
	f.advance(7*24*time.Hour + time.Second)
	if ran, err := a.RunRetention(ctx); err != nil || !ran {
		t.Fatalf("retention run: %v %v", ran, err)
	}
	runs, err := a.RetentionRuns(ctx, 1)
	if err != nil || len(runs) != 1 || removed(runs[0], "lifecycle", "export archives") != 1 {
		t.Fatalf("retention run's removals: %+v %v", runs, err)
	}
	if _, err := os.Stat(filepath.Join(f.exportDir, op.Export.Archive)); !os.IsNotExist(err) {
		t.Error("expired archive still on disk")
	}
	if _, err := a.OpenExport(ctx, owner, firm, e.ID); !apierr.HasCode(err, codes.NotFound) {
		t.Errorf("expired export: %v", err)
	}
}
