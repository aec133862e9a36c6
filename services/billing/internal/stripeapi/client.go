// Package stripeapi is billing's door to Stripe: the few calls billing makes, each one
// that changes something sent with an idempotency key derived from what caused it, and
// their results turned into domain types; and the verification of webhook signatures.
// No card data ever passes here: cards are entered on Stripe's Checkout and Billing
// Portal pages, and billing asks Stripe for nothing that holds card details.
package stripeapi

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"time"

	"github.com/stripe/stripe-go/v76"
	"github.com/stripe/stripe-go/v76/client"
	"go.opentelemetry.io/contrib/instrumentation/net/http/otelhttp"

	"github.com/firmflow/firmflow/services/billing/internal/domain"
)

// Config says how to reach Stripe.
type Config struct {
	APIKey string
	// URL is the API's base URL; empty means Stripe itself. Tests point it at
	// stripe-mock.
	URL string
	// Timeout bounds each attempt; a timed-out attempt is retried with the same
	// idempotency key.
	Timeout time.Duration
	// MaxRetries is how many times a failed attempt is retried (network errors,
	// timeouts, 409, 429 and 5xx answers).
	MaxRetries int64
	Logger     *slog.Logger
}

// Client calls Stripe.
type Client struct {
	api *client.API
	now func() time.Time
}

// New returns a client. It holds no global state of stripe-go, so clients with
// different settings live side by side.
func New(cfg Config) *Client {
	logger := cfg.Logger
	if logger == nil {
		logger = slog.Default()
	}
	backend := &stripe.BackendConfig{
		HTTPClient: &http.Client{
			Timeout:   cfg.Timeout,
			Transport: otelhttp.NewTransport(meteredTransport{next: http.DefaultTransport}),
		},
		LeveledLogger:     quietLogger{logger: logger},
		MaxNetworkRetries: stripe.Int64(cfg.MaxRetries),
		EnableTelemetry:   stripe.Bool(false),
	}
	if cfg.URL != "" {
		backend.URL = stripe.String(cfg.URL)
	}
	return &Client{api: client.New(cfg.APIKey, stripe.NewBackendsWithConfig(backend)), now: time.Now}
}

// Idempotency keys: Stripe performs a request once per key (for 24 hours) and answers
// repeats with the first answer, so a retry, a redelivered event or a second replica
// racing the first can never create or charge twice.

// CustomerKey is the key of the firm's customer creation: one customer per firm.
func CustomerKey(firmID string) string { return "firmflow-customer-" + firmID }

// SeatsKey is the key of the seat change caused by an event (identity's or Stripe's).
func SeatsKey(eventID string) string { return "firmflow-seats-" + eventID }

// CheckoutKey is the key of a Checkout page requested with a client's request id.
func CheckoutKey(firmID, requestID string) string {
	return "firmflow-checkout-" + firmID + "-" + requestID
}

// CancelKey is the key of a cancellation of a subscription, one per kind.
func CancelKey(subscriptionID string, immediately bool) string {
	if immediately {
		return "firmflow-cancel-now-" + subscriptionID
	}
	return "firmflow-cancel-at-period-end-" + subscriptionID
}

// ErrUnavailable marks failures worth retrying later: Stripe unreachable, timing out,
// rate limiting or failing on its side.
var ErrUnavailable = errors.New("stripe is unavailable")

// ErrKeyReused marks a request whose idempotency key was used before with other
// parameters: a client reused a request id for a different request.
var ErrKeyReused = errors.New("idempotency key reused with other parameters")

// CreateCustomer creates the firm's Stripe customer and returns its id.
func (c *Client) CreateCustomer(ctx context.Context, firmID string) (string, error) {
	params := &stripe.CustomerParams{
		Description: stripe.String("firmflow firm " + firmID),
		Metadata:    map[string]string{"firm_id": firmID},
	}
	params.Context = ctx
	params.SetIdempotencyKey(CustomerKey(firmID))
	cus, err := c.api.Customers.New(params)
	if err != nil {
		return "", failed("create customer", err)
	}
	return cus.ID, nil
}

