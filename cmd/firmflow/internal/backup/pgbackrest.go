// Package backup is continuous backup and the restore drill: pgBackRest archives the
// service databases' WAL into an encrypted repository and takes full and differential
// backups; a drill restores to a point in time into a scratch cluster of its own,
// verifies the repository and checks what the application promises of the data.
package backup

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/firmflow/firmflow/pkg/pg/pgcluster"
)

// Repository is one pgBackRest stanza (a PostgreSQL cluster's backups and WAL
// archive) and what it takes to read it: the configuration file and the passphrase
// the repository is encrypted with.
type Repository struct {
	Config string
	Stanza string
	// CipherPass is the repository's passphrase; pgBackRest gets it through its
	// environment (PGBACKREST_REPO1_CIPHER_PASS), never on a command line.
	CipherPass string
	Runner     pgcluster.Runner
}

// ReadCipherPass reads a repository passphrase from a secret file.
func ReadCipherPass(path string) (string, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return "", fmt.Errorf("repository passphrase: %w", err)
	}
	pass := strings.TrimSpace(string(data))
	if len(pass) < 20 {
		return "", fmt.Errorf("repository passphrase in %s: at least 20 characters are required (openssl rand -base64 48)", path)
	}
	return pass, nil
}

// runner is the Runner with the passphrase in its environment: the server started
// with it passes it on to archive-push and archive-get.
func (r Repository) runner() pgcluster.Runner {
	run := r.Runner
	run.Env = append(append([]string(nil), run.Env...), "PGBACKREST_REPO1_CIPHER_PASS="+r.CipherPass)
	return run
}

// run runs a pgBackRest command; args starting with -- are options, the others the
// command's parameters.
func (r Repository) run(ctx context.Context, command string, args ...string) ([]byte, error) {
	all := []string{"--config=" + r.Config, "--stanza=" + r.Stanza, "--log-level-console=warn", "--log-level-stderr=error"}
	var params []string
	for _, a := range args {
		if strings.HasPrefix(a, "--") {
			all = append(all, a)
		} else {
			params = append(params, a)
		}
	}
	out, err := r.runner().Output(ctx, "pgbackrest", append(append(all, command), params...)...)
	if err != nil {
		var exit *exec.ExitError
		if errors.As(err, &exit) || errors.Is(err, exec.ErrNotFound) {
			return out, fmt.Errorf("pgbackrest %s: %w", command, err)
		}
		return out, err
	}
	return out, nil
}

// BackupSet is one backup in the repository.
type BackupSet struct {
	Label string
	// Type is full, diff or incr.
	Type  string
	Start time.Time
	// Stop is when the backup became consistent: the earliest time it restores to.
	Stop time.Time
}

// Info is what the repository holds for the stanza.
type Info struct {
	Backups []BackupSet
	// ArchiveMin and ArchiveMax are the oldest and newest WAL segments archived.
	ArchiveMin, ArchiveMax string
	Cipher                 string
}

// Earliest is the first moment the repository can restore to.
func (i Info) Earliest() time.Time {
	var t time.Time
	for _, b := range i.Backups {
		if t.IsZero() || b.Stop.Before(t) {
			t = b.Stop
		}
	}
	return t
}

// Errors a drill reports in words an operator acts on.
var (
	ErrNoRepository = errors.New("no backup repository")
	ErrPassphrase   = errors.New("the repository does not open with this passphrase")
	ErrNoBackup     = errors.New("no backup to restore from")
	ErrTarget       = errors.New("the restore target is outside what the repository covers")
)

