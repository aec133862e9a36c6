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
	// AdminAddr serves /metrics, /healthz and /readyz over plain HTTP; empty disables.
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

	TLSCA   string `env:"FIRMFLOW_TLS_CA" envDefault:".data/tls/ca.pem"`
	TLSCert string `env:"FIRMFLOW_AUDIT_TLS_CERT" envDefault:".data/tls/audit.pem"`
	TLSKey  string `env:"FIRMFLOW_AUDIT_TLS_KEY" envDefault:".data/tls/audit-key.pem"`

	// PublicKeyFile is identity's Ed25519 public key, to verify principal tokens.
	PublicKeyFile string `env:"FIRMFLOW_PRINCIPAL_PUBLIC_KEY" envDefault:".data/keys/principal.pub"`
	// PageTokenKeyFile holds the secret (at least 32 bytes, e.g. base64 of 32 random
	// bytes) page tokens are sealed with; every replica needs the same one. Empty seals
	// with a random key per process.
	PageTokenKeyFile string `env:"FIRMFLOW_PAGE_TOKEN_KEY_FILE" envDefault:".data/keys/page-token"`
	// SigningKeyFile is the Ed25519 private key (PKCS#8 PEM) that signs checkpoints;
	// its public half (.pub beside it in development) is what `firmflow audit verify`
	// needs.
	SigningKeyFile string `env:"FIRMFLOW_AUDIT_SIGNING_KEY" envDefault:".data/keys/audit.key"`

	// NATSURL is the JetStream server the events come from.
	NATSURL string `env:"FIRMFLOW_NATS_URL" envDefault:"nats://127.0.0.1:4222"`
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
	var errs []error
	for name, v := range map[string]string{
		"FIRMFLOW_AUDIT_ADDR": c.GRPCAddr, "FIRMFLOW_AUDIT_DATABASE_URL": c.DatabaseURL,
		"FIRMFLOW_TLS_CA": c.TLSCA, "FIRMFLOW_PRINCIPAL_PUBLIC_KEY": c.PublicKeyFile,
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
	return store.ProvisionRetentionRole(ctx, adminURL, RetentionRole)
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
		Name: "audit", GRPCAddr: cfg.GRPCAddr, AdminAddr: cfg.AdminAddr, DatabaseURL: cfg.DatabaseURL,
		TLSCA: cfg.TLSCA, TLSCert: cfg.TLSCert, TLSKey: cfg.TLSKey, PublicKeyFile: cfg.PublicKeyFile,
		NATSURL: cfg.NATSURL, SyncStream: true, Telemetry: cfg.Telemetry,
		PageTokenSecretFile: cfg.PageTokenKeyFile,
	}, logger)
	if err != nil {
		ingestDB.Close()
		return nil, err
	}
	a := app.New(store.New(rt.DB, ingestDB), signer, verifier)
	a.UsePartitionRetention(func(ctx context.Context, now time.Time) ([]string, error) { return Retention(ctx, cfg, now) })
	grpcapi.Register(rt.GRPC, a)
	rt.SetReady(a.Ready)
	consumer := ingest.New(rt.JetStream, a, ingest.Options{
		Streams: trimmed(cfg.Streams), Batch: cfg.Batch, AckWait: cfg.AckWait, Logger: logger,
		// The gateway declares its stream too; whoever starts first creates it.
		Create: []jetstream.StreamConfig{natsx.ServiceStream("gateway", true)},
	})
	return &Server{rt: rt, ingestDB: ingestDB, app: a, consumer: consumer, interval: cfg.CheckpointInterval, logger: logger}, nil
}

// Addr is the bound gRPC address.
func (s *Server) Addr() string { return s.rt.Addr() }

// Run serves until ctx ends: the gRPC API, the consumers and the checkpointer.
func (s *Server) Run(ctx context.Context) error {
	defer s.ingestDB.Close()
	return s.rt.Run(ctx, s.consumer.Run, s.checkpoints)
}

// checkpoints signs every moved chain head each interval and keeps next month's
// partition ready. Failures are logged and tried again at the next tick.
func (s *Server) checkpoints(ctx context.Context) error {
	ticker := time.NewTicker(s.interval)
	defer ticker.Stop()
	for {
		if err := s.app.EnsurePartitions(ctx); err != nil && ctx.Err() == nil {
			s.logger.ErrorContext(ctx, "audit partitions not ready", "error", err)
		}
		select {
		case <-ctx.Done():
			return nil
		case <-ticker.C:
		}
		n, err := s.app.CheckpointAll(ctx)
		if err != nil && ctx.Err() == nil {
			s.logger.ErrorContext(ctx, "audit checkpoints failed", "error", err)
		}
		if n > 0 {
			s.logger.DebugContext(ctx, "audit checkpoints signed", "firms", n)
		}
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
