package backup

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/firmflow/firmflow/pkg/pg/pgcluster"
)

// Private is a PostgreSQL cluster of its own that archives into a pgBackRest
// repository beside it, all under one temporary directory: what the tests and
// `make backup-drill` back up and restore, so the machine's cluster is never touched.
type Private struct {
	Dir     string
	Cluster *pgcluster.Cluster
	Repo    Repository
	// ScratchDir is where a drill restores.
	ScratchDir string
}

// PrivateOptions shape a private cluster.
type PrivateOptions struct {
	Stanza string
	// CipherPass encrypts the repository.
	CipherPass string
	// ArchiveTimeout is PostgreSQL's archive_timeout: the longest a committed write
	// waits before its WAL segment is closed and archived.
	ArchiveTimeout time.Duration
	// WALSegmentMB is the WAL segment size (1 in tests: less to archive).
	WALSegmentMB int
}

// NewPrivate initialises the cluster with WAL archiving into an encrypted repository,
// starts it and creates the stanza. Close removes everything.
func NewPrivate(ctx context.Context, opts PrivateOptions) (_ *Private, err error) {
	runner, err := pgcluster.NewRunner()
	if err != nil {
		return nil, err
	}
	dir, err := os.MkdirTemp("", "firmflow-backup-")
	if err != nil {
		return nil, err
	}
	p := &Private{Dir: dir, ScratchDir: filepath.Join(dir, "scratch")}
	defer func() {
		if err != nil {
			err = errors.Join(err, p.Close())
		}
	}()
	for _, sub := range []string{"repo", "work", "scratch"} {
		if err := runner.MkdirAll(filepath.Join(dir, sub)); err != nil {
			return nil, err
		}
	}
	p.Repo = Repository{Config: filepath.Join(dir, "pgbackrest.conf"), Stanza: opts.Stanza, CipherPass: opts.CipherPass, Runner: runner}
	live := filepath.Join(dir, "live")
	p.Cluster, err = pgcluster.Init(ctx, runner, live, pgcluster.InitOptions{
		WALSegmentMB: opts.WALSegmentMB,
		Conf:         ArchiveSettings(p.Repo.Config, opts.Stanza, opts.ArchiveTimeout),
	})
	if err != nil {
		return nil, err
	}
	p.Cluster.Runner = p.Repo.runner()
	settings := Settings{
		Stanza: opts.Stanza, RepoPath: filepath.Join(dir, "repo"), WorkDir: filepath.Join(dir, "work"),
		DataDir: live, Port: p.Cluster.Port, SocketDir: p.Cluster.SocketDir(),
		RetentionFull: 2, RetentionDiff: 6, ArchiveTimeout: 60 * time.Second,
	}
	if err := settings.Render(p.Repo.Config); err != nil {
		return nil, err
	}
	if err := runner.Chown(p.Repo.Config); err != nil {
		return nil, err
	}
	if err := p.Cluster.Start(ctx); err != nil {
		return nil, err
	}
	if err := p.Repo.StanzaCreate(ctx); err != nil {
		return nil, err
	}
	return p, nil
}

// Drill is a drill of this repository, restoring under ScratchDir.
func (p *Private) Drill() *Drill {
	return &Drill{Data: p.Repo, WorkDir: p.ScratchDir}
}

// ArchiveNow closes the current WAL segment and waits until it is in the repository,
// so everything committed before the call can be restored.
func (p *Private) ArchiveNow(ctx context.Context) error {
	conn, err := pgx.Connect(ctx, p.Cluster.URL("postgres"))
	if err != nil {
		return err
	}
	defer conn.Close(context.WithoutCancel(ctx))
	var segment string
	if err := conn.QueryRow(ctx, "SELECT pg_walfile_name(pg_switch_wal())").Scan(&segment); err != nil {
		return err
	}
	for {
		var archived, failed string
		if err := conn.QueryRow(ctx,
			"SELECT coalesce(last_archived_wal, ''), coalesce(last_failed_wal, '') FROM pg_stat_archiver").Scan(&archived, &failed); err != nil {
			return err
		}
		if archived >= segment {
			return nil
		}
		if failed >= segment {
			return fmt.Errorf("archiving WAL segment %s failed: %s", failed, p.Cluster.LogTail(5))
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("WAL segment %s not archived: %w", segment, ctx.Err())
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// Close stops the cluster (killing it if it will not stop) and removes the directory.
func (p *Private) Close() error {
	if p.Cluster != nil {
		if err := p.Cluster.Stop(context.Background()); err != nil {
			_ = p.Cluster.Kill()
		}
	}
	return os.RemoveAll(p.Dir)
}
