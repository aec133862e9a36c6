package backup

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"sort"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/firmflow/firmflow/cmd/firmflow/internal/e2e/harness"
	audit "github.com/firmflow/firmflow/services/audit/server"
)

// DisasterOptions shape a disaster-recovery drill.
type DisasterOptions struct {
	CipherPass string
	// Clients is how many numbered clients the workload creates before the loss.
	Clients int
	// Rewind is how far back the outboxes are marked unpublished after the restore,
	// so that events JetStream had but no consumer had processed are published
	// again into the new, empty JetStream (consumers drop what they already had).
	Rewind   time.Duration
	Progress func(format string, args ...any)
}

// DisasterReport is what a disaster-recovery drill found.
type DisasterReport struct {
	// LostAt is when the database server was killed and its disk and the JetStream
	// store deleted; RestoredTo is the newest archived commit, where the rebuild
	// stands.
	LostAt, RestoredTo time.Time
	// Acknowledged writes before RestoredTo all restored (checked), LostWrites
	// acknowledged after it are gone: what the RPO cost.
	Restored, LostWrites int
	// Pending is the outbox events unpublished after the restore and the rewind;
	// all of them were published to the new JetStream before the drill ended.
	Pending int
	// Smoke is the journey run on the rebuilt system.
	Smoke []string
	// RTO is from the start of the rebuild (nothing running, only the repository
	// and the secrets) until the smoke journey passed.
	RTO time.Duration
}

