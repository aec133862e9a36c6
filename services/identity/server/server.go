// Package server is the identity service as a library: configuration, wiring and the
// serve loop, used by cmd/identity and by `firmflow dev`.
package server

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/firmflow/firmflow/pkg/config"
	"github.com/firmflow/firmflow/pkg/keystore"
	"github.com/firmflow/firmflow/pkg/pg"
	"github.com/firmflow/firmflow/pkg/principal"
	"github.com/firmflow/firmflow/pkg/svc"
	"github.com/firmflow/firmflow/pkg/telemetry"
	"github.com/firmflow/firmflow/services/identity/internal/app"
	"github.com/firmflow/firmflow/services/identity/internal/domain"
	"github.com/firmflow/firmflow/services/identity/internal/grpcapi"
	"github.com/firmflow/firmflow/services/identity/internal/store"
	"github.com/firmflow/firmflow/services/identity/migrations"
)

// Config is identity's configuration, read from the environment. Defaults match the
// files and databases `firmflow dev` creates.
type Config struct {
	// GRPCAddr is where identity listens for the gateway and other services (mTLS).
	GRPCAddr string `env:"FIRMFLOW_IDENTITY_ADDR" envDefault:"127.0.0.1:9101"`
	// AdminAddr serves /metrics, /healthz and /readyz over plain HTTP; "off" disables.
	AdminAddr string `env:"FIRMFLOW_IDENTITY_ADMIN_ADDR" envDefault:"127.0.0.1:9201"`
	// DatabaseURL connects as the runtime role, which owns nothing.
	DatabaseURL string `env:"FIRMFLOW_IDENTITY_DATABASE_URL" envDefault:"postgres://identity_app@127.0.0.1:5432/firmflow_identity?sslmode=disable"`
	// MigrateURL connects as the owner role; only `identity migrate` uses it.
	MigrateURL string `env:"FIRMFLOW_IDENTITY_MIGRATE_URL" envDefault:"postgres://identity_owner@127.0.0.1:5432/firmflow_identity?sslmode=disable"`

	// Shared holds FIRMFLOW_TLS_CA, FIRMFLOW_PRINCIPAL_PUBLIC_KEY (which verifies tokens
	// on identity's own methods) and FIRMFLOW_NATS_URL (where identity's events go).
	config.Shared

	TLSCert string `env:"FIRMFLOW_IDENTITY_TLS_CERT" envDefault:".data/tls/identity.pem"`
	TLSKey  string `env:"FIRMFLOW_IDENTITY_TLS_KEY" envDefault:".data/tls/identity-key.pem"`

	// SigningKeyFile is the Ed25519 private key (PKCS#8 PEM) that signs principal tokens.
	SigningKeyFile string `env:"FIRMFLOW_PRINCIPAL_SIGNING_KEY" envDefault:".data/keys/principal.key"`
	// KEKFile holds the base64 AES-256 key-encryption key that wraps each firm's data key.
	KEKFile string `env:"FIRMFLOW_KEK_FILE" envDefault:".data/keys/kek"`

	// KeysURL is the key store (pkg/keystore) holding each firm's data key, apart
	// from identity's database and its backups; the runtime role.
	KeysURL string `env:"FIRMFLOW_KEYS_DATABASE_URL" envDefault:"postgres://keys_app@127.0.0.1:5432/firmflow_keys?sslmode=disable"`
	// KeysMigrateURL, when set, makes `identity migrate` migrate the key store too,
	// as its owner role; identity is the service that destroys firms' keys. Empty
	// leaves the key store to whoever provisions it (`firmflow dev` does).
	KeysMigrateURL string `env:"FIRMFLOW_KEYS_MIGRATE_URL"`

	SessionIdle     time.Duration `env:"FIRMFLOW_SESSION_IDLE" envDefault:"2h"`
	SessionAbsolute time.Duration `env:"FIRMFLOW_SESSION_ABSOLUTE" envDefault:"12h"`

	// Telemetry, when set, serves metrics on the admin port.
	Telemetry *telemetry.Telemetry `env:"-"`
}

