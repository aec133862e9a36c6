package stack

import (
	"context"
	"fmt"
	"path/filepath"

	"github.com/firmflow/firmflow/pkg/config"
	"github.com/firmflow/firmflow/pkg/pg"
	audit "github.com/firmflow/firmflow/services/audit/server"
)

// AuditPublicKey is where the development audit public key lives under the data dir:
// what `firmflow audit verify --public-key` needs for an export of this stack.
func AuditPublicKey(dataDir string) string { return filepath.Join(dataDir, "keys", "audit.pub") }

// startAudit migrates audit and binds it on a free port, with the certificate and
// checkpoint signing key Init made: only the gateway calls it, and learns the address
// from Addr.
func startAudit(ctx context.Context, opts Options, s *Stack, material Material, adminAddr string) (*audit.Server, error) {
	name := s.Databases["audit"]
	pki, signingKey := material.PKI, material.AuditSigningKey
	roles := pg.RolesFor("audit")
	var cfg audit.Config
	if err := config.LoadFrom(&cfg, map[string]string{}); err != nil {
		return nil, err
	}
	cfg.GRPCAddr, cfg.AdminAddr = "127.0.0.1:0", adminAddr
	cfg.DatabaseURL, _ = pg.WithUserAndDatabase(opts.AdminDatabaseURL, roles.Runtime, name)
	cfg.MigrateURL, _ = pg.WithUserAndDatabase(opts.AdminDatabaseURL, roles.Owner, name)
	cfg.RetentionURL, _ = pg.WithUserAndDatabase(opts.AdminDatabaseURL, "", name)
	cfg.TLSCA, cfg.TLSCert, cfg.TLSKey = pki.CAFile, pki.CertFile("audit"), pki.KeyFile("audit")
	cfg.PublicKeyFile, cfg.SigningKeyFile = material.PublicKey, signingKey
	cfg.PageTokenKeyFile = material.PageTokenKeyFile
	cfg.NATSURL, cfg.Telemetry = s.NATSURL, opts.Telemetry
	// The stack runs billing too, whose changes of billing data the log must hold.
	cfg.Streams = append(cfg.Streams, "FIRMFLOW_BILLING")
	if opts.AuditTuning != nil {
		opts.AuditTuning(&cfg)
	}
	if err := audit.Migrate(ctx, cfg); err != nil {
		return nil, fmt.Errorf("migrate audit: %w", err)
	}
	srv, err := audit.New(ctx, cfg, opts.Logger.With("component", "audit"))
	if err != nil {
		return nil, fmt.Errorf("audit: %w", err)
	}
	return srv, nil
}
