// Package server is the gateway as a library: it wires the public HTTPS listener, the
// REST mux for each service's API and the middleware in front of it, used by
// cmd/gateway and by `firmflow dev`.
package server

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"time"

	"github.com/nats-io/nats.go"
	"go.opentelemetry.io/contrib/instrumentation/net/http/otelhttp"

	billingv1 "github.com/firmflow/firmflow/pkg/gen/firmflow/billing/v1"
	identityv1 "github.com/firmflow/firmflow/pkg/gen/firmflow/identity/v1"
	lifecyclev1 "github.com/firmflow/firmflow/pkg/gen/firmflow/lifecycle/v1"
	"github.com/firmflow/firmflow/pkg/gen/openapi"
	"github.com/firmflow/firmflow/pkg/natsx"
	"github.com/firmflow/firmflow/pkg/readiness"
	"github.com/firmflow/firmflow/pkg/telemetry"
	"github.com/firmflow/firmflow/pkg/tlsconf"
	"github.com/firmflow/firmflow/services/gateway/internal/httpapi"
)

// maxLimiterKeys bounds each rate limiter's table (clients, credentials): about
// 200 bytes a key, so some 20 MB at worst.
const maxLimiterKeys = 100_000

// Server is a gateway bound to its addresses, ready to Run.
type Server struct {
	cfg       Config
	logger    *slog.Logger
	upstreams upstreams
	nats      *nats.Conn
	access    httpapi.AccessPublisher
	// probes are what /readyz checks: NATS, where every access event must be
	// durable, and every service behind the gateway.
	probes readiness.Probes

	public   *http.Server
	listener net.Listener
	admin    *http.Server // nil when disabled
	adminLn  net.Listener
}

// New builds the gateway and binds its listeners, so Addr is known before Run. It
// does not wait for the services: the connections are made in the background, and
// /readyz says when they work.
func New(ctx context.Context, cfg Config, logger *slog.Logger) (*Server, error) {
	if err := cfg.Validate(); err != nil {
		return nil, fmt.Errorf("gateway configuration: %w", err)
	}
	publicTLS, err := tlsconf.ServerConfig(cfg.TLSCert, cfg.TLSKey)
	if err != nil {
		return nil, fmt.Errorf("gateway TLS: %w", err)
	}
	servicesTLS, err := tlsconf.ClientConfig(cfg.TLSCA, cfg.ClientCert, cfg.ClientKey)
	if err != nil {
		return nil, fmt.Errorf("gateway client TLS: %w", err)
	}
	// No reconnect buffer: during an outage an access event must fail at once (and the
	// client get 503), not wait in memory and arrive after the client was refused.
	nc, js, err := natsx.Connect(cfg.NATSURL, "gateway", nats.ReconnectBufSize(-1))
	if err != nil {
		return nil, err
	}
	if _, err := natsx.EnsureStream(ctx, js, natsx.ServiceStream("gateway", true, cfg.StreamMaxAge)); err != nil {
		nc.Close()
		return nil, fmt.Errorf("access event stream: %w", err)
	}
	up, err := dialUpstreams(cfg, servicesTLS)
	if err != nil {
		nc.Close()
		return nil, err
	}
	s := &Server{
		cfg: cfg, logger: logger, upstreams: up, nats: nc, access: js,
		probes: append(readiness.Probes{{Name: "nats", Check: natsx.Ready(nc, js)}}, up.probes()...),
	}
	handler, err := s.routes(ctx)
	if err != nil {
		return nil, errors.Join(err, s.closeUpstreams())
	}
	s.public = &http.Server{
		Handler:           handler,
		TLSConfig:         publicTLS,
		ReadHeaderTimeout: 5 * time.Second,
		ReadTimeout:       30 * time.Second,
		WriteTimeout:      60 * time.Second,
		IdleTimeout:       120 * time.Second,
		MaxHeaderBytes:    64 << 10,
		// Failed handshakes from scanners are routine on a public port: debug level.
		ErrorLog: slog.NewLogLogger(logger.Handler(), slog.LevelDebug),
	}
	if err := s.listen(ctx); err != nil {
		return nil, errors.Join(err, s.closeUpstreams())
	}
	s.upstreams.connect()
	return s, nil
}

