// Package server is the audit service as a library: configuration, wiring and the
// serve loop (the gRPC API, the JetStream consumers and the checkpointer), used by
// cmd/audit and by `firmflow dev`.
package server

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/firmflow/firmflow/pkg/config"
	"github.com/firmflow/firmflow/pkg/natsx"
	"github.com/firmflow/firmflow/pkg/pg"
	"github.com/firmflow/firmflow/pkg/svc"
	"github.com/firmflow/firmflow/pkg/telemetry"
	"github.com/firmflow/firmflow/services/audit/chain"
	"github.com/firmflow/firmflow/services/audit/internal/app"
	"github.com/firmflow/firmflow/services/audit/internal/grpcapi"
	"github.com/firmflow/firmflow/services/audit/internal/ingest"
	"github.com/firmflow/firmflow/services/audit/internal/store"
	"github.com/firmflow/firmflow/services/audit/migrations"
)

// Config is audit's configuration, read from the environment. Defaults match the
// files and databases `firmflow dev` creates.
type Config struct {
	// GRPCAddr is where audit listens for the gateway (mTLS).
	GRPCAddr string `env:"FIRMFLOW_AUDIT_ADDR" envDefault:"127.0.0.1:9103"`
	// AdminAddr serves /metrics, /healthz and /readyz over plain HTTP; "off" disables.
	AdminAddr string `env:"FIRMFLOW_AUDIT_ADMIN_ADDR" envDefault:"127.0.0.1:9203"`
	// DatabaseURL connects as the runtime role, which may only INSERT and SELECT the log.
	DatabaseURL string `env:"FIRMFLOW_AUDIT_DATABASE_URL" envDefault:"postgres://audit_app@127.0.0.1:5432/firmflow_audit?sslmode=disable"`
	// IngestURL connects as audit_ingest, which appends to the log with COPY; empty
	// means DatabaseURL with that user.
	IngestURL string `env:"FIRMFLOW_AUDIT_INGEST_DATABASE_URL"`
	// MigrateURL connects as the owner role; only `audit migrate` uses it.
	MigrateURL string `env:"FIRMFLOW_AUDIT_MIGRATE_URL" envDefault:"postgres://audit_owner@127.0.0.1:5432/firmflow_audit?sslmode=disable"`
	// RetentionURL connects as a role that is a member of audit_retention (or an
	// administrator); `audit retention` and the audit step of lifecycle's retention
	// run (FirmDataService.Prune) use it, acting as audit_retention.
	RetentionURL string `env:"FIRMFLOW_AUDIT_RETENTION_URL" envDefault:"postgres://postgres@127.0.0.1:5432/firmflow_audit?sslmode=disable"`

	// Shared holds FIRMFLOW_TLS_CA, FIRMFLOW_PRINCIPAL_PUBLIC_KEY and FIRMFLOW_NATS_URL
	// (the JetStream server the events come from).
	config.Shared

	TLSCert string `env:"FIRMFLOW_AUDIT_TLS_CERT" envDefault:".data/tls/audit.pem"`
	TLSKey  string `env:"FIRMFLOW_AUDIT_TLS_KEY" envDefault:".data/tls/audit-key.pem"`

	// PageTokenKeyFile holds the secret (at least 32 bytes, e.g. base64 of 32 random
	// bytes) page tokens are sealed with; every replica needs the same one. Empty seals
	// with a random key per process.
	PageTokenKeyFile string `env:"FIRMFLOW_PAGE_TOKEN_KEY_FILE" envDefault:".data/keys/page-token"`
	// SigningKeyFile is the Ed25519 private key (PKCS#8 PEM) that signs checkpoints;
	// its public half (.pub beside it in development) is what `firmflow audit verify`
	// needs.
	SigningKeyFile string `env:"FIRMFLOW_AUDIT_SIGNING_KEY" envDefault:".data/keys/audit.key"`

	// Streams are the streams audited: the gateway's access events and each service's
	// change events. FIRMFLOW_GATEWAY is created when missing; the others are waited for.
	Streams []string `env:"FIRMFLOW_AUDIT_STREAMS" envSeparator:"," envDefault:"FIRMFLOW_GATEWAY,FIRMFLOW_IDENTITY,FIRMFLOW_WORKFLOW"`
	// Batch is the most events appended in one transaction.
	Batch int `env:"FIRMFLOW_AUDIT_BATCH" envDefault:"1000"`
	// AckWait is how long JetStream waits for an acknowledgement before redelivering.
	AckWait time.Duration `env:"FIRMFLOW_AUDIT_ACK_WAIT" envDefault:"30s"`
	// CheckpointInterval is how often every moved chain head is signed.
	CheckpointInterval time.Duration `env:"FIRMFLOW_AUDIT_CHECKPOINT_INTERVAL" envDefault:"1m"`

	// Telemetry, when set, serves metrics on the admin port.
	Telemetry *telemetry.Telemetry `env:"-"`
}

