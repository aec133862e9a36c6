package archive

import (
	"archive/zip"
	"bytes"
	"crypto/sha256"
	"encoding/csv"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"hash"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"time"

	"github.com/firmflow/firmflow/pkg/csvguard"
)

// ManifestVersion is the version of manifest.json's shape.
const ManifestVersion = 1

// Manifest describes an export archive: one entry per file, with what a reader needs
// to check it (SHA-256, row count) and to read it (the entity's schema version).
type Manifest struct {
	Format     string         `json:"format"`
	Version    int            `json:"version"`
	Firm       string         `json:"firm"`
	ExportTime time.Time      `json:"export_time"`
	Files      []ManifestFile `json:"files"`
}

// ManifestFile is one file of the archive.
type ManifestFile struct {
	Path          string `json:"path"`
	Service       string `json:"service"`
	Entity        string `json:"entity"`
	Format        string `json:"format"` // "jsonl" or "csv"
	SchemaVersion uint32 `json:"schema_version"`
	Rows          int64  `json:"rows"`
	Bytes         int64  `json:"bytes"`
	SHA256        string `json:"sha256"`
}

var entityName = regexp.MustCompile(`^[a-z][a-z0-9_]{0,62}$`)

// Builder gathers an export's rows into temporary files, entity by entity, so that
// no service's data is held in memory; WriteZip then writes the archive.
type Builder struct {
	dir      string
	entities map[string]*entity
}

type entity struct {
	service, name string
	schema        uint32
	jsonl, csv    *countingFile
	csvw          *csv.Writer
	columns       []string
	rows          int64
}

type countingFile struct {
	f     *os.File
	hash  hash.Hash
	bytes int64
}

func (c *countingFile) Write(p []byte) (int, error) {
	n, err := c.f.Write(p)
	c.hash.Write(p[:n])
	c.bytes += int64(n)
	return n, err
}

// NewBuilder keeps its temporary files in a new directory under tmp.
func NewBuilder(tmp string) (*Builder, error) {
	dir, err := os.MkdirTemp(tmp, "export-")
	if err != nil {
		return nil, err
	}
	return &Builder{dir: dir, entities: map[string]*entity{}}, nil
}

// Close removes the temporary files.
func (b *Builder) Close() error {
	for _, e := range b.entities {
		e.jsonl.f.Close()
		e.csv.f.Close()
	}
	return os.RemoveAll(b.dir)
}

// Add appends rows (JSON objects) of a service's entity.
func (b *Builder) Add(service, name string, schema uint32, rows [][]byte) error {
	if !entityName.MatchString(service) || !entityName.MatchString(name) {
		return fmt.Errorf("export: entity %q of %q is not a plain name", name, service)
	}
	key := service + "/" + name
	e := b.entities[key]
	if e == nil {
		var err error
		e = &entity{service: service, name: name, schema: schema}
		if e.jsonl, err = b.create(key + ".jsonl"); err != nil {
			return err
		}
		if e.csv, err = b.create(key + ".csv"); err != nil {
			return err
		}
		e.csvw = csv.NewWriter(e.csv)
		b.entities[key] = e
	}
	if schema != e.schema {
		return fmt.Errorf("export: %s changed schema version mid-export", key)
	}
	for _, row := range rows {
		keys, cells, err := decodeRow(row)
		if err != nil {
			return fmt.Errorf("export: %s row %d: %w", key, e.rows+1, err)
		}
		if e.columns == nil {
			e.columns = keys
			if err := e.csvw.Write(guardAll(keys)); err != nil {
				return err
			}
		}
		record := make([]string, len(e.columns))
		for i, col := range e.columns {
			record[i] = csvguard.Guard(cells[col])
		}
		if err := e.csvw.Write(record); err != nil {
			return err
		}
		var line bytes.Buffer
		if err := json.Compact(&line, row); err != nil {
			return err
		}
		line.WriteByte('\n')
		if _, err := e.jsonl.Write(line.Bytes()); err != nil {
			return err
		}
		e.rows++
	}
	e.csvw.Flush()
	return e.csvw.Error()
}

