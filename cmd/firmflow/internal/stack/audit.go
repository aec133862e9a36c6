package stack

import (
	"context"
	"fmt"
	"path/filepath"
	"slices"

	"github.com/firmflow/firmflow/pkg/config"
	"github.com/firmflow/firmflow/pkg/pg"
	audit "github.com/firmflow/firmflow/services/audit/server"
)

// AuditPublicKey is where the development audit public key lives under the data dir:
// what `firmflow audit verify --public-key` needs for an export of this stack.
func AuditPublicKey(dataDir string) string { return filepath.Join(dataDir, "keys", "audit.pub") }

// startAudit migrates audit and binds it where its configuration says
// (FIRMFLOW_AUDIT_ADDR, 127.0.0.1:9103 by default), in the database Provision made
// and with the certificate and checkpoint signing key Init made; the gateway learns
// the address from Addr.
func startAudit(ctx context.Context, opts Options, s *Stack, shared config.Shared) (*audit.Server, error) {
	name := s.Databases["audit"]
	roles := pg.RolesFor("audit")
	var cfg audit.Config
	if err := config.LoadFrom(&cfg, opts.Environ); err != nil {
		return nil, err
	}
	m := s.Material
	cfg.Shared, cfg.Telemetry = shared, opts.Telemetry
	cfg.DatabaseURL, _ = pg.WithUserAndDatabase(opts.AdminDatabaseURL, roles.Runtime, name)
	cfg.MigrateURL, _ = pg.WithUserAndDatabase(opts.AdminDatabaseURL, roles.Owner, name)
	cfg.RetentionURL, _ = pg.WithUserAndDatabase(opts.AdminDatabaseURL, "", name)
	cfg.TLSCert, cfg.TLSKey = m.PKI.CertFile("audit"), m.PKI.KeyFile("audit")
	cfg.SigningKeyFile, cfg.PageTokenKeyFile = m.AuditSigningKey, m.PageTokenKeyFile
	// The stack runs billing too, whose changes of billing data the log must hold.
	if !slices.Contains(cfg.Streams, "FIRMFLOW_BILLING") {
		cfg.Streams = append(cfg.Streams, "FIRMFLOW_BILLING")
	}
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
