// Package server is the lifecycle service as a library: configuration, wiring and the
// serve loop (the gRPC API, the deletion and export runners and the incident
// deadline check), used by cmd/lifecycle and by
// `firmflow dev`.
package server

import (
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"google.golang.org/grpc"

	"github.com/firmflow/firmflow/pkg/config"
	"github.com/firmflow/firmflow/pkg/fieldcrypt"
	"github.com/firmflow/firmflow/pkg/keyfile"
	"github.com/firmflow/firmflow/pkg/keystore"
	"github.com/firmflow/firmflow/pkg/pg"
	"github.com/firmflow/firmflow/pkg/rpc"
	"github.com/firmflow/firmflow/pkg/svc"
	"github.com/firmflow/firmflow/pkg/telemetry"
	"github.com/firmflow/firmflow/pkg/tlsconf"
	"github.com/firmflow/firmflow/services/lifecycle/internal/app"
	"github.com/firmflow/firmflow/services/lifecycle/internal/domain"
	"github.com/firmflow/firmflow/services/lifecycle/internal/grpcapi"
	"github.com/firmflow/firmflow/services/lifecycle/internal/peers"
	"github.com/firmflow/firmflow/services/lifecycle/internal/store"
	"github.com/firmflow/firmflow/services/lifecycle/migrations"
)

// Config is lifecycle's configuration, read from the environment. Defaults match the
// files and databases `firmflow dev` creates.
type Config struct {
	// GRPCAddr is where lifecycle listens for the gateway (mTLS).
	GRPCAddr string `env:"FIRMFLOW_LIFECYCLE_ADDR" envDefault:"127.0.0.1:9105"`
	// AdminAddr serves /metrics, /healthz and /readyz over plain HTTP; "off" disables.
	AdminAddr string `env:"FIRMFLOW_LIFECYCLE_ADMIN_ADDR" envDefault:"127.0.0.1:9205"`
	// DatabaseURL connects as the runtime role, which owns nothing.
	DatabaseURL string `env:"FIRMFLOW_LIFECYCLE_DATABASE_URL" envDefault:"postgres://lifecycle_app@127.0.0.1:5432/firmflow_lifecycle?sslmode=disable"`
	// MigrateURL connects as the owner role; only `lifecycle migrate` uses it.
	MigrateURL string `env:"FIRMFLOW_LIFECYCLE_MIGRATE_URL" envDefault:"postgres://lifecycle_owner@127.0.0.1:5432/firmflow_lifecycle?sslmode=disable"`

	// Shared holds FIRMFLOW_TLS_CA, FIRMFLOW_PRINCIPAL_PUBLIC_KEY and FIRMFLOW_NATS_URL
	// (whose streams the deletion accounts for).
	config.Shared

	TLSCert string `env:"FIRMFLOW_LIFECYCLE_TLS_CERT" envDefault:".data/tls/lifecycle.pem"`
	TLSKey  string `env:"FIRMFLOW_LIFECYCLE_TLS_KEY" envDefault:".data/tls/lifecycle-key.pem"`
	// SigningKeyFile is the Ed25519 private key (PKCS#8 PEM) that signs deletion
	// certificates; its public half is what `firmflow lifecycle verify-certificate`
	// needs.
	SigningKeyFile string `env:"FIRMFLOW_LIFECYCLE_SIGNING_KEY" envDefault:".data/keys/lifecycle.key"`

	// The services that hold firm data, called with lifecycle's certificate.
	IdentityAddr string `env:"FIRMFLOW_IDENTITY_ADDR" envDefault:"127.0.0.1:9101"`
	WorkflowAddr string `env:"FIRMFLOW_WORKFLOW_ADDR" envDefault:"127.0.0.1:9102"`
	AuditAddr    string `env:"FIRMFLOW_AUDIT_ADDR" envDefault:"127.0.0.1:9103"`
	BillingAddr  string `env:"FIRMFLOW_BILLING_ADDR" envDefault:"127.0.0.1:9104"`

	// KeysDatabaseURL is the key store's database (pkg/keystore), where the firm's
	// data keys are destroyed; KEKFile is the key-encryption key it is opened with.
	KeysDatabaseURL string `env:"FIRMFLOW_KEYS_DATABASE_URL" envDefault:"postgres://keys_app@127.0.0.1:5432/firmflow_keys?sslmode=disable"`
	KEKFile         string `env:"FIRMFLOW_KEK_FILE" envDefault:".data/keys/kek"`

	// RunInterval is how often the runner looks for due deletions.
	RunInterval time.Duration `env:"FIRMFLOW_LIFECYCLE_RUN_INTERVAL" envDefault:"2s"`
	// RetryBase and RetryMax pace the retries of a failed step.
	RetryBase time.Duration `env:"FIRMFLOW_LIFECYCLE_RETRY_BASE" envDefault:"2s"`
	RetryMax  time.Duration `env:"FIRMFLOW_LIFECYCLE_RETRY_MAX" envDefault:"5m"`
	// Lease is how long a runner holds a claimed step before another may take it.
	Lease time.Duration `env:"FIRMFLOW_LIFECYCLE_LEASE" envDefault:"2m"`
	// BackupRetention is how long backups are kept (pgBackRest's retention): the
	// certificate promises no backup holds the firm's data after deletion + this.
	BackupRetention time.Duration `env:"FIRMFLOW_BACKUP_RETENTION" envDefault:"840h"`
	// KeysBackupRetention is the key store's backup retention ("7d" or a Go duration),
	// the same setting the backup tool is given: after it no copy of a destroyed key
	// remains.
	KeysBackupRetention string `env:"FIRMFLOW_KEYS_BACKUP_RETENTION" envDefault:"7d"`

	// IncidentCheckInterval is how often open incidents are checked against their
	// notice deadline (the overdue gauge and error log).
	IncidentCheckInterval time.Duration `env:"FIRMFLOW_INCIDENT_CHECK_INTERVAL" envDefault:"1m"`
	// RetentionInterval is how often the retention run prunes every service; only one
	// runner across the replicas runs it (retention_lease). RetentionLease is how long
	// that runner holds it before another may take over after a crash.
	RetentionInterval time.Duration `env:"FIRMFLOW_RETENTION_INTERVAL" envDefault:"1h"`
	RetentionLease    time.Duration `env:"FIRMFLOW_RETENTION_LEASE" envDefault:"15m"`

	// ExportDir keeps export archives, sealed, for 7 days.
	ExportDir string `env:"FIRMFLOW_LIFECYCLE_EXPORT_DIR" envDefault:".data/exports"`
	// ExportKeyFile holds the base64 AES-256 key that seals export archives at rest.
	ExportKeyFile string `env:"FIRMFLOW_LIFECYCLE_EXPORT_KEY_FILE" envDefault:".data/keys/export.key"`

	// Telemetry, when set, serves metrics on the admin port.
	Telemetry *telemetry.Telemetry `env:"-"`
}

