// Package svc is what every firmflow service process is made of: its database pool,
// its NATS connection and stream, the outbox relay, the gRPC server with the standard
// interceptors, and the admin port. A service's server package adds its own use cases
// and handlers on top and calls Run.
package svc

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"os"
	"strings"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"golang.org/x/sync/errgroup"
	"google.golang.org/grpc"
	"google.golang.org/grpc/health"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"

	"github.com/firmflow/firmflow/pkg/config"
	"github.com/firmflow/firmflow/pkg/fieldcrypt"
	"github.com/firmflow/firmflow/pkg/natsx"
	"github.com/firmflow/firmflow/pkg/outbox"
	"github.com/firmflow/firmflow/pkg/paging"
	"github.com/firmflow/firmflow/pkg/pg"
	"github.com/firmflow/firmflow/pkg/principal"
	"github.com/firmflow/firmflow/pkg/readiness"
	"github.com/firmflow/firmflow/pkg/rpc"
	"github.com/firmflow/firmflow/pkg/telemetry"
	"github.com/firmflow/firmflow/pkg/tlsconf"
)

// Options are the settings every service has; each service's Config maps its own
// environment variables onto them.
type Options struct {
	config.Shared        // the CA, identity's public key and NATS, as every service has them
	Name          string // "identity", "workflow", ...
	GRPCAddr      string
	AdminAddr     string // empty or "off" disables the admin port
	DatabaseURL   string // runtime role
	TLSCert       string
	TLSKey        string
	// SyncStream marks the service's stream as one that carries audit or money.
	SyncStream bool
	Telemetry  *telemetry.Telemetry

	// PageTokenSecretFile holds the secret page tokens are sealed with (pkg/paging),
	// the same for every replica; empty seals with a random key, which suits a single
	// replica whose tokens need not outlive it.
	PageTokenSecretFile string
}

// Runtime is a service's connections and servers, ready to run.
type Runtime struct {
	DB        *pg.DB
	NATS      *nats.Conn
	JetStream jetstream.JetStream
	GRPC      *grpc.Server

	opts      Options
	logger    *slog.Logger
	health    *health.Server
	listeners rpc.Listeners
	relay     *outbox.Relay
	probes    readiness.Probes
	closers   []func()
}

// Start connects to PostgreSQL and NATS, ensures the service's stream, builds the gRPC
// server and binds the listeners. On error everything opened is closed again.
func Start(ctx context.Context, opts Options, logger *slog.Logger) (_ *Runtime, err error) {
	r := &Runtime{opts: opts, logger: logger}
	defer func() {
		if err != nil {
			r.close()
		}
	}()
	publicKey, err := principal.LoadPublicKey(opts.PublicKeyFile)
	if err != nil {
		return nil, fmt.Errorf("load principal public key: %w", err)
	}
	if opts.PageTokenSecretFile != "" {
		if err := paging.SetKeyFile(opts.PageTokenSecretFile); err != nil {
			return nil, err
		}
	}
	tlsConfig, err := tlsconf.MutualServerConfig(opts.TLSCA, opts.TLSCert, opts.TLSKey)
	if err != nil {
		return nil, err
	}
	if r.DB, err = pg.Open(ctx, opts.DatabaseURL); err != nil {
		return nil, err
	}
	r.closers = append(r.closers, r.DB.Close)
	if err := r.DB.ObservePool(opts.Name); err != nil {
		return nil, err
	}
	backlog, err := outbox.ObserveBacklog(r.DB, opts.Name)
	if err != nil {
		return nil, err
	}
	r.closers = append(r.closers, func() { _ = backlog.Unregister() })
	if r.NATS, r.JetStream, err = natsx.Connect(opts.NATSURL, opts.Name); err != nil {
		return nil, err
	}
	r.closers = append(r.closers, r.NATS.Close)
	if _, err := natsx.EnsureStream(ctx, r.JetStream, natsx.ServiceStream(opts.Name, opts.SyncStream, opts.StreamMaxAge)); err != nil {
		return nil, err
	}
	if r.GRPC, r.health, err = rpc.NewServer(rpc.ServerConfig{
		TLS: tlsConfig, Verifier: principal.NewVerifier(publicKey), Logger: logger,
	}); err != nil {
		return nil, err
	}
	adminAddr := opts.AdminAddr
	if config.Off(adminAddr) {
		adminAddr = ""
	}
	if r.listeners, err = rpc.Listen(opts.GRPCAddr, adminAddr); err != nil {
		return nil, err
	}
	r.relay = outbox.NewRelay(r.DB, r.JetStream, logger, outbox.RelayOptions{})
	r.probes = readiness.Probes{
		{Name: "database", Check: r.DB.Ping},
		{Name: "nats", Check: natsx.Ready(r.NATS, r.JetStream)},
	}
	return r, nil
}

// AddProbe adds a dependency /readyz checks beside the database and NATS (the key
// store, for the services that hold firms' keys).
func (r *Runtime) AddProbe(name string, check func(context.Context) error) {
	r.probes = append(r.probes, readiness.Probe{Name: name, Check: check})
}

// Addr is the bound gRPC address.
func (r *Runtime) Addr() string { return r.listeners.GRPC.Addr().String() }

// AdminAddr is the bound admin address, or "" when the admin port is off.
func (r *Runtime) AdminAddr() string {
	if r.listeners.Admin == nil {
		return ""
	}
	return r.listeners.Admin.Addr().String()
}

// Run serves gRPC and the admin port and runs the outbox relay and any extra workers
// (event consumers, schedulers) until ctx ends or one of them fails.
func (r *Runtime) Run(ctx context.Context, workers ...func(context.Context) error) error {
	defer r.close()
	r.health.SetServingStatus("", healthpb.HealthCheckResponse_SERVING)
	var admin *http.Server
	if r.listeners.Admin != nil {
		admin = telemetry.AdminServer(r.AdminAddr(), r.opts.Telemetry, r.probes.Check)
	}
	r.logger.InfoContext(ctx, r.opts.Name+" serving", slog.String("addr", r.Addr()), slog.String("admin_addr", r.AdminAddr()))
	g, ctx := errgroup.WithContext(ctx)
	g.Go(func() error { return r.relay.Run(ctx) })
	g.Go(func() error { return rpc.Serve(ctx, r.GRPC, admin, r.listeners) })
	for _, w := range workers {
		g.Go(func() error { return w(ctx) })
	}
	return g.Wait()
}

func (r *Runtime) close() {
	if r.listeners.GRPC != nil {
		r.listeners.GRPC.Close()
	}
	if r.listeners.Admin != nil {
		r.listeners.Admin.Close()
	}
	for i := len(r.closers) - 1; i >= 0; i-- {
		r.closers[i]()
	}
	r.closers = nil
}

// LoadKEK reads the base64 key-encryption key from a file.
func LoadKEK(path string) (*fieldcrypt.KEK, error) {
	text, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read key-encryption key: %w", err)
	}
	kek, err := fieldcrypt.ParseKEK(strings.TrimSpace(string(text)))
	if err != nil {
		return nil, fmt.Errorf("key-encryption key in %s: %w", path, err)
	}
	return kek, nil
}
