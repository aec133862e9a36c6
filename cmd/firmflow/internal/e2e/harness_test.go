// Package e2e drives the whole system over HTTPS the way the single-page app and a
// CRM integration do: real PostgreSQL, embedded NATS, every service on its own port
// with mutual TLS, and the gateway as the only door.
package e2e

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"encoding/hex"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/cookiejar"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/firmflow/firmflow/cmd/firmflow/internal/stack"
	"github.com/firmflow/firmflow/pkg/pg"
	"github.com/firmflow/firmflow/pkg/pg/pgtest"
	"github.com/firmflow/firmflow/services/billing/stripetest"
	gateway "github.com/firmflow/firmflow/services/gateway/server"
)

// system is a running stack and what the test needs to reach it.
type system struct {
	t     *testing.T
	stack *stack.Stack
	url   string
	ca    *x509.CertPool
	nats  string
	logs  *syncBuffer
	// stripe is the Stripe billing talks to: stripe-mock behind a recording proxy.
	stripe *stripetest.Stripe
}

type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// start brings up a private stack: its own databases, data dir, NATS and ports.
func start(t *testing.T, tune func(*gateway.Config)) *system {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	suffix := make([]byte, 4)
	_, _ = rand.Read(suffix)
	prefix := "test_e2e_" + hex.EncodeToString(suffix) + "_"
	logs := &syncBuffer{}
	logger := slog.New(slog.NewJSONHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug}))

	// Tests share one client address, so the per-address limit is raised unless a
	// test tunes it itself.
	tuning := func(c *gateway.Config) {
		c.IPRate, c.IPBurst = 10000, 10000
		if tune != nil {
			tune(c)
		}
	}
	stripe := stripetest.New(t)
	s, err := stack.Start(ctx, stack.Options{
		AdminDatabaseURL: pgtest.AdminURL(), DatabasePrefix: prefix, DataDir: t.TempDir(),
		NATSPort: -1, GatewayAddr: "127.0.0.1:0", IdentityAddr: "127.0.0.1:0", WorkflowAddr: "127.0.0.1:0",
		StripeAPIURL: stripe.URL, StripeWebhookSecret: stripeWebhookSecret,
		GatewayTuning: tuning, Logger: logger,
	})
	if err != nil {
		cancel()
		t.Fatalf("start stack: %v", err)
	}
	done := make(chan error, 1)
	go func() { done <- s.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("stack stopped with: %v", err)
		}
		for _, db := range s.Databases {
			if err := pg.DropDatabase(context.Background(), pgtest.AdminURL(), db); err != nil {
				t.Errorf("drop %s: %v", db, err)
			}
		}
		if t.Failed() {
			t.Logf("stack logs:\n%s", tail(logs.String(), 60))
		}
	})

	pem, err := os.ReadFile(s.Material.PKI.CAFile)
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(pem)
	sys := &system{t: t, stack: s, url: s.GatewayURL, ca: pool, nats: s.NATSURL, logs: logs, stripe: stripe}
	readyCtx, readyCancel := context.WithTimeout(ctx, 20*time.Second)
	defer readyCancel()
	if err := stack.WaitReady(readyCtx, func(ctx context.Context) error {
		resp, err := sys.httpClient(nil).Get(sys.url + "/readyz")
		if err != nil {
			return err
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			return io.EOF
		}
		return nil
	}); err != nil {
		t.Fatalf("stack never became ready: %v", err)
	}
	return sys
}

func tail(s string, lines int) string {
	parts := strings.Split(s, "\n")
	if len(parts) > lines {
		parts = parts[len(parts)-lines:]
	}
	return strings.Join(parts, "\n")
}

func (s *system) httpClient(jar http.CookieJar) *http.Client {
	return &http.Client{
		Jar:     jar,
		Timeout: 30 * time.Second,
		Transport: &http.Transport{
			TLSClientConfig:   &tls.Config{RootCAs: s.ca, MinVersion: tls.VersionTLS12},
			ForceAttemptHTTP2: true,
		},
	}
}

// client is one caller: a browser (cookie jar + CSRF token) or an integration
// (bearer API key).
type client struct {
	sys    *system
	http   *http.Client
	csrf   string
	bearer string
	origin string
}

func (s *system) browser() *client {
	jar, _ := cookiejar.New(nil)
	return &client{sys: s, http: s.httpClient(jar)}
}

