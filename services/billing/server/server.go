// Package server is the billing service as a library: configuration, wiring and the
// serve loop, used by cmd/billing and by `firmflow dev`.
package server

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"time"

	"google.golang.org/grpc"

	"github.com/firmflow/firmflow/pkg/config"
	"github.com/firmflow/firmflow/pkg/inbox"
	"github.com/firmflow/firmflow/pkg/pg"
	"github.com/firmflow/firmflow/pkg/svc"
	"github.com/firmflow/firmflow/pkg/telemetry"
	"github.com/firmflow/firmflow/services/billing/internal/app"
	"github.com/firmflow/firmflow/services/billing/internal/domain"
	"github.com/firmflow/firmflow/services/billing/internal/eventapi"
	"github.com/firmflow/firmflow/services/billing/internal/grpcapi"
	"github.com/firmflow/firmflow/services/billing/internal/store"
	"github.com/firmflow/firmflow/services/billing/internal/stripeapi"
	"github.com/firmflow/firmflow/services/billing/migrations"
)

// Config is billing's configuration, read from the environment. Defaults match the
// files and databases `firmflow dev` creates and talk to stripe-mock's key; with an
// empty FIRMFLOW_STRIPE_API_URL they reach Stripe itself.
type Config struct {
	// GRPCAddr is where billing listens for the gateway and other services (mTLS).
	GRPCAddr string `env:"FIRMFLOW_BILLING_ADDR" envDefault:"127.0.0.1:9104"`
	// AdminAddr serves /metrics, /healthz and /readyz over plain HTTP; "off" disables.
	AdminAddr string `env:"FIRMFLOW_BILLING_ADMIN_ADDR" envDefault:"127.0.0.1:9204"`
	// DatabaseURL connects as the runtime role, which owns nothing.
	DatabaseURL string `env:"FIRMFLOW_BILLING_DATABASE_URL" envDefault:"postgres://billing_app@127.0.0.1:5432/firmflow_billing?sslmode=disable"`
	// MigrateURL connects as the owner role; only `billing migrate` uses it.
	MigrateURL string `env:"FIRMFLOW_BILLING_MIGRATE_URL" envDefault:"postgres://billing_owner@127.0.0.1:5432/firmflow_billing?sslmode=disable"`

	// Shared holds FIRMFLOW_TLS_CA, FIRMFLOW_PRINCIPAL_PUBLIC_KEY and FIRMFLOW_NATS_URL
	// (identity's events come in, billing's go out).
	config.Shared

	TLSCert string `env:"FIRMFLOW_BILLING_TLS_CERT" envDefault:".data/tls/billing.pem"`
	TLSKey  string `env:"FIRMFLOW_BILLING_TLS_KEY" envDefault:".data/tls/billing-key.pem"`
	// PageTokenKeyFile holds the secret (at least 32 bytes, e.g. base64 of 32 random
	// bytes) page tokens are sealed with; every replica needs the same one. Empty seals
	// with a random key per process.
	PageTokenKeyFile string `env:"FIRMFLOW_PAGE_TOKEN_KEY_FILE" envDefault:".data/keys/page-token"`

	// StripeAPIKey is the secret API key; the default is the one stripe-mock accepts.
	StripeAPIKey string `env:"FIRMFLOW_STRIPE_API_KEY" envDefault:"sk_test_123"`
	// StripeWebhookSecret is the webhook endpoint's signing secret (whsec_...).
	StripeWebhookSecret string `env:"FIRMFLOW_STRIPE_WEBHOOK_SECRET" envDefault:"whsec_firmflow_dev"`
	// StripeAPIURL is Stripe's base URL; empty means api.stripe.com. Point it at
	// stripe-mock (http://127.0.0.1:12111) for development.
	StripeAPIURL string `env:"FIRMFLOW_STRIPE_API_URL"`
	// StripeTimeout bounds each attempt of a Stripe request.
	StripeTimeout time.Duration `env:"FIRMFLOW_STRIPE_TIMEOUT" envDefault:"15s"`
	// StripeMaxRetries is how often a failed Stripe request is retried at once,
	// with the same idempotency key.
	StripeMaxRetries int64 `env:"FIRMFLOW_STRIPE_MAX_RETRIES" envDefault:"2"`

	// Plans maps plan names to Stripe price ids: "standard=price_...,pro=price_...".
	Plans map[string]string `env:"FIRMFLOW_BILLING_PLANS" envDefault:"standard=price_standard,pro=price_pro" envKeyValSeparator:"="`
	// TrialDays gives subscriptions started by Checkout a trial; 0 for none.
	TrialDays int64 `env:"FIRMFLOW_BILLING_TRIAL_DAYS" envDefault:"0"`
	// GracePeriod is how long a firm keeps full access after its subscription
	// lapsed (payment failed, unpaid, canceled), and after sign-up without one.
	GracePeriod time.Duration `env:"FIRMFLOW_BILLING_GRACE_PERIOD" envDefault:"336h"`
	// ReturnURL is the app's billing page, where Stripe's pages send the browser back.
	ReturnURL string `env:"FIRMFLOW_BILLING_RETURN_URL" envDefault:"http://localhost:5173/settings/billing"`
	// ReconcileInterval is how often the reconciler asks Stripe for events the
	// webhook may have missed; 0 disables it.
	ReconcileInterval time.Duration `env:"FIRMFLOW_BILLING_RECONCILE_INTERVAL" envDefault:"5m"`
	// ReconcileLookback is how far back the reconciler's first pass looks.
	ReconcileLookback time.Duration `env:"FIRMFLOW_BILLING_RECONCILE_LOOKBACK" envDefault:"72h"`

	// Telemetry, when set, serves metrics on the admin port.
	Telemetry *telemetry.Telemetry `env:"-"`
}

