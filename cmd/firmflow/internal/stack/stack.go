// Package stack brings the whole system up in one process: development TLS and keys,
// each service's database and roles, NATS, and every service on its own port with
// mutual TLS between them. `firmflow dev` and the end-to-end tests both use it.
package stack

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	natsserver "github.com/nats-io/nats-server/v2/server"

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

// Options say where the stack keeps its state and how its services are configured.
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

	// Environ is the environment each service reads its configuration from, exactly
	// as its own binary would (FIRMFLOW_CORS_ORIGINS, FIRMFLOW_SESSION_IDLE, each
	// FIRMFLOW_<SERVICE>_ADDR and _ADMIN_ADDR, ...); nil means the process
	// environment. What the stack provides itself overrides it: databases, TLS
	// material, keys, NATS, and the addresses services learn of each other.
	// Tests set every address to 127.0.0.1:0.
	Environ map[string]string

	// StripeAPIURL, when set, is where billing reaches Stripe (stripe-mock in
	// development and tests) whatever FIRMFLOW_STRIPE_API_URL says.
	StripeAPIURL string
	// StripeWebhookSecret, when set, signs the Stripe webhooks billing accepts.
	StripeWebhookSecret string
	// LifecycleTuning, when set, adjusts lifecycle's configuration (tests shorten
	// its run interval and retries).
	LifecycleTuning func(*lifecycle.Config)
	// AuditTuning, when set, adjusts audit's configuration (the backup drill signs
	// checkpoints every second).
	AuditTuning func(*audit.Config)
	// GatewayTuning, when set, adjusts the gateway configuration (tests lower rate limits).
	GatewayTuning func(*gateway.Config)
	// IdentityTuning, when set, adjusts identity's configuration (dev and the tests
	// point its mail at a local SMTP server).
	IdentityTuning func(*identity.Config)
	// LocalWebhooks lets webhook subscriptions name loopback endpoints and trusts
	// the development CA for them, unless FIRMFLOW_WEBHOOK_CA_FILE names another:
	// `firmflow dev` and the tests, never production.
	LocalWebhooks bool
	// WorkflowTuning, when set, adjusts workflow's configuration (tests shorten
	// webhook timeouts).
	WorkflowTuning func(*workflow.Config)

	Logger    *slog.Logger
	Telemetry *telemetry.Telemetry
}

// Material is the development PKI and keys on disk: everything `firmflow dev` needs.
type Material struct {
	PKI        *tlsconf.DevPKI
	SigningKey string
	PublicKey  string
	KEKFile    string
	// PageTokenKeyFile is the secret audit and billing seal page tokens with
	// (identity, workflow and lifecycle derive theirs from the KEK).
	PageTokenKeyFile string
	// AuditSigningKey signs audit checkpoints; AuditPublicKey verifies exports.
	AuditSigningKey, AuditPublicKey string
	// LifecycleSigningKey signs deletion certificates; LifecyclePublicKey verifies them.
	LifecycleSigningKey, LifecyclePublicKey string
	// ExportKeyFile seals export archives at rest.
	ExportKeyFile string
}

// Stack is a running system.
type Stack struct {
	GatewayURL string
	NATSURL    string
	// IdentityAddr is identity's gRPC address (mTLS), for operator tools.
	IdentityAddr string
	// LifecycleAddr is lifecycle's gRPC address (mTLS), for `firmflow incident`.
	LifecycleAddr string
	// Addrs are each service's bound gRPC address (the gateway's HTTPS one under
	// "gateway"); AdminAddrs their admin ports, absent when turned off.
	Addrs, AdminAddrs map[string]string
	Material          Material
	Databases         map[string]string // service -> database name

	// stages run together and stop in order (see Run).
	stages   [][]runner
	logger   *slog.Logger
	closers  []func()
	nats     *natsserver.Server
	natsOpts natsx.EmbeddedOptions
}

// runner is one service's serve loop.
type runner struct {
	name string
	run  func(context.Context) error
}

// Services are the services the stack runs, gateway first, in the order the banner
// lists them.
var Services = []string{"gateway", "identity", "workflow", "audit", "billing", "lifecycle"}

// certificates are every certificate the development CA issues: one per service
// (its gRPC server and its client certificate to the others) and the operator's.
var certificates = []string{"gateway", "identity", "workflow", "audit", "billing", "lifecycle", "operator"}

