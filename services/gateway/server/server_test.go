package server_test

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"strings"
	"testing"

	natsserver "github.com/nats-io/nats-server/v2/server"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/health"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"

	"github.com/firmflow/firmflow/pkg/config"
	"github.com/firmflow/firmflow/pkg/gen/openapi"
	"github.com/firmflow/firmflow/pkg/natsx"
	"github.com/firmflow/firmflow/pkg/natsx/natstest"
	"github.com/firmflow/firmflow/pkg/principal"
	"github.com/firmflow/firmflow/pkg/tlsconf"
	"github.com/firmflow/firmflow/services/gateway/server"
)

// stack is a running gateway with a stand-in for the services' gRPC ports that
// answers health checks over mTLS, as theirs do, and a NATS server of its own.
type stack struct {
	gateway *server.Server
	health  *health.Server
	client  *http.Client
	pki     *tlsconf.DevPKI
	nats    *natsserver.Server
}

// startGateway runs a gateway whose services all answer at the health stand-in,
// identity too unless identityAddr names another address.
func startGateway(t *testing.T, identityAddr string) *stack {
	t.Helper()
	pki, err := tlsconf.EnsureDevPKI(t.TempDir(), []string{"gateway", "identity"})
	if err != nil {
		t.Fatal(err)
	}
	st := &stack{pki: pki}
	servicesAddr := st.startHealthService(t)
	if identityAddr == "" {
		identityAddr = servicesAddr
	}
	st.nats, err = natsx.RunEmbedded(natsx.EmbeddedOptions{Port: -1, StoreDir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.nats.Shutdown(); st.nats.WaitForShutdown() })

	_, publicKey, err := principal.EnsureKeyPair(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	var cfg server.Config
	err = config.LoadFrom(&cfg, map[string]string{
		"FIRMFLOW_NATS_URL":             st.nats.ClientURL(),
		"FIRMFLOW_PRINCIPAL_PUBLIC_KEY": publicKey,
		"FIRMFLOW_GATEWAY_ADDR":         "127.0.0.1:0",
		"FIRMFLOW_GATEWAY_ADMIN_ADDR":   "127.0.0.1:0",
		"FIRMFLOW_GATEWAY_TLS_CERT":     pki.CertFile("gateway"),
		"FIRMFLOW_GATEWAY_TLS_KEY":      pki.KeyFile("gateway"),
		"FIRMFLOW_GATEWAY_CLIENT_CERT":  pki.CertFile("gateway"),
		"FIRMFLOW_GATEWAY_CLIENT_KEY":   pki.KeyFile("gateway"),
		"FIRMFLOW_TLS_CA":               pki.CAFile,
		"FIRMFLOW_IDENTITY_ADDR":        identityAddr,
		"FIRMFLOW_WORKFLOW_ADDR":        servicesAddr,
		"FIRMFLOW_BILLING_ADDR":         servicesAddr,
		"FIRMFLOW_AUDIT_ADDR":           servicesAddr,
		"FIRMFLOW_LIFECYCLE_ADDR":       servicesAddr,
		"FIRMFLOW_GATEWAY_BODY_LIMIT":   "64",
	})
	if err != nil {
		t.Fatal(err)
	}
	logger := slog.New(slog.NewTextHandler(io.Discard, nil))
	ctx, cancel := context.WithCancel(context.Background())
	gw, err := server.New(ctx, cfg, logger)
	if err != nil {
		cancel()
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- gw.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Run: %v", err)
		}
	})
	st.gateway = gw
	st.client = httpsClient(t, pki.CAFile, tls.VersionTLS12)
	return st
}

// startHealthService serves the gRPC health service with identity's certificate,
// requiring client certificates from our CA.
func (st *stack) startHealthService(t *testing.T) string {
	t.Helper()
	tlsConfig, err := tlsconf.MutualServerConfig(st.pki.CAFile, st.pki.CertFile("identity"), st.pki.KeyFile("identity"))
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := grpc.NewServer(grpc.Creds(credentials.NewTLS(tlsConfig)))
	st.health = health.NewServer()
	healthpb.RegisterHealthServer(srv, st.health)
	go func() { _ = srv.Serve(ln) }()
	t.Cleanup(srv.Stop)
	return ln.Addr().String()
}

func httpsClient(t *testing.T, caFile string, maxVersion uint16) *http.Client {
	t.Helper()
	pem, err := os.ReadFile(caFile)
	if err != nil {
		t.Fatal(err)
	}
	roots := x509.NewCertPool()
	roots.AppendCertsFromPEM(pem)
	client := &http.Client{Transport: &http.Transport{
		TLSClientConfig: &tls.Config{RootCAs: roots, MinVersion: tls.VersionTLS10, MaxVersion: maxVersion},
	}}
	t.Cleanup(client.CloseIdleConnections)
	return client
}

func (st *stack) get(t *testing.T, path string) *http.Response {
	t.Helper()
	res, err := st.client.Get("https://" + st.gateway.Addr() + path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { res.Body.Close() })
	return res
}

