package stack

import (
	"context"
	"fmt"

	"github.com/firmflow/firmflow/pkg/config"
	"github.com/firmflow/firmflow/pkg/pg"
	billing "github.com/firmflow/firmflow/services/billing/server"
)

// startBilling migrates billing and binds it (on a free port unless Options.BillingAddr says otherwise): the
// gateway learns the address from Addr. Stripe is Options.StripeAPIURL, stripe-mock
// in development and tests.
func startBilling(ctx context.Context, opts Options, s *Stack, material Material, adminAddr string) (*billing.Server, error) {
	name, roles := s.Databases["billing"], pg.RolesFor("billing")
	pki := material.PKI
	var cfg billing.Config
	if err := config.LoadFrom(&cfg, map[string]string{}); err != nil {
		return nil, err
	}
	cfg.GRPCAddr, cfg.AdminAddr = "127.0.0.1:0", adminAddr
	if opts.BillingAddr != "" {
		cfg.GRPCAddr = opts.BillingAddr
	}
	cfg.DatabaseURL, _ = pg.WithUserAndDatabase(opts.AdminDatabaseURL, roles.Runtime, name)
	cfg.MigrateURL, _ = pg.WithUserAndDatabase(opts.AdminDatabaseURL, roles.Owner, name)
	cfg.TLSCA, cfg.TLSCert, cfg.TLSKey = pki.CAFile, pki.CertFile("billing"), pki.KeyFile("billing")
	cfg.PublicKeyFile, cfg.NATSURL, cfg.Telemetry = material.PublicKey, s.NATSURL, opts.Telemetry
	cfg.PageTokenKeyFile = material.PageTokenKeyFile
	cfg.StripeAPIURL = opts.StripeAPIURL
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
