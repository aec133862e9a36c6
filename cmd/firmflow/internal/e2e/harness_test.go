// Package e2e drives the whole system over HTTPS the way the single-page app and a
// CRM integration do: real PostgreSQL, embedded NATS, every service on its own port
// with mutual TLS, and the gateway as the only door.
//
// The package's tests share one stack, booted in TestMain; each test isolates itself
// by signing up its own firm (emails are unique per sign-up). A test that tunes the
// gateway or stops a dependency, or counts everything a stack did, gets a private one.
package e2e

import (
	"crypto/x509"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/cookiejar"
	"os"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"

	"github.com/firmflow/firmflow/cmd/firmflow/internal/e2e/harness"
	"github.com/firmflow/firmflow/cmd/firmflow/internal/stack"
	identityv1 "github.com/firmflow/firmflow/pkg/gen/firmflow/identity/v1"
	"github.com/firmflow/firmflow/pkg/rpc"
	"github.com/firmflow/firmflow/pkg/tlsconf"
	"github.com/firmflow/firmflow/services/billing/stripetest"
	gateway "github.com/firmflow/firmflow/services/gateway/server"
)

// shared is the stack every test without special needs runs against.
var shared *harness.System

// sharedTuning lifts the per-credential limit on the shared stack: tests send hundreds
// of requests a second as one caller and test what the API does, not its limits
// (TestGatewayLimitsAndBrowserRules tests those on a private stack).
func sharedTuning(c *gateway.Config) { unthrottled(c) }

func TestMain(m *testing.M) {
	stripetest.Run(func() int {
		var err error
		if shared, err = harness.Boot(harness.Options{Tune: sharedTuning}); err != nil {
			fmt.Fprintln(os.Stderr, "e2e: shared stack:", err)
			return 1
		}
		code := m.Run()
		if err := shared.Stop(); err != nil {
			fmt.Fprintln(os.Stderr, "e2e: stop shared stack:", err)
			if code == 0 {
				code = 1
			}
		}
		return code
	})
}

// system is one test's view of a running stack.
type system struct {
	t     *testing.T
	stack *stack.Stack
	url   string
	ca    *x509.CertPool
	nats  string
	logs  *harness.Logs
	// stripe is the Stripe billing talks to: a recording proxy to stripefake and
	// stripe-mock.
	stripe *stripetest.Stripe
	h      *harness.System
}

// start gives the test the shared stack; with tune set (the test adjusts the gateway)
// it boots a private one.
func start(t *testing.T, tune func(*gateway.Config)) *system {
	t.Helper()
	if tune == nil {
		return view(t, shared)
	}
	return startPrivate(t, tune)
}

// startPrivate boots a stack for this test alone: for tests that stop NATS, tune the
// gateway, or count every event a stack produced.
func startPrivate(t *testing.T, tune func(*gateway.Config)) *system {
	t.Helper()
	return startWith(t, harness.Options{Tune: tune})
}

// startWith boots a stack for this test alone with the options given.
func startWith(t *testing.T, opts harness.Options) *system {
	t.Helper()
	h, err := harness.Boot(opts)
	if err != nil {
		t.Fatal(err)
	}
	s := view(t, h)
	t.Cleanup(func() {
		if err := h.Stop(); err != nil {
			t.Errorf("stop stack: %v", err)
		}
	})
	return s
}

func view(t *testing.T, h *harness.System) *system {
	s := &system{t: t, stack: h.Stack, url: h.URL, ca: h.CA, nats: h.NATS, logs: h.Logs, stripe: h.Stripe, h: h}
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("stack logs:\n%s", harness.Tail(h.Logs.String(), 60))
		}
	})
	return s
}

func (s *system) httpClient(jar http.CookieJar) *http.Client { return s.h.HTTPClient(jar) }

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

// response is a reply as it came: tests read its body typed, with message (the
// operation's generated message) or decode (a small struct for what is no message).
type response struct {
	status int
	header http.Header
	raw    []byte
}

// message decodes the response body into M, the generated message the operation
// returns, failing the test on bad JSON or on a field the contract does not have: every
// typed read also checks that the REST reply fits the proto.
func message[M proto.Message](t *testing.T, r response) M {
	t.Helper()
	var zero M
	m := zero.ProtoReflect().Type().New().Interface().(M)
	decodeMessage(t, r, m)
	return m
}