func (s *system) integration(apiKey string) *client {
	return &client{sys: s, http: s.httpClient(nil), bearer: apiKey}
}

// response is a decoded reply.
type response struct {
	status int
	header http.Header
	body   map[string]any
	raw    []byte
}

func (r response) str(path ...string) string {
	v := r.get(path...)
	s, _ := v.(string)
	return s
}

func (r response) get(path ...string) any {
	var v any = r.body
	for _, p := range path {
		m, ok := v.(map[string]any)
		if !ok {
			return nil
		}
		v = m[p]
	}
	return v
}

func (r response) list(key string) []map[string]any {
	items, _ := r.body[key].([]any)
	out := make([]map[string]any, 0, len(items))
	for _, it := range items {
		if m, ok := it.(map[string]any); ok {
			out = append(out, m)
		}
	}
	return out
}

// reason is the ErrorInfo reason of an error response.
func (r response) reason() string {
	details, _ := r.get("error", "details").([]any)
	for _, d := range details {
		if m, ok := d.(map[string]any); ok && strings.HasSuffix(m["@type"].(string), "ErrorInfo") {
			s, _ := m["reason"].(string)
			return s
		}
	}
	return ""
}

// fields lists the fields named by an error response's violations.
func (r response) fields() []string {
	var out []string
	details, _ := r.get("error", "details").([]any)
	for _, d := range details {
		m, _ := d.(map[string]any)
		vs, _ := m["field_violations"].([]any)
		for _, v := range vs {
			if fv, ok := v.(map[string]any); ok {
				out = append(out, fv["field"].(string))
			}
		}
	}
	return out
}

// do sends a request; body may be nil, a string (sent as is) or a value to encode.
func (c *client) do(method, path string, body any) response {
	c.sys.t.Helper()
	var reader io.Reader
	switch b := body.(type) {
	case nil:
	case string:
		reader = strings.NewReader(b)
	case []byte:
		reader = bytes.NewReader(b)
	default:
		data, err := json.Marshal(b)
		if err != nil {
			c.sys.t.Fatal(err)
		}
		reader = bytes.NewReader(data)
	}
	req, err := http.NewRequest(method, c.sys.url+path, reader)
	if err != nil {
		c.sys.t.Fatal(err)
	}
	if reader != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if c.csrf != "" {
		req.Header.Set("X-CSRF-Token", c.csrf)
	}
	if c.bearer != "" {
		req.Header.Set("Authorization", "Bearer "+c.bearer)
	}
	if c.origin != "" {
		req.Header.Set("Origin", c.origin)
	}
	resp, err := c.http.Do(req)
	if err != nil {
		c.sys.t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	out := response{status: resp.StatusCode, header: resp.Header, raw: raw}
	if len(raw) > 0 {
		_ = json.Unmarshal(raw, &out.body)
	}
	return out
}

// want fails the test unless the response has the status.
func want(t *testing.T, r response, status int, what string) response {
	t.Helper()
	if r.status != status {
		t.Fatalf("%s: status %d, want %d; body %s", what, r.status, status, truncate(string(r.raw), 600))
	}
	return r
}

func truncate(s string, n int) string {
	if len(s) > n {
		return s[:n] + "..."
	}
	return s
}

const password = "correct horse battery staple"

// firm is a signed-up firm and its owner's browser.
type firm struct {
	name   string // firms/{id}
	owner  string // firms/{id}/members/{id}
	email  string
	client *client
}

func (s *system) signUp(t *testing.T, label string) firm {
	t.Helper()
	email := "owner@" + label + ".example"
	c := s.browser()
	r := want(t, c.do("POST", "/v1/signup", map[string]any{
		"firm_display_name": label + " Bookkeeping", "email": email, "display_name": "Owner of " + label, "password": password,
	}), http.StatusCreated, "sign up "+label)
	f := firm{name: r.str("firm", "name"), owner: r.str("owner", "name"), email: email, client: c}
	c.login(t, email, "")
	return f
}

// login signs the browser in and keeps the CSRF token for writes.
func (c *client) login(t *testing.T, email, code string) response {
	t.Helper()
	body := map[string]any{"email": email, "password": password}
	if code != "" {
		body["totp_code"] = code
	}
	r := want(t, c.do("POST", "/v1/login", body), http.StatusOK, "login "+email)
	c.csrf = r.str("csrf_token")
	return r
}
