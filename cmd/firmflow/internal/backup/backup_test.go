package backup_test

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/firmflow/firmflow/cmd/firmflow/internal/backup"
)

const passphrase = "a passphrase long enough for the test repository"

// requirePgBackRest skips on a developer machine without pgBackRest and fails in CI,
// where .ci/run installs it: the backup tests must never pass by not running.
func requirePgBackRest(t *testing.T) {
	t.Helper()
	if _, err := exec.LookPath("pgbackrest"); err != nil {
		if os.Getenv("CI") != "" {
			t.Fatal("pgbackrest is not installed; CI installs it in .ci/run (apt-get install -y pgbackrest)")
		}
		t.Skip("pgbackrest is not installed: apt-get install -y pgbackrest")
	}
}

var firms = []string{"firm-a", "firm-b", "firm-c"}

// workload writes numbered rows n in [from, to), one transaction each, spread over
// the firms, and records each in the ledger once its commit returned.
func workload(ctx context.Context, t *testing.T, conn *pgx.Conn, ledger *backup.Ledger, from, to int64) {
	t.Helper()
	for n := from; n < to; n++ {
		w := backup.Write{N: n, Firm: firms[n%int64(len(firms))], Sent: time.Now()}
		if _, err := conn.Exec(ctx, "INSERT INTO drill_writes (n, firm) VALUES ($1, $2)", w.N, w.Firm); err != nil {
			t.Fatalf("write %d: %v", n, err)
		}
		w.Acked = time.Now()
		if err := ledger.Record(w); err != nil {
			t.Fatal(err)
		}
		time.Sleep(3 * time.Millisecond)
	}
}

func count(ctx context.Context, t *testing.T, conn *pgx.Conn) int {
	t.Helper()
	var n int
	if err := conn.QueryRow(ctx, "SELECT count(*) FROM drill_writes").Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}

func emptyDir(t *testing.T, dir string) {
	t.Helper()
	entries, _ := os.ReadDir(dir)
	if len(entries) != 0 {
		t.Errorf("%s holds %d entries after a refused drill, want none", dir, len(entries))
	}
}

