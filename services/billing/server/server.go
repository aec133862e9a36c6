// Package server is the billing service as a library: configuration, wiring and the
// serve loop, used by cmd/billing and by `firmflow dev`.
package server

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"time"

	"github.com/nats-io/nats.go"
	"go.opentelemetry.io/otel/metric"
	"golang.org/x/sync/errgroup"
	"google.golang.org/grpc"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"

	"github.com/firmflow/firmflow/pkg/inbox"
	"github.com/firmflow/firmflow/pkg/natsx"
	"github.com/firmflow/firmflow/pkg/outbox"
	"github.com/firmflow/firmflow/pkg/paging"
	"github.com/firmflow/firmflow/pkg/pg"
	"github.com/firmflow/firmflow/pkg/principal"
	"github.com/firmflow/firmflow/pkg/rpc"
	"github.com/firmflow/firmflow/pkg/telemetry"
	"github.com/firmflow/firmflow/pkg/tlsconf"
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
	// AdminAddr serves /metrics, /healthz and /readyz over plain HTTP; empty disables.
	AdminAddr string `env:"FIRMFLOW_BILLING_ADMIN_ADDR" envDefault:"127.0.0.1:9204"`
	// DatabaseURL connects as the runtime role, which owns nothing.
	DatabaseURL string `env:"FIRMFLOW_BILLING_DATABASE_URL" envDefault:"postgres://billing_app@127.0.0.1:5432/firmflow_billing?sslmode=disable"`
	// MigrateURL connects as the owner role; only `billing migrate` uses it.
	MigrateURL string `env:"FIRMFLOW_BILLING_MIGRATE_URL" envDefault:"postgres://billing_owner@127.0.0.1:5432/firmflow_billing?sslmode=disable"`

	TLSCA   string `env:"FIRMFLOW_TLS_CA" envDefault:".data/tls/ca.pem"`
	TLSCert string `env:"FIRMFLOW_BILLING_TLS_CERT" envDefault:".data/tls/billing.pem"`
	TLSKey  string `env:"FIRMFLOW_BILLING_TLS_KEY" envDefault:".data/tls/billing-key.pem"`
	// PublicKeyFile is identity's public key, which verifies principal tokens.
	PublicKeyFile string `env:"FIRMFLOW_PRINCIPAL_PUBLIC_KEY" envDefault:".data/keys/principal.pub"`
	// PageTokenKeyFile holds the secret (at least 32 bytes, e.g. base64 of 32 random
	// bytes) page tokens are sealed with; every replica needs the same one. Empty seals
	// with a random key per process.
	PageTokenKeyFile string `env:"FIRMFLOW_PAGE_TOKEN_KEY_FILE" envDefault:".data/keys/page-token"`

	// NATSURL is the JetStream server: identity's events come in, billing's go out.
	NATSURL string `env:"FIRMFLOW_NATS_URL" envDefault:"nats://127.0.0.1:4222"`

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
	var errs []error
	for name, v := range map[string]string{
		"FIRMFLOW_BILLING_ADDR": c.GRPCAddr, "FIRMFLOW_BILLING_DATABASE_URL": c.DatabaseURL, "FIRMFLOW_TLS_CA": c.TLSCA,
		"FIRMFLOW_PRINCIPAL_PUBLIC_KEY": c.PublicKeyFile, "FIRMFLOW_STRIPE_API_KEY": c.StripeAPIKey,
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
	cfg       Config
	logger    *slog.Logger
	db        *pg.DB
	app       *app.App
	grpc      *grpc.Server
	admin     *http.Server
	listeners rpc.Listeners
	nats      *nats.Conn
	relay     *outbox.Relay
	consumer  *inbox.Consumer
	backlog   metric.Registration // the outbox backlog metrics, until Run ends
}

// Migrate applies billing's migrations as the owner role.
func Migrate(ctx context.Context, cfg Config) error {
	return pg.Migrate(ctx, cfg.MigrateURL, migrations.FS, pg.RolesFor("billing"))
}

