// Package harness runs the whole system for tests and benchmarks that drive it over
// HTTPS as the single-page app and a CRM integration do: real PostgreSQL, embedded
// NATS, a Stripe that keeps state (stripefake in front of stripe-mock), an SMTP server
// catching identity's email, every service on its own port with mutual TLS, the gateway as
// the only door. The end-to-end tests share one System per package (each test isolated
// by its own firm); the load benchmark boots its own.
package harness

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/cookiejar"
	"os"
	"strings"
	"sync"
	"time"

	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"

	"github.com/firmflow/firmflow/cmd/firmflow/internal/stack"
	identityv1 "github.com/firmflow/firmflow/pkg/gen/firmflow/identity/v1"
	"github.com/firmflow/firmflow/pkg/mail/mailtest"
	"github.com/firmflow/firmflow/pkg/pg"
	"github.com/firmflow/firmflow/pkg/pg/pgtest"
	"github.com/firmflow/firmflow/pkg/telemetry"
	audit "github.com/firmflow/firmflow/services/audit/server"
	"github.com/firmflow/firmflow/services/billing/stripefake"
	"github.com/firmflow/firmflow/services/billing/stripetest"
	gateway "github.com/firmflow/firmflow/services/gateway/server"
	identity "github.com/firmflow/firmflow/services/identity/server"
	lifecycle "github.com/firmflow/firmflow/services/lifecycle/server"
	workflow "github.com/firmflow/firmflow/services/workflow/server"
)

// StripeWebhookSecret is the webhook signing secret billing is given.
const StripeWebhookSecret = "whsec_e2e"

// Password is every test user's password.
const Password = "correct horse battery staple"

// Options adjust a System.
type Options struct {
	// Tune adjusts the gateway configuration after the defaults for tests (limits per
	// client address lifted: every caller shares 127.0.0.1).
	Tune func(*gateway.Config)
	// WorkflowAddr fixes workflow's gRPC address (a benchmark calls it directly);
	// empty picks a free port.
	WorkflowAddr string
	// DataDir keeps the TLS material, keys and NATS store; empty makes a temporary
	// directory that Stop removes.
	DataDir string
	// Logger receives every service's logs; nil keeps them in System.Logs.
	Logger *slog.Logger
	// Telemetry serves the services' /metrics (every service in the process shares
	// it); nil leaves the admin ports without metrics.
	Telemetry *telemetry.Telemetry
	// AdminDatabaseURL is the PostgreSQL server the databases are made in, as a
	// superuser; empty is the machine's (pgtest.AdminURL). The backup drill gives
	// its private cluster.
	AdminDatabaseURL string
	// AuditTuning adjusts audit's configuration.
	AuditTuning func(*audit.Config)
	// LifecycleTuning adjusts lifecycle's configuration (every address and file
	// already filled in).
	LifecycleTuning func(*lifecycle.Config)
	// WorkflowTuning adjusts workflow's configuration.
	WorkflowTuning func(*workflow.Config)
	// DatabasePrefix names the databases (prefix + service); empty makes a random
	// one. A rebuild from backups boots on the databases of the system it replaces.
	DatabasePrefix string
}

// Environ is the environment the services of a test stack read: every listener,
// admin ports included, on a free port (workflow's at workflowAddr), and nothing
// from the process environment, so a developer's FIRMFLOW_* variables do not change
// what tests see.
func Environ(workflowAddr string) map[string]string {
	env := map[string]string{}
	for _, service := range stack.Services {
		prefix := "FIRMFLOW_" + strings.ToUpper(service)
		env[prefix+"_ADDR"], env[prefix+"_ADMIN_ADDR"] = "127.0.0.1:0", "127.0.0.1:0"
	}
	env["FIRMFLOW_WORKFLOW_ADDR"] = workflowAddr
	return env
}