// decodeMessage is message for a message whose type is known only at run time.
func decodeMessage(t *testing.T, r response, m proto.Message) {
	t.Helper()
	if err := protojson.Unmarshal(r.raw, m); err != nil {
		t.Fatalf("decode %T from %s: %v", m, truncate(string(r.raw), 300), err)
	}
}

// decode reads a body that is not a proto message (error bodies, JSON Lines records,
// the OpenAPI document) into a small struct T, failing the test when it does not fit.
func decode[T any](t *testing.T, r response) T {
	t.Helper()
	var v T
	if err := json.Unmarshal(r.raw, &v); err != nil {
		t.Fatalf("decode %T from %s: %v", v, truncate(string(r.raw), 300), err)
	}
	return v
}

// errorReply is the typed error body, or the zero value for another body.
func (r response) errorReply() harness.ErrorReply {
	var e harness.ErrorReply
	_ = json.Unmarshal(r.raw, &e)
	return e
}

// reason is the ErrorInfo reason of an error response.
func (r response) reason() string { return r.errorReply().Reason() }

// fields lists the fields named by an error response's violations.
func (r response) fields() []string { return r.errorReply().Fields() }

// do sends a request; body may be nil, a string (sent as is) or a value to encode.
func (c *client) do(method, path string, body any) response {
	c.sys.t.Helper()
	return c.doWith(method, path, body, nil)
}

// doWith is do with further request headers.
func (c *client) doWith(method, path string, body any, header http.Header) response {
	c.sys.t.Helper()
	hc := harness.Client{HTTP: c.http, URL: c.sys.url, CSRF: c.csrf, Bearer: c.bearer, Origin: c.origin, Header: header}
	r, err := hc.Do(method, path, body)
	if err != nil {
		c.sys.t.Fatal(err)
	}
	return response{status: r.Status, header: r.Header, raw: r.Raw}
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

const password = harness.Password

// firm is a signed-up firm and its owner's browser.
type firm struct {
	name   string // firms/{id}
	owner  string // firms/{id}/members/{id}
	email  string
	client *client
}

// signUp creates a firm (its owner's email unique to this call, so tests sharing a
// stack never collide) and signs the owner in.
func (s *system) signUp(t *testing.T, label string) firm {
	t.Helper()
	f, err := s.h.SignUp(label)
	if err != nil {
		t.Fatal(err)
	}
	c := &client{sys: s, http: f.Client.HTTP, csrf: f.Client.CSRF}
	return firm{name: f.Name, owner: f.Owner, email: f.Email, client: c}
}

// login signs the browser in and keeps the CSRF token for writes.
func (c *client) login(t *testing.T, email, code string) response {
	t.Helper()
	body := map[string]any{"email": email, "password": password}
	if code != "" {
		body["totp_code"] = code
	}
	r := want(t, c.do("POST", "/v1/login", body), http.StatusOK, "login "+email)
	c.csrf = message[*identityv1.LoginResponse](t, r).GetCsrfToken()
	return r
}

// Tokens as emails carry them.
const (
	invitationTokenPattern = `ffi_[A-Za-z0-9_-]{43}`
	resetTokenPattern      = `ffr_[A-Za-z0-9_-]{43}`
)

// mailToken waits for the email to `to` whose subject holds subject, as identity sent
// it over SMTP, and returns the token in its text.
func (s *system) mailToken(t *testing.T, to, subject, pattern string) string {
	t.Helper()
	m, err := s.h.Mail.Wait(to, subject, 20*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	token, err := m.Token(pattern)
	if err != nil {
		t.Fatal(err)
	}
	return token
}

// dialAs connects to a service's gRPC address as a holder of the named development
// certificate ("operator" for the operator tools, "gateway" to show what another
// service's certificate may not do).
func (s *system) dialAs(t *testing.T, certificate, addr string) *grpc.ClientConn {
	t.Helper()
	pki := s.stack.Material.PKI
	cfg, err := tlsconf.ClientConfig(pki.CAFile, pki.CertFile(certificate), pki.KeyFile(certificate))
	if err != nil {
		t.Fatal(err)
	}
	conn, err := rpc.Dial(addr, cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = conn.Close() })
	return conn
}
