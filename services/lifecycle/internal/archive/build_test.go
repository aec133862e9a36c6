package archive

import (
	"archive/zip"
	"bytes"
	"encoding/csv"
	"io"
	"testing"
	"time"
)

func TestBuilderGuardsFormulasAndKeepsColumnOrder(t *testing.T) {
	b, err := NewBuilder(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	rows := [][]byte{
		[]byte(`{"name":"=HYPERLINK(\"http://x\")","fee":12.5,"tags":["a","b"],"note":null,"ok":true}`),
		[]byte(`{"name":"Ada","fee":-3,"tags":[],"note":"@home","ok":false}`),
	}
	if err := b.Add("workflow", "clients", 2, rows[:1]); err != nil {
		t.Fatal(err)
	}
	if err := b.Add("workflow", "clients", 2, rows[1:]); err != nil {
		t.Fatal(err)
	}
	if err := b.Add("workflow", "../etc", 1, nil); err == nil {
		t.Error("accepted a path as an entity name")
	}
	var out bytes.Buffer
	m, err := b.WriteZip(&out, "firms/f", time.Now())
	if err != nil {
		t.Fatal(err)
	}
	if len(m.Files) != 2 || m.Files[0].Rows != 2 || m.Files[0].SchemaVersion != 2 {
		t.Fatalf("manifest %+v", m.Files)
	}
	zr, _ := zip.NewReader(bytes.NewReader(out.Bytes()), int64(out.Len()))
	var csvData []byte
	for _, f := range zr.File {
		if f.Name == "workflow/clients.csv" {
			rc, _ := f.Open()
			csvData, _ = io.ReadAll(rc)
		}
	}
	records, err := csv.NewReader(bytes.NewReader(csvData)).ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	want := [][]string{
		{"name", "fee", "tags", "note", "ok"},
		{`'=HYPERLINK("http://x")`, "12.5", `["a","b"]`, "", "true"},
		{"Ada", "'-3", "[]", "'@home", "false"},
	}
	for i := range want {
		for j := range want[i] {
			if records[i][j] != want[i][j] {
				t.Errorf("cell %d,%d = %q, want %q", i, j, records[i][j], want[i][j])
			}
		}
	}
}
