package stack

import (
	"context"
	"fmt"
	"path/filepath"

	"github.com/firmflow/firmflow/pkg/config"
	"github.com/firmflow/firmflow/pkg/pg"
	lifecycle "github.com/firmflow/firmflow/services/lifecycle/server"
)

// LifecyclePublicKey is where the development certificate-signing public key lives
// under the data dir: what `firmflow lifecycle verify-certificate --public-key` needs.
func LifecyclePublicKey(dataDir string) string {
	return filepath.Join(dataDir, "keys", "lifecycle.pub")
}

// startLifecycle opens lifecycle's connection to the key store (startKeyStore; it
// destroys a deleted firm's keys there), migrates it, in the database Provision made,
// and binds it where its configuration says (FIRMFLOW_LIFECYCLE_ADDR). It calls the
// four services started before it, at the addresses they bound. Its certificate
// ("lifecycle") is what the other services' FirmDataService and identity's
// ClosureService admit.
func startLifecycle(ctx context.Context, opts Options, s *Stack, shared config.Shared, keysURL string) (*lifecycle.Server, error) {
	name, roles := s.Databases["lifecycle"], pg.RolesFor("lifecycle")
	var cfg lifecycle.Config
	if err := config.LoadFrom(&cfg, opts.Environ); err != nil {
		return nil, err
	}
	m := s.Material
	cfg.Shared, cfg.Telemetry = shared, opts.Telemetry
	cfg.DatabaseURL, _ = pg.WithUserAndDatabase(opts.AdminDatabaseURL, roles.Runtime, name)
	cfg.MigrateURL, _ = pg.WithUserAndDatabase(opts.AdminDatabaseURL, roles.Owner, name)
	cfg.KeysDatabaseURL, cfg.KEKFile = keysURL, m.KEKFile
	cfg.TLSCert, cfg.TLSKey = m.PKI.CertFile("lifecycle"), m.PKI.KeyFile("lifecycle")
	cfg.SigningKeyFile = m.LifecycleSigningKey
	cfg.IdentityAddr, cfg.WorkflowAddr = s.Addrs["identity"], s.Addrs["workflow"]
	cfg.BillingAddr, cfg.AuditAddr = s.Addrs["billing"], s.Addrs["audit"]
	cfg.ExportDir, cfg.ExportKeyFile = filepath.Join(opts.DataDir, "exports"), m.ExportKeyFile
	if opts.LifecycleTuning != nil {
		opts.LifecycleTuning(&cfg)
	}
	if err := lifecycle.Migrate(ctx, cfg); err != nil {
		return nil, fmt.Errorf("migrate lifecycle: %w", err)
	}
	keys, err := lifecycle.OpenKeyStore(ctx, cfg)
	if err != nil {
		return nil, err
	}
	s.closers = append(s.closers, keys.Close)
	srv, err := lifecycle.New(ctx, cfg, keys, opts.Logger.With("component", "lifecycle"))
	if err != nil {
		return nil, fmt.Errorf("lifecycle: %w", err)
	}
	return srv, nil
}