func TestGatewayServesHealthAndOpenAPIOverHTTPS(t *testing.T) {
	st := startGateway(t, "")

	health := st.get(t, "/healthz")
	if health.StatusCode != http.StatusOK {
		t.Errorf("/healthz: %d", health.StatusCode)
	}
	if health.Header.Get("Strict-Transport-Security") == "" || health.Header.Get("X-Request-Id") == "" {
		t.Errorf("/healthz lacks HSTS or a request id: %v", health.Header)
	}

	for path, want := range map[string]struct {
		contentType string
		body        []byte
	}{"/openapi.json": {"application/json", openapi.JSON}, "/openapi.yaml": {"application/yaml", openapi.YAML}} {
		doc := st.get(t, path)
		body, _ := io.ReadAll(doc.Body)
		if doc.StatusCode != http.StatusOK || doc.Header.Get("Content-Type") != want.contentType || !bytes.Equal(body, want.body) {
			t.Errorf("%s: %d %q, %d bytes", path, doc.StatusCode, doc.Header.Get("Content-Type"), len(body))
		}
	}
}

func TestReadyOnlyWhileNATSAndEveryServiceServe(t *testing.T) {
	st := startGateway(t, "")
	adminReady := func() (int, string) {
		t.Helper()
		res, err := http.Get("http://" + st.gateway.AdminAddr() + "/readyz")
		if err != nil {
			t.Fatal(err)
		}
		defer res.Body.Close()
		body, _ := io.ReadAll(res.Body)
		return res.StatusCode, strings.TrimSpace(string(body))
	}

	st.health.SetServingStatus("", healthpb.HealthCheckResponse_SERVING)
	if res := st.get(t, "/readyz"); res.StatusCode != http.StatusOK {
		t.Errorf("/readyz with every service serving: %d, want 200", res.StatusCode)
	}
	if code, body := adminReady(); code != http.StatusOK {
		t.Errorf("admin /readyz with every service serving: %d %q, want 200", code, body)
	}

	st.health.SetServingStatus("", healthpb.HealthCheckResponse_NOT_SERVING)
	if res := st.get(t, "/readyz"); res.StatusCode != http.StatusServiceUnavailable {
		t.Errorf("/readyz with the services not serving: %d, want 503", res.StatusCode)
	}
	if code, body := adminReady(); code != http.StatusServiceUnavailable || body != "not ready: identity, workflow, billing, audit, lifecycle" {
		t.Errorf("admin /readyz with the services not serving: %d %q, want 503 naming each", code, body)
	}

	// Every request needs JetStream for its access event: without NATS the gateway
	// is not ready even though every service is.
	st.health.SetServingStatus("", healthpb.HealthCheckResponse_SERVING)
	st.nats.Shutdown()
	st.nats.WaitForShutdown()
	if code, body := adminReady(); code != http.StatusServiceUnavailable || body != "not ready: nats" {
		t.Errorf("admin /readyz with NATS stopped: %d %q, want 503 naming nats", code, body)
	}
	if res := st.get(t, "/readyz"); res.StatusCode != http.StatusServiceUnavailable {
		t.Errorf("/readyz with NATS stopped: %d, want 503", res.StatusCode)
	}
}

func TestIdentityUnreachableIs503WithoutInternals(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	deadAddr := ln.Addr().String()
	ln.Close() // nothing listens there now
	st := startGateway(t, deadAddr)

	req, _ := http.NewRequest(http.MethodPost, "https://"+st.gateway.Addr()+"/v1/login", strings.NewReader(`{"email":"ada@example.com","password":"pw"}`))
	req.Header.Set("Content-Type", "application/json")
	res, err := st.client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()

	var body struct {
		Error struct {
			Code    int    `json:"code"`
			Status  string `json:"status"`
			Message string `json:"message"`
		} `json:"error"`
	}
	if err := json.NewDecoder(res.Body).Decode(&body); err != nil {
		t.Fatal(err)
	}
	if res.StatusCode != http.StatusServiceUnavailable || body.Error.Status != "UNAVAILABLE" {
		t.Errorf("got %d %+v, want 503 UNAVAILABLE", res.StatusCode, body.Error)
	}
	if strings.Contains(body.Error.Message, "127.0.0.1") || strings.Contains(body.Error.Message, "dial") {
		t.Errorf("message %q describes our network", body.Error.Message)
	}
	if res := st.get(t, "/readyz"); res.StatusCode != http.StatusServiceUnavailable {
		t.Errorf("/readyz: %d, want 503", res.StatusCode)
	}
}

func TestBodyOverLimitIsRefusedThroughTheWholeStack(t *testing.T) {
	st := startGateway(t, "")
	req, _ := http.NewRequest(http.MethodPost, "https://"+st.gateway.Addr()+"/v1/signup",
		strings.NewReader(`{"firm_display_name":"`+strings.Repeat("x", 100)+`"}`))
	req.Header.Set("Content-Type", "application/json")

	res, err := st.client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()

	if res.StatusCode != http.StatusBadRequest {
		t.Errorf("status = %d, want 400", res.StatusCode)
	}
}

