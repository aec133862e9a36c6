package main

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"time"

	"github.com/firmflow/firmflow/cmd/firmflow/internal/backup"
	"github.com/firmflow/firmflow/pkg/pg/pgcluster"
	"github.com/firmflow/firmflow/pkg/process"
	"github.com/firmflow/firmflow/services/billing/stripetest"
)

const backupDrillAbout = `Restores the service databases' pgBackRest stanza (and the key store's, when it has
its own) to a random point in time into a scratch cluster on a free port, runs
pgbackrest verify, checks the audit chains and a sample of sealed fields, prints the
RPO and RTO, and records the drill. It never connects to the live databases.

  firmflow backup drill --private
      sets up a private PostgreSQL cluster, repository and system, runs a workload,
      drills it and tears everything down (make backup-drill)
  firmflow backup drill --cipher-pass-file /run/secrets/pgbackrest-cipher-pass
      drills the repository /etc/pgbackrest/pgbackrest.conf describes

Exits 1 when the drill finds a problem.`

// backupDrillSetup is `firmflow backup drill`.
func backupDrillSetup(fs *flag.FlagSet, s *streams) func(context.Context, []string) error {
	private := fs.Bool("private", false, "drill a private cluster set up and torn down for the purpose")
	clients := fs.Int("clients", 60, "with --private: numbered clients the workload creates")
	f := drillFlags{}
	fs.StringVar(&f.config, "config", "/etc/pgbackrest/pgbackrest.conf", "pgBackRest configuration")
	fs.StringVar(&f.stanza, "stanza", "firmflow", "stanza of the service databases")
	fs.StringVar(&f.passFile, "cipher-pass-file", "", "secret file holding the repository passphrase")
	fs.StringVar(&f.keysStanza, "keys-stanza", "", "stanza of the key store's own cluster; empty: the key store is in --stanza's cluster")
	fs.StringVar(&f.keysConfig, "keys-config", "", "pgBackRest configuration of --keys-stanza (default --config)")
	fs.StringVar(&f.keysPassFile, "keys-cipher-pass-file", "", "passphrase of --keys-stanza's repository (default --cipher-pass-file)")
	fs.StringVar(&f.prefix, "database-prefix", "firmflow_", "database names: prefix + service")
	fs.StringVar(&f.kekFile, "kek-file", ".data/keys/kek", "the key-encryption key, to open sealed fields")
	fs.StringVar(&f.auditKey, "audit-public-key", ".data/keys/audit.pub", "the audit public key, to verify signed checkpoints")
	fs.StringVar(&f.target, "target", "", "restore to this time (RFC 3339) instead of a random one")
	fs.StringVar(&f.workDir, "work-dir", "", "where scratch clusters go (default: a temporary directory)")
	fs.IntVar(&f.sample, "sample", 50, "clients whose sealed fields are opened")
	recordFile := fs.String("record", ".data/backup/last-drill.json", "the drill record (JSON)")
	metricsFile := fs.String("metrics", ".data/backup/firmflow_backup.prom", "Prometheus text file for node_exporter's textfile collector")
	return func(_ context.Context, args []string) error {
		if len(args) > 0 {
			return usagef("unexpected argument %q", args[0])
		}
		if !*private && f.passFile == "" {
			return usagef("--cipher-pass-file is required: the repository is encrypted (or --private)")
		}
		return process.Run("firmflow", func(ctx context.Context, env process.Env) error {
			return backupDrill(ctx, *private, *clients, f, *recordFile, *metricsFile, s.stdout, env.Logger)
		})
	}
}

// backupDrill drills a private cluster (private) or the repository f describes,
// prints the report and records it.
func backupDrill(ctx context.Context, private bool, clients int, f drillFlags, recordFile, metricsFile string, out io.Writer, logger *slog.Logger) error {
	var rep backup.Report
	var err error
	if private {
		pass := make([]byte, 36)
		_, _ = rand.Read(pass)
		rep, err = backup.Rehearse(ctx, backup.RehearsalOptions{
			CipherPass: base64.StdEncoding.EncodeToString(pass), Clients: clients, Logger: logger,
			Progress: func(format string, a ...any) { fmt.Fprintf(out, "-- "+format+"\n", a...) },
		})
		// The rehearsal's system ran stripe-mock for billing.
		stripetest.Stop()
	} else {
		rep, err = drillRepository(ctx, f, logger)
	}
	if err != nil {
		logger.ErrorContext(ctx, "backup drill could not run", "stanza", f.stanza, "error", err)
		return err
	}
	backup.PrintReport(out, rep)
	rec, err := backup.Save(recordFile, rep, time.Now())
	if err != nil {
		return fmt.Errorf("record the drill: %w", err)
	}
	if err := backup.WriteMetrics(metricsFile, rec, time.Now()); err != nil {
		return fmt.Errorf("write drill metrics: %w", err)
	}
	logger.InfoContext(ctx, "backup drill", "stanza", rep.Stanza, "ok", rep.OK, "target", rep.Target,
		"rpo_seconds", rep.RPO.Seconds(), "rto_seconds", rep.RTO.Seconds(), "record", recordFile, "metrics", metricsFile)
	fmt.Fprintf(out, "record       %s\nmetrics      %s\n", recordFile, metricsFile)
	if !rep.OK {
		return backup.ErrDrillFailed
	}
	return nil
}