// System is a running stack and what a caller needs to reach it.
type System struct {
	Stack *stack.Stack
	URL   string // the gateway's https:// base URL
	CA    *x509.CertPool
	NATS  string
	// Logs holds every service's logs at debug level (unless Options.Logger was set).
	Logs *Logs
	// Stripe is what billing talks to: a recording proxy to stripefake, which keeps
	// the state of what billing made, in front of stripe-mock.
	Stripe *stripetest.Stripe
	// Mail is the SMTP server identity sends to, in this process.
	Mail *mailtest.Server
	// MailAPI is the base URL of a Mailpit-like API over Mail's messages, which the
	// README's examples read tokens from as they do from Mailpit under `make run`.
	MailAPI string

	stop func() error
}

// Boot starts a System with its own databases, data dir, NATS, Stripe proxy and ports,
// and waits until the gateway is ready.
func Boot(opts Options) (_ *System, err error) {
	suffix := make([]byte, 4)
	_, _ = rand.Read(suffix)
	prefix := "test_e2e_" + hex.EncodeToString(suffix) + "_"
	if opts.DatabasePrefix != "" {
		prefix = opts.DatabasePrefix
	}
	sys := &System{Logs: &Logs{}}
	var undo []func() error
	sys.stop = func() error {
		var errs []error
		for i := len(undo) - 1; i >= 0; i-- {
			errs = append(errs, undo[i]())
		}
		undo = nil
		return errors.Join(errs...)
	}
	defer func() {
		if err != nil {
			err = errors.Join(err, sys.stop())
		}
	}()

	logger := opts.Logger
	if logger == nil {
		logger = slog.New(slog.NewJSONHandler(sys.Logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	dataDir := opts.DataDir
	if dataDir == "" {
		if dataDir, err = os.MkdirTemp("", "firmflow-e2e-"); err != nil {
			return nil, err
		}
		undo = append(undo, func() error { return os.RemoveAll(dataDir) })
	}
	stripe, stopStripe, err := stripetest.StartFake()
	if err != nil {
		return nil, fmt.Errorf("stripe-mock: %w", err)
	}
	sys.Stripe = stripe
	undo = append(undo, func() error { stopStripe(); return nil })

	adminURL := opts.AdminDatabaseURL
	if adminURL == "" {
		adminURL = pgtest.AdminURL()
	}
	smtp, err := mailtest.Start()
	if err != nil {
		return nil, err
	}
	sys.Mail = smtp
	mailAPI := smtp.MailpitAPI()
	sys.MailAPI = mailAPI.URL
	undo = append(undo, func() error { mailAPI.Close(); smtp.Stop(); return nil })

	workflowAddr := opts.WorkflowAddr
	if workflowAddr == "" {
		workflowAddr = "127.0.0.1:0"
	}
	ctx, cancel := context.WithCancel(context.Background())
	s, err := stack.Start(ctx, stack.Options{
		AdminDatabaseURL: adminURL, DatabasePrefix: prefix, DataDir: dataDir,
		NATSPort: -1, Environ: Environ(workflowAddr),
		StripeAPIURL: stripe.URL, StripeWebhookSecret: StripeWebhookSecret,
		GatewayTuning: func(c *gateway.Config) {
			c.IPRate, c.IPBurst = 10000, 10000
			if opts.Tune != nil {
				opts.Tune(c)
			}
		},
		IdentityTuning: func(c *identity.Config) {
			c.SMTPAddr, c.SMTPTLS = smtp.Addr, "none"
			c.MailInterval, c.MailRetryMin = 50*time.Millisecond, 100*time.Millisecond
		},
		AuditTuning:     opts.AuditTuning,
		LifecycleTuning: opts.LifecycleTuning,
		LocalWebhooks:   true,
		WorkflowTuning: func(c *workflow.Config) {
			c.WebhookTimeout = 2 * time.Second
			if opts.WorkflowTuning != nil {
				opts.WorkflowTuning(c)
			}
		},
		Logger:    logger,
		Telemetry: opts.Telemetry,
	})
	if err != nil {
		cancel()
		return nil, fmt.Errorf("start stack: %w", err)
	}
	sys.Stack, sys.URL, sys.NATS = s, s.GatewayURL, s.NATSURL
	done := make(chan error, 1)
	go func() { done <- s.Run(ctx) }()
	undo = append(undo, func() error {
		cancel()
		errs := []error{<-done}
		for _, db := range s.Databases {
			errs = append(errs, pg.DropDatabase(context.Background(), adminURL, db))
		}
		return errors.Join(errs...)
	})

	pem, err := os.ReadFile(s.Material.PKI.CAFile)
	if err != nil {
		return nil, err
	}
	sys.CA = x509.NewCertPool()
	sys.CA.AppendCertsFromPEM(pem)
	// Stripe's events reach billing through the gateway, as Stripe's servers send them.
	stripe.Fake.DeliverTo(sys.URL+"/v1/billing/stripe/webhook", StripeWebhookSecret, stripefake.TrustingClient(s.Material.PKI.CAFile))
	readyCtx, readyCancel := context.WithTimeout(ctx, 60*time.Second)
	defer readyCancel()
	if err := stack.WaitReady(readyCtx, func(ctx context.Context) error {
		resp, err := sys.HTTPClient(nil).Get(sys.URL + "/readyz")
		if err != nil {
			return err
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			return fmt.Errorf("readyz %d", resp.StatusCode)
		}
		return nil
	}); err != nil {
		return nil, fmt.Errorf("stack never became ready: %w", err)
	}
	return sys, nil
}

// Stop stops every service, drops the databases and removes what Boot made.
func (s *System) Stop() error { return s.stop() }

// HTTPClient trusts the system's CA; jar may be nil.
func (s *System) HTTPClient(jar http.CookieJar) *http.Client {
	return &http.Client{
		Jar:     jar,
		Timeout: 30 * time.Second,
		Transport: &http.Transport{
			TLSClientConfig:     &tls.Config{RootCAs: s.CA, MinVersion: tls.VersionTLS12},
			ForceAttemptHTTP2:   true,
			MaxIdleConnsPerHost: 64,
		},
	}
}

// Logs is a log sink safe for concurrent writers.
type Logs struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *Logs) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *Logs) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// Tail is the last lines of s.
func Tail(s string, lines int) string {
	parts := strings.Split(s, "\n")
	if len(parts) > lines {
		parts = parts[len(parts)-lines:]
	}
	return strings.Join(parts, "\n")
}

// Client is one caller: a browser (cookie jar + CSRF token) or an integration
// (bearer API key).
type Client struct {
	HTTP   *http.Client
	URL    string
	CSRF   string
	Bearer string
	Origin string
	// Header holds further request headers (If-Match), sent as they are.
	Header http.Header
}

// Browser is a caller with a cookie jar, as the single-page app.
func (s *System) Browser() *Client {
	jar, _ := cookiejar.New(nil)
	return &Client{HTTP: s.HTTPClient(jar), URL: s.URL}
}

// Integration is a caller with an API key, as a CRM integration.
func (s *System) Integration(apiKey string) *Client {
	return &Client{HTTP: s.HTTPClient(nil), URL: s.URL, Bearer: apiKey}
}

// Response is a reply, undecoded.
type Response struct {
	Status int
	Header http.Header
	Raw    []byte
}

// Decode reads the JSON body into v.
func (r Response) Decode(v any) error { return json.Unmarshal(r.Raw, v) }

// Message reads the JSON body into the operation's generated message: an unknown
// field or a wrong type is an error, so a reply that strays from the contract shows.
func (r Response) Message(m proto.Message) error { return protojson.Unmarshal(r.Raw, m) }

// Do sends a request; body may be nil, a string or []byte (sent as is) or a value to
// encode as JSON. Only a transport failure is an error.
func (c *Client) Do(method, path string, body any) (Response, error) {
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
			return Response{}, err
		}
		reader = bytes.NewReader(data)
	}
	req, err := http.NewRequest(method, c.URL+path, reader)
	if err != nil {
		return Response{}, err
	}
	if reader != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if c.CSRF != "" {
		req.Header.Set("X-CSRF-Token", c.CSRF)
	}
	if c.Bearer != "" {
		req.Header.Set("Authorization", "Bearer "+c.Bearer)
	}
	if c.Origin != "" {
		req.Header.Set("Origin", c.Origin)
	}
	for name, values := range c.Header {
		req.Header[name] = values
	}
	resp, err := c.HTTP.Do(req)
	if err != nil {
		return Response{}, fmt.Errorf("%s %s: %w", method, path, err)
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	return Response{Status: resp.StatusCode, Header: resp.Header, Raw: raw}, err
}

