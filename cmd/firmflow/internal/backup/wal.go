package backup

import (
	"bytes"
	"compress/gzip"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"time"

	"github.com/klauspost/compress/zstd"
)

// ArchivedWAL is what the archive holds at its newest end.
type ArchivedWAL struct {
	// Pushed is when the newest segment reached the repository.
	Pushed time.Time
	// LastCommit is the newest transaction commit in the archive: the latest point a
	// restore can reach (a restore to a later time runs out of WAL before its target).
	LastCommit time.Time
	Segment    string
}

var (
	segmentName = regexp.MustCompile(`^([0-9A-F]{24})-[0-9a-f]{40}`)
	commitTime  = regexp.MustCompile(`desc: COMMIT (\d{4}-\d\d-\d\d \d\d:\d\d:\d\d(?:\.\d+)?) UTC`)
)

// NewestWAL finds the newest archived segments and reads the last commit out of them
// (pg_waldump on segments fetched with archive-get into scratch, a temporary directory).
func (r Repository) NewestWAL(ctx context.Context, scratch string) (ArchivedWAL, error) {
	out, err := r.run(ctx, "repo-ls", "--recurse", "--output=json", "archive/"+r.Stanza)
	if err != nil {
		return ArchivedWAL{}, err
	}
	var entries map[string]struct {
		Type string `json:"type"`
		Time int64  `json:"time"`
	}
	if err := json.Unmarshal(out, &entries); err != nil {
		return ArchivedWAL{}, fmt.Errorf("pgbackrest repo-ls: %w", err)
	}
	type segment struct {
		name, path string
		pushed     time.Time
	}
	var segments []segment
	for path, e := range entries {
		if m := segmentName.FindStringSubmatch(filepath.Base(path)); e.Type == "file" && m != nil {
			segments = append(segments, segment{name: m[1], path: "archive/" + r.Stanza + "/" + path, pushed: time.Unix(e.Time, 0)})
		}
	}
	if len(segments) == 0 {
		return ArchivedWAL{}, fmt.Errorf("%w: the WAL archive of stanza %q is empty", ErrNoBackup, r.Stanza)
	}
	// Names order by timeline, then position.
	sort.Slice(segments, func(i, j int) bool { return segments[i].name > segments[j].name })
	newest := ArchivedWAL{Pushed: segments[0].pushed, Segment: segments[0].name}
	if err := r.Runner.MkdirAll(scratch); err != nil {
		return ArchivedWAL{}, err
	}
	defer os.RemoveAll(scratch)
	// A segment closed by archive_timeout on an idle server holds no commit; look
	// back a few.
	for _, s := range segments[:min(len(segments), 8)] {
		last, err := r.lastCommitIn(ctx, scratch, s.name, s.path)
		if err != nil {
			return ArchivedWAL{}, err
		}
		if !last.IsZero() {
			newest.LastCommit = last
			return newest, nil
		}
	}
	return ArchivedWAL{}, fmt.Errorf("%w: no commit in the newest archived WAL of stanza %q", ErrNoBackup, r.Stanza)
}

// lastCommitIn reads a segment with repo-get (which decrypts and, unlike
// archive-get, needs no local cluster: the drill runs where the database is not) and
// decompresses it here.
func (r Repository) lastCommitIn(ctx context.Context, scratch, segment, path string) (time.Time, error) {
	stored, err := r.run(ctx, "repo-get", path)
	if err != nil {
		return time.Time{}, err
	}
	data, err := decompress(stored, filepath.Ext(path))
	if err != nil {
		return time.Time{}, fmt.Errorf("WAL segment %s: %w", segment, err)
	}
	file := filepath.Join(scratch, segment)
	if err := os.WriteFile(file, data, 0o644); err != nil {
		return time.Time{}, err
	}
	defer os.Remove(file)
	// pg_waldump ends with an error at the segment's end (the next record is in the
	// next segment); what it printed before is what counts.
	cmd := r.Runner.Command(ctx, "pg_waldump", "-p", scratch, segment)
	cmd.Env = append(cmd.Env, "TZ=UTC")
	out, _ := cmd.Output()
	var last time.Time
	for _, m := range commitTime.FindAllStringSubmatch(string(out), -1) {
		t, err := time.Parse("2006-01-02 15:04:05.999999", strings.TrimSpace(m[1]))
		if err == nil && t.After(last) {
			last = t
		}
	}
	return last, nil
}

// decompress undoes pgBackRest's compress-type by the file's extension.
func decompress(data []byte, ext string) ([]byte, error) {
	switch ext {
	case ".zst":
		dec, err := zstd.NewReader(nil)
		if err != nil {
			return nil, err
		}
		defer dec.Close()
		return dec.DecodeAll(data, nil)
	case ".gz":
		zr, err := gzip.NewReader(bytes.NewReader(data))
		if err != nil {
			return nil, err
		}
		return io.ReadAll(zr)
	case "":
		return data, nil
	}
	return nil, fmt.Errorf("compressed as %s: the drill reads compress-type=zst, gz or none", ext)
}
