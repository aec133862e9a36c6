package stripetest

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/firmflow/firmflow/services/billing/stripefake"
)

// Request is one request billing made to Stripe.
type Request struct {
	Method         string
	Path           string
	IdempotencyKey string
	// Form is the request's parameters: the body of a POST, the query otherwise.
	Form url.Values
}

// Stripe is one test's view of Stripe: a proxy to stripe-mock (or to a Fake in front of it)
// that records requests.
type Stripe struct {
	// URL is the base URL to give the Stripe client.
	URL string
	// Fake holds Stripe's state when started with StartFake; nil otherwise.
	Fake *stripefake.Fake

	mu       sync.Mutex
	requests []Request
	faults   []fault
	events   []json.RawMessage
}

type fault struct {
	method, prefix string
	left           int
	hang           bool // hang until the client gives up; otherwise answer 500
}

// New starts a proxy to stripe-mock for the test.
func New(t testing.TB) *Stripe {
	t.Helper()
	s, stop, err := Start()
	if err != nil {
		t.Fatalf("stripe-mock: %v", err)
	}
	t.Cleanup(stop)
	return s
}

// Start is New for what outlives one test (a stack shared by a package's tests, set up
// in TestMain): stop closes the proxy.
func Start() (_ *Stripe, stop func(), err error) {
	return startProxy(false)
}

// StartFake is Start with a stripefake.Fake between the proxy and stripe-mock: the
// customers, Checkout sessions, subscriptions and invoices billing makes keep their
// state there, and stripe-mock answers the rest. The end-to-end stack runs on it.
func StartFake() (_ *Stripe, stop func(), err error) {
	return startProxy(true)
}

func startProxy(stateful bool) (_ *Stripe, stop func(), err error) {
	mockURL, err := startMock()
	if err != nil {
		return nil, nil, err
	}
	target, err := url.Parse(mockURL)
	if err != nil {
		return nil, nil, err
	}
	s := &Stripe{}
	var next http.Handler = httputil.NewSingleHostReverseProxy(target)
	if stateful {
		s.Fake = stripefake.NewFake("")
		s.Fake.Next, next = next, s.Fake
	}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s.serve(w, r, next)
	}))
	s.URL = srv.URL
	if s.Fake != nil {
		s.Fake.SetPagesURL(srv.URL)
	}
	return s, srv.Close, nil
}

func (s *Stripe) serve(w http.ResponseWriter, r *http.Request, proxy http.Handler) {
	body, _ := io.ReadAll(r.Body)
	r.Body = io.NopCloser(bytes.NewReader(body))
	form := r.URL.Query()
	if r.Method == http.MethodPost {
		form, _ = url.ParseQuery(string(body))
	}
	s.mu.Lock()
	s.requests = append(s.requests, Request{Method: r.Method, Path: r.URL.Path, IdempotencyKey: r.Header.Get("Idempotency-Key"), Form: form})
	f := s.takeFault(r.Method, r.URL.Path)
	events := s.events
	s.mu.Unlock()

	switch {
	case f != nil && f.hang:
		select {
		case <-r.Context().Done():
		case <-time.After(time.Minute):
		}
	case f != nil:
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("Stripe-Should-Retry", "false")
		w.WriteHeader(http.StatusServiceUnavailable)
		_, _ = w.Write([]byte(`{"error":{"type":"api_error","message":"stripetest: induced failure"}}`))
	case r.Method == http.MethodGet && r.URL.Path == "/v1/events" && events != nil:
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(map[string]any{"object": "list", "url": "/v1/events", "has_more": false, "data": events})
	default:
		proxy.ServeHTTP(w, r)
	}
}

func (s *Stripe) takeFault(method, path string) *fault {
	for i := range s.faults {
		f := &s.faults[i]
		if f.left > 0 && f.method == method && strings.HasPrefix(path, f.prefix) {
			f.left--
			return f
		}
	}
	return nil
}

// Hang makes the next n requests of method to paths starting with prefix hang until
// the client gives up, as a Stripe that does not answer in time.
func (s *Stripe) Hang(method, prefix string, n int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.faults = append(s.faults, fault{method: method, prefix: prefix, left: n, hang: true})
}

// Fail makes the next n requests of method to paths starting with prefix fail with
// 503 and Stripe-Should-Retry: false, so the client gives up at once.
func (s *Stripe) Fail(method, prefix string, n int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.faults = append(s.faults, fault{method: method, prefix: prefix, left: n})
}

// SetEvents makes GET /v1/events answer with these events (JSON objects), newest
// first as Stripe lists them.
func (s *Stripe) SetEvents(events ...[]byte) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.events = make([]json.RawMessage, 0, len(events))
	for _, e := range events {
		s.events = append(s.events, e)
	}
}

// Requests returns the requests of method to paths starting with prefix ("" for
// every request), in order.
func (s *Stripe) Requests(method, prefix string) []Request {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []Request
	for _, r := range s.requests {
		if (method == "" || r.Method == method) && strings.HasPrefix(r.Path, prefix) {
			out = append(out, r)
		}
	}
	return out
}