// TestBackupsRestoreToAPointInTime runs a numbered-write workload on a private cluster
// that archives into an encrypted repository (a full and a differential backup along
// the way), refuses bad drills without changing anything, kills PostgreSQL with
// SIGKILL, restores from the repository alone to a random and to a chosen point in
// time, and finally has verify find a byte flipped in an archived WAL segment.
func TestBackupsRestoreToAPointInTime(t *testing.T) {
	t.Parallel() // each on a private cluster, repository and work directory of its own
	requirePgBackRest(t)
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()
	p, err := backup.NewPrivate(ctx, backup.PrivateOptions{
		Stanza: "drill", CipherPass: passphrase, ArchiveTimeout: 60 * time.Second, WALSegmentMB: 1,
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = p.Close() })
	conn, err := pgx.Connect(ctx, p.Cluster.URL("postgres"))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(context.Background())
	if _, err := conn.Exec(ctx, "CREATE TABLE drill_writes (n bigint PRIMARY KEY, firm text NOT NULL)"); err != nil {
		t.Fatal(err)
	}

	ledger, _ := backup.NewLedger("")
	if err := p.Repo.Backup(ctx, "full"); err != nil {
		t.Fatal(err)
	}
	beforeBackups := time.Now().Add(-time.Hour)
	workload(ctx, t, conn, ledger, 1, 60)
	if err := p.Repo.Backup(ctx, "diff"); err != nil {
		t.Fatal(err)
	}
	workload(ctx, t, conn, ledger, 60, 120)
	if err := p.ArchiveNow(ctx); err != nil {
		t.Fatal(err)
	}
	info, err := p.Repo.Info(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(info.Backups) != 2 || info.Backups[0].Type != "full" || info.Backups[1].Type != "diff" || info.Cipher != "aes-256-cbc" {
		t.Fatalf("repository holds %+v (cipher %s), want a full and a differential backup, encrypted", info.Backups, info.Cipher)
	}
	query := backup.LedgerQuery{Database: "postgres", SQL: "SELECT n, firm FROM drill_writes"}

	t.Run("bad input is refused and changes nothing", func(t *testing.T) {
		wrongPass := p.Repo
		wrongPass.CipherPass = "not the passphrase of this repository"
		missingConfig := filepath.Join(p.Dir, "missing.conf")
		conf, _ := os.ReadFile(p.Repo.Config)
		if err := os.WriteFile(missingConfig, []byte(strings.Replace(string(conf), filepath.Join(p.Dir, "repo"), filepath.Join(p.Dir, "no-such-repo"), 1)), 0o644); err != nil {
			t.Fatal(err)
		}
		missing := p.Repo
		missing.Config = missingConfig
		rows := count(ctx, t, conn)
		for _, tc := range []struct {
			name    string
			drill   backup.Drill
			want    error
			mention string
		}{
			{"target before the first backup", backup.Drill{Data: p.Repo, Target: beforeBackups}, backup.ErrTarget, "before the first backup"},
			{"target in the future", backup.Drill{Data: p.Repo, Target: time.Now().Add(time.Hour)}, backup.ErrTarget, "newest archived commit"},
			{"missing repository", backup.Drill{Data: missing}, backup.ErrNoRepository, "repo1-path"},
			{"wrong passphrase", backup.Drill{Data: wrongPass}, backup.ErrPassphrase, "passphrase"},
		} {
			t.Run(tc.name, func(t *testing.T) {
				tc.drill.WorkDir = p.ScratchDir
				_, err := tc.drill.Run(ctx)
				if !errors.Is(err, tc.want) || !strings.Contains(err.Error(), tc.mention) {
					t.Fatalf("drill error = %v, want %v mentioning %q", err, tc.want, tc.mention)
				}
				emptyDir(t, p.ScratchDir)
				if got := count(ctx, t, conn); got != rows {
					t.Errorf("live cluster holds %d writes after the refused drill, want %d", got, rows)
				}
			})
		}
		after, err := p.Repo.Info(ctx)
		if err != nil || len(after.Backups) != len(info.Backups) || after.ArchiveMax != info.ArchiveMax {
			t.Errorf("repository changed by refused drills: %+v (%v), was %+v", after, err, info)
		}
	})

	// Writes after the last archived segment are lost with the server.
	workload(ctx, t, conn, ledger, 120, 140)
	conn.Close(ctx)
	if err := p.Cluster.Kill(); err != nil {
		t.Fatal(err)
	}

	t.Run("restore to a random point after kill -9", func(t *testing.T) {
		seed := uint64(time.Now().UnixNano())
		t.Logf("target seed %d", seed)
		d := p.Drill()
		d.Rand, d.Ledger, d.LedgerQuery = rand.New(rand.NewPCG(seed, 0)), ledger, query
		rep := runDrill(ctx, t, d)
		want := ledger.At(rep.Target)
		if want.Unsure != 0 || len(want.Absent) < 20 {
			t.Errorf("target %s: %d writes unsure, %d absent; want none unsure and at least the 20 unarchived absent", rep.Target, want.Unsure, len(want.Absent))
		}
		t.Logf("target %s: %d present, %d absent; RPO %s, RTO %s", backup.RecoveryTime(rep.Target), len(want.Present), len(want.Absent), rep.RPO, rep.RTO)
	})

	t.Run("restore to a chosen point between two writes", func(t *testing.T) {
		writes := ledger.Writes()
		// Halfway between write 90's acknowledgement and write 91's send: after the
		// differential backup, so pgBackRest restores that and replays from it.
		target := writes[89].Acked.Add(writes[90].Sent.Sub(writes[89].Acked) / 2)
		d := p.Drill()
		d.Target, d.Ledger, d.LedgerQuery = target, ledger, query
		rep := runDrill(ctx, t, d)
		if want := ledger.At(rep.Target); len(want.Present) != 90 {
			t.Errorf("%d writes expected present at the chosen target, want 90", len(want.Present))
		}
	})

	t.Run("verify reports a flipped byte in an archived WAL segment", func(t *testing.T) {
		segments, _ := filepath.Glob(filepath.Join(p.Dir, "repo", "archive", "drill", "*", "*", "*.zst"))
		if len(segments) < 2 {
			t.Fatalf("archive holds %d segments, want several", len(segments))
		}
		flipped := segments[len(segments)/2]
		data, err := os.ReadFile(flipped)
		if err != nil {
			t.Fatal(err)
		}
		data[len(data)/2] ^= 0x01
		if err := os.WriteFile(flipped, data, 0o640); err != nil {
			t.Fatal(err)
		}
		v, err := p.Repo.Verify(ctx)
		if err != nil {
			t.Fatal(err)
		}
		name := strings.SplitN(filepath.Base(flipped), "-", 2)[0]
		if v.OK || len(v.Problems) != 1 || !strings.Contains(v.Problems[0], name) {
			t.Fatalf("verify after flipping a byte of %s: ok=%v problems=%q\n%s", name, v.OK, v.Problems, v.Summary)
		}
	})
}

func runDrill(ctx context.Context, t *testing.T, d *backup.Drill) backup.Report {
	t.Helper()
	rep, err := d.Run(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if !rep.OK {
		t.Fatalf("drill to %s found problems: %s", rep.Target, describe(rep))
	}
	if rep.Target.Before(rep.Earliest) || !rep.Target.Before(rep.LastCommit) || rep.RTO <= 0 {
		t.Errorf("drill report %+v: target outside [earliest, last commit] or no RTO", rep)
	}
	if len(rep.Checks) == 0 || rep.Checks[0].Name != "acknowledged writes" {
		t.Errorf("drill ran checks %+v, want the acknowledged writes first", rep.Checks)
	}
	return rep
}

func describe(rep backup.Report) string {
	var b strings.Builder
	for _, v := range rep.Verify {
		fmt.Fprintf(&b, "verify ok=%v %q\n", v.OK, v.Problems)
	}
	for _, c := range rep.Checks {
		fmt.Fprintf(&b, "%s ok=%v: %s\n", c.Name, c.OK, c.Detail)
	}
	return b.String()
}