// The error body is the one reply that is not a generated message.
type (
	// ErrorReply is the gateway's error body (google.rpc.Status as JSON).
	ErrorReply struct {
		Error struct {
			Code    int    `json:"code"`
			Status  string `json:"status"`
			Message string `json:"message"`
			Details []struct {
				Type            string `json:"@type"`
				Reason          string `json:"reason"`
				FieldViolations []struct {
					Field string `json:"field"`
				} `json:"field_violations"`
			} `json:"details"`
		} `json:"error"`
	}
)

// Reason is the ErrorInfo reason, or "".
func (e ErrorReply) Reason() string {
	for _, d := range e.Error.Details {
		if strings.HasSuffix(d.Type, "ErrorInfo") {
			return d.Reason
		}
	}
	return ""
}

// Fields lists the fields the violations name.
func (e ErrorReply) Fields() []string {
	var out []string
	for _, d := range e.Error.Details {
		for _, v := range d.FieldViolations {
			out = append(out, v.Field)
		}
	}
	return out
}

// Firm is a signed-up firm and its owner's signed-in browser.
type Firm struct {
	Name   string // firms/{id}
	Owner  string // firms/{id}/members/{id}
	Email  string
	Client *Client
}

// ID is the firm's id, the last segment of its name.
func (f Firm) ID() string { return strings.TrimPrefix(f.Name, "firms/") }

