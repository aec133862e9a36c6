package app

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"strconv"
	"syscall"
	"time"

	"github.com/firmflow/firmflow/services/workflow/internal/domain"
)

// WebhookConfig is how deliveries leave: which endpoints are allowed and how long
// one attempt may take.
type WebhookConfig struct {
	// AllowLoopback lets subscriptions name loopback addresses, for tests and a
	// developer's machine only.
	AllowLoopback bool
	// RootCAs, when set, replaces the system's roots for endpoints' certificates;
	// for tests and a developer's machine only.
	RootCAs *x509.CertPool
	// Timeout bounds one attempt; default 10s.
	Timeout time.Duration
	// Concurrency is how many deliveries are in flight at once; default 32.
	Concurrency int
}

// webhookSender sends deliveries over HTTPS to public addresses only.
type webhookSender struct {
	rules       domain.WebhookURLRules
	client      *http.Client
	timeout     time.Duration
	concurrency int
	due         chan struct{} // a delivery was queued: look now rather than at the next poll
}

// errAddressNotAllowed refuses a connection to a private, loopback, link-local or
// shared address, whatever name resolved to it.
var errAddressNotAllowed = errors.New("address not allowed")

func newWebhookSender(cfg WebhookConfig) *webhookSender {
	if cfg.Timeout <= 0 {
		cfg.Timeout = 10 * time.Second
	}
	if cfg.Concurrency <= 0 {
		cfg.Concurrency = 32
	}
	rules := domain.WebhookURLRules{AllowLoopback: cfg.AllowLoopback}
	dialer := &net.Dialer{
		Timeout: cfg.Timeout,
		// Checked on the address actually dialled, after DNS: a name that resolves
		// to a private address (or is made to later) is refused all the same.
		Control: func(_, address string, _ syscall.RawConn) error {
			host, _, err := net.SplitHostPort(address)
			if err != nil {
				return errAddressNotAllowed
			}
			ip, err := netip.ParseAddr(host)
			if err != nil || !domain.AddressAllowed(ip, rules) {
				return errAddressNotAllowed
			}
			return nil
		},
	}
	transport := &http.Transport{
		Proxy:                 nil, // never through a proxy, which would dial for us
		DialContext:           dialer.DialContext,
		TLSClientConfig:       &tls.Config{MinVersion: tls.VersionTLS12, RootCAs: cfg.RootCAs},
		TLSHandshakeTimeout:   cfg.Timeout,
		ResponseHeaderTimeout: cfg.Timeout,
		MaxIdleConnsPerHost:   cfg.Concurrency,
		IdleConnTimeout:       90 * time.Second,
		ForceAttemptHTTP2:     true,
	}
	return &webhookSender{
		rules: rules, timeout: cfg.Timeout, concurrency: cfg.Concurrency, due: make(chan struct{}, 1),
		client: &http.Client{
			Transport: transport,
			Timeout:   cfg.Timeout,
			// A redirect is the receiver's answer, not somewhere else to send to.
			CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
		},
	}
}

// ConfigureWebhooks sets how deliveries leave; call it before serving.
func (a *App) ConfigureWebhooks(cfg WebhookConfig) { a.webhooks = newWebhookSender(cfg) }

func (w *webhookSender) wake() {
	select {
	case w.due <- struct{}{}:
	default:
	}
}

// webhookPayload is the JSON body of a delivery (Standard Webhooks: type,
// timestamp, data). Names only: the receiver reads the object with its API key.
type webhookPayload struct {
	Type      string      `json:"type"`
	Timestamp time.Time   `json:"timestamp"`
	Data      webhookData `json:"data"`
}

type webhookData struct {
	Object        string   `json:"object"`
	ChangedFields []string `json:"changed_fields"`
	Sequence      int64    `json:"sequence"`
	ChangeCount   int      `json:"change_count"`
	Subscription  string   `json:"subscription"`
	Delivery      string   `json:"delivery"`
}

func webhookBody(d domain.WebhookDelivery) ([]byte, error) {
	fields := d.Change.ChangedFields
	if fields == nil {
		fields = []string{}
	}
	return json.Marshal(webhookPayload{
		Type: d.Change.Type, Timestamp: d.Change.OccurredAt.UTC(),
		Data: webhookData{
			Object: d.Change.Object, ChangedFields: fields, Sequence: d.Sequence, ChangeCount: d.ChangeCount,
			Subscription: WebhookSubscriptionName(d.FirmID, d.SubscriptionID),
			Delivery:     WebhookDeliveryName(d.FirmID, d.SubscriptionID, d.ID),
		},
	})
}

// send makes one attempt and says what came of it; the reason never holds the
// response body or anything of the request.
func (w *webhookSender) send(ctx context.Context, s domain.WebhookSubscription, d domain.WebhookDelivery, at time.Time) domain.AttemptOutcome {
	if problems := s.Problems(w.rules); len(problems) > 0 {
		return domain.AttemptOutcome{Err: "url not allowed: " + problems[0].Rule}
	}
	body, err := webhookBody(d)
	if err != nil {
		return domain.AttemptOutcome{Err: "payload"}
	}
	sigs, err := s.Signatures(d.MessageID(), at, body)
	if err != nil {
		return domain.AttemptOutcome{Err: "secret"}
	}
	ctx, cancel := context.WithTimeout(ctx, w.timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, s.URL, bytes.NewReader(body))
	if err != nil {
		return domain.AttemptOutcome{Err: "url"}
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("User-Agent", "firmflow-webhooks/1")
	req.Header.Set("webhook-id", d.MessageID())
	req.Header.Set("webhook-timestamp", strconv.FormatInt(at.Unix(), 10))
	req.Header.Set("webhook-signature", sigs)
	resp, err := w.client.Do(req)
	if err != nil {
		return domain.AttemptOutcome{Err: attemptError(err)}
	}
	defer resp.Body.Close()
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10)) // lets the connection be reused
	o := domain.AttemptOutcome{StatusCode: resp.StatusCode}
	switch {
	case resp.StatusCode >= 300 && resp.StatusCode < 400:
		o.Err = fmt.Sprintf("http %d: redirects are not followed", resp.StatusCode)
	case resp.StatusCode >= 400 || resp.StatusCode < 200:
		o.Err = fmt.Sprintf("http %d", resp.StatusCode)
	}
	return o
}

// attemptError is a short reason for a failed request, for the delivery log.
func attemptError(err error) string {
	var netErr net.Error
	var certErr *tls.CertificateVerificationError
	var urlErr *url.Error
	switch {
	case errors.Is(err, errAddressNotAllowed):
		return "address not allowed"
	case errors.Is(err, context.DeadlineExceeded), errors.As(err, &netErr) && netErr.Timeout():
		return "timeout"
	case errors.Is(err, syscall.ECONNREFUSED):
		return "connection refused"
	case errors.As(err, &certErr):
		return "tls: certificate not trusted"
	case errors.As(err, &urlErr) && errors.As(urlErr.Err, new(*net.DNSError)):
		return "dns lookup failed"
	}
	return "connection failed"
}
