package backup

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"time"
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
		name   string
		pushed time.Time
	}
	var segments []segment
	for path, e := range entries {
		if m := segmentName.FindStringSubmatch(filepath.Base(path)); e.Type == "file" && m != nil {
			segments = append(segments, segment{name: m[1], pushed: time.Unix(e.Time, 0)})
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
		last, err := r.lastCommitIn(ctx, scratch, s.name)
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

func (r Repository) lastCommitIn(ctx context.Context, scratch, segment string) (time.Time, error) {
	if _, err := r.run(ctx, "archive-get", segment, filepath.Join(scratch, segment)); err != nil {
		return time.Time{}, err
	}
	defer os.Remove(filepath.Join(scratch, segment))
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
