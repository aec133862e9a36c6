package stripeapi_test

import (
	"context"
	"net/http"
	"testing"
	"time"

	"github.com/firmflow/firmflow/pkg/telemetry/telemetrytest"
	"github.com/firmflow/firmflow/services/billing/internal/stripeapi"
)

// Not parallel: it counts the package's Stripe calls while it runs, and parallel
// tests only start once the sequential ones are done.
func TestStripeAttemptsAreTimedAndFailuresCountedByReason(t *testing.T) {
	c, s := newClient(t, time.Second)
	ctx := context.Background()
	scrape := func() telemetrytest.Metrics { return telemetrytest.Scrape(t, tel) }
	const createCustomer, setSeats = "POST /v1/customers", "POST /v1/subscription_items/{id}"
	before := scrape()
	attempts := func(m telemetrytest.Metrics, op string) float64 {
		v, _ := m.Value("firmflow_stripe_request_duration_seconds", "operation", op)
		was, _ := before.Value("firmflow_stripe_request_duration_seconds", "operation", op)
		return v - was
	}
	failures := func(m telemetrytest.Metrics, op, reason string) float64 {
		v, _ := m.Value("firmflow_stripe_request_errors_total", "operation", op, "reason", reason)
		was, _ := before.Value("firmflow_stripe_request_errors_total", "operation", op, "reason", reason)
		return v - was
	}

	if _, err := c.CreateCustomer(ctx, firmID); err != nil {
		t.Fatal(err)
	}
	s.Fail(http.MethodPost, "/v1/customers", 1)
	_, _ = c.CreateCustomer(ctx, firmID)
	s.Hang(http.MethodPost, "/v1/subscription_items/", 1)
	if err := c.SetSeats(ctx, "si_1", 5, stripeapi.SeatsKey("evt_metrics")); err != nil {
		t.Fatalf("SetSeats after one timeout: %v", err)
	}

	m := scrape()
	if n := attempts(m, createCustomer); n < 2 {
		t.Errorf("%v attempts to create a customer timed, want at least 2", n)
	}
	if n := failures(m, createCustomer, "server_error"); n != 1 {
		t.Errorf("server errors creating a customer went up by %v, want 1", n)
	}
	if n := attempts(m, setSeats); n < 2 {
		t.Errorf("%v attempts to set seats timed, want the timed-out one and its retry", n)
	}
	if n := failures(m, setSeats, "timeout"); n != 1 {
		t.Errorf("timeouts setting seats went up by %v, want 1", n)
	}
	if sum := m.Sum("firmflow_stripe_request_duration_seconds", "operation", setSeats); sum < 1 {
		t.Errorf("set-seats attempts took %.3fs in all, want at least the 1s timeout", sum)
	}
}
