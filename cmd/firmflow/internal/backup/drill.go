package backup

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"os"
	"path/filepath"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/firmflow/firmflow/pkg/pg/pgcluster"
)

// Drill restores a repository to a point in time into a scratch cluster of its own
// (its own data directory and port; archiving off, so nothing reaches the repository
// or the live cluster), verifies the repository, and checks the restored data.
type Drill struct {
	// Data is the stanza of the service databases.
	Data Repository
	// Keys is the key store's stanza when the key store has a cluster of its own
	// (production); nil when it lives in Data's cluster.
	Keys *Repository
	// WorkDir holds the scratch clusters; they are removed when the drill ends.
	WorkDir string
	// Target is the point in time to restore to; zero picks one at random between
	// the first backup and the newest archived commit.
	Target time.Time
	Rand   *rand.Rand
	// Ledger, when set, is the numbered workload's record: every write acknowledged
	// before the target must be restored and none sent after it, with each firm's
	// count as recorded. LedgerQuery reads the writes back.
	Ledger      *Ledger
	LedgerQuery LedgerQuery
	// Checks are the application's invariants, run on the restored clusters.
	Checks []Check
	Logger *slog.Logger
	// StartTimeout bounds the restored cluster's recovery.
	StartTimeout time.Duration
}

// LedgerQuery is where the ledger's writes are in the restored cluster: a query in
// Database returning (number, firm) rows.
type LedgerQuery struct {
	Database string
	SQL      string
}

// Restored is the drill's scratch clusters, recovered to Target.
type Restored struct {
	Data *pgcluster.Cluster
	// Keys is the key store's cluster (Data when the key store lives there).
	Keys   *pgcluster.Cluster
	Target time.Time
}

// Check is one application invariant checked on the restored data; it returns what
// it saw, in a line.
type Check struct {
	Name string
	Run  func(ctx context.Context, r Restored) (string, error)
}

// CheckResult is a check's outcome.
type CheckResult struct {
	Name   string `json:"name"`
	OK     bool   `json:"ok"`
	Detail string `json:"detail"`
}

// Report is a drill's outcome.
type Report struct {
	Stanza  string    `json:"stanza"`
	Started time.Time `json:"started"`
	Target  time.Time `json:"target"`
	// Earliest is the first restorable moment (the oldest backup's end); LastCommit
	// the newest commit in the WAL archive.
	Earliest   time.Time `json:"earliest"`
	LastCommit time.Time `json:"last_commit"`
	// RPO is how far the newest archived commit lagged the drill's start: what a
	// loss of the live cluster at that moment would have lost at most, when writes
	// were flowing (archive_timeout bounds it while they are).
	RPO time.Duration `json:"rpo_ns"`
	// RTO is the restore until the scratch cluster accepted connections, recovered
	// to the target; Total adds verification and checks.
	RTO    time.Duration  `json:"rto_ns"`
	Total  time.Duration  `json:"total_ns"`
	Verify []VerifyReport `json:"verify"`
	Checks []CheckResult  `json:"checks"`
	OK     bool           `json:"ok"`
}

// Run runs the drill. An error means the drill could not run (bad input, a missing
// repository, a wrong passphrase, a target outside the repository); it is reported
// before anything was restored. A drill that ran and found problems returns a report
// with OK false.
func (d *Drill) Run(ctx context.Context) (Report, error) {
	started := time.Now()
	rep := Report{Stanza: d.Data.Stanza, Started: started.UTC()}
	if err := d.Data.Runner.MkdirAll(d.WorkDir); err != nil {
		return rep, err
	}
	repos := []Repository{d.Data}
	if d.Keys != nil {
		repos = append(repos, *d.Keys)
	}
	for _, r := range repos {
		info, err := r.Info(ctx)
		if err != nil {
			return rep, err
		}
		newest, err := r.NewestWAL(ctx, filepath.Join(d.WorkDir, "wal-"+r.Stanza))
		if err != nil {
			return rep, err
		}
		// Both clusters must reach the target: the later start, the earlier end.
		if rep.Earliest.IsZero() || info.Earliest().After(rep.Earliest) {
			rep.Earliest = info.Earliest().UTC()
		}
		if rep.LastCommit.IsZero() || newest.LastCommit.Before(rep.LastCommit) {
			rep.LastCommit = newest.LastCommit.UTC()
		}
	}
	rep.RPO = started.Sub(rep.LastCommit)
	target, err := d.target(rep.Earliest, rep.LastCommit)
	if err != nil {
		return rep, err
	}
	rep.Target = target.UTC()
	d.logger().InfoContext(ctx, "backup drill restoring", "stanza", d.Data.Stanza, "target", RecoveryTime(target),
		"earliest", RecoveryTime(rep.Earliest), "last_commit", RecoveryTime(rep.LastCommit))

	restoreStart := time.Now()
	var restored Restored
	var clusters []*pgcluster.Cluster
	defer func() {
		for _, c := range clusters {
			_ = c.Stop(context.WithoutCancel(ctx))
			_ = os.RemoveAll(c.Dir)
			_ = os.Remove(c.LogFile())
		}
	}()
	for i, r := range repos {
		c, err := d.restore(ctx, r, target)
		if c != nil {
			clusters = append(clusters, c)
		}
		if err != nil {
			return rep, fmt.Errorf("restore stanza %q to %s: %w", r.Stanza, RecoveryTime(target), err)
		}
		if i == 0 {
			restored.Data, restored.Keys = c, c
		} else {
			restored.Keys = c
		}
	}
	restored.Target = target
	rep.RTO = time.Since(restoreStart)

	rep.OK = true
	for _, r := range repos {
		v, err := r.Verify(ctx)
		if err != nil {
			return rep, err
		}
		rep.Verify = append(rep.Verify, v)
		rep.OK = rep.OK && v.OK
	}
	checks := d.Checks
	if d.Ledger != nil {
		checks = append([]Check{d.ledgerCheck()}, checks...)
	}
	for _, c := range checks {
		detail, err := c.Run(ctx, restored)
		res := CheckResult{Name: c.Name, OK: err == nil, Detail: detail}
		if err != nil {
			res.Detail = err.Error()
		}
		rep.Checks = append(rep.Checks, res)
		rep.OK = rep.OK && res.OK
	}
	rep.Total = time.Since(started)
	return rep, nil
}