// Validate rejects settings that cannot work; errors name the variable, never a value.
func (c Config) Validate() error {
	errs := []error{c.Shared.Check()}
	for name, v := range map[string]string{
		"FIRMFLOW_LIFECYCLE_ADDR": c.GRPCAddr, "FIRMFLOW_LIFECYCLE_DATABASE_URL": c.DatabaseURL,
		"FIRMFLOW_LIFECYCLE_SIGNING_KEY": c.SigningKeyFile, "FIRMFLOW_IDENTITY_ADDR": c.IdentityAddr,
		"FIRMFLOW_WORKFLOW_ADDR": c.WorkflowAddr, "FIRMFLOW_LIFECYCLE_EXPORT_DIR": c.ExportDir,
		"FIRMFLOW_LIFECYCLE_EXPORT_KEY_FILE": c.ExportKeyFile, "FIRMFLOW_AUDIT_ADDR": c.AuditAddr, "FIRMFLOW_BILLING_ADDR": c.BillingAddr,
	} {
		if v == "" {
			errs = append(errs, fmt.Errorf("%s must be set", name))
		}
	}
	if c.RunInterval < 10*time.Millisecond {
		errs = append(errs, errors.New("FIRMFLOW_LIFECYCLE_RUN_INTERVAL must be at least 10ms"))
	}
	if c.RetryBase <= 0 || c.RetryMax < c.RetryBase {
		errs = append(errs, errors.New("FIRMFLOW_LIFECYCLE_RETRY_BASE must be positive and at most FIRMFLOW_LIFECYCLE_RETRY_MAX"))
	}
	if c.IncidentCheckInterval < 10*time.Millisecond {
		errs = append(errs, errors.New("FIRMFLOW_INCIDENT_CHECK_INTERVAL must be at least 10ms"))
	}
	if c.Lease < time.Second {
		errs = append(errs, errors.New("FIRMFLOW_LIFECYCLE_LEASE must be at least 1s"))
	}
	if c.RetentionInterval < time.Second {
		errs = append(errs, errors.New("FIRMFLOW_RETENTION_INTERVAL must be at least 1s"))
	}
	if c.RetentionLease < 2*time.Second {
		errs = append(errs, errors.New("FIRMFLOW_RETENTION_LEASE must be at least 2s"))
	}
	if c.BackupRetention <= 0 {
		errs = append(errs, errors.New("FIRMFLOW_BACKUP_RETENTION must be positive"))
	}
	if _, err := days(c.KeysBackupRetention); err != nil {
		errs = append(errs, errors.New("FIRMFLOW_KEYS_BACKUP_RETENTION must be days (\"7d\") or a positive Go duration"))
	}
	return errors.Join(errs...)
}

