// Package server is the identity service as a library: configuration, wiring and the
// serve loop, used by cmd/identity and by `firmflow dev`.
package server

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"strings"
	"time"

	"github.com/firmflow/firmflow/pkg/config"
	"github.com/firmflow/firmflow/pkg/inbox"
	"github.com/firmflow/firmflow/pkg/keystore"
	"github.com/firmflow/firmflow/pkg/mail"
	"github.com/firmflow/firmflow/pkg/pg"
	"github.com/firmflow/firmflow/pkg/principal"
	"github.com/firmflow/firmflow/pkg/svc"
	"github.com/firmflow/firmflow/pkg/telemetry"
	"github.com/firmflow/firmflow/services/identity/internal/app"
	"github.com/firmflow/firmflow/services/identity/internal/domain"
	"github.com/firmflow/firmflow/services/identity/internal/eventapi"
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

	// SMTPAddr is the mail server (host:port) identity sends invitations and password
	// emails through; empty turns email off, and invitation tokens then go back to
	// the inviter. `firmflow dev` points it at Mailpit.
	SMTPAddr string `env:"FIRMFLOW_SMTP_ADDR"`
	// SMTPTLS is none (a sink on this machine only), starttls or tls (port 465).
	SMTPTLS string `env:"FIRMFLOW_SMTP_TLS" envDefault:"starttls"`
	// SMTPUsername and SMTPPassword authenticate to the mail server; both or neither.
	SMTPUsername string `env:"FIRMFLOW_SMTP_USERNAME"`
	SMTPPassword string `env:"FIRMFLOW_SMTP_PASSWORD"`
	// MailFrom is the sender of every email; Message-IDs use its domain.
	MailFrom string `env:"FIRMFLOW_MAIL_FROM" envDefault:"firmflow <no-reply@firmflow.localhost>"`
	// PublicURL is where people reach firmflow, for the links in emails.
	PublicURL string `env:"FIRMFLOW_PUBLIC_URL" envDefault:"https://127.0.0.1:8443"`
	// MailRetryMin is the wait after a failed delivery, doubled per attempt up to an
	// hour; MailAttempts is when the worker gives up on an email.
	MailRetryMin time.Duration `env:"FIRMFLOW_MAIL_RETRY_MIN" envDefault:"5s"`
	MailAttempts int           `env:"FIRMFLOW_MAIL_ATTEMPTS" envDefault:"30"`
	// MailInterval is how often queued email and password reset requests are looked at.
	MailInterval time.Duration `env:"FIRMFLOW_MAIL_INTERVAL" envDefault:"1s"`

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
	if c.SMTPAddr != "" {
		if err := c.smtp().Validate(); err != nil {
			errs = append(errs, fmt.Errorf("FIRMFLOW_SMTP_*: %w", err))
		}
	}
	if c.MailRetryMin <= 0 || c.MailAttempts <= 0 || c.MailInterval <= 0 {
		errs = append(errs, errors.New("FIRMFLOW_MAIL_RETRY_MIN, FIRMFLOW_MAIL_ATTEMPTS and FIRMFLOW_MAIL_INTERVAL must be positive"))
	}
	return errors.Join(errs...)
}

func (c Config) smtp() mail.SMTPConfig {
	return mail.SMTPConfig{
		Addr: c.SMTPAddr, From: c.MailFrom, Username: c.SMTPUsername, Password: c.SMTPPassword, TLS: mail.TLS(c.SMTPTLS),
	}
}

// Server is a running identity service.
type Server struct {
	rt     *svc.Runtime
	keys   *keystore.Postgres
	app    *app.App
	mail   *mail.Worker // nil when no mail server is configured
	every  time.Duration
	logger *slog.Logger
	// notices consumes other services' events that become the firm's notifications.
	notices *inbox.Consumer
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
	mailCfg, sender, err := setUpMail(cfg, logger)
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
	var worker *mail.Worker
	if sender != nil {
		worker = mailCfg.Outbox.Worker(rt.DB, sender, logger.With("component", "mail"), mail.WorkerOptions{
			Interval: cfg.MailInterval, MinBackoff: cfg.MailRetryMin, MaxAttempts: cfg.MailAttempts,
		})
	}
	a := app.New(store.New(rt.DB), kek, keys, principal.NewSigner(signingKey), app.Config{
		Sessions: domain.SessionPolicy{Idle: cfg.SessionIdle, Absolute: cfg.SessionAbsolute},
		Lockout:  domain.DefaultLockout,
		Mail:     mailCfg,
	})
	grpcapi.Register(rt.GRPC, a)
	rt.AddProbe("keys", keys.Ping)
	notices := inbox.NewConsumer(rt.JetStream, eventapi.Consumer(), eventapi.Handler(a), logger)
	return &Server{rt: rt, keys: keys, app: a, mail: worker, every: cfg.MailInterval, logger: logger, notices: notices}, nil
}

// setUpMail builds the mail outbox and the SMTP sender when a mail server is
// configured. Bodies in the outbox are sealed with a key derived from the KEK file's
// secret.
func setUpMail(cfg Config, logger *slog.Logger) (app.Mail, *mail.SMTP, error) {
	if cfg.SMTPAddr == "" {
		logger.Warn("no mail server configured (FIRMFLOW_SMTP_ADDR): invitation tokens go back to the inviter, and password reset emails are not sent")
		return app.Mail{}, nil, nil
	}
	secret, err := os.ReadFile(cfg.KEKFile)
	if err != nil {
		return app.Mail{}, nil, fmt.Errorf("read the key-encryption key file: %w", err)
	}
	defer clear(secret)
	outbox, err := mail.NewOutbox(bytes.TrimSpace(secret))
	if err != nil {
		return app.Mail{}, nil, err
	}
	sender, err := mail.NewSMTP(cfg.smtp())
	if err != nil {
		return app.Mail{}, nil, err
	}
	logger.Info("email goes out through SMTP", slog.String("smtp_addr", cfg.SMTPAddr), slog.String("tls", cfg.SMTPTLS))
	return app.Mail{Outbox: outbox, From: cfg.MailFrom, PublicURL: strings.TrimRight(cfg.PublicURL, "/")}, sender, nil
}

// Addr is the bound gRPC address.
func (s *Server) Addr() string { return s.rt.Addr() }

// AdminAddr is the bound admin address, or "" when the admin port is off.
func (s *Server) AdminAddr() string { return s.rt.AdminAddr() }

// Run serves until ctx ends, with the outbox relay, the support grant sweeper, the
// password reset handler, the consumer of other services' notices and (when mail is
// configured) the mail worker beside the gRPC server.
func (s *Server) Run(ctx context.Context) error {
	defer s.keys.Close()
	workers := []func(context.Context) error{s.sweepSupportGrants, s.handlePasswordResets, s.notices.Run}
	if s.mail != nil {
		workers = append(workers, s.mail.Run)
	}
	return s.rt.Run(ctx, workers...)
}

// handlePasswordResets turns reset requests into resets and emails until ctx ends.
// A failure is logged and tried again next time; requests wait meanwhile.
func (s *Server) handlePasswordResets(ctx context.Context) error {
	tick := time.NewTicker(s.every)
	defer tick.Stop()
	for {
		if _, err := s.app.HandlePasswordResets(ctx); err != nil && ctx.Err() == nil {
			s.logger.ErrorContext(ctx, "password reset requests not handled; retrying", slog.String("error", err.Error()))
		}
		select {
		case <-ctx.Done():
			return nil
		case <-tick.C:
		}
	}
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