// Info reads the repository's contents. A missing repository or stanza and a wrong
// passphrase are errors that say so; pgBackRest itself answers both with status 0.
func (r Repository) Info(ctx context.Context) (Info, error) {
	out, err := r.run(ctx, "info", "--output=json")
	if err != nil {
		return Info{}, err
	}
	var stanzas []struct {
		Name   string `json:"name"`
		Cipher string `json:"cipher"`
		Status struct {
			Code    int    `json:"code"`
			Message string `json:"message"`
		} `json:"status"`
		Archive []struct {
			Min string `json:"min"`
			Max string `json:"max"`
		} `json:"archive"`
		Backup []struct {
			Label     string `json:"label"`
			Type      string `json:"type"`
			Error     bool   `json:"error"`
			Timestamp struct {
				Start int64 `json:"start"`
				Stop  int64 `json:"stop"`
			} `json:"timestamp"`
		} `json:"backup"`
	}
	if err := json.Unmarshal(out, &stanzas); err != nil || len(stanzas) != 1 {
		// An info file that does not decrypt is quoted raw in the status message,
		// which is then not valid JSON.
		if bytes.Contains(out, []byte("unable to load info file")) && !bytes.Contains(out, []byte(`"cipher":"none"`)) {
			return Info{}, fmt.Errorf("%w (its info files do not decrypt; they may also be damaged)", ErrPassphrase)
		}
		return Info{}, fmt.Errorf("pgbackrest info: unexpected output %q", truncate(string(out), 200))
	}
	s := stanzas[0]
	switch s.Status.Code {
	case 0:
	case 1: // missing stanza path
		return Info{}, fmt.Errorf("%w for stanza %q (%s): check repo1-path in %s", ErrNoRepository, r.Stanza, s.Status.Message, r.Config)
	case 2: // no valid backups
		return Info{}, fmt.Errorf("%w in stanza %q: take one with pgbackrest --stanza=%s backup --type=full", ErrNoBackup, r.Stanza, r.Stanza)
	default:
		if s.Cipher != "none" && s.Status.Code == 99 {
			return Info{}, fmt.Errorf("%w (its info files do not decrypt; they may also be damaged)", ErrPassphrase)
		}
		return Info{}, fmt.Errorf("pgbackrest info: stanza %q: %s (code %d)", r.Stanza, s.Status.Message, s.Status.Code)
	}
	info := Info{Cipher: s.Cipher}
	for _, a := range s.Archive {
		if info.ArchiveMin == "" || a.Min < info.ArchiveMin {
			info.ArchiveMin = a.Min
		}
		info.ArchiveMax = max(info.ArchiveMax, a.Max)
	}
	for _, b := range s.Backup {
		if b.Error {
			continue
		}
		// Timestamps are whole seconds: the backup became consistent before the next.
		info.Backups = append(info.Backups, BackupSet{
			Label: b.Label, Type: b.Type, Start: time.Unix(b.Timestamp.Start, 0), Stop: time.Unix(b.Timestamp.Stop+1, 0),
		})
	}
	if len(info.Backups) == 0 {
		return Info{}, fmt.Errorf("%w in stanza %q", ErrNoBackup, r.Stanza)
	}
	return info, nil
}

// StanzaCreate prepares the repository for a cluster that archives into it.
func (r Repository) StanzaCreate(ctx context.Context) error {
	_, err := r.run(ctx, "stanza-create")
	return err
}

// Backup takes a backup: "full", "diff" or "incr".
func (r Repository) Backup(ctx context.Context, kind string) error {
	_, err := r.run(ctx, "backup", "--type="+kind)
	return err
}

// VerifyReport is what `pgbackrest verify` found: every archived WAL segment and
// every backup file read back and checked against its recorded checksum and size.
type VerifyReport struct {
	OK       bool
	Summary  string
	Problems []string
}

// Verify logs a file it could not read as "invalid result FILE: error" and a file
// whose content differs from its recorded checksum or size as "invalid checksum
// 'FILE'" (or size).
var (
	invalidResult = regexp.MustCompile(`(?m)invalid result (\S+): (.*)$`)
	invalidFile   = regexp.MustCompile(`(?m)INFO: invalid (\w+) '([^']+)'`)
)