// Migrate applies lifecycle's migrations as the owner role.
func Migrate(ctx context.Context, cfg Config) error {
	return pg.Migrate(ctx, cfg.MigrateURL, migrations.FS, pg.RolesFor("lifecycle"))
}

// EnsureSigningKey creates the development certificate-signing key pair under dir
// when missing and returns the private and public key paths.
func EnsureSigningKey(dir string) (privatePath, publicPath string, err error) {
	return keyfile.EnsureEd25519(dir, "lifecycle")
}

// KeyStore is the key store lifecycle destroys firms' keys in, and its pool.
type KeyStore struct {
	*keystore.Postgres
	db *pg.DB
}

// Close releases the key store's connections.
func (k *KeyStore) Close() { k.db.Close() }

// OpenKeyStore connects to the key store.
func OpenKeyStore(ctx context.Context, cfg Config) (*KeyStore, error) {
	kek, err := svc.LoadKEK(cfg.KEKFile)
	if err != nil {
		return nil, err
	}
	db, err := pg.Open(ctx, cfg.KeysDatabaseURL)
	if err != nil {
		return nil, fmt.Errorf("key store: %w", err)
	}
	if err := db.ObservePool("lifecycle"); err != nil {
		db.Close()
		return nil, err
	}
	return &KeyStore{Postgres: keystore.NewPostgres(db, kek, "lifecycle"), db: db}, nil
}

// Server is a running lifecycle service.
type Server struct {
	rt        *svc.Runtime
	app       *app.App
	incidents *app.Incidents
	// incidentInterval paces the notice deadline check.
	incidentInterval time.Duration
	conns            []*grpc.ClientConn
	interval         time.Duration
	logger           *slog.Logger
}

// New connects, wires and binds lifecycle; Run serves it. keys destroys the firms'
// data keys (the key store).
func New(ctx context.Context, cfg Config, keys app.KeyShredder, logger *slog.Logger) (_ *Server, err error) {
	if err := cfg.Validate(); err != nil {
		return nil, fmt.Errorf("lifecycle configuration: %w", err)
	}
	signer, err := keyfile.LoadPrivate(cfg.SigningKeyFile)
	if err != nil {
		return nil, fmt.Errorf("certificate signing key: %w", err)
	}
	keyRetention, _ := days(cfg.KeysBackupRetention)
	exportKey, err := loadExportKey(cfg.ExportKeyFile)
	if err != nil {
		return nil, err
	}
	clientTLS, err := tlsconf.ClientConfig(cfg.TLSCA, cfg.TLSCert, cfg.TLSKey)
	if err != nil {
		return nil, err
	}
	rt, err := svc.Start(ctx, svc.Options{
		Shared: cfg.Shared, Name: "lifecycle", GRPCAddr: cfg.GRPCAddr, AdminAddr: cfg.AdminAddr, DatabaseURL: cfg.DatabaseURL,
		TLSCert: cfg.TLSCert, TLSKey: cfg.TLSKey, Telemetry: cfg.Telemetry,
		PageTokenSecretFile: cfg.KEKFile, // a separate key is derived from it (HKDF)
	}, logger)
	if err != nil {
		return nil, err
	}
	s := &Server{rt: rt, interval: cfg.RunInterval, incidentInterval: cfg.IncidentCheckInterval, logger: logger}
	defer func() {
		if err != nil {
			s.closeConns()
		}
	}()
	services := map[string]app.FirmData{}
	addrs := map[string]string{"identity": cfg.IdentityAddr, "workflow": cfg.WorkflowAddr, "audit": cfg.AuditAddr, "billing": cfg.BillingAddr}
	var identityConn, auditConn *grpc.ClientConn
	for _, name := range domain.DataServices {
		conn, err := rpc.Dial(addrs[name], clientTLS)
		if err != nil {
			return nil, err
		}
		s.conns = append(s.conns, conn)
		services[name] = peers.NewFirmData(conn)
		switch name {
		case "identity":
			identityConn = conn
		case "audit":
			auditConn = conn
		}
	}
	s.app, err = app.New(app.Deps{
		Store: store.New(rt.DB), Services: services, Identity: peers.NewIdentity(identityConn), Keys: keys,
		Streams: peers.NewStreams(rt.JetStream), Signer: signer, Logger: logger,
	}, app.Config{
		Retry: domain.Retry{Base: cfg.RetryBase, Max: cfg.RetryMax}, Lease: cfg.Lease, BackupRetention: cfg.BackupRetention,
		KeyBackupRetention: keyRetention, ExportDir: cfg.ExportDir, ExportKey: exportKey,
		RetentionInterval: cfg.RetentionInterval, RetentionLease: cfg.RetentionLease,
	})
	if err != nil {
		return nil, err
	}
	grpcapi.Register(rt.GRPC, s.app)
	s.incidents = app.NewIncidents(store.New(rt.DB), peers.NewAccessLog(auditConn), peers.NewIdentity(identityConn), logger)
	grpcapi.RegisterIncidents(rt.GRPC, s.incidents)
	grpcapi.RegisterRetentionAdmin(rt.GRPC, s.app)
	return s, nil
}

