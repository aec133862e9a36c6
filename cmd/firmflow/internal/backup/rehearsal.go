package backup

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"path/filepath"
	"time"

	"github.com/firmflow/firmflow/cmd/firmflow/internal/e2e/harness"
	"github.com/firmflow/firmflow/cmd/firmflow/internal/stack"
	audit "github.com/firmflow/firmflow/services/audit/server"
)

// RehearsalOptions shape a rehearsal.
type RehearsalOptions struct {
	// CipherPass encrypts the private repository.
	CipherPass string
	// Clients is how many numbered clients the workload creates.
	Clients int
	Logger  *slog.Logger
	// Progress receives a line per step.
	Progress func(format string, args ...any)
}

// Rehearse runs the whole drill on a private cluster it sets up and tears down (what
// `make backup-drill` does): the system runs on a PostgreSQL of its own that archives
// into an encrypted repository; three firms sign up; a full backup; a numbered-client
// workload over the REST API with a differential backup halfway, each client
// recorded when the API acknowledged it; then a drill to a random point in time
// checks the restore against that record, the audit chains and the sealed fields.
func Rehearse(ctx context.Context, opts RehearsalOptions) (_ Report, err error) {
	progress := opts.Progress
	if progress == nil {
		progress = func(string, ...any) {}
	}
	p, err := NewPrivate(ctx, PrivateOptions{Stanza: "firmflow", CipherPass: opts.CipherPass, ArchiveTimeout: 60 * time.Second})
	if err != nil {
		return Report{}, fmt.Errorf("private cluster: %w", err)
	}
	defer func() { err = errors.Join(err, p.Close()) }()
	progress("private cluster on port %d, repository %s (aes-256-cbc)", p.Cluster.Port, filepath.Join(p.Dir, "repo"))

	dataDir := filepath.Join(p.Dir, "system")
	// The system's logs stay in memory (sys.Logs); their tail explains a failure.
	sys, err := harness.Boot(harness.Options{
		AdminDatabaseURL: p.Cluster.URL("postgres"), DataDir: dataDir,
		// Checkpoints signed every second, so the drill verifies chains against some.
		AuditTuning: func(c *audit.Config) { c.CheckpointInterval = time.Second },
	})
	if err != nil {
		return Report{}, err
	}
	defer func() {
		if err != nil {
			err = fmt.Errorf("%w\nlast lines of the system's log:\n%s", err, harness.Tail(sys.Logs.String(), 20))
		}
	}()
	defer func() { err = errors.Join(err, sys.Stop()) }()
	progress("system running at %s", sys.URL)

	var firms []harness.Firm
	for _, label := range []string{"ledger", "abacus", "tally"} {
		f, err := sys.SignUp(label)
		if err != nil {
			return Report{}, err
		}
		firms = append(firms, f)
	}
	ledger, _ := NewLedger("")
	// Two clients with sealed tax ids per firm before the first backup, so every
	// restorable point has firms, audit chains and sealed values.
	if err := createClients(ctx, firms, ledger, 1, 1+2*len(firms)); err != nil {
		return Report{}, err
	}
	// Audit appends what the sign-ups and creates emitted asynchronously.
	time.Sleep(2 * time.Second)
	if err := p.Repo.Backup(ctx, "full"); err != nil {
		return Report{}, err
	}
	progress("full backup taken")
	first := 1 + 2*len(firms)
	half := first + opts.Clients/2
	if err := createClients(ctx, firms, ledger, first, half); err != nil {
		return Report{}, err
	}
	if err := p.Repo.Backup(ctx, "diff"); err != nil {
		return Report{}, err
	}
	progress("differential backup taken")
	if err := createClients(ctx, firms, ledger, half, first+opts.Clients); err != nil {
		return Report{}, err
	}
	time.Sleep(2 * time.Second)
	if err := p.ArchiveNow(ctx); err != nil {
		return Report{}, err
	}
	progress("%d clients created and acknowledged; WAL archived", len(ledger.Writes()))

	d := p.Drill()
	d.Logger = opts.Logger
	d.Ledger = ledger
	d.LedgerQuery = LedgerQuery{
		Database: sys.Stack.Databases["workflow"],
		SQL:      `SELECT substring(display_name from '^Drill client ([0-9]+)$')::bigint, firm_id::text FROM clients WHERE display_name ~ '^Drill client [0-9]+$'`,
	}
	d.Checks = AppChecks{
		Databases: sys.Stack.Databases, AuditPublicKey: stack.AuditPublicKey(dataDir),
		KEKFile: sys.Stack.Material.KEKFile, Sample: 20,
	}.Checks()
	return d.Run(ctx)
}

// createClients creates clients n in [from, to) round the firms, each with a tax id
// (sealed), and records each in the ledger when the API acknowledged it.
func createClients(ctx context.Context, firms []harness.Firm, ledger *Ledger, from, to int) error {
	for n := from; n < to; n++ {
		f := firms[n%len(firms)]
		w := Write{N: int64(n), Firm: f.ID(), Sent: time.Now()}
		r, err := f.Client.Do("POST", "/v1/"+f.Name+"/clients", map[string]any{
			"display_name": fmt.Sprintf("Drill client %d", n), "tax_id": fmt.Sprintf("DRILL-%06d", n),
		})
		if err != nil {
			return err
		}
		if r.Status != http.StatusCreated {
			return fmt.Errorf("create client %d: %d %s", n, r.Status, r.Raw)
		}
		w.Acked = time.Now()
		if err := ledger.Record(w); err != nil {
			return err
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(10 * time.Millisecond):
		}
	}
	return nil
}