func TestGatewaySpeaksOnlyModernTLS(t *testing.T) {
	st := startGateway(t, "")

	old := httpsClient(t, st.pki.CAFile, tls.VersionTLS11)
	if res, err := old.Get("https://" + st.gateway.Addr() + "/healthz"); err == nil {
		res.Body.Close()
		t.Error("a TLS 1.1 client was served")
	}

	plain, err := http.Get("http://" + st.gateway.Addr() + "/healthz")
	if err == nil {
		plain.Body.Close()
		if plain.StatusCode == http.StatusOK {
			t.Error("a plain-HTTP request was served")
		}
	}
}

func TestRunReturnsWhenContextEnds(t *testing.T) {
	pki, err := tlsconf.EnsureDevPKI(t.TempDir(), []string{"gateway"})
	if err != nil {
		t.Fatal(err)
	}
	_, publicKey, err := principal.EnsureKeyPair(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	cfg := server.Config{
		Shared: config.Shared{NATSURL: natstest.Start(t), PublicKeyFile: publicKey, TLSCA: pki.CAFile, StreamMaxAge: natsx.DefaultStreamMaxAge},
		Addr:   "127.0.0.1:0", TLSCert: pki.CertFile("gateway"), TLSKey: pki.KeyFile("gateway"),
		ClientCert: pki.CertFile("gateway"), ClientKey: pki.KeyFile("gateway"),
		IdentityAddr: "127.0.0.1:9", WorkflowAddr: "127.0.0.1:9", AuditAddr: "127.0.0.1:9", BillingAddr: "127.0.0.1:9", LifecycleAddr: "127.0.0.1:9", BodyLimit: 1 << 20,
		IPRate: 1, IPBurst: 1, CredentialRate: 1, CredentialBurst: 1,
	}
	ctx, cancel := context.WithCancel(context.Background())
	gw, err := server.New(ctx, cfg, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		t.Fatal(err)
	}
	if gw.AdminAddr() != "" {
		t.Errorf("admin listener %s with AdminAddr empty", gw.AdminAddr())
	}
	// Cancelled before Run starts: Run must still leave nothing listening, even when
	// its servers had not begun to serve when it shut them down.
	cancel()
	done := make(chan error, 1)
	go func() { done <- gw.Run(ctx) }()

	if err := <-done; err != nil {
		t.Errorf("Run = %v, want nil after a clean shutdown", err)
	}
	if _, err := net.Dial("tcp", gw.Addr()); err == nil {
		t.Error("the listener still accepts connections after Run returned")
	}
}

func TestConfigDefaultsWorkAndBadValuesAreNamed(t *testing.T) {
	var cfg server.Config
	if err := config.LoadFrom(&cfg, map[string]string{}); err != nil {
		t.Fatalf("defaults: %v", err)
	}
	if cfg.Addr != "127.0.0.1:8443" || cfg.IdentityAddr != "127.0.0.1:9101" || cfg.BodyLimit != 1<<20 ||
		cfg.IPRate != 20 || cfg.IPBurst != 40 || cfg.CredentialRate != 50 || cfg.CredentialBurst != 100 ||
		len(cfg.CORSOrigins) != 1 || cfg.CORSOrigins[0] != "http://localhost:5173" || len(cfg.TrustedProxies) != 0 {
		t.Errorf("defaults = %+v", cfg)
	}

	cases := map[string]map[string]string{
		"FIRMFLOW_CORS_ORIGINS":       {"FIRMFLOW_CORS_ORIGINS": "*"},
		"FIRMFLOW_TRUSTED_PROXIES":    {"FIRMFLOW_TRUSTED_PROXIES": "10.0.0.0/8,not-a-network"},
		"FIRMFLOW_GATEWAY_BODY_LIMIT": {"FIRMFLOW_GATEWAY_BODY_LIMIT": "-1"},
		"FIRMFLOW_GATEWAY_IP_RATE":    {"FIRMFLOW_GATEWAY_IP_RATE": "0"},
	}
	for variable, env := range cases {
		t.Run(variable, func(t *testing.T) {
			var cfg server.Config
			err := config.LoadFrom(&cfg, env)
			if err == nil || !strings.Contains(err.Error(), variable) {
				t.Errorf("error = %v, want one naming %s", err, variable)
			}
		})
	}
}

func TestNewRefusesMissingCertificates(t *testing.T) {
	var cfg server.Config
	if err := config.LoadFrom(&cfg, map[string]string{"FIRMFLOW_GATEWAY_TLS_CERT": "/nonexistent/gateway.pem"}); err != nil {
		t.Fatal(err)
	}
	cfg.Addr = "127.0.0.1:0"
	_, err := server.New(context.Background(), cfg, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err == nil {
		t.Fatal("New succeeded without a certificate")
	}
	var pathErr *os.PathError
	if !errors.As(err, &pathErr) {
		t.Errorf("error = %v, want the missing file", err)
	}
}