// Validate rejects settings that cannot work.
func (c Config) Validate() error {
	errs := []error{c.Shared.Check()}
	for name, v := range map[string]string{
		"FIRMFLOW_AUDIT_ADDR": c.GRPCAddr, "FIRMFLOW_AUDIT_DATABASE_URL": c.DatabaseURL,
		"FIRMFLOW_AUDIT_SIGNING_KEY": c.SigningKeyFile,
	} {
		if v == "" {
			errs = append(errs, fmt.Errorf("%s must be set", name))
		}
	}
	if len(trimmed(c.Streams)) == 0 {
		errs = append(errs, errors.New("FIRMFLOW_AUDIT_STREAMS must name at least one stream"))
	}
	if c.Batch < 1 || c.Batch > 5000 {
		errs = append(errs, errors.New("FIRMFLOW_AUDIT_BATCH must be between 1 and 5000"))
	}
	if c.AckWait < time.Second {
		errs = append(errs, errors.New("FIRMFLOW_AUDIT_ACK_WAIT must be at least 1s"))
	}
	if c.CheckpointInterval < time.Second {
		errs = append(errs, errors.New("FIRMFLOW_AUDIT_CHECKPOINT_INTERVAL must be at least 1s"))
	}
	return errors.Join(errs...)
}

// RetentionRole is the group role allowed to drop expired partitions of the log.
const RetentionRole = "audit_retention"

// RetentionLogin is the login, a member of RetentionRole and nothing else, that the
// service connects as for the retention run's audit step (FIRMFLOW_AUDIT_RETENTION_URL).
const RetentionLogin = "audit_pruner"

// Provision creates audit's database and roles as an administrator: the owner and
// runtime roles every service has, and the retention and ingest roles, which the
// owner may not create itself.
func Provision(ctx context.Context, adminURL, database string) error {
	if err := pg.Provision(ctx, adminURL, database, pg.RolesFor("audit")); err != nil {
		return err
	}
	if err := store.ProvisionIngestRole(ctx, adminURL); err != nil {
		return err
	}
	if err := store.ProvisionRetentionRole(ctx, adminURL, RetentionRole); err != nil {
		return err
	}
	return store.ProvisionRetentionLogin(ctx, adminURL, database, RetentionLogin, RetentionRole)
}

// Migrate applies audit's migrations as the owner role.
func Migrate(ctx context.Context, cfg Config) error {
	return pg.Migrate(ctx, cfg.MigrateURL, migrations.FS, pg.RolesFor("audit"))
}

// Retention drops the partitions of the log every firm has kept long enough, acting
// as audit_retention, and returns their names.
func Retention(ctx context.Context, cfg Config, now time.Time) ([]string, error) {
	return store.DropExpiredPartitions(ctx, cfg.RetentionURL, RetentionRole, now)
}

// VerifyChains checks every firm's chain in the database at databaseURL (an
// administrator's connection: the restore drill's, on a restored copy) against the
// checkpoints signed with the key whose public half is publicKeyFile.
func VerifyChains(ctx context.Context, databaseURL, publicKeyFile string) ([]chain.Report, error) {
	verifier, err := chain.LoadVerifier(publicKeyFile)
	if err != nil {
		return nil, err
	}
	db, err := pg.Open(ctx, databaseURL)
	if err != nil {
		return nil, err
	}
	defer db.Close()
	// Verifying only reads: no ingest pool, no signer.
	return app.New(store.New(db, nil), nil, verifier).VerifyAll(ctx)
}

// Server is a running audit service.
type Server struct {
	rt       *svc.Runtime
	ingestDB *pg.DB
	app      *app.App
	consumer *ingest.Consumer
	interval time.Duration
	logger   *slog.Logger
}