// Validate rejects settings that cannot work; errors name the variable, never a value.
func (c Config) Validate() error {
	errs := []error{c.Shared.Check()}
	for name, v := range map[string]string{
		"FIRMFLOW_BILLING_ADDR": c.GRPCAddr, "FIRMFLOW_BILLING_DATABASE_URL": c.DatabaseURL, "FIRMFLOW_STRIPE_API_KEY": c.StripeAPIKey,
		"FIRMFLOW_STRIPE_WEBHOOK_SECRET": c.StripeWebhookSecret,
	} {
		if v == "" {
			errs = append(errs, fmt.Errorf("%s must be set", name))
		}
	}
	if err := domain.Plans(c.Plans).Validate(); err != nil {
		errs = append(errs, fmt.Errorf("FIRMFLOW_BILLING_PLANS: %w", err))
	}
	if c.GracePeriod <= 0 {
		errs = append(errs, errors.New("FIRMFLOW_BILLING_GRACE_PERIOD must be positive"))
	}
	if c.StripeTimeout <= 0 || c.StripeMaxRetries < 0 {
		errs = append(errs, errors.New("FIRMFLOW_STRIPE_TIMEOUT must be positive and FIRMFLOW_STRIPE_MAX_RETRIES not negative"))
	}
	if c.ReconcileInterval < 0 || c.ReconcileLookback <= 0 {
		errs = append(errs, errors.New("FIRMFLOW_BILLING_RECONCILE_INTERVAL must not be negative, FIRMFLOW_BILLING_RECONCILE_LOOKBACK must be positive"))
	}
	if c.TrialDays < 0 {
		errs = append(errs, errors.New("FIRMFLOW_BILLING_TRIAL_DAYS must not be negative"))
	}
	if !httpURL(c.ReturnURL) {
		errs = append(errs, errors.New("FIRMFLOW_BILLING_RETURN_URL must be an http(s) URL"))
	}
	if c.StripeAPIURL != "" && !httpURL(c.StripeAPIURL) {
		errs = append(errs, errors.New("FIRMFLOW_STRIPE_API_URL must be empty or an http(s) URL"))
	}
	return errors.Join(errs...)
}

func httpURL(s string) bool {
	u, err := url.Parse(s)
	return err == nil && (u.Scheme == "https" || u.Scheme == "http") && u.Host != ""
}