func (b *Builder) create(name string) (*countingFile, error) {
	path := filepath.Join(b.dir, strings.ReplaceAll(name, "/", "__"))
	f, err := os.OpenFile(path, os.O_CREATE|os.O_EXCL|os.O_RDWR, 0o600)
	if err != nil {
		return nil, err
	}
	return &countingFile{f: f, hash: sha256.New()}, nil
}

func guardAll(cells []string) []string {
	out := make([]string, len(cells))
	for i, c := range cells {
		out[i] = csvguard.Guard(c)
	}
	return out
}

// decodeRow reads a JSON object's keys in order and its values as CSV cells: strings
// as they are, numbers and booleans as written, null as empty, nested values as
// compact JSON.
func decodeRow(row []byte) ([]string, map[string]string, error) {
	var fields map[string]json.RawMessage
	if err := json.Unmarshal(row, &fields); err != nil {
		return nil, nil, errors.New("not a JSON object")
	}
	dec := json.NewDecoder(bytes.NewReader(row))
	if _, err := dec.Token(); err != nil {
		return nil, nil, err
	}
	keys := make([]string, 0, len(fields))
	cells := make(map[string]string, len(fields))
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			return nil, nil, err
		}
		key := tok.(string)
		var raw json.RawMessage
		if err := dec.Decode(&raw); err != nil {
			return nil, nil, err
		}
		keys = append(keys, key)
		cells[key] = cell(raw)
	}
	return keys, cells, nil
}

func cell(raw json.RawMessage) string {
	var s string
	switch {
	case json.Unmarshal(raw, &s) == nil:
		return s
	case string(raw) == "null":
		return ""
	}
	var compact bytes.Buffer
	if json.Compact(&compact, raw) != nil {
		return string(raw)
	}
	return compact.String()
}

// WriteZip writes the archive: every entity's JSON Lines and CSV file, then
// manifest.json. It returns the manifest.
func (b *Builder) WriteZip(w io.Writer, firm string, exportTime time.Time) (Manifest, error) {
	m := Manifest{Format: "firmflow-export", Version: ManifestVersion, Firm: firm, ExportTime: exportTime.UTC(), Files: []ManifestFile{}}
	keys := make([]string, 0, len(b.entities))
	for k := range b.entities {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	zw := zip.NewWriter(w)
	for _, key := range keys {
		e := b.entities[key]
		e.csvw.Flush()
		for _, f := range []struct {
			file   *countingFile
			format string
		}{{e.jsonl, "jsonl"}, {e.csv, "csv"}} {
			path := key + "." + f.format
			if err := copyInto(zw, path, f.file.f, exportTime); err != nil {
				return Manifest{}, err
			}
			m.Files = append(m.Files, ManifestFile{
				Path: path, Service: e.service, Entity: e.name, Format: f.format, SchemaVersion: e.schema,
				Rows: e.rows, Bytes: f.file.bytes, SHA256: hex.EncodeToString(f.file.hash.Sum(nil)),
			})
		}
	}
	manifest, err := json.MarshalIndent(m, "", "  ")
	if err != nil {
		return Manifest{}, err
	}
	mw, err := zw.CreateHeader(&zip.FileHeader{Name: "manifest.json", Method: zip.Deflate, Modified: exportTime})
	if err != nil {
		return Manifest{}, err
	}
	if _, err := mw.Write(manifest); err != nil {
		return Manifest{}, err
	}
	return m, zw.Close()
}

func copyInto(zw *zip.Writer, path string, f *os.File, modified time.Time) error {
	if _, err := f.Seek(0, io.SeekStart); err != nil {
		return err
	}
	w, err := zw.CreateHeader(&zip.FileHeader{Name: path, Method: zip.Deflate, Modified: modified})
	if err != nil {
		return err
	}
	_, err = io.Copy(w, f)
	return err
}