// DisasterDrill rebuilds the system from nothing but its backups and its secrets: the
// system runs on a private cluster that archives into an encrypted repository, the
// workload creates clients; then the server is killed and its data directory and the
// JetStream store deleted. From the repository (restored to the end of the archive),
// the secrets (TLS, principal, audit and KEK keys) and a new, empty JetStream, the
// system is started again, outboxes are rewound so events JetStream had not
// delivered are published again, and a smoke journey signs in, reads a client and
// verifies the audit chain.
func DisasterDrill(ctx context.Context, opts DisasterOptions) (_ DisasterReport, err error) {
	progress := opts.Progress
	if progress == nil {
		progress = func(string, ...any) {}
	}
	var rep DisasterReport
	p, err := NewPrivate(ctx, PrivateOptions{Stanza: "firmflow", CipherPass: opts.CipherPass, ArchiveTimeout: 60 * time.Second})
	if err != nil {
		return rep, fmt.Errorf("private cluster: %w", err)
	}
	defer func() { err = errors.Join(err, p.Close()) }()
	const prefix = "firmflow_"
	dataDir := filepath.Join(p.Dir, "system")
	boot := func(adminURL string) (*harness.System, error) {
		return harness.Boot(harness.Options{
			AdminDatabaseURL: adminURL, DataDir: dataDir, DatabasePrefix: prefix,
			AuditTuning: func(c *audit.Config) { c.CheckpointInterval = time.Second },
		})
	}
	sys, err := boot(p.Cluster.URL("postgres"))
	if err != nil {
		return rep, err
	}
	stopped := false
	defer func() {
		if !stopped {
			_ = sys.Stop()
		}
	}()
	var firms []harness.Firm
	for _, label := range []string{"ledger", "abacus", "tally"} {
		f, err := sys.SignUp(label)
		if err != nil {
			return rep, err
		}
		firms = append(firms, f)
	}
	if err := p.Repo.Backup(ctx, "full"); err != nil {
		return rep, err
	}
	progress("system running on a private cluster; full backup taken")
	ledger, _ := NewLedger("")
	if err := createClients(ctx, firms, ledger, 1, 1+opts.Clients); err != nil {
		return rep, err
	}
	if err := p.ArchiveNow(ctx); err != nil {
		return rep, err
	}
	// Written after the last archived segment: lost with the server, as anything
	// committed within archive_timeout of a real loss would be.
	if err := createClients(ctx, firms, ledger, 1+opts.Clients, 1+opts.Clients+3); err != nil {
		return rep, err
	}

	rep.LostAt = time.Now()
	if err := p.Cluster.Kill(); err != nil {
		return rep, err
	}
	stopped = true
	_ = sys.Stop() // its databases are gone with the server
	for _, gone := range []string{p.Cluster.Dir, filepath.Join(dataDir, "nats")} {
		if err := os.RemoveAll(gone); err != nil {
			return rep, err
		}
	}
	progress("server killed (SIGKILL); its data directory and the JetStream store deleted")

	rebuild := time.Now()
	newest, err := p.Repo.NewestWAL(ctx, filepath.Join(p.Dir, "wal"))
	if err != nil {
		return rep, err
	}
	rep.RestoredTo = newest.LastCommit
	rebuilt, err := restoreCluster(ctx, p.Repo, p.Dir, time.Time{}, 10*time.Minute)
	if rebuilt != nil {
		defer func() { _ = rebuilt.Stop(context.WithoutCancel(ctx)) }()
	}
	if err != nil {
		return rep, fmt.Errorf("restore: %w", err)
	}
	progress("databases restored to %s", RecoveryTime(rep.RestoredTo))
	databases, err := outboxDatabases(ctx, rebuilt.URL, prefix)
	if err != nil {
		return rep, err
	}
	for _, db := range databases {
		if _, err := exec1(ctx, rebuilt.URL(db),
			"UPDATE outbox SET published_at = NULL WHERE published_at > $1", rep.RestoredTo.Add(-opts.Rewind)); err != nil {
			return rep, fmt.Errorf("rewind the outbox of %s: %w", db, err)
		}
	}
	if rep.Pending, err = pendingEvents(ctx, rebuilt.URL, databases); err != nil {
		return rep, err
	}

	sys2, err := boot(rebuilt.URL("postgres"))
	if err != nil {
		return rep, fmt.Errorf("start the rebuilt system: %w", err)
	}
	defer func() { err = errors.Join(err, sys2.Stop()) }()
	if rep.Smoke, err = smoke(sys2, firms[0]); err != nil {
		return rep, fmt.Errorf("smoke journey: %w", err)
	}
	rep.RTO = time.Since(rebuild)
	progress("system rebuilt and serving")

	// Every write acknowledged before the newest archived commit is back; the
	// writes after it are the loss the RPO allows.
	want := ledger.At(rep.RestoredTo)
	found, err := readLedgerWrites(ctx, rebuilt.URL(prefix+"workflow"), `SELECT substring(display_name from '^Drill client ([0-9]+)$')::bigint, firm_id::text FROM clients WHERE display_name ~ '^Drill client [0-9]+$'`)
	if err != nil {
		return rep, err
	}
	if err := want.Compare(found); err != nil {
		return rep, err
	}
	rep.Restored, rep.LostWrites = len(want.Present), len(want.Absent)
	// The relays publish what the outboxes hold into the new JetStream.
	for deadline := time.Now().Add(time.Minute); ; {
		n, err := pendingEvents(ctx, rebuilt.URL, databases)
		if err != nil {
			return rep, err
		}
		if n == 0 {
			break
		}
		if time.Now().After(deadline) {
			return rep, fmt.Errorf("%d outbox events still unpublished a minute after the rebuild", n)
		}
		time.Sleep(200 * time.Millisecond)
	}
	return rep, nil
}

