// Package server is the workflow service as a library: configuration, wiring and the
// serve loop, used by cmd/workflow and by `firmflow dev`.
package server

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/firmflow/firmflow/pkg/config"
	"github.com/firmflow/firmflow/pkg/inbox"
	"github.com/firmflow/firmflow/pkg/keystore"
	"github.com/firmflow/firmflow/pkg/pg"
	"github.com/firmflow/firmflow/pkg/svc"
	"github.com/firmflow/firmflow/pkg/telemetry"
	"github.com/firmflow/firmflow/pkg/tlsconf"
	"github.com/firmflow/firmflow/services/workflow/internal/app"
	"github.com/firmflow/firmflow/services/workflow/internal/eventapi"
	"github.com/firmflow/firmflow/services/workflow/internal/grpcapi"
	"github.com/firmflow/firmflow/services/workflow/internal/store"
	"github.com/firmflow/firmflow/services/workflow/migrations"
)

// Config is workflow's configuration, read from the environment. Defaults match the
// files and databases `firmflow dev` creates.
type Config struct {
	// GRPCAddr is where workflow listens for the gateway (mTLS).
	GRPCAddr string `env:"FIRMFLOW_WORKFLOW_ADDR" envDefault:"127.0.0.1:9102"`
	// AdminAddr serves /metrics, /healthz and /readyz over plain HTTP; "off" disables.
	AdminAddr string `env:"FIRMFLOW_WORKFLOW_ADMIN_ADDR" envDefault:"127.0.0.1:9202"`
	// DatabaseURL connects as the runtime role, which owns nothing.
	DatabaseURL string `env:"FIRMFLOW_WORKFLOW_DATABASE_URL" envDefault:"postgres://workflow_app@127.0.0.1:5432/firmflow_workflow?sslmode=disable"`
	// MigrateURL connects as the owner role; only `workflow migrate` uses it.
	MigrateURL string `env:"FIRMFLOW_WORKFLOW_MIGRATE_URL" envDefault:"postgres://workflow_owner@127.0.0.1:5432/firmflow_workflow?sslmode=disable"`

	// Shared holds FIRMFLOW_TLS_CA, FIRMFLOW_PRINCIPAL_PUBLIC_KEY and FIRMFLOW_NATS_URL.
	config.Shared

	TLSCert string `env:"FIRMFLOW_WORKFLOW_TLS_CERT" envDefault:".data/tls/workflow.pem"`
	TLSKey  string `env:"FIRMFLOW_WORKFLOW_TLS_KEY" envDefault:".data/tls/workflow-key.pem"`

	// KEKFile holds the base64 AES-256 key-encryption key that wraps each firm's data key.
	KEKFile string `env:"FIRMFLOW_KEK_FILE" envDefault:".data/keys/kek"`
	// KeysURL is the key store (pkg/keystore) holding each firm's data key, apart
	// from workflow's database and its backups; the runtime role.
	KeysURL string `env:"FIRMFLOW_KEYS_DATABASE_URL" envDefault:"postgres://keys_app@127.0.0.1:5432/firmflow_keys?sslmode=disable"`

	// WebhookAllowLoopback lets webhook subscriptions name loopback addresses (and
	// plain http:// to them); for tests and a developer's machine only, never in
	// production.
	WebhookAllowLoopback bool `env:"FIRMFLOW_WEBHOOK_ALLOW_LOOPBACK" envDefault:"false"`
	// WebhookCAFile, when set, is a PEM bundle trusted for webhook endpoints instead
	// of the system roots; for tests and a developer's machine only.
	WebhookCAFile string `env:"FIRMFLOW_WEBHOOK_CA_FILE"`
	// WebhookTimeout bounds one delivery attempt.
	WebhookTimeout time.Duration `env:"FIRMFLOW_WEBHOOK_TIMEOUT" envDefault:"10s"`

	// Telemetry, when set, serves metrics on the admin port.
	Telemetry *telemetry.Telemetry `env:"-"`
}

// Validate rejects settings that cannot work.
func (c Config) Validate() error {
	errs := []error{c.Shared.Check()}
	for name, v := range map[string]string{
		"FIRMFLOW_WORKFLOW_ADDR": c.GRPCAddr, "FIRMFLOW_WORKFLOW_DATABASE_URL": c.DatabaseURL,
		"FIRMFLOW_KEK_FILE":          c.KEKFile,
		"FIRMFLOW_KEYS_DATABASE_URL": c.KeysURL,
	} {
		if v == "" {
			errs = append(errs, fmt.Errorf("%s must be set", name))
		}
	}
	if c.WebhookTimeout <= 0 {
		errs = append(errs, errors.New("FIRMFLOW_WEBHOOK_TIMEOUT must be positive"))
	}
	return errors.Join(errs...)
}