type drillFlags struct {
	config, stanza, passFile             string
	keysConfig, keysStanza, keysPassFile string
	prefix, kekFile, auditKey, target    string
	workDir                              string
	sample                               int
}

func drillRepository(ctx context.Context, f drillFlags, logger *slog.Logger) (backup.Report, error) {
	runner, err := pgcluster.NewRunner()
	if err != nil {
		return backup.Report{}, err
	}
	pass, err := backup.ReadCipherPass(f.passFile)
	if err != nil {
		return backup.Report{}, err
	}
	d := &backup.Drill{
		Data:   backup.Repository{Config: f.config, Stanza: f.stanza, CipherPass: pass, Runner: runner},
		Logger: logger,
	}
	if f.keysStanza != "" {
		keys := backup.Repository{Config: f.config, Stanza: f.keysStanza, CipherPass: pass, Runner: runner}
		if f.keysConfig != "" {
			keys.Config = f.keysConfig
		}
		if f.keysPassFile != "" {
			if keys.CipherPass, err = backup.ReadCipherPass(f.keysPassFile); err != nil {
				return backup.Report{}, err
			}
		}
		d.Keys = &keys
	}
	if f.target != "" {
		if d.Target, err = time.Parse(time.RFC3339Nano, f.target); err != nil {
			return backup.Report{}, fmt.Errorf("--target %q: want RFC 3339, e.g. 2026-12-03T06:40:00Z", f.target)
		}
	}
	d.WorkDir = f.workDir
	if d.WorkDir == "" {
		if d.WorkDir, err = os.MkdirTemp("", "firmflow-drill-"); err != nil {
			return backup.Report{}, err
		}
		defer os.RemoveAll(d.WorkDir)
	}
	databases := map[string]string{}
	for _, s := range []string{"identity", "workflow", "audit", "billing", "lifecycle", "keys"} {
		databases[s] = f.prefix + s
	}
	d.Checks = backup.AppChecks{Databases: databases, AuditPublicKey: f.auditKey, KEKFile: f.kekFile, Sample: f.sample}.Checks()
	return d.Run(ctx)
}

const drDrillAbout = `Rebuilds the system from nothing but its backups and secrets: a private cluster
running the system is killed and its data directory and JetStream store deleted;
the databases are restored from the encrypted repository, the system is started on
them with a new JetStream, the outboxes publish again what JetStream had not
delivered, and a smoke journey signs in, reads a client and verifies the audit
chain. Prints what was lost and the RTO. It runs on a private system only
(--private); see the README's Backups section for a production rebuild.`

// drDrillSetup is `firmflow dr drill --private`.
func drDrillSetup(fs *flag.FlagSet, s *streams) func(context.Context, []string) error {
	private := fs.Bool("private", false, "rebuild a private system set up for the purpose (required: the only mode so far)")
	clients := fs.Int("clients", 30, "numbered clients created before the loss")
	rewind := fs.Duration("rewind", time.Hour, "how far back outbox events are published again after the restore")
	return func(_ context.Context, args []string) error {
		if len(args) > 0 {
			return usagef("unexpected argument %q", args[0])
		}
		if !*private {
			return usagef("--private is required: the drill rebuilds a private system only")
		}
		return process.Run("firmflow", func(ctx context.Context, _ process.Env) error {
			return drDrill(ctx, *clients, *rewind, s.stdout)
		})
	}
}

func drDrill(ctx context.Context, clients int, rewind time.Duration, out io.Writer) error {
	pass := make([]byte, 36)
	_, _ = rand.Read(pass)
	rep, err := backup.DisasterDrill(ctx, backup.DisasterOptions{
		CipherPass: base64.StdEncoding.EncodeToString(pass), Clients: clients, Rewind: rewind,
		Progress: func(format string, a ...any) { fmt.Fprintf(out, "-- "+format+"\n", a...) },
	})
	stripetest.Stop()
	if err != nil {
		return err
	}
	backup.PrintDisaster(out, rep)
	return nil
}