// smoke signs the firm's owner in, reads one of its clients and verifies its audit
// chain, over the REST API as the app does.
func smoke(sys *harness.System, f harness.Firm) ([]string, error) {
	c := sys.Browser()
	if _, err := c.Login(f.Email, harness.Password, ""); err != nil {
		return nil, fmt.Errorf("sign in: %w", err)
	}
	steps := []string{"signed in as " + f.Email}
	r, err := c.Do("GET", "/v1/"+f.Name+"/clients?page_size=1", nil)
	if err != nil {
		return steps, err
	}
	var list struct {
		Clients []struct {
			Name        string `json:"name"`
			DisplayName string `json:"display_name"`
		} `json:"clients"`
	}
	if r.Status != http.StatusOK || r.Decode(&list) != nil || len(list.Clients) == 0 {
		return steps, fmt.Errorf("list clients: %d %s", r.Status, r.Raw)
	}
	if r, err = c.Do("GET", "/v1/"+list.Clients[0].Name+"?view=CLIENT_VIEW_REVEALED", nil); err != nil || r.Status != http.StatusOK {
		return steps, fmt.Errorf("read client %s: %v %d %s", list.Clients[0].Name, err, r.Status, r.Raw)
	}
	steps = append(steps, "read "+list.Clients[0].Name+" ("+list.Clients[0].DisplayName+", tax id revealed)")
	r, err = c.Do("POST", "/v1/"+f.Name+"/auditEvents:verify", map[string]any{})
	var verified struct {
		Valid      bool   `json:"valid"`
		EventCount string `json:"event_count"`
	}
	if err != nil || r.Status != http.StatusOK || r.Decode(&verified) != nil || !verified.Valid {
		return steps, fmt.Errorf("verify the audit chain: %v %d %s", err, r.Status, r.Raw)
	}
	return append(steps, "audit chain of "+f.Name+" verified: "+verified.EventCount+" events"), nil
}

// outboxDatabases lists the databases with the prefix that have an outbox table.
func outboxDatabases(ctx context.Context, url func(string) string, prefix string) ([]string, error) {
	conn, err := pgx.Connect(ctx, url("postgres"))
	if err != nil {
		return nil, err
	}
	defer conn.Close(context.WithoutCancel(ctx))
	rows, err := conn.Query(ctx, "SELECT datname FROM pg_database WHERE starts_with(datname, $1)", prefix)
	if err != nil {
		return nil, err
	}
	names, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		return nil, err
	}
	var out []string
	for _, db := range names {
		var has bool
		if err := queryRow(ctx, url(db), "SELECT to_regclass('public.outbox') IS NOT NULL", &has); err != nil {
			return nil, err
		}
		if has {
			out = append(out, db)
		}
	}
	sort.Strings(out)
	return out, nil
}

func pendingEvents(ctx context.Context, url func(string) string, databases []string) (int, error) {
	total := 0
	for _, db := range databases {
		var n int
		if err := queryRow(ctx, url(db), "SELECT count(*) FROM outbox WHERE published_at IS NULL", &n); err != nil {
			return 0, err
		}
		total += n
	}
	return total, nil
}

func queryRow(ctx context.Context, url, sql string, dst any) error {
	conn, err := pgx.Connect(ctx, url)
	if err != nil {
		return err
	}
	defer conn.Close(context.WithoutCancel(ctx))
	return conn.QueryRow(ctx, sql).Scan(dst)
}

func exec1(ctx context.Context, url, sql string, args ...any) (int64, error) {
	conn, err := pgx.Connect(ctx, url)
	if err != nil {
		return 0, err
	}
	defer conn.Close(context.WithoutCancel(ctx))
	tag, err := conn.Exec(ctx, sql, args...)
	return tag.RowsAffected(), err
}

// PrintDisaster writes a disaster-recovery drill's report for a person.
func PrintDisaster(out io.Writer, rep DisasterReport) {
	fmt.Fprintf(out, "lost at      %s (server killed, data directory and JetStream store deleted)\n", RecoveryTime(rep.LostAt))
	fmt.Fprintf(out, "restored to  %s (newest archived commit, %s before the loss)\n", RecoveryTime(rep.RestoredTo), rep.LostAt.Sub(rep.RestoredTo).Round(time.Millisecond))
	fmt.Fprintf(out, "writes       %d acknowledged before it all restored; %d acknowledged after it lost (the RPO window)\n", rep.Restored, rep.LostWrites)
	fmt.Fprintf(out, "outboxes     %d events unpublished after the restore and rewind, all published to the new JetStream\n", rep.Pending)
	for _, s := range rep.Smoke {
		fmt.Fprintf(out, "smoke        %s\n", s)
	}
	fmt.Fprintf(out, "RTO          %s (from nothing running to the smoke journey passing)\n", rep.RTO.Round(time.Millisecond))
}
