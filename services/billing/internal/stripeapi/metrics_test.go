package stripeapi

import (
	"context"
	"errors"
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

// http.Client enforces its Timeout on our transport twice, with the request
// context's deadline and with a Cancel channel its own timer closes at that
// deadline: when the channel wins, the transport says "request canceled" while the
// context is not done yet, and the attempt still timed out.
func TestAnAttemptFailedAtItsDeadlineCountsAsATimeout(t *testing.T) {
	t.Parallel()
	canceledByTimer := errors.New("net/http: request canceled")
	past := deadlineOnly{Context: context.Background(), deadline: time.Now().Add(-time.Millisecond)}
	if got := failure(past, nil, canceledByTimer); got != "timeout" {
		t.Errorf("failure(at its deadline, context not done yet) = %q, want timeout", got)
	}
	early, cancel := context.WithDeadline(context.Background(), time.Now().Add(time.Hour))
	cancel()
	if got := failure(early, nil, context.Canceled); got != "network" {
		t.Errorf("failure(canceled long before its deadline) = %q, want network", got)
	}
	if got := failure(context.Background(), nil, canceledByTimer); got != "network" {
		t.Errorf("failure(no deadline) = %q, want network", got)
	}
}

// deadlineOnly is a context whose deadline has passed before it noticed.
type deadlineOnly struct {
	context.Context
	deadline time.Time
}

func (d deadlineOnly) Deadline() (time.Time, bool) { return d.deadline, true }
func (d deadlineOnly) Err() error                  { return nil }
func (d deadlineOnly) Done() <-chan struct{}       { return nil }