// Init creates the development TLS material and keys under dataDir when missing:
// everything the services need, so that `firmflow init` prepares a data dir
// completely, for Start or for containers (docker-compose.yml mounts dataDir).
func Init(dataDir string) (Material, error) {
	pki, err := tlsconf.EnsureDevPKI(filepath.Join(dataDir, "tls"), certificates)
	if err != nil {
		return Material{}, fmt.Errorf("development TLS: %w", err)
	}
	keys := filepath.Join(dataDir, "keys")
	m := Material{PKI: pki, KEKFile: filepath.Join(keys, "kek"), PageTokenKeyFile: filepath.Join(keys, "page-token"),
		ExportKeyFile: filepath.Join(keys, "export.key")}
	if m.SigningKey, m.PublicKey, err = principal.EnsureKeyPair(keys); err != nil {
		return Material{}, fmt.Errorf("principal signing key: %w", err)
	}
	// A KEK is 32 random bytes in base64; the page token secret may be any such.
	for _, file := range []string{m.KEKFile, m.PageTokenKeyFile} {
		if _, err := os.Stat(file); errors.Is(err, os.ErrNotExist) {
			if err := os.WriteFile(file, []byte(fieldcrypt.GenerateKEK()+"\n"), 0o600); err != nil {
				return Material{}, fmt.Errorf("%s: %w", filepath.Base(file), err)
			}
		}
	}
	if m.AuditSigningKey, m.AuditPublicKey, err = chain.EnsureKeyPair(keys); err != nil {
		return Material{}, fmt.Errorf("audit signing key: %w", err)
	}
	if m.LifecycleSigningKey, m.LifecyclePublicKey, err = lifecycle.EnsureSigningKey(keys); err != nil {
		return Material{}, fmt.Errorf("lifecycle signing key: %w", err)
	}
	if err := lifecycle.EnsureExportKey(m.ExportKeyFile); err != nil {
		return Material{}, fmt.Errorf("lifecycle export key: %w", err)
	}
	return m, nil
}

