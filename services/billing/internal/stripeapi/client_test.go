package stripeapi_test

import (
	"context"
	"errors"
	"log/slog"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/firmflow/firmflow/pkg/telemetry"
	"github.com/firmflow/firmflow/pkg/telemetry/telemetrytest"
	"github.com/firmflow/firmflow/services/billing/internal/stripeapi"
	"github.com/firmflow/firmflow/services/billing/stripetest"
)

var tel *telemetry.Telemetry

func TestMain(m *testing.M) {
	tel = telemetrytest.Setup("billing-test")
	stripetest.Main(m)
}

const firmID = "0b0e5f6e-4c2a-4a37-9d0b-1f0e7f4b2a11"

func newClient(t *testing.T, timeout time.Duration) (*stripeapi.Client, *stripetest.Stripe) {
	t.Helper()
	s := stripetest.New(t)
	return stripeapi.New(stripeapi.Config{
		APIKey: "sk_test_123", URL: s.URL, Timeout: timeout, MaxRetries: 2, Logger: slog.New(slog.DiscardHandler),
	}), s
}

func TestEveryCallBillingMakesIsOneStripeAccepts(t *testing.T) {
	t.Parallel()
	c, s := newClient(t, 10*time.Second)
	ctx := context.Background()

	customer, err := c.CreateCustomer(ctx, firmID)
	if err != nil || !strings.HasPrefix(customer, "cus_") {
		t.Fatalf("CreateCustomer = %q, %v", customer, err)
	}
	url, _, err := c.CreateCheckoutSession(ctx, stripeapi.Checkout{
		FirmID: firmID, CustomerID: customer, PriceID: "price_standard", Seats: 3,
		SuccessURL: "https://app.example/billing?checkout=success", CancelURL: "https://app.example/billing", TrialDays: 14, Key: "k1",
	})
	if err != nil || !strings.HasPrefix(url, "https://") {
		t.Fatalf("CreateCheckoutSession = %q, %v", url, err)
	}
	if url, err := c.CreatePortalSession(ctx, customer, "https://app.example/billing"); err != nil || url == "" {
		t.Fatalf("CreatePortalSession = %q, %v", url, err)
	}
	o, err := c.Subscription(ctx, "sub_123")
	if err != nil || o.ID != "sub_123" || !o.Current || o.Status == "" || o.ItemID == "" {
		t.Fatalf("Subscription = %+v, %v", o, err)
	}
	if err := c.SetSeats(ctx, o.ItemID, 4, stripeapi.SeatsKey("evt")); err != nil {
		t.Fatalf("SetSeats: %v", err)
	}
	for _, now := range []bool{false, true} {
		if _, err := c.Cancel(ctx, "sub_123", now); err != nil {
			t.Fatalf("Cancel(immediately=%v): %v", now, err)
		}
	}
	if _, _, err := c.Invoices(ctx, customer, "", 10); err != nil {
		t.Fatalf("Invoices: %v", err)
	}
	if err := c.Events(ctx, time.Now().Add(-time.Hour), func(stripeapi.Event) error { return nil }); err != nil {
		t.Fatalf("Events: %v", err)
	}

	checkout := s.Requests(http.MethodPost, "/v1/checkout/sessions")[0]
	for field, want := range map[string]string{
		"mode": "subscription", "customer": customer, "client_reference_id": firmID,
		"line_items[0][price]": "price_standard", "line_items[0][quantity]": "3",
		"subscription_data[trial_period_days]": "14",
	} {
		if got := checkout.Form.Get(field); got != want {
			t.Errorf("checkout %s = %q, want %q", field, got, want)
		}
	}
	for _, r := range s.Requests("", "") {
		for field := range r.Form {
			if strings.Contains(field, "card") || strings.Contains(field, "cvc") || strings.Contains(field, "number") {
				t.Errorf("%s %s sends %s: billing never handles card details", r.Method, r.Path, field)
			}
		}
	}
}

func TestChangesCarryTheirIdempotencyKeys(t *testing.T) {
	t.Parallel()
	c, s := newClient(t, 10*time.Second)
	ctx := context.Background()
	if _, err := c.CreateCustomer(ctx, firmID); err != nil {
		t.Fatal(err)
	}
	if err := c.SetSeats(ctx, "si_1", 2, stripeapi.SeatsKey("evt_9")); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Cancel(ctx, "sub_1", false); err != nil {
		t.Fatal(err)
	}
	for path, want := range map[string]string{
		"/v1/customers":               "firmflow-customer-" + firmID,
		"/v1/subscription_items/si_1": "firmflow-seats-evt_9",
		"/v1/subscriptions/sub_1":     "firmflow-cancel-at-period-end-sub_1",
	} {
		rs := s.Requests(http.MethodPost, path)
		if len(rs) != 1 || rs[0].IdempotencyKey != want {
			t.Errorf("POST %s: %d requests, key %q; want one with %q", path, len(rs), keyOf(rs), want)
		}
	}
}

func TestAHangingStripeIsRetriedWithTheSameKey(t *testing.T) {
	t.Parallel()
	c, s := newClient(t, time.Second)
	s.Hang(http.MethodPost, "/v1/subscription_items/", 1)
	if err := c.SetSeats(context.Background(), "si_1", 5, stripeapi.SeatsKey("evt_7")); err != nil {
		t.Fatalf("SetSeats after one timeout: %v", err)
	}
	rs := s.Requests(http.MethodPost, "/v1/subscription_items/si_1")
	if len(rs) < 2 {
		t.Fatalf("%d attempts, want a timed-out one and its retry", len(rs))
	}
	for i, r := range rs {
		if r.IdempotencyKey != "firmflow-seats-evt_7" {
			t.Errorf("attempt %d key %q; every attempt must carry the event's key", i+1, r.IdempotencyKey)
		}
	}
}

func TestFailuresSayWhetherToRetry(t *testing.T) {
	t.Parallel()
	c, s := newClient(t, 10*time.Second)
	s.Fail(http.MethodPost, "/v1/customers", 1)
	if _, err := c.CreateCustomer(context.Background(), firmID); !errors.Is(err, stripeapi.ErrUnavailable) {
		t.Errorf("503 from Stripe: err = %v, want ErrUnavailable", err)
	}
}

func keyOf(rs []stripetest.Request) string {
	if len(rs) == 0 {
		return ""
	}
	return rs[0].IdempotencyKey
}
