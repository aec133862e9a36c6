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

// lifecycleAddrs are the services lifecycle calls.
type lifecycleAddrs struct{ identity, workflow, billing, audit, keysURL string }

// startLifecycle opens lifecycle's connection to the key store (startKeyStore; it
// destroys a deleted firm's keys there), migrates it and binds it on a free port
// unless Options.LifecycleAddr says otherwise, with the certificate ("lifecycle",
// which the other services' FirmDataService and identity's ClosureService admit) and
// certificate-signing key Init made. It returns a function closing the key store.
func startLifecycle(ctx context.Context, opts Options, s *Stack, material Material, adminAddr string, peers lifecycleAddrs) (*lifecycle.Server, func(), error) {
	name, roles := s.Databases["lifecycle"], pg.RolesFor("lifecycle")
	pki, signingKey, exportKey := material.PKI, material.LifecycleSigningKey, material.ExportKeyFile
	var cfg lifecycle.Config
	if err := config.LoadFrom(&cfg, map[string]string{}); err != nil {
		return nil, nil, err
	}
	cfg.GRPCAddr, cfg.AdminAddr = "127.0.0.1:0", adminAddr
	if opts.LifecycleAddr != "" {
		cfg.GRPCAddr = opts.LifecycleAddr
	}
	cfg.DatabaseURL, _ = pg.WithUserAndDatabase(opts.AdminDatabaseURL, roles.Runtime, name)
	cfg.MigrateURL, _ = pg.WithUserAndDatabase(opts.AdminDatabaseURL, roles.Owner, name)
	cfg.KeysDatabaseURL = peers.keysURL
	cfg.KEKFile = material.KEKFile
	cfg.TLSCA, cfg.TLSCert, cfg.TLSKey = pki.CAFile, pki.CertFile("lifecycle"), pki.KeyFile("lifecycle")
	cfg.PublicKeyFile, cfg.SigningKeyFile = material.PublicKey, signingKey
	cfg.IdentityAddr, cfg.WorkflowAddr, cfg.BillingAddr, cfg.AuditAddr = peers.identity, peers.workflow, peers.billing, peers.audit
	cfg.ExportDir, cfg.ExportKeyFile = filepath.Join(opts.DataDir, "exports"), exportKey
	cfg.NATSURL, cfg.Telemetry = s.NATSURL, opts.Telemetry
	if opts.LifecycleTuning != nil {
		opts.LifecycleTuning(&cfg)
	}
	if err := lifecycle.Migrate(ctx, cfg); err != nil {
		return nil, nil, fmt.Errorf("migrate lifecycle: %w", err)
	}
	keys, err := lifecycle.OpenKeyStore(ctx, cfg)
	if err != nil {
		return nil, nil, err
	}
	srv, err := lifecycle.New(ctx, cfg, keys, opts.Logger.With("component", "lifecycle"))
	if err != nil {
		keys.Close()
		return nil, nil, fmt.Errorf("lifecycle: %w", err)
	}
	return srv, keys.Close, nil
}