// Checkout is what a Checkout page is made for.
type Checkout struct {
	FirmID     string
	CustomerID string
	PriceID    string
	Seats      int64
	SuccessURL string
	CancelURL  string
	// TrialDays starts the subscription with a trial when positive.
	TrialDays int64
	// Key, when set, makes repeated requests return the same page.
	Key string
}

// CreateCheckoutSession makes a subscription Checkout page and returns its URL and
// expiry. The card is entered there, on Stripe's page.
func (c *Client) CreateCheckoutSession(ctx context.Context, in Checkout) (string, time.Time, error) {
	params := &stripe.CheckoutSessionParams{
		Mode:              stripe.String(string(stripe.CheckoutSessionModeSubscription)),
		Customer:          stripe.String(in.CustomerID),
		ClientReferenceID: stripe.String(in.FirmID),
		LineItems:         []*stripe.CheckoutSessionLineItemParams{{Price: stripe.String(in.PriceID), Quantity: stripe.Int64(in.Seats)}},
		SuccessURL:        stripe.String(in.SuccessURL),
		CancelURL:         stripe.String(in.CancelURL),
		CustomerUpdate: &stripe.CheckoutSessionCustomerUpdateParams{
			Name: stripe.String("auto"), Address: stripe.String("auto"),
		},
		SubscriptionData: &stripe.CheckoutSessionSubscriptionDataParams{
			Metadata: map[string]string{"firm_id": in.FirmID},
		},
	}
	if in.TrialDays > 0 {
		params.SubscriptionData.TrialPeriodDays = stripe.Int64(in.TrialDays)
	}
	params.Context = ctx
	if in.Key != "" {
		params.SetIdempotencyKey(in.Key)
	}
	s, err := c.api.CheckoutSessions.New(params)
	if err != nil {
		return "", time.Time{}, failed("create checkout session", err)
	}
	return s.URL, unix(s.ExpiresAt), nil
}

// CreatePortalSession makes a Billing Portal page for the customer and returns its URL.
func (c *Client) CreatePortalSession(ctx context.Context, customerID, returnURL string) (string, error) {
	params := &stripe.BillingPortalSessionParams{Customer: stripe.String(customerID), ReturnURL: stripe.String(returnURL)}
	params.Context = ctx
	s, err := c.api.BillingPortalSessions.New(params)
	if err != nil {
		return "", failed("create billing portal session", err)
	}
	return s.URL, nil
}

// Subscription fetches a subscription as it is now.
func (c *Client) Subscription(ctx context.Context, id string) (domain.Observation, error) {
	params := &stripe.SubscriptionParams{}
	params.Context = ctx
	s, err := c.api.Subscriptions.Get(id, params)
	if err != nil {
		return domain.Observation{}, failed("get subscription", err)
	}
	return c.current(s), nil
}

// SetSeats sets the quantity of the subscription's seat item, prorated.
func (c *Client) SetSeats(ctx context.Context, itemID string, seats int64, key string) error {
	params := &stripe.SubscriptionItemParams{
		Quantity:          stripe.Int64(seats),
		ProrationBehavior: stripe.String("create_prorations"),
	}
	params.Context = ctx
	params.SetIdempotencyKey(key)
	if _, err := c.api.SubscriptionItems.Update(itemID, params); err != nil {
		return failed("set seats", err)
	}
	return nil
}

// Cancel cancels a subscription at the end of its period or at once, and returns it
// as it is after that.
func (c *Client) Cancel(ctx context.Context, subscriptionID string, immediately bool) (domain.Observation, error) {
	var s *stripe.Subscription
	var err error
	if immediately {
		params := &stripe.SubscriptionCancelParams{}
		params.Context = ctx
		params.SetIdempotencyKey(CancelKey(subscriptionID, true))
		s, err = c.api.Subscriptions.Cancel(subscriptionID, params)
	} else {
		params := &stripe.SubscriptionParams{CancelAtPeriodEnd: stripe.Bool(true)}
		params.Context = ctx
		params.SetIdempotencyKey(CancelKey(subscriptionID, false))
		s, err = c.api.Subscriptions.Update(subscriptionID, params)
	}
	if err != nil {
		return domain.Observation{}, failed("cancel subscription", err)
	}
	return c.current(s), nil
}

