package stripeapi

import (
	"context"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"
)

func TestOperationsNameTheCallNotTheObject(t *testing.T) {
	t.Parallel()
	tests := []struct{ method, path, want string }{
		{http.MethodPost, "/v1/customers", "POST /v1/customers"},
		{http.MethodPost, "/v1/subscription_items/si_1", "POST /v1/subscription_items/{id}"},
		{http.MethodGet, "/v1/subscriptions/sub_NffrFeUfNV2Hib", "GET /v1/subscriptions/{id}"},
		{http.MethodPost, "/v1/billing_portal/sessions", "POST /v1/billing_portal/sessions"},
		{http.MethodGet, "/v1/invoices", "GET /v1/invoices"},
	}
	for _, tt := range tests {
		if got := operation(httptest.NewRequest(tt.method, tt.path, nil)); got != tt.want {
			t.Errorf("operation(%s %s) = %q, want %q", tt.method, tt.path, got, tt.want)
		}
	}
}

// http.Client enforces its Timeout twice, with the request context's deadline and
// with a timer that cancels that context: when the timer wins, the context says
// Canceled, not DeadlineExceeded, and the attempt still timed out.
func TestAnAttemptCanceledAtItsDeadlineCountsAsATimeout(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithDeadline(context.Background(), time.Now().Add(5*time.Millisecond))
	cancel()
	time.Sleep(10 * time.Millisecond) // past the deadline the client's timer acted on
	if got := failure(ctx, nil, context.Canceled); got != "timeout" {
		t.Errorf("failure(canceled at its deadline) = %q, want timeout", got)
	}

	early, cancelEarly := context.WithDeadline(context.Background(), time.Now().Add(time.Hour))
	cancelEarly()
	if got := failure(early, nil, context.Canceled); got != "network" {
		t.Errorf("failure(canceled long before its deadline) = %q, want network", got)
	}
}
