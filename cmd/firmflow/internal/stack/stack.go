// Package stack brings the whole system up in one process: development TLS and keys,
// each service's database and roles, NATS, and every service on its own port with
// mutual TLS between them. `firmflow dev` and the end-to-end tests both use it.
package stack

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"strings"
	"time"

	natsserver "github.com/nats-io/nats-server/v2/server"
	"golang.org/x/sync/errgroup"

	"github.com/firmflow/firmflow/pkg/config"
	"github.com/firmflow/firmflow/pkg/fieldcrypt"
	"github.com/firmflow/firmflow/pkg/natsx"
	"github.com/firmflow/firmflow/pkg/pg"
	"github.com/firmflow/firmflow/pkg/principal"
	"github.com/firmflow/firmflow/pkg/telemetry"
	"github.com/firmflow/firmflow/pkg/tlsconf"
	"github.com/firmflow/firmflow/services/audit/chain"
	audit "github.com/firmflow/firmflow/services/audit/server"
	gateway "github.com/firmflow/firmflow/services/gateway/server"
	identity "github.com/firmflow/firmflow/services/identity/server"
	lifecycle "github.com/firmflow/firmflow/services/lifecycle/server"
	workflow "github.com/firmflow/firmflow/services/workflow/server"
)

// Options say where the stack keeps its state and listens.
type Options struct {
	// AdminDatabaseURL connects as a PostgreSQL superuser, to create databases and roles.
	AdminDatabaseURL string
	// DatabasePrefix names each service's database: prefix + service.
	DatabasePrefix string
	// DataDir keeps TLS material, keys and the embedded NATS store.
	DataDir string
	// NATSURL is an external NATS server; empty runs one embedded, stored in DataDir.
	NATSURL string
	// NATSPort is the embedded server's port; -1 picks a free one.
	NATSPort int

	GatewayAddr  string
	IdentityAddr string
	WorkflowAddr string
	// BillingAddr is billing's gRPC address; empty picks a free port.
	BillingAddr string
	// StripeAPIURL is where billing reaches Stripe: stripe-mock's URL in development
	// and tests; empty means api.stripe.com (FIRMFLOW_STRIPE_API_KEY must be real).
	StripeAPIURL string
	// StripeWebhookSecret signs the Stripe webhooks billing accepts; empty keeps
	// billing's default (FIRMFLOW_STRIPE_WEBHOOK_SECRET).
	StripeWebhookSecret string
	// LifecycleAddr is lifecycle's gRPC address; empty picks a free port.
	LifecycleAddr string
	// LifecycleTuning, when set, adjusts lifecycle's configuration (tests shorten
	// its run interval and retries).
	LifecycleTuning func(*lifecycle.Config)
	// AuditTuning, when set, adjusts audit's configuration (the backup drill signs
	// checkpoints every second).
	AuditTuning func(*audit.Config)
	// AdminAddrs enables each service's admin (metrics) listener on a free port.
	AdminAddrs bool
	// GatewayTuning, when set, adjusts the gateway configuration (tests lower rate limits).
	GatewayTuning func(*gateway.Config)
	// IdentityTuning, when set, adjusts identity's configuration (dev and the tests
	// point its mail at a local SMTP server).
	IdentityTuning func(*identity.Config)

	Logger    *slog.Logger
	Telemetry *telemetry.Telemetry
}

// Material is the development PKI and keys on disk.
type Material struct {
	PKI        *tlsconf.DevPKI
	SigningKey string
	PublicKey  string
	KEKFile    string
	// PageTokenKeyFile is the secret audit and billing seal page tokens with
	// (identity and workflow derive theirs from the KEK).
	PageTokenKeyFile string
	// AuditSigningKey signs audit's checkpoints (AuditPublicKey verifies them).
	AuditSigningKey string
	// LifecycleSigningKey signs deletion certificates (LifecyclePublicKey verifies
	// them); ExportKeyFile seals lifecycle's export archives.
	LifecycleSigningKey, ExportKeyFile string
}