// New connects, wires and binds audit; Run serves it.
func New(ctx context.Context, cfg Config, logger *slog.Logger) (*Server, error) {
	signer, verifier, err := chain.LoadSigningKey(cfg.SigningKeyFile)
	if err != nil {
		return nil, err
	}
	ingestURL := cfg.IngestURL
	if ingestURL == "" {
		if ingestURL, err = pg.WithUserAndDatabase(cfg.DatabaseURL, store.IngestRole, ""); err != nil {
			return nil, err
		}
	}
	ingestDB, err := pg.Open(ctx, ingestURL)
	if err != nil {
		return nil, fmt.Errorf("audit ingest database: %w", err)
	}
	rt, err := svc.Start(ctx, svc.Options{
		Shared: cfg.Shared, Name: "audit", GRPCAddr: cfg.GRPCAddr, AdminAddr: cfg.AdminAddr, DatabaseURL: cfg.DatabaseURL,
		TLSCert: cfg.TLSCert, TLSKey: cfg.TLSKey, SyncStream: true, Telemetry: cfg.Telemetry,
		PageTokenSecretFile: cfg.PageTokenKeyFile,
	}, logger)
	if err != nil {
		ingestDB.Close()
		return nil, err
	}
	a := app.New(store.New(rt.DB, ingestDB), signer, verifier)
	a.UsePartitionRetention(func(ctx context.Context, now time.Time) ([]string, error) { return Retention(ctx, cfg, now) })
	grpcapi.Register(rt.GRPC, a)
	consumer := ingest.New(rt.JetStream, a, ingest.Options{
		Streams: trimmed(cfg.Streams), Batch: cfg.Batch, AckWait: cfg.AckWait, Logger: logger,
		// The gateway declares its stream too; whoever starts first creates it.
		Create: []jetstream.StreamConfig{natsx.ServiceStream("gateway", true, cfg.StreamMaxAge)},
	})
	return &Server{rt: rt, ingestDB: ingestDB, app: a, consumer: consumer, interval: cfg.CheckpointInterval, logger: logger}, nil
}

// Addr is the bound gRPC address.
func (s *Server) Addr() string { return s.rt.Addr() }

// AdminAddr is the bound admin address, or "" when the admin port is off.
func (s *Server) AdminAddr() string { return s.rt.AdminAddr() }

// Run serves until ctx ends: the gRPC API, the consumers and the checkpointer.
func (s *Server) Run(ctx context.Context) error {
	defer s.ingestDB.Close()
	return s.rt.Run(ctx, s.consumer.Run, s.checkpoints)
}

// checkpointAtStopTimeout bounds the checkpoints signed as audit stops.
const checkpointAtStopTimeout = 5 * time.Second

// checkpoints signs every moved chain head each interval and keeps next month's
// partition ready. The interval's timer restarts with the process, so it also signs
// at start the heads whose last checkpoint is older than the interval, and every
// moved head as it stops. Failures are logged and tried again at the next tick.
func (s *Server) checkpoints(ctx context.Context) error {
	ticker := time.NewTicker(s.interval)
	defer ticker.Stop()
	s.logCheckpoints(ctx, "start", func(ctx context.Context) (int, error) {
		return s.app.CheckpointStale(ctx, time.Now().Add(-s.interval))
	})
	for {
		if err := s.app.EnsurePartitions(ctx); err != nil && ctx.Err() == nil {
			s.logger.ErrorContext(ctx, "audit partitions not ready", "error", err)
		}
		select {
		case <-ctx.Done():
			stopCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), checkpointAtStopTimeout)
			defer cancel()
			s.logCheckpoints(stopCtx, "stop", s.app.CheckpointAll)
			return nil
		case <-ticker.C:
		}
		s.logCheckpoints(ctx, "interval", s.app.CheckpointAll)
	}
}

func (s *Server) logCheckpoints(ctx context.Context, when string, sign func(context.Context) (int, error)) {
	n, err := sign(ctx)
	if err != nil && ctx.Err() == nil {
		s.logger.ErrorContext(ctx, "audit checkpoints failed", "at", when, "error", err)
	}
	if n > 0 {
		s.logger.InfoContext(ctx, "audit checkpoints signed", "at", when, "firms", n)
	}
}

func trimmed(list []string) []string {
	out := make([]string, 0, len(list))
	for _, s := range list {
		if s = strings.TrimSpace(s); s != "" {
			out = append(out, s)
		}
	}
	return out
}