func (s *Server) closeConns() {
	for _, c := range s.conns {
		_ = c.Close()
	}
}

// Addr is the bound gRPC address.
func (s *Server) Addr() string { return s.rt.Addr() }

// AdminAddr is the bound admin address, or "" when the admin port is off.
func (s *Server) AdminAddr() string { return s.rt.AdminAddr() }

// GRPCServer exposes the server so tests can check that every method has a policy.
func (s *Server) GRPCServer() *grpc.Server { return s.rt.GRPC }

// Run serves until ctx ends: the gRPC API and the deletion runner.
func (s *Server) Run(ctx context.Context) error {
	defer s.closeConns()
	return s.rt.Run(ctx, s.every(s.app.RunDeletions, "deletion runner", s.interval), s.every(s.exports, "export runner", s.interval),
		s.every(s.retention, "retention runner", s.interval), s.every(s.incidents.CheckDeadlines, "incident deadline check", s.incidentInterval))
}

// exports writes due exports; the retention run deletes expired archives.
func (s *Server) exports(ctx context.Context) (int, error) {
	return s.app.RunExports(ctx)
}

// retention starts the retention run when it is due; each pass costs one UPDATE.
func (s *Server) retention(ctx context.Context) (int, error) {
	ran, err := s.app.RunRetention(ctx)
	if ran {
		return 1, err
	}
	return 0, err
}

// every runs work each interval until ctx ends. Failures are logged; the state is in
// the database, so the next pass (here or in another process) resumes.
func (s *Server) every(work func(context.Context) (int, error), name string, interval time.Duration) func(context.Context) error {
	return func(ctx context.Context) error {
		ticker := time.NewTicker(interval)
		defer ticker.Stop()
		for {
			select {
			case <-ctx.Done():
				return nil
			case <-ticker.C:
			}
			if _, err := work(ctx); err != nil && ctx.Err() == nil {
				s.logger.ErrorContext(ctx, name+" pass failed; the next pass resumes", "error", err)
			}
		}
	}
}

// loadExportKey reads the base64 AES-256 key that seals export archives.
func loadExportKey(path string) ([]byte, error) {
	text, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read export key: %w", err)
	}
	key, err := base64.StdEncoding.DecodeString(strings.TrimSpace(string(text)))
	if err != nil || len(key) != 32 {
		return nil, fmt.Errorf("export key in %s must be standard base64 of 32 bytes", path)
	}
	return key, nil
}

// EnsureExportKey creates a development export key at path when missing.
func EnsureExportKey(path string) error {
	if _, err := os.Stat(path); !errors.Is(err, os.ErrNotExist) {
		return err
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return err
	}
	return os.WriteFile(path, []byte(fieldcrypt.GenerateKEK()+"\n"), 0o600)
}

// days reads "7d" as days, anything else as a Go duration; it must be positive.
func days(s string) (time.Duration, error) {
	var d time.Duration
	var err error
	if n, ok := strings.CutSuffix(strings.TrimSpace(s), "d"); ok {
		var count int
		count, err = strconv.Atoi(n)
		d = time.Duration(count) * 24 * time.Hour
	} else {
		d, err = time.ParseDuration(s)
	}
	if err == nil && d <= 0 {
		err = errors.New("not positive")
	}
	return d, err
}
