package httpapi

import (
	"bytes"
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"

	"github.com/firmflow/firmflow/pkg/apierr"
	billingv1 "github.com/firmflow/firmflow/pkg/gen/firmflow/billing/v1"
	"github.com/firmflow/firmflow/pkg/logging"
	"github.com/firmflow/firmflow/pkg/rpc"
)

// fakeBilling stands in for billing's BillingWebhookService.
type fakeBilling struct {
	calls    []*billingv1.HandleStripeWebhookRequest
	metadata metadata.MD
	err      error
}

func (f *fakeBilling) HandleStripeWebhook(ctx context.Context, in *billingv1.HandleStripeWebhookRequest, _ ...grpc.CallOption) (*billingv1.HandleStripeWebhookResponse, error) {
	f.calls = append(f.calls, in)
	f.metadata, _ = metadata.FromOutgoingContext(ctx)
	if f.err != nil {
		return nil, f.err
	}
	return &billingv1.HandleStripeWebhookResponse{EventId: "evt_1"}, nil
}

func webhookRequest(body, signature string) *http.Request {
	r := httptest.NewRequest(http.MethodPost, StripeWebhookRoute, strings.NewReader(body))
	r.Header.Set("Content-Type", "application/json; charset=utf-8")
	if signature != "" {
		r.Header.Set(StripeSignatureHeader, signature)
	}
	return r
}

func TestWebhookReachesBillingByteForByte(t *testing.T) {
	billing := &fakeBilling{}
	// Whitespace and key order are part of what Stripe signed.
	body := "{\n  \"id\": \"evt_1\",\n  \"object\": \"event\"  }\n"
	r := webhookRequest(body, "t=1700000000,v1=abc,v0=def")
	r = r.WithContext(logging.WithRequestID(r.Context(), "req-42"))

	res := serve(StripeWebhook(billing, 1024, Errors{Logger: discardLogger()}), r)

	if res.StatusCode != http.StatusOK {
		t.Fatalf("status %d", res.StatusCode)
	}
	if len(billing.calls) != 1 {
		t.Fatalf("billing called %d times", len(billing.calls))
	}
	got := billing.calls[0]
	if !bytes.Equal(got.GetPayload(), []byte(body)) || got.GetSignature() != "t=1700000000,v1=abc,v0=def" {
		t.Errorf("billing got payload %q signature %q", got.GetPayload(), got.GetSignature())
	}
	if ids := billing.metadata.Get(rpc.RequestIDKey); len(ids) != 1 || ids[0] != "req-42" {
		t.Errorf("request id metadata %v", ids)
	}
}

func TestWebhookRefusalsNeverReachOrComeFromBillingAsSuccess(t *testing.T) {
	cases := []struct {
		name        string
		body        string
		signature   string
		billingErr  error
		wantStatus  int
		wantReason  string
		wantCalls   int
		chunkedBody bool
	}{
		{name: "no signature", body: `{}`, wantStatus: 400, wantReason: "WEBHOOK_SIGNATURE_INVALID"},
		{name: "body over the limit", body: strings.Repeat("x", 65), signature: "t=1,v1=a", wantStatus: 400, wantReason: "BODY_TOO_LARGE"},
		{name: "chunked body over the limit", body: strings.Repeat("x", 65), signature: "t=1,v1=a", chunkedBody: true, wantStatus: 400, wantReason: "BODY_TOO_LARGE"},
		{
			name: "forged, as billing judges", body: `{}`, signature: "t=1,v1=a", wantCalls: 1,
			billingErr: apierr.New(codes.InvalidArgument, "WEBHOOK_SIGNATURE_INVALID", "the Stripe-Signature header does not sign this payload"),
			wantStatus: 400, wantReason: "WEBHOOK_SIGNATURE_INVALID",
		},
		{
			name: "stale, as billing judges", body: `{}`, signature: "t=1,v1=a", wantCalls: 1,
			billingErr: apierr.New(codes.InvalidArgument, "WEBHOOK_TOO_OLD", "the signed timestamp is more than 300 seconds old"),
			wantStatus: 400, wantReason: "WEBHOOK_TOO_OLD",
		},
		{
			name: "billing unreachable", body: `{}`, signature: "t=1,v1=a", wantCalls: 1,
			billingErr: status.Error(codes.Unavailable, "dial tcp 10.0.0.7:9104: connection refused"),
			wantStatus: 503, wantReason: "UNAVAILABLE",
		},
		{
			name: "billing failed", body: `{}`, signature: "t=1,v1=a", wantCalls: 1,
			billingErr: apierr.New(codes.Internal, "INTERNAL", "internal error"),
			wantStatus: 500, wantReason: "INTERNAL",
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			billing := &fakeBilling{err: tc.billingErr}
			r := webhookRequest(tc.body, tc.signature)
			if tc.chunkedBody {
				r.ContentLength = -1
				r.Body = io.NopCloser(strings.NewReader(tc.body))
			}

			res := serve(StripeWebhook(billing, 64, Errors{Logger: discardLogger()}), r)

			if res.StatusCode != tc.wantStatus {
				t.Errorf("status %d, want %d", res.StatusCode, tc.wantStatus)
			}
			e := decodeError(t, res)
			if e.reason() != tc.wantReason || strings.Contains(e.Error.Message, "10.0.0.7") {
				t.Errorf("error %+v reason %q, want %q and nothing about our network", e.Error, e.reason(), tc.wantReason)
			}
			if len(billing.calls) != tc.wantCalls {
				t.Errorf("billing called %d times, want %d", len(billing.calls), tc.wantCalls)
			}
		})
	}
}

func TestWebhookOnlyTakesPost(t *testing.T) {
	billing := &fakeBilling{}
	res := serve(StripeWebhook(billing, 64, Errors{Logger: discardLogger()}), httptest.NewRequest(http.MethodGet, StripeWebhookRoute, nil))
	if res.StatusCode != http.StatusNotFound || len(billing.calls) != 0 {
		t.Errorf("GET: status %d, billing called %d times", res.StatusCode, len(billing.calls))
	}
}