// Start prepares everything and binds every listener; Run serves.
func Start(ctx context.Context, opts Options) (_ *Stack, err error) {
	material, err := Init(opts.DataDir)
	if err != nil {
		return nil, err
	}
	s := &Stack{Material: material, Addrs: map[string]string{}, AdminAddrs: map[string]string{}, logger: opts.Logger}
	defer func() {
		if err != nil {
			s.close()
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
	var shared config.Shared // FIRMFLOW_STREAM_MAX_AGE from the environment; the rest is the stack's
	if err := config.LoadFrom(&shared, opts.Environ); err != nil {
		return nil, err
	}
	shared.TLSCA, shared.PublicKeyFile, shared.NATSURL = material.PKI.CAFile, material.PublicKey, s.NATSURL

	var idCfg identity.Config
	if err := config.LoadFrom(&idCfg, opts.Environ); err != nil {
		return nil, err
	}
	idCfg.Shared, idCfg.Telemetry = shared, opts.Telemetry
	idCfg.DatabaseURL, idCfg.MigrateURL = urls["identity"][0], urls["identity"][1]
	idCfg.TLSCert, idCfg.TLSKey = material.PKI.CertFile("identity"), material.PKI.KeyFile("identity")
	idCfg.SigningKeyFile, idCfg.KEKFile, idCfg.KeysURL = material.SigningKey, material.KEKFile, keysURL
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
	s.bound("identity", idSrv.Addr(), idSrv.AdminAddr())

	var wfCfg workflow.Config
	if err := config.LoadFrom(&wfCfg, opts.Environ); err != nil {
		return nil, err
	}
	wfCfg.Shared, wfCfg.Telemetry = shared, opts.Telemetry
	wfCfg.DatabaseURL, wfCfg.MigrateURL = urls["workflow"][0], urls["workflow"][1]
	wfCfg.TLSCert, wfCfg.TLSKey = material.PKI.CertFile("workflow"), material.PKI.KeyFile("workflow")
	wfCfg.KEKFile, wfCfg.KeysURL = material.KEKFile, keysURL
	if opts.LocalWebhooks {
		wfCfg.WebhookAllowLoopback = true
		wfCfg.WebhookCAFile = cmp.Or(wfCfg.WebhookCAFile, material.PKI.CAFile)
	}
	if opts.WorkflowTuning != nil {
		opts.WorkflowTuning(&wfCfg)
	}
	if err := workflow.Migrate(ctx, wfCfg); err != nil {
		return nil, fmt.Errorf("migrate workflow: %w", err)
	}
	wfSrv, err := workflow.New(ctx, wfCfg, opts.Logger.With("component", "workflow"))
	if err != nil {
		return nil, fmt.Errorf("workflow: %w", err)
	}
	s.bound("workflow", wfSrv.Addr(), wfSrv.AdminAddr())

	// audit (see audit.go): the gateway routes to auSrv.Addr().
	auSrv, err := startAudit(ctx, opts, s, shared)
	if err != nil {
		return nil, err
	}
	s.bound("audit", auSrv.Addr(), auSrv.AdminAddr())

	// billing (see billing.go): the gateway routes to biSrv.Addr().
	biSrv, err := startBilling(ctx, opts, s, shared)
	if err != nil {
		return nil, err
	}
	s.bound("billing", biSrv.Addr(), biSrv.AdminAddr())

	// lifecycle (see lifecycle.go): it calls the four services above; the gateway
	// routes to lcSrv.Addr().
	lcSrv, err := startLifecycle(ctx, opts, s, shared, keysURL)
	if err != nil {
		return nil, err
	}
	s.bound("lifecycle", lcSrv.Addr(), lcSrv.AdminAddr())

	var gwCfg gateway.Config
	if err := config.LoadFrom(&gwCfg, opts.Environ); err != nil {
		return nil, err
	}
	gwCfg.Shared, gwCfg.Telemetry = shared, opts.Telemetry
	gwCfg.TLSCert, gwCfg.TLSKey = material.PKI.CertFile("gateway"), material.PKI.KeyFile("gateway")
	gwCfg.ClientCert, gwCfg.ClientKey = material.PKI.CertFile("gateway"), material.PKI.KeyFile("gateway")
	gwCfg.IdentityAddr, gwCfg.WorkflowAddr, gwCfg.AuditAddr = s.Addrs["identity"], s.Addrs["workflow"], s.Addrs["audit"]
	gwCfg.BillingAddr, gwCfg.LifecycleAddr = s.Addrs["billing"], s.Addrs["lifecycle"]
	if opts.GatewayTuning != nil {
		opts.GatewayTuning(&gwCfg)
	}
	gwSrv, err := gateway.New(ctx, gwCfg, opts.Logger.With("component", "gateway"))
	if err != nil {
		return nil, fmt.Errorf("gateway: %w", err)
	}
	s.bound("gateway", gwSrv.Addr(), gwSrv.AdminAddr())
	s.GatewayURL = "https://" + strings.Replace(gwSrv.Addr(), "127.0.0.1", "localhost", 1)
	s.IdentityAddr = idSrv.Addr()
	s.LifecycleAddr = lcSrv.Addr()

	// Shutdown runs in this order: the gateway stops taking requests and lets those
	// in flight finish while every service still answers; then lifecycle, which calls
	// the others; then the rest; then NATS (Run).
	s.stages = [][]runner{
		{{"gateway", gwSrv.Run}},
		{{"lifecycle", lcSrv.Run}},
		{{"identity", idSrv.Run}, {"workflow", wfSrv.Run}, {"audit", auSrv.Run}, {"billing", biSrv.Run}},
	}
	return s, nil
}

// bound records where a service listens.
func (s *Stack) bound(service, addr, adminAddr string) {
	s.Addrs[service] = addr
	if adminAddr != "" {
		s.AdminAddrs[service] = adminAddr
	}
}

// close releases what Start opened when it fails before Run.
func (s *Stack) close() {
	for i := len(s.closers) - 1; i >= 0; i-- {
		s.closers[i]()
	}
	if s.nats != nil {
		s.nats.Shutdown()
		s.nats.WaitForShutdown()
	}
}

// Run serves every service until ctx ends or one fails, then stops them in stages:
// each stage is told to stop only once every stage before it has returned, so the
// gateway drains while the services behind it still answer, and NATS stops last.
func (s *Stack) Run(ctx context.Context) error {
	defer s.close()
	err := runStages(ctx, s.stages, s.logger)
	if errors.Is(err, context.Canceled) {
		return nil
	}
	return err
}

func stageNames(stage []runner) string {
	names := make([]string, len(stage))
	for i, r := range stage {
		names[i] = r.name
	}
	return strings.Join(names, ", ")
}

// runStages runs every runner of every stage at once. The first stage stops when
// ctx ends or any runner fails; each later stage when the one before it returned.
func runStages(ctx context.Context, stages [][]runner, logger *slog.Logger) error {
	ctxs := make([]context.Context, len(stages))
	cancels := make([]context.CancelFunc, len(stages))
	for i := range stages {
		parent := ctx
		if i > 0 {
			parent = context.WithoutCancel(ctx)
		}
		ctxs[i], cancels[i] = context.WithCancel(parent)
		defer cancels[i]()
	}
	var mu sync.Mutex
	var errs []error
	done := make([]chan struct{}, len(stages))
	for i, stage := range stages {
		done[i] = make(chan struct{})
		var wg sync.WaitGroup
		for _, r := range stage {
			wg.Add(1)
			go func() {
				defer wg.Done()
				if err := r.run(ctxs[i]); err != nil && !errors.Is(err, context.Canceled) {
					mu.Lock()
					errs = append(errs, fmt.Errorf("%s: %w", r.name, err))
					mu.Unlock()
					cancels[0]()
				}
			}()
		}
		go func() { wg.Wait(); close(done[i]) }()
	}
	for i := range stages {
		select {
		case <-ctxs[i].Done():
			logger.Info("stopping", slog.String("services", stageNames(stages[i])))
		case <-done[i]:
		}
		<-done[i]
		if i+1 < len(stages) {
			cancels[i+1]()
		}
	}
	return errors.Join(errs...)
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