// DeleteCustomer deletes the firm's Stripe customer, which also cancels whatever
// subscription it still has and removes its saved payment methods. A customer
// Stripe no longer has counts as deleted, so a retried deletion succeeds.
func (c *Client) DeleteCustomer(ctx context.Context, customerID string) error {
	params := &stripe.CustomerParams{}
	params.Context = ctx
	_, err := c.api.Customers.Del(customerID, params)
	var se *stripe.Error
	if errors.As(err, &se) && se.Code == stripe.ErrorCodeResourceMissing {
		return nil
	}
	if err != nil {
		return failed("delete customer", err)
	}
	return nil
}

// Invoices lists up to limit of the customer's invoices, newest first, after the
// invoice with id after ("" for the first page); more reports whether others follow.
func (c *Client) Invoices(ctx context.Context, customerID, after string, limit int) (invoices []domain.Invoice, more bool, err error) {
	params := &stripe.InvoiceListParams{Customer: stripe.String(customerID)}
	params.Context = ctx
	params.Limit = stripe.Int64(int64(limit))
	params.Single = true
	if after != "" {
		params.StartingAfter = stripe.String(after)
	}
	it := c.api.Invoices.List(params)
	for it.Next() && len(invoices) < limit {
		invoices = append(invoices, toInvoice(it.Invoice()))
	}
	if err := it.Err(); err != nil {
		return nil, false, failed("list invoices", err)
	}
	if meta := it.Meta(); meta != nil {
		more = meta.HasMore
	}
	return invoices, more, nil
}

// current is a fetched or just-changed subscription as an observation, timed by
// Stripe's clock (the response's Date header) so that it compares with event times.
func (c *Client) current(s *stripe.Subscription) domain.Observation {
	at := c.now()
	var raw []byte
	if s.LastResponse != nil {
		raw = s.LastResponse.RawJSON
		if d, err := http.ParseTime(s.LastResponse.Header.Get("Date")); err == nil {
			at = d
		}
	}
	return domain.Observation{Snapshot: snapshot(s, raw), At: at.UTC(), Current: true}
}

func toInvoice(in *stripe.Invoice) domain.Invoice {
	return domain.Invoice{
		ID: in.ID, Number: in.Number, Status: string(in.Status),
		AmountDue: in.AmountDue, AmountPaid: in.AmountPaid, Currency: string(in.Currency),
		CreateTime: unix(in.Created), PeriodStart: unix(in.PeriodStart), PeriodEnd: unix(in.PeriodEnd),
		HostedURL: in.HostedInvoiceURL, PDFURL: in.InvoicePDF,
	}
}

// failed describes a Stripe failure from Stripe's message, code and request id; never
// from the error's full JSON, which may carry a payment method's description.
func failed(op string, err error) error {
	var se *stripe.Error
	if !errors.As(err, &se) {
		return fmt.Errorf("stripe: %s: %w (%v)", op, ErrUnavailable, err)
	}
	msg := fmt.Sprintf("stripe: %s: %s %d %s: %s (request %s)", op, se.Type, se.HTTPStatusCode, se.Code, se.Msg, se.RequestID)
	switch {
	case se.Type == stripe.ErrorTypeIdempotency:
		return fmt.Errorf("%s: %w", msg, ErrKeyReused)
	case se.HTTPStatusCode >= 500, se.HTTPStatusCode == http.StatusTooManyRequests, se.HTTPStatusCode == http.StatusConflict:
		return fmt.Errorf("%s: %w", msg, ErrUnavailable)
	}
	return errors.New(msg)
}

func unix(seconds int64) time.Time {
	if seconds == 0 {
		return time.Time{}
	}
	return time.Unix(seconds, 0).UTC()
}

// quietLogger takes stripe-go's log lines at debug level and without their
// arguments: those can hold Stripe's error objects, which may describe a payment
// method. Failures are logged where billing handles them.
type quietLogger struct {
	logger *slog.Logger
}

func (q quietLogger) Debugf(format string, _ ...interface{}) { q.log(format) }
func (q quietLogger) Infof(format string, _ ...interface{})  { q.log(format) }
func (q quietLogger) Warnf(format string, _ ...interface{})  { q.log(format) }
func (q quietLogger) Errorf(format string, _ ...interface{}) { q.log(format) }

func (q quietLogger) log(format string) {
	q.logger.Debug("stripe client", slog.String("event", format))
}