// Verify reads the whole repository back. pgBackRest exits 0 whatever it finds, so
// the status line decides.
func (r Repository) Verify(ctx context.Context) (VerifyReport, error) {
	out, err := r.runner().Output(ctx, "pgbackrest", "--config="+r.Config, "--stanza="+r.Stanza,
		"--output=text", "--verbose", "--log-level-console=info", "--log-level-stderr=error", "verify")
	if err != nil {
		return VerifyReport{}, fmt.Errorf("pgbackrest verify: %w", err)
	}
	text := string(out)
	// The summary is printed twice (log and output); the output is the last block.
	summary := text[max(0, strings.LastIndex(text, "stanza: "+r.Stanza)):]
	report := VerifyReport{Summary: strings.TrimSpace(summary)}
	report.OK = strings.Contains(summary, "\nstatus: ok")
	for _, m := range invalidResult.FindAllStringSubmatch(text, -1) {
		report.Problems = append(report.Problems, m[1]+": "+strings.TrimSpace(m[2]))
	}
	for _, m := range invalidFile.FindAllStringSubmatch(text, -1) {
		report.Problems = append(report.Problems, m[2]+": invalid "+m[1])
	}
	if !report.OK && len(report.Problems) == 0 {
		report.Problems = append(report.Problems, report.Summary)
	}
	return report, nil
}

// Restore restores the stanza into dir (created, owned by the server's user) as it
// was at target, or to the end of the archived WAL when target is zero, with
// archiving off so the restored cluster never writes into the repository. The
// restored cluster promotes itself at the target.
func (r Repository) Restore(ctx context.Context, dir string, target time.Time) error {
	if err := r.Runner.MkdirAll(dir); err != nil {
		return err
	}
	args := []string{"--pg1-path=" + dir, "--archive-mode=off", "--delta=n"}
	if !target.IsZero() {
		args = append(args, "--type=time", "--target="+RecoveryTime(target), "--target-action=promote")
	}
	_, err := r.run(ctx, "restore", args...)
	return err
}

// RecoveryTime formats t as PostgreSQL's recovery_target_time takes it.
func RecoveryTime(t time.Time) string { return t.UTC().Format("2006-01-02 15:04:05.000000") + "+00" }

// Settings are what a stanza's configuration says: one repository, encrypted, and
// how long it keeps backups. deploy/backup/pgbackrest.conf says the same for
// production; Render writes it for a private cluster.
type Settings struct {
	Stanza string
	// RepoPath is the repository directory (posix); S3 is one setting away, see
	// deploy/backup/pgbackrest.conf.
	RepoPath string
	// WorkDir keeps pgBackRest's lock, log and spool files.
	WorkDir string
	// DataDir, Port and SocketDir reach the cluster that is backed up.
	DataDir   string
	Port      int
	SocketDir string
	// RetentionFull is how many full backups are kept (their differentials and WAL
	// with them); RetentionDiff how many differentials.
	RetentionFull, RetentionDiff int
	// ArchiveTimeout is how long archive-push and backup wait for a WAL segment to
	// reach the repository.
	ArchiveTimeout time.Duration
	// JobRetry is how many times a failed file operation is retried (default 2, 15 s
	// apart); a local repository needs none.
	JobRetry int
}

// Render writes the pgBackRest configuration file.
func (s Settings) Render(path string) error {
	conf := fmt.Sprintf(`[global]
repo1-path=%s
repo1-cipher-type=aes-256-cbc
repo1-retention-full-type=count
repo1-retention-full=%d
repo1-retention-diff=%d
compress-type=zst
archive-timeout=%d
start-fast=y
job-retry=%d
lock-path=%s
log-path=%s
spool-path=%s
log-level-file=off

[%s]
pg1-path=%s
pg1-port=%d
pg1-socket-path=%s
pg1-user=postgres
`, s.RepoPath, s.RetentionFull, s.RetentionDiff, int(s.ArchiveTimeout.Seconds()), s.JobRetry,
		filepath.Join(s.WorkDir, "lock"), filepath.Join(s.WorkDir, "log"), filepath.Join(s.WorkDir, "spool"),
		s.Stanza, s.DataDir, s.Port, s.SocketDir)
	return os.WriteFile(path, []byte(conf), 0o640)
}

// ArchiveSettings are the PostgreSQL settings that archive every WAL segment into the
// stanza's repository, a segment at least every archiveTimeout (the RPO bound).
func ArchiveSettings(config, stanza string, archiveTimeout time.Duration) map[string]string {
	return map[string]string{
		"wal_level":       "replica",
		"archive_mode":    "on",
		"archive_command": fmt.Sprintf("pgbackrest --config=%s --stanza=%s archive-push %%p", config, stanza),
		"archive_timeout": strconv.Itoa(int(archiveTimeout.Seconds())) + "s",
	}
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "..."
}