// New connects, wires and binds billing; Run serves it.
func New(ctx context.Context, cfg Config, logger *slog.Logger) (_ *Server, err error) {
	if err := cfg.Validate(); err != nil {
		return nil, fmt.Errorf("billing configuration: %w", err)
	}
	publicKey, err := principal.LoadPublicKey(cfg.PublicKeyFile)
	if err != nil {
		return nil, fmt.Errorf("load public key: %w", err)
	}
	tlsConfig, err := tlsconf.MutualServerConfig(cfg.TLSCA, cfg.TLSCert, cfg.TLSKey)
	if err != nil {
		return nil, err
	}
	if cfg.PageTokenKeyFile != "" {
		if err := paging.SetKeyFile(cfg.PageTokenKeyFile); err != nil {
			return nil, err
		}
	}
	db, err := pg.Open(ctx, cfg.DatabaseURL)
	if err != nil {
		return nil, err
	}
	var closers []func()
	defer func() {
		if err != nil {
			for _, c := range closers {
				c()
			}
			db.Close()
		}
	}()
	if err := db.ObservePool("billing"); err != nil {
		return nil, err
	}
	backlog, err := outbox.ObserveBacklog(db, "billing")
	if err != nil {
		return nil, err
	}
	closers = append(closers, func() { _ = backlog.Unregister() })

	a := app.New(store.New(db), stripeapi.New(cfg.StripeConfig(logger)), cfg.AppConfig(), logger)
	srv, health, err := rpc.NewServer(rpc.ServerConfig{
		TLS: tlsConfig, Verifier: principal.NewVerifier(publicKey), Logger: logger,
	})
	if err != nil {
		return nil, err
	}
	grpcapi.Register(srv, a)
	health.SetServingStatus("", healthpb.HealthCheckResponse_SERVING)

	nc, js, err := natsx.Connect(cfg.NATSURL, "billing")
	if err != nil {
		return nil, err
	}
	closers = append(closers, nc.Close)
	// Billing's stream carries money: every write is synced (see natsx.SyncMetadataKey).
	if _, err := natsx.EnsureStream(ctx, js, natsx.ServiceStream("billing", true)); err != nil {
		return nil, err
	}
	consumer := eventapi.Consumer()
	// A handler may wait on Stripe through every retry before it answers.
	consumer.AckWait = max(30*time.Second, time.Duration(cfg.StripeMaxRetries+2)*cfg.StripeTimeout)
	listeners, err := rpc.Listen(cfg.GRPCAddr, cfg.AdminAddr)
	if err != nil {
		return nil, err
	}
	return &Server{
		cfg: cfg, logger: logger, db: db, app: a, grpc: srv, listeners: listeners, nats: nc,
		relay:    outbox.NewRelay(db, js, logger, outbox.RelayOptions{}),
		consumer: inbox.NewConsumer(js, consumer, eventapi.Handler(a), logger),
		admin:    telemetry.AdminServer(cfg.AdminAddr, cfg.Telemetry, a.Ready),
		backlog:  backlog,
	}, nil
}

// Addr is the bound gRPC address.
func (s *Server) Addr() string { return s.listeners.GRPC.Addr().String() }

// GRPCServer exposes the server so tests can check that every method has a policy.
func (s *Server) GRPCServer() *grpc.Server { return s.grpc }

// Run serves until ctx ends, with the outbox relay, the consumer of identity's
// events and the reconciler beside the gRPC server.
func (s *Server) Run(ctx context.Context) error {
	defer s.db.Close()
	defer func() { _ = s.backlog.Unregister() }()
	defer s.nats.Close()
	s.logger.InfoContext(ctx, "billing serving", slog.String("addr", s.Addr()))
	g, ctx := errgroup.WithContext(ctx)
	g.Go(func() error { return s.relay.Run(ctx) })
	g.Go(func() error { return s.consumer.Run(ctx) })
	g.Go(func() error { return s.reconcile(ctx) })
	g.Go(func() error { return rpc.Serve(ctx, s.grpc, s.admin, s.listeners) })
	return g.Wait()
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