// routes is the public handler: every request gets tracing, a request id and an
// access log line, security headers and CORS; API requests then pass the per-client
// rate limit, the per-credential rate limit, the body checks and authentication, in
// that order, so each costlier step runs only for requests the cheaper ones let by.
func (s *Server) routes(ctx context.Context) (http.Handler, error) {
	up := s.upstreams
	errs := httpapi.Errors{Logger: s.logger}
	rest := httpapi.NewREST(errs)
	if err := registerRoutes(ctx, rest, up); err != nil {
		return nil, err
	}
	perClient := httpapi.LimitClients(httpapi.NewRateLimiter(s.cfg.IPRate, s.cfg.IPBurst, maxLimiterKeys))
	perCredential := httpapi.LimitCredentials(httpapi.NewRateLimiter(s.cfg.CredentialRate, s.cfg.CredentialBurst, maxLimiterKeys))
	authenticate := httpapi.Authenticate(httpapi.CoalesceAuthentications(identityv1.NewAuthServiceClient(up["identity"])), errs)

	api := perClient(perCredential(httpapi.LimitBody(s.cfg.BodyLimit)(httpapi.RequireJSON(authenticate(rest)))))

	mux := http.NewServeMux()
	// Liveness is not rate-limited: a probe that got 429 would restart a healthy
	// gateway under load.
	mux.HandleFunc("GET /healthz", httpapi.Healthz)
	mux.Handle("GET /readyz", perClient(httpapi.Readyz(s.logger, s.probes.Check)))
	mux.Handle("GET /openapi.json", perClient(httpapi.OpenAPI("application/json", openapi.JSON)))
	mux.Handle("GET /openapi.yaml", perClient(httpapi.OpenAPI("application/yaml", openapi.YAML)))
	mux.Handle("/", api)
	// Export archives stream from lifecycle with Content-Length and Range, which the
	// REST mux cannot give a binary body; authenticated as every API route.
	mux.Handle(httpapi.ExportDownloadPattern, perClient(perCredential(authenticate(
		httpapi.ExportDownload(lifecyclev1.NewLifecycleServiceClient(up["lifecycle"]), errs)))))
	// Stripe's webhooks carry no firmflow credential and a body billing must get byte
	// for byte (Stripe signed those bytes): they skip authentication and the JSON
	// checks, and billing verifies the signature.
	mux.Handle("POST "+httpapi.StripeWebhookRoute, perClient(httpapi.StripeWebhook(
		billingv1.NewBillingWebhookServiceClient(up["billing"]), s.cfg.BodyLimit, errs)))

	var handler http.Handler = mux
	handler = httpapi.CORS(s.cfg.CORSOrigins)(handler)
	handler = httpapi.SecurityHeaders(handler)
	// Every response waits here until its access event is durable.
	handler = httpapi.RecordAccess(s.access, s.logger)(handler)
	// In front of the access write and the upstreams: under overload the excess is
	// refused within milliseconds instead of queueing until clients time out. A
	// refused request reached no service and no data, and is not an access event
	// (recording it would load the very write that is saturated); the log line and
	// the request metrics still count it.
	handler = httpapi.Admit(httpapi.NewConcurrencyLimit(httpapi.AdmissionOptions{Max: s.cfg.MaxInFlight}))(handler)
	handler = httpapi.Track(s.logger, httpapi.TrustedProxies(s.cfg.TrustedProxies))(handler)
	// Spans start named by method alone; RecordRoute adds the route once the REST
	// mux has matched one. Never the raw path, which holds resource ids.
	return otelhttp.NewHandler(handler, "gateway",
		otelhttp.WithSpanNameFormatter(func(_ string, r *http.Request) string { return r.Method }),
	), nil
}

func (s *Server) listen(ctx context.Context) error {
	var lc net.ListenConfig
	ln, err := lc.Listen(ctx, "tcp", s.cfg.Addr)
	if err != nil {
		return fmt.Errorf("listen on %s: %w", s.cfg.Addr, err)
	}
	s.listener = ln
	if !s.cfg.adminEnabled() {
		return nil
	}
	adminLn, err := lc.Listen(ctx, "tcp", s.cfg.AdminAddr)
	if err != nil {
		return errors.Join(fmt.Errorf("listen on %s: %w", s.cfg.AdminAddr, err), ln.Close())
	}
	s.adminLn = adminLn
	s.admin = telemetry.AdminServer(adminLn.Addr().String(), s.cfg.Telemetry, s.probes.Check)
	return nil
}

// Addr is the address the public HTTPS listener is bound to.
func (s *Server) Addr() string { return s.listener.Addr().String() }

// AdminAddr is the address the admin listener is bound to, or "" when it is off.
func (s *Server) AdminAddr() string {
	if s.adminLn == nil {
		return ""
	}
	return s.adminLn.Addr().String()
}

// Run serves until ctx ends, then stops taking requests, lets those in flight finish
// for up to the shutdown timeout, and closes the connection to identity. It returns
// early, with the error, if a listener fails.
func (s *Server) Run(ctx context.Context) error {
	failed := make(chan error, 2)
	serving := 1
	go func() { failed <- serveErr(s.public.ServeTLS(s.listener, "", "")) }()
	if s.admin != nil {
		serving++
		go func() { failed <- serveErr(s.admin.Serve(s.adminLn)) }()
	}
	s.logger.InfoContext(ctx, "gateway serving", slog.String("addr", s.Addr()), slog.String("admin_addr", s.AdminAddr()))

	var runErr error
	select {
	case <-ctx.Done():
	case runErr = <-failed:
		serving--
	}
	shutdownCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), s.cfg.shutdownTimeout())
	defer cancel()
	errs := []error{runErr, shutdown(shutdownCtx, s.public)}
	if s.admin != nil {
		errs = append(errs, shutdown(shutdownCtx, s.admin))
	}
	// A Serve that had not started when ctx ended was unknown to Shutdown: it returns
	// at once, closing its listener as it does. Waiting for every Serve means nothing
	// listens once Run has returned.
	for range serving {
		errs = append(errs, <-failed)
	}
	errs = append(errs, s.closeUpstreams())
	return errors.Join(errs...)
}

func serveErr(err error) error {
	if errors.Is(err, http.ErrServerClosed) {
		return nil
	}
	return fmt.Errorf("serve: %w", err)
}

func shutdown(ctx context.Context, srv *http.Server) error {
	if err := srv.Shutdown(ctx); err != nil {
		return errors.Join(fmt.Errorf("shutdown: %w", err), srv.Close())
	}
	return nil
}

func (s *Server) closeUpstreams() error {
	if s.nats != nil {
		s.nats.Close()
	}
	return s.upstreams.close()
}