// AppConfig is the part of the configuration the use cases take.
func (c Config) AppConfig() app.Config {
	return app.Config{
		Plans: domain.Plans(c.Plans), Grace: c.GracePeriod, ReturnURL: c.ReturnURL, TrialDays: c.TrialDays,
		WebhookSecret: c.StripeWebhookSecret, ReconcileLookback: c.ReconcileLookback,
	}
}

// StripeConfig is the part of the configuration the Stripe client takes.
func (c Config) StripeConfig(logger *slog.Logger) stripeapi.Config {
	return stripeapi.Config{
		APIKey: c.StripeAPIKey, URL: c.StripeAPIURL, Timeout: c.StripeTimeout, MaxRetries: c.StripeMaxRetries, Logger: logger,
	}
}

// Server is a running billing service.
type Server struct {
	cfg      Config
	logger   *slog.Logger
	rt       *svc.Runtime
	app      *app.App
	consumer *inbox.Consumer
}

// Migrate applies billing's migrations as the owner role.
func Migrate(ctx context.Context, cfg Config) error {
	return pg.Migrate(ctx, cfg.MigrateURL, migrations.FS, pg.RolesFor("billing"))
}

// New connects, wires and binds billing; Run serves it.
func New(ctx context.Context, cfg Config, logger *slog.Logger) (*Server, error) {
	if err := cfg.Validate(); err != nil {
		return nil, fmt.Errorf("billing configuration: %w", err)
	}
	rt, err := svc.Start(ctx, svc.Options{
		Shared: cfg.Shared, Name: "billing", GRPCAddr: cfg.GRPCAddr, AdminAddr: cfg.AdminAddr, DatabaseURL: cfg.DatabaseURL,
		TLSCert: cfg.TLSCert, TLSKey: cfg.TLSKey, Telemetry: cfg.Telemetry,
		// Billing's stream carries money: every write is synced (see natsx.SyncMetadataKey).
		SyncStream:          true,
		PageTokenSecretFile: cfg.PageTokenKeyFile,
	}, logger)
	if err != nil {
		return nil, err
	}
	a := app.New(store.New(rt.DB), stripeapi.New(cfg.StripeConfig(logger)), cfg.AppConfig(), logger)
	grpcapi.Register(rt.GRPC, a)
	consumer := eventapi.Consumer()
	// A handler may wait on Stripe through every retry before it answers.
	consumer.AckWait = max(30*time.Second, time.Duration(cfg.StripeMaxRetries+2)*cfg.StripeTimeout)
	return &Server{
		cfg: cfg, logger: logger, rt: rt, app: a,
		consumer: inbox.NewConsumer(rt.JetStream, consumer, eventapi.Handler(a), logger),
	}, nil
}

// Addr is the bound gRPC address.
func (s *Server) Addr() string { return s.rt.Addr() }

// AdminAddr is the bound admin address, or "" when the admin port is off.
func (s *Server) AdminAddr() string { return s.rt.AdminAddr() }

// GRPCServer exposes the server so tests can check that every method has a policy.
func (s *Server) GRPCServer() *grpc.Server { return s.rt.GRPC }

// Run serves until ctx ends, with the outbox relay, the consumer of identity's
// events and the reconciler beside the gRPC server.
func (s *Server) Run(ctx context.Context) error {
	return s.rt.Run(ctx, s.consumer.Run, s.reconcile)
}

// reconcile runs the reconciler every ReconcileInterval until ctx ends; a failed pass
// is logged and the next one covers its ground.
func (s *Server) reconcile(ctx context.Context) error {
	if s.cfg.ReconcileInterval == 0 {
		return nil
	}
	ticker := time.NewTicker(s.cfg.ReconcileInterval)
	defer ticker.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-ticker.C:
		}
		if n, err := s.app.Reconcile(ctx); err != nil && ctx.Err() == nil {
			s.logger.WarnContext(ctx, "reconciliation with Stripe incomplete; the next pass retries", slog.String("error", err.Error()))
		} else if n > 0 {
			s.logger.InfoContext(ctx, "reconciliation applied missed Stripe events", slog.Int("events", n))
		}
	}
}
