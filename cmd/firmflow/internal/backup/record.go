package backup

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"time"
)

// AgeMetric is the gauge of how long ago a restore last verified.
const AgeMetric = "firmflow_backup_last_verified_restore_age_seconds"

// Record is the drill's entry in the record file: its report, and when a drill last
// passed (kept from the previous record when this one did not).
type Record struct {
	Report
	Finished         time.Time `json:"finished"`
	LastVerifiedTime time.Time `json:"last_verified_time"`
}

// Save writes the drill's record to path (a JSON file, replaced atomically), keeping
// the time of the last passing drill when this one failed.
func Save(path string, rep Report, finished time.Time) (Record, error) {
	rec := Record{Report: rep, Finished: finished.UTC()}
	if rep.OK {
		rec.LastVerifiedTime = rec.Finished
	} else if prev, err := LoadRecord(path); err == nil {
		rec.LastVerifiedTime = prev.LastVerifiedTime
	}
	var buf bytes.Buffer
	if err := writeJSON(&buf, rec); err != nil {
		return rec, err
	}
	return rec, writeAtomic(path, buf.Bytes())
}

// LoadRecord reads a record file written by Save.
func LoadRecord(path string) (Record, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return Record{}, err
	}
	var rec Record
	if err := json.Unmarshal(data, &rec); err != nil {
		return Record{}, fmt.Errorf("drill record %s: %w", path, err)
	}
	return rec, nil
}

// WriteMetrics writes the record as a Prometheus text file (node_exporter's textfile
// collector reads a directory of them): the time of the last verified restore, its
// age at the moment of writing, the last drill's RPO and RTO and whether it passed.
// An alert belongs on time() - firmflow_backup_last_verified_restore_timestamp_seconds,
// which keeps growing when drills stop passing.
func WriteMetrics(path string, rec Record, now time.Time) error {
	var b bytes.Buffer
	gauge := func(name, help string, v float64) {
		fmt.Fprintf(&b, "# HELP %s %s\n# TYPE %s gauge\n%s %g\n", name, help, name, name, v)
	}
	if !rec.LastVerifiedTime.IsZero() {
		gauge("firmflow_backup_last_verified_restore_timestamp_seconds", "When a restore drill last verified (Unix time).",
			float64(rec.LastVerifiedTime.UnixNano())/1e9)
		gauge(AgeMetric, "Seconds since a restore drill last verified, when this file was written.",
			now.Sub(rec.LastVerifiedTime).Seconds())
	}
	ok := 0.0
	if rec.OK {
		ok = 1
	}
	gauge("firmflow_backup_drill_ok", "Whether the last restore drill passed.", ok)
	gauge("firmflow_backup_drill_rpo_seconds", "The last drill's RPO: the newest archived commit's lag behind the drill's start.", rec.RPO.Seconds())
	gauge("firmflow_backup_drill_rto_seconds", "The last drill's RTO: restore until the scratch cluster served.", rec.RTO.Seconds())
	return writeAtomic(path, b.Bytes())
}

// PrintReport writes the report for a person.
func PrintReport(out io.Writer, rep Report) {
	fmt.Fprintf(out, "stanza       %s\n", rep.Stanza)
	fmt.Fprintf(out, "restorable   %s to %s\n", RecoveryTime(rep.Earliest), RecoveryTime(rep.LastCommit))
	fmt.Fprintf(out, "target       %s\n", RecoveryTime(rep.Target))
	fmt.Fprintf(out, "RPO          %s (newest archived commit behind the drill's start; archive_timeout bounds it while writes flow)\n", rep.RPO.Round(time.Millisecond))
	fmt.Fprintf(out, "RTO          %s (restore and recovery until the scratch cluster served)\n", rep.RTO.Round(time.Millisecond))
	for _, v := range rep.Verify {
		status := "OK"
		if !v.OK {
			status = "FAILED"
		}
		fmt.Fprintf(out, "verify       %s\n", status)
		for _, p := range v.Problems {
			fmt.Fprintf(out, "  %s\n", p)
		}
	}
	for _, c := range rep.Checks {
		status := "OK    "
		if !c.OK {
			status = "FAILED"
		}
		fmt.Fprintf(out, "check        %s %-20s %s\n", status, c.Name, c.Detail)
	}
	fmt.Fprintf(out, "total        %s\n", rep.Total.Round(time.Millisecond))
	if rep.OK {
		fmt.Fprintln(out, "result       OK: restored, verified and checked")
	} else {
		fmt.Fprintln(out, "result       FAILED")
	}
}

func writeAtomic(path string, data []byte) error {
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return err
	}
	tmp, err := os.CreateTemp(filepath.Dir(path), ".tmp-"+filepath.Base(path))
	if err != nil {
		return err
	}
	_, werr := tmp.Write(data)
	if err := errors.Join(werr, tmp.Chmod(0o644), tmp.Close()); err != nil {
		_ = os.Remove(tmp.Name())
		return err
	}
	return os.Rename(tmp.Name(), path)
}
