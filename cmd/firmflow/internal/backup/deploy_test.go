package backup_test

import (
	"bufio"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/firmflow/firmflow/cmd/firmflow/internal/backup"
)

const deployDir = "../../../../deploy/backup"

// ini reads a pgBackRest configuration: section -> option -> value.
func ini(t *testing.T, path string) map[string]map[string]string {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	out := map[string]map[string]string{}
	section := ""
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		switch {
		case line == "" || strings.HasPrefix(line, "#"):
		case strings.HasPrefix(line, "["):
			section = strings.Trim(line, "[]")
			out[section] = map[string]string{}
		default:
			k, v, ok := strings.Cut(line, "=")
			if !ok || section == "" {
				t.Fatalf("%s: %q is not an option of a section", path, line)
			}
			out[section][k] = v
		}
	}
	return out
}

// TestDeployConfigurationKeepsItsPromises reads deploy/backup as an operator installs
// it: an encrypted repository without its passphrase, WAL archived within a minute,
// the service databases kept 35 days (FIRMFLOW_BACKUP_RETENTION's 840h) and the key
// store 7 (FIRMFLOW_KEYS_BACKUP_RETENTION), and pgBackRest accepts every option.
func TestDeployConfigurationKeepsItsPromises(t *testing.T) {
	conf := filepath.Join(deployDir, "pgbackrest.conf")
	c := ini(t, conf)
	global := c["global"]
	for k, want := range map[string]string{
		"repo1-cipher-type": "aes-256-cbc", "archive-timeout": "60", "repo1-retention-full-type": "time",
	} {
		if global[k] != want {
			t.Errorf("[global] %s = %q, want %q", k, global[k], want)
		}
	}
	for section, opts := range c {
		for k := range opts {
			if strings.Contains(k, "cipher-pass") {
				t.Errorf("[%s] %s: the passphrase belongs in the secret file, not the configuration", section, k)
			}
		}
	}
	cron, err := os.ReadFile(filepath.Join(deployDir, "pgbackrest.cron"))
	if err != nil {
		t.Fatal(err)
	}
	// Time retention keeps the fulls newer than N days and the one before them: N
	// plus the interval between fulls is the longest a backup lives.
	for _, tc := range []struct {
		stanza, retention string
		fullEvery         time.Duration
		cron              string
		promise           time.Duration
	}{
		{"firmflow", global["repo1-retention-full"], 7 * 24 * time.Hour, "0   postgres  . /etc/pgbackrest/pgbackrest.env && pgbackrest --stanza=firmflow --type=full backup", 840 * time.Hour},
		{"firmflow-keys", c["firmflow-keys"]["repo1-retention-full"], 24 * time.Hour, "*   postgres  . /etc/pgbackrest/pgbackrest.env && pgbackrest --stanza=firmflow-keys --type=full backup", 7 * 24 * time.Hour},
	} {
		days, err := time.ParseDuration(tc.retention + "h")
		if err != nil {
			t.Fatalf("%s retention %q", tc.stanza, tc.retention)
		}
		if got := days*24 + tc.fullEvery; got != tc.promise {
			t.Errorf("stanza %s keeps backups up to %s, the deletion certificate promises %s", tc.stanza, got, tc.promise)
		}
		if !strings.Contains(string(cron), tc.cron) {
			t.Errorf("pgbackrest.cron lacks %q", tc.cron)
		}
	}
	pgConf, err := os.ReadFile(filepath.Join(deployDir, "postgresql-archiving.conf"))
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"archive_mode = on", "archive_timeout = 60s", "wal_level = replica", "archive-push %p"} {
		if !strings.Contains(string(pgConf), want) {
			t.Errorf("postgresql-archiving.conf lacks %q", want)
		}
	}

	// pgBackRest ignores an option it does not know in a configuration file; ask it
	// about each one, so a misspelt option fails here rather than weaken a backup.
	requirePgBackRest(t)
	for section, opts := range c {
		for option := range opts {
			known := false
			for _, command := range []string{"backup", "archive-push", "restore"} {
				if exec.Command("pgbackrest", "help", command, option).Run() == nil {
					known = true
					break
				}
			}
			if !known {
				t.Errorf("[%s] %s is not a pgBackRest option", section, option)
			}
		}
	}
}

func TestFailedDrillKeepsTheLastVerifiedTime(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "last-drill.json")
	passed := time.Date(2026, 12, 1, 3, 15, 0, 0, time.UTC)
	if _, err := backup.Save(path, backup.Report{OK: true, RTO: 12 * time.Second}, passed); err != nil {
		t.Fatal(err)
	}
	rec, err := backup.Save(path, backup.Report{OK: false}, passed.Add(48*time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	if !rec.LastVerifiedTime.Equal(passed) {
		t.Fatalf("after a failed drill the last verified time is %s, want %s", rec.LastVerifiedTime, passed)
	}
	metrics := filepath.Join(dir, "firmflow_backup.prom")
	if err := backup.WriteMetrics(metrics, rec, passed.Add(49*time.Hour)); err != nil {
		t.Fatal(err)
	}
	text, _ := os.ReadFile(metrics)
	for _, want := range []string{"\n" + backup.AgeMetric + " 176400\n", "\nfirmflow_backup_drill_ok 0\n", "# TYPE firmflow_backup_last_verified_restore_timestamp_seconds gauge"} {
		if !strings.Contains(string(text), want) {
			t.Errorf("metrics file lacks %q:\n%s", want, text)
		}
	}
}