// SignUp creates a firm whose owner's email is unique to this call (label plus a
// random suffix), so callers sharing a System never collide, and signs the owner in.
func (s *System) SignUp(label string) (Firm, error) {
	suffix := make([]byte, 3)
	_, _ = rand.Read(suffix)
	domain := label + "-" + hex.EncodeToString(suffix)
	email := "owner@" + domain + ".example"
	c := s.Browser()
	r, err := c.Do("POST", "/v1/signup", map[string]any{
		"firm_display_name": label + " Bookkeeping", "email": email, "display_name": "Owner of " + label, "password": Password,
	})
	if err != nil {
		return Firm{}, err
	}
	signed := &identityv1.SignUpResponse{}
	if r.Status != http.StatusCreated || r.Message(signed) != nil {
		return Firm{}, fmt.Errorf("sign up %s: %d %s", label, r.Status, r.Raw)
	}
	if _, err := c.Login(email, Password, ""); err != nil {
		return Firm{}, err
	}
	return Firm{Name: signed.GetFirm().GetName(), Owner: signed.GetOwner().GetName(), Email: email, Client: c}, nil
}

// Login signs the browser in and keeps the CSRF token for writes; code is a TOTP code
// or "". A refusal is an error carrying the status.
func (c *Client) Login(email, password, code string) (Response, error) {
	body := map[string]any{"email": email, "password": password}
	if code != "" {
		body["totp_code"] = code
	}
	r, err := c.Do("POST", "/v1/login", body)
	if err != nil {
		return r, err
	}
	reply := &identityv1.LoginResponse{}
	if r.Status != http.StatusOK || r.Message(reply) != nil {
		return r, fmt.Errorf("login %s: %d %s", email, r.Status, r.Raw)
	}
	c.CSRF = reply.GetCsrfToken()
	return r, nil
}