// certificates are the names Init makes development certificates for: every
// service, and the operator CLI's client certificate.
var certificates = []string{"gateway", "identity", "workflow", "audit", "billing", "lifecycle", "operator"}

// Stack is a running system.
type Stack struct {
	GatewayURL string
	NATSURL    string
	// IdentityAddr is identity's gRPC address (mTLS), for operator tools.
	IdentityAddr string
	// LifecycleAddr is lifecycle's gRPC address (mTLS), for operator tools.
	LifecycleAddr string
	Material      Material
	Databases     map[string]string // service -> database name

	run      func(context.Context) error
	nats     *natsserver.Server
	natsOpts natsx.EmbeddedOptions
}

// Init creates the development TLS material and keys under dataDir when missing:
// everything the services need, so that `firmflow init` can prepare them for
// containers (docker-compose.yml mounts dataDir).
func Init(dataDir string) (Material, error) {
	pki, err := tlsconf.EnsureDevPKI(filepath.Join(dataDir, "tls"), certificates)
	if err != nil {
		return Material{}, fmt.Errorf("development TLS: %w", err)
	}
	keys := filepath.Join(dataDir, "keys")
	signing, public, err := principal.EnsureKeyPair(keys)
	if err != nil {
		return Material{}, fmt.Errorf("principal signing key: %w", err)
	}
	kekFile := filepath.Join(keys, "kek")
	if _, err := os.Stat(kekFile); errors.Is(err, os.ErrNotExist) {
		if err := os.WriteFile(kekFile, []byte(fieldcrypt.GenerateKEK()+"\n"), 0o600); err != nil {
			return Material{}, fmt.Errorf("key-encryption key: %w", err)
		}
	}
	pageTokenFile := filepath.Join(keys, "page-token")
	if _, err := os.Stat(pageTokenFile); errors.Is(err, os.ErrNotExist) {
		// Any 32 random bytes will do; a KEK is exactly that, in base64.
		if err := os.WriteFile(pageTokenFile, []byte(fieldcrypt.GenerateKEK()+"\n"), 0o600); err != nil {
			return Material{}, fmt.Errorf("page token key: %w", err)
		}
	}
	auditKey, _, err := chain.EnsureKeyPair(keys)
	if err != nil {
		return Material{}, fmt.Errorf("audit signing key: %w", err)
	}
	lifecycleKey, _, err := lifecycle.EnsureSigningKey(keys)
	if err != nil {
		return Material{}, fmt.Errorf("lifecycle signing key: %w", err)
	}
	exportKey := filepath.Join(keys, "export.key")
	if err := lifecycle.EnsureExportKey(exportKey); err != nil {
		return Material{}, fmt.Errorf("lifecycle export key: %w", err)
	}
	return Material{
		PKI: pki, SigningKey: signing, PublicKey: public, KEKFile: kekFile, PageTokenKeyFile: pageTokenFile,
		AuditSigningKey: auditKey, LifecycleSigningKey: lifecycleKey, ExportKeyFile: exportKey,
	}, nil
}