// Server is a running workflow service.
type Server struct {
	rt        *svc.Runtime
	keys      *keystore.Postgres
	scheduler func(context.Context) error // creates due series periods
	members   *inbox.Consumer             // identity's member events
	changes   *inbox.Consumer             // workflow's own change events, for webhooks
	webhooks  func(context.Context) error // sends due webhook deliveries
}

// Migrate applies workflow's migrations as the owner role.
func Migrate(ctx context.Context, cfg Config) error {
	return pg.Migrate(ctx, cfg.MigrateURL, migrations.FS, pg.RolesFor("workflow"))
}

// OpenSealedSample opens the sealed fields of up to n clients picked at random from
// the database at databaseURL with the firms' data keys from the key store at
// keysURL, unwrapped by the KEK in kekFile; both URLs are an administrator's (the
// restore drill's, on restored copies). It answers how many clients and firms opened.
func OpenSealedSample(ctx context.Context, databaseURL, keysURL, kekFile string, n int) (clients, firms int, err error) {
	kek, err := svc.LoadKEK(kekFile)
	if err != nil {
		return 0, 0, err
	}
	keys, err := keystore.Open(ctx, keysURL, kek, "workflow")
	if err != nil {
		return 0, 0, err
	}
	defer keys.Close()
	db, err := pg.Open(ctx, databaseURL)
	if err != nil {
		return 0, 0, err
	}
	defer db.Close()
	return app.New(store.New(db), keys).OpenSample(ctx, n)
}

// New connects, wires and binds workflow; Run serves it.
func New(ctx context.Context, cfg Config, logger *slog.Logger) (*Server, error) {
	webhookCfg := app.WebhookConfig{AllowLoopback: cfg.WebhookAllowLoopback, Timeout: cfg.WebhookTimeout}
	if cfg.WebhookCAFile != "" {
		pool, err := tlsconf.LoadCertPool(cfg.WebhookCAFile)
		if err != nil {
			return nil, fmt.Errorf("FIRMFLOW_WEBHOOK_CA_FILE: %w", err)
		}
		webhookCfg.RootCAs = pool
	}
	kek, err := svc.LoadKEK(cfg.KEKFile)
	if err != nil {
		return nil, err
	}
	keys, err := keystore.Open(ctx, cfg.KeysURL, kek, "workflow")
	if err != nil {
		return nil, err
	}
	rt, err := svc.Start(ctx, svc.Options{
		Shared: cfg.Shared, Name: "workflow", GRPCAddr: cfg.GRPCAddr, AdminAddr: cfg.AdminAddr, DatabaseURL: cfg.DatabaseURL,
		TLSCert: cfg.TLSCert, TLSKey: cfg.TLSKey, Telemetry: cfg.Telemetry,
		PageTokenSecretFile: cfg.KEKFile, // a separate key is derived from it (HKDF)
	}, logger)
	if err != nil {
		keys.Close()
		return nil, err
	}
	a := app.New(store.New(rt.DB), keys)
	a.ConfigureWebhooks(webhookCfg)
	grpcapi.Register(rt.GRPC, a)
	rt.AddProbe("keys", keys.Ping)
	members := inbox.NewConsumer(rt.JetStream, eventapi.Consumer(), eventapi.Handler(a), logger)
	changes := inbox.NewConsumer(rt.JetStream, eventapi.WebhookConsumer(), eventapi.WebhookHandler(a), logger)
	return &Server{
		rt: rt, keys: keys, scheduler: a.SeriesScheduler(logger, time.Minute), members: members,
		changes: changes, webhooks: a.WebhookWorker(logger, time.Second),
	}, nil
}

// Addr is the bound gRPC address.
func (s *Server) Addr() string { return s.rt.Addr() }

// AdminAddr is the bound admin address, or "" when the admin port is off.
func (s *Server) AdminAddr() string { return s.rt.AdminAddr() }

// Run serves until ctx ends.
func (s *Server) Run(ctx context.Context) error {
	defer s.keys.Close()
	return s.rt.Run(ctx, s.scheduler, s.members.Run, s.changes.Run, s.webhooks)
}