// Validate rejects settings that cannot work.
func (c Config) Validate() error {
	errs := []error{c.Shared.Check()}
	if c.SessionIdle <= 0 || c.SessionAbsolute < c.SessionIdle {
		errs = append(errs, errors.New("FIRMFLOW_SESSION_IDLE must be positive and at most FIRMFLOW_SESSION_ABSOLUTE"))
	}
	for name, v := range map[string]string{
		"FIRMFLOW_IDENTITY_ADDR": c.GRPCAddr, "FIRMFLOW_IDENTITY_DATABASE_URL": c.DatabaseURL,
		"FIRMFLOW_PRINCIPAL_SIGNING_KEY": c.SigningKeyFile, "FIRMFLOW_KEK_FILE": c.KEKFile,
		"FIRMFLOW_KEYS_DATABASE_URL": c.KeysURL,
	} {
		if v == "" {
			errs = append(errs, fmt.Errorf("%s must be set", name))
		}
	}
	return errors.Join(errs...)
}

// Server is a running identity service.
type Server struct {
	rt     *svc.Runtime
	keys   *keystore.Postgres
	app    *app.App
	logger *slog.Logger
}

// Migrate applies identity's migrations as the owner role, and the key store's when
// FIRMFLOW_KEYS_MIGRATE_URL is set.
func Migrate(ctx context.Context, cfg Config) error {
	if err := pg.Migrate(ctx, cfg.MigrateURL, migrations.FS, pg.RolesFor("identity")); err != nil {
		return err
	}
	if cfg.KeysMigrateURL == "" {
		return nil
	}
	return keystore.Migrate(ctx, cfg.KeysMigrateURL)
}

// New connects, wires and binds identity; Run serves it.
func New(ctx context.Context, cfg Config, logger *slog.Logger) (*Server, error) {
	signingKey, err := principal.LoadPrivateKey(cfg.SigningKeyFile)
	if err != nil {
		return nil, fmt.Errorf("load signing key: %w", err)
	}
	kek, err := svc.LoadKEK(cfg.KEKFile)
	if err != nil {
		return nil, err
	}
	keys, err := keystore.Open(ctx, cfg.KeysURL, kek, "identity")
	if err != nil {
		return nil, err
	}
	rt, err := svc.Start(ctx, svc.Options{
		Shared: cfg.Shared, Name: "identity", GRPCAddr: cfg.GRPCAddr, AdminAddr: cfg.AdminAddr, DatabaseURL: cfg.DatabaseURL,
		TLSCert: cfg.TLSCert, TLSKey: cfg.TLSKey, Telemetry: cfg.Telemetry,
		PageTokenSecretFile: cfg.KEKFile, // a separate key is derived from it (HKDF)
	}, logger)
	if err != nil {
		keys.Close()
		return nil, err
	}
	a := app.New(store.New(rt.DB), kek, keys, principal.NewSigner(signingKey), app.Config{
		Sessions: domain.SessionPolicy{Idle: cfg.SessionIdle, Absolute: cfg.SessionAbsolute},
		Lockout:  domain.DefaultLockout,
	})
	grpcapi.Register(rt.GRPC, a)
	rt.AddProbe("keys", keys.Ping)
	return &Server{rt: rt, keys: keys, app: a, logger: logger}, nil
}

// Addr is the bound gRPC address.
func (s *Server) Addr() string { return s.rt.Addr() }

// AdminAddr is the bound admin address, or "" when the admin port is off.
func (s *Server) AdminAddr() string { return s.rt.AdminAddr() }

// Run serves until ctx ends, with the outbox relay and the support grant sweeper
// beside the gRPC server.
func (s *Server) Run(ctx context.Context) error {
	defer s.keys.Close()
	return s.rt.Run(ctx, s.sweepSupportGrants)
}

// supportSweepInterval is how often firms are told about grants that ran out. The
// grants themselves stop working at their expiry whatever the sweeper does.
const supportSweepInterval = time.Minute

// sweepSupportGrants runs the sweeper until ctx ends. A failed sweep is logged and
// tried again next time rather than stopping identity.
func (s *Server) sweepSupportGrants(ctx context.Context) error {
	tick := time.NewTicker(supportSweepInterval)
	defer tick.Stop()
	for {
		n, err := s.app.SweepSupportGrants(ctx, time.Now())
		switch {
		case err != nil && ctx.Err() == nil:
			s.logger.ErrorContext(ctx, "support grant sweep failed", slog.String("error", err.Error()))
		case n > 0:
			s.logger.InfoContext(ctx, "expired support grants announced", slog.Int("count", n))
		}
		select {
		case <-ctx.Done():
			return nil
		case <-tick.C:
		}
	}
}