// Start prepares everything and binds every listener; Run serves.
func Start(ctx context.Context, opts Options) (_ *Stack, err error) {
	material, err := Init(opts.DataDir)
	if err != nil {
		return nil, err
	}
	s := &Stack{Material: material}
	defer func() {
		if err != nil && s.nats != nil {
			s.nats.Shutdown()
		}
	}()

	if s.Databases, err = Provision(ctx, opts.AdminDatabaseURL, opts.DatabasePrefix); err != nil {
		return nil, err
	}
	urls := map[string][2]string{} // service -> runtime, owner URL
	for _, svc := range []string{"identity", "workflow"} {
		name, roles := s.Databases[svc], pg.RolesFor(svc)
		runtime, _ := pg.WithUserAndDatabase(opts.AdminDatabaseURL, roles.Runtime, name)
		owner, _ := pg.WithUserAndDatabase(opts.AdminDatabaseURL, roles.Owner, name)
		urls[svc] = [2]string{runtime, owner}
	}

	keysURL, err := startKeyStore(ctx, opts, s)
	if err != nil {
		return nil, err
	}

	s.NATSURL = opts.NATSURL
	if s.NATSURL == "" {
		s.natsOpts = natsx.EmbeddedOptions{
			Port: opts.NATSPort, StoreDir: filepath.Join(opts.DataDir, "nats"), SyncAlways: true,
		}
		s.nats, err = natsx.RunEmbedded(s.natsOpts)
		if err != nil {
			return nil, fmt.Errorf("embedded NATS: %w", err)
		}
		s.NATSURL = s.nats.ClientURL()
		// A restart (StartNATS) comes back on the same port, where clients reconnect.
		s.natsOpts.Port = s.nats.Addr().(*net.TCPAddr).Port
	}

	adminAddr := func() string {
		if opts.AdminAddrs {
			return "127.0.0.1:0"
		}
		return ""
	}

	var idCfg identity.Config
	if err := config.LoadFrom(&idCfg, map[string]string{}); err != nil {
		return nil, err
	}
	idCfg.GRPCAddr, idCfg.AdminAddr = opts.IdentityAddr, adminAddr()
	idCfg.DatabaseURL, idCfg.MigrateURL = urls["identity"][0], urls["identity"][1]
	idCfg.TLSCA, idCfg.TLSCert, idCfg.TLSKey = material.PKI.CAFile, material.PKI.CertFile("identity"), material.PKI.KeyFile("identity")
	idCfg.SigningKeyFile, idCfg.PublicKeyFile, idCfg.KEKFile = material.SigningKey, material.PublicKey, material.KEKFile
	idCfg.NATSURL, idCfg.Telemetry, idCfg.KeysURL = s.NATSURL, opts.Telemetry, keysURL
	if opts.IdentityTuning != nil {
		opts.IdentityTuning(&idCfg)
	}
	if err := identity.Migrate(ctx, idCfg); err != nil {
		return nil, fmt.Errorf("migrate identity: %w", err)
	}
	idSrv, err := identity.New(ctx, idCfg, opts.Logger.With("component", "identity"))
	if err != nil {
		return nil, fmt.Errorf("identity: %w", err)
	}

	var wfCfg workflow.Config
	if err := config.LoadFrom(&wfCfg, map[string]string{}); err != nil {
		return nil, err
	}
	wfCfg.GRPCAddr, wfCfg.AdminAddr = opts.WorkflowAddr, adminAddr()
	wfCfg.DatabaseURL, wfCfg.MigrateURL = urls["workflow"][0], urls["workflow"][1]
	wfCfg.TLSCA, wfCfg.TLSCert, wfCfg.TLSKey = material.PKI.CAFile, material.PKI.CertFile("workflow"), material.PKI.KeyFile("workflow")
	wfCfg.PublicKeyFile, wfCfg.KEKFile = material.PublicKey, material.KEKFile
	wfCfg.NATSURL, wfCfg.Telemetry, wfCfg.KeysURL = s.NATSURL, opts.Telemetry, keysURL
	if err := workflow.Migrate(ctx, wfCfg); err != nil {
		return nil, fmt.Errorf("migrate workflow: %w", err)
	}
	wfSrv, err := workflow.New(ctx, wfCfg, opts.Logger.With("component", "workflow"))
	if err != nil {
		return nil, fmt.Errorf("workflow: %w", err)
	}

	// audit (see audit.go): the gateway routes to auSrv.Addr().
	auSrv, err := startAudit(ctx, opts, s, material, adminAddr())
	if err != nil {
		return nil, err
	}

	// billing (see billing.go): the gateway routes to biSrv.Addr().
	biSrv, err := startBilling(ctx, opts, s, material, adminAddr())
	if err != nil {
		return nil, err
	}

	// lifecycle (see lifecycle.go): it calls the four services above; the gateway
	// routes to lcSrv.Addr().
	lcSrv, closeKeys, err := startLifecycle(ctx, opts, s, material, adminAddr(),
		lifecycleAddrs{identity: idSrv.Addr(), workflow: wfSrv.Addr(), billing: biSrv.Addr(), audit: auSrv.Addr(), keysURL: keysURL})
	if err != nil {
		return nil, err
	}

	var gwCfg gateway.Config
	if err := config.LoadFrom(&gwCfg, map[string]string{}); err != nil {
		return nil, err
	}
	gwCfg.Addr, gwCfg.AdminAddr = opts.GatewayAddr, adminAddr()
	gwCfg.TLSCert, gwCfg.TLSKey = material.PKI.CertFile("gateway"), material.PKI.KeyFile("gateway")
	gwCfg.CAFile, gwCfg.ClientCert, gwCfg.ClientKey = material.PKI.CAFile, material.PKI.CertFile("gateway"), material.PKI.KeyFile("gateway")
	gwCfg.IdentityAddr, gwCfg.WorkflowAddr, gwCfg.Telemetry = idSrv.Addr(), wfSrv.Addr(), opts.Telemetry
	gwCfg.NATSURL, gwCfg.PublicKeyFile = s.NATSURL, material.PublicKey
	gwCfg.BillingAddr = biSrv.Addr()
	gwCfg.AuditAddr = auSrv.Addr()
	gwCfg.LifecycleAddr = lcSrv.Addr()
	if opts.GatewayTuning != nil {
		opts.GatewayTuning(&gwCfg)
	}
	gwSrv, err := gateway.New(ctx, gwCfg, opts.Logger.With("component", "gateway"))
	if err != nil {
		return nil, fmt.Errorf("gateway: %w", err)
	}
	s.GatewayURL = "https://" + strings.Replace(gwSrv.Addr(), "127.0.0.1", "localhost", 1)
	s.IdentityAddr = idSrv.Addr()
	s.LifecycleAddr = lcSrv.Addr()

	s.run = func(ctx context.Context) error {
		g, ctx := errgroup.WithContext(ctx)
		g.Go(func() error { return idSrv.Run(ctx) })
		g.Go(func() error { return wfSrv.Run(ctx) })
		g.Go(func() error { return biSrv.Run(ctx) })
		g.Go(func() error { return auSrv.Run(ctx) })
		g.Go(func() error { defer closeKeys(); return lcSrv.Run(ctx) })
		g.Go(func() error { return gwSrv.Run(ctx) })
		return g.Wait()
	}
	return s, nil
}

// Run serves every service until ctx ends or one fails, then stops the rest.
func (s *Stack) Run(ctx context.Context) error {
	defer func() {
		if s.nats != nil {
			s.nats.Shutdown()
			s.nats.WaitForShutdown()
		}
	}()
	err := s.run(ctx)
	if errors.Is(err, context.Canceled) {
		return nil
	}
	return err
}

// StopNATS shuts the embedded NATS server down, as an outage would.
func (s *Stack) StopNATS() {
	s.nats.Shutdown()
	s.nats.WaitForShutdown()
}

// StartNATS brings the embedded NATS server back on its port with its store.
func (s *Stack) StartNATS() error {
	srv, err := natsx.RunEmbedded(s.natsOpts)
	if err != nil {
		return err
	}
	s.nats = srv
	return nil
}

// WaitReady polls the gateway's /readyz until it answers 200 or ctx ends.
func WaitReady(ctx context.Context, ready func(context.Context) error) error {
	for {
		if err := ready(ctx); err == nil {
			return nil
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(50 * time.Millisecond):
		}
	}
}
