package stack

import (
	"context"
	"fmt"

	"github.com/firmflow/firmflow/pkg/config"
	"github.com/firmflow/firmflow/pkg/pg"
	billing "github.com/firmflow/firmflow/services/billing/server"
)

// startBilling migrates billing, in the database Provision made, and binds it where
// its configuration says (FIRMFLOW_BILLING_ADDR): the gateway learns the address
// from Addr. Stripe is Options.StripeAPIURL when set, stripe-mock in development and
// tests.
func startBilling(ctx context.Context, opts Options, s *Stack, shared config.Shared) (*billing.Server, error) {
	name, roles := s.Databases["billing"], pg.RolesFor("billing")
	var cfg billing.Config
	if err := config.LoadFrom(&cfg, opts.Environ); err != nil {
		return nil, err
	}
	m := s.Material
	cfg.Shared, cfg.Telemetry = shared, opts.Telemetry
	cfg.DatabaseURL, _ = pg.WithUserAndDatabase(opts.AdminDatabaseURL, roles.Runtime, name)
	cfg.MigrateURL, _ = pg.WithUserAndDatabase(opts.AdminDatabaseURL, roles.Owner, name)
	cfg.TLSCert, cfg.TLSKey = m.PKI.CertFile("billing"), m.PKI.KeyFile("billing")
	cfg.PageTokenKeyFile = m.PageTokenKeyFile
	if opts.StripeAPIURL != "" {
		cfg.StripeAPIURL = opts.StripeAPIURL
	}
	if opts.StripeWebhookSecret != "" {
		cfg.StripeWebhookSecret = opts.StripeWebhookSecret
	}
	if err := billing.Migrate(ctx, cfg); err != nil {
		return nil, fmt.Errorf("migrate billing: %w", err)
	}
	srv, err := billing.New(ctx, cfg, opts.Logger.With("component", "billing"))
	if err != nil {
		return nil, fmt.Errorf("billing: %w", err)
	}
	return srv, nil
}
