package stripeapi

import (
	"net/http"
	"net/http/httptest"
	"testing"
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