// target is the requested target, checked against what the repository covers, or a
// random one inside it.
func (d *Drill) target(earliest, lastCommit time.Time) (time.Time, error) {
	if !lastCommit.After(earliest) {
		return time.Time{}, fmt.Errorf("%w: no commit was archived after the first backup ended (%s)", ErrTarget, RecoveryTime(earliest))
	}
	t := d.Target
	if t.IsZero() {
		r := d.Rand
		if r == nil {
			r = rand.New(rand.NewPCG(uint64(time.Now().UnixNano()), 0))
		}
		t = earliest.Add(time.Duration(r.Int64N(int64(lastCommit.Sub(earliest)))))
		if d.Ledger != nil {
			t = d.Ledger.Settle(t, earliest)
		}
	}
	switch {
	case !t.After(earliest):
		return time.Time{}, fmt.Errorf("%w: %s is before the first backup ended (%s); the earliest restorable point is after it",
			ErrTarget, RecoveryTime(t), RecoveryTime(earliest))
	case !t.Before(lastCommit):
		return time.Time{}, fmt.Errorf("%w: %s is not before the newest archived commit (%s)", ErrTarget, RecoveryTime(t), RecoveryTime(lastCommit))
	}
	return t, nil
}

// restore restores r into a fresh scratch directory under the work dir and starts
// it, with archiving off whatever the backed-up configuration said.
func (d *Drill) restore(ctx context.Context, r Repository, target time.Time) (*pgcluster.Cluster, error) {
	timeout := d.StartTimeout
	if timeout == 0 {
		timeout = 10 * time.Minute
	}
	return restoreCluster(ctx, r, d.WorkDir, target, timeout)
}

// restoreCluster restores r to target (zero: the end of the archive) into a new
// directory under workDir, starts it on a free port with archiving off and waits
// until it has recovered and promoted itself.
func restoreCluster(ctx context.Context, r Repository, workDir string, target time.Time, timeout time.Duration) (*pgcluster.Cluster, error) {
	dir, err := os.MkdirTemp(workDir, "restore-"+r.Stanza+"-")
	if err != nil {
		return nil, err
	}
	if err := os.Remove(dir); err != nil { // Restore creates it, owned by the server's user
		return nil, err
	}
	if err := r.Restore(ctx, dir, target); err != nil {
		_ = os.RemoveAll(dir)
		return nil, err
	}
	c, err := pgcluster.Open(r.runner(), dir)
	if err != nil {
		return nil, err
	}
	c.Settings = map[string]string{"archive_mode": "off"}
	startCtx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	if err := c.Start(startCtx); err != nil {
		return c, err
	}
	// Connections are accepted once the target is reached and the cluster promoted.
	return c, waitPromoted(startCtx, c)
}

func waitPromoted(ctx context.Context, c *pgcluster.Cluster) error {
	conn, err := pgx.Connect(ctx, c.URL("postgres"))
	if err != nil {
		return err
	}
	defer conn.Close(context.WithoutCancel(ctx))
	for {
		var recovering bool
		if err := conn.QueryRow(ctx, "SELECT pg_is_in_recovery()").Scan(&recovering); err != nil {
			return err
		}
		if !recovering {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("the restored cluster is still recovering: %w", ctx.Err())
		case <-time.After(100 * time.Millisecond):
		}
	}
}

func (d *Drill) ledgerCheck() Check {
	return Check{Name: "acknowledged writes", Run: func(ctx context.Context, r Restored) (string, error) {
		found, err := readLedgerWrites(ctx, r.Data.URL(d.LedgerQuery.Database), d.LedgerQuery.SQL)
		if err != nil {
			return "", err
		}
		want := d.Ledger.At(r.Target)
		if err := want.Compare(found); err != nil {
			return "", err
		}
		return fmt.Sprintf("%d acknowledged before the target present, %d sent after absent, %d firms' counts match",
			len(want.Present), len(want.Absent), len(want.PerFirm)), nil
	}}
}

func readLedgerWrites(ctx context.Context, url, query string) (map[int64]string, error) {
	conn, err := pgx.Connect(ctx, url)
	if err != nil {
		return nil, err
	}
	defer conn.Close(context.WithoutCancel(ctx))
	rows, err := conn.Query(ctx, query)
	if err != nil {
		return nil, err
	}
	found := map[int64]string{}
	var n int64
	var firm string
	_, err = pgx.ForEachRow(rows, []any{&n, &firm}, func() error {
		found[n] = firm
		return nil
	})
	return found, err
}

func (d *Drill) logger() *slog.Logger {
	if d.Logger == nil {
		return slog.New(slog.DiscardHandler)
	}
	return d.Logger
}

// ErrDrillFailed is returned by callers when a drill ran and found problems.
var ErrDrillFailed = errors.New("the restore drill found problems")
