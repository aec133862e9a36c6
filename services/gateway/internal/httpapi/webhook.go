package httpapi

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"

	"github.com/firmflow/firmflow/pkg/apierr"
	billingv1 "github.com/firmflow/firmflow/pkg/gen/firmflow/billing/v1"
	"github.com/firmflow/firmflow/pkg/logging"
	"github.com/firmflow/firmflow/pkg/rpc"
)

// StripeWebhookRoute is where Stripe delivers webhooks.
const StripeWebhookRoute = "/v1/billing/stripe/webhook"

// StripeSignatureHeader carries Stripe's signature of the webhook body.
const StripeSignatureHeader = "Stripe-Signature"

// webhookTimeout bounds billing's handling of one delivery, which may include a call
// to Stripe; a delivery that times out is retried by Stripe and applied once.
const webhookTimeout = 20 * time.Second

// StripeWebhookReceiver applies Stripe's webhooks; billing's BillingWebhookService
// client is one.
type StripeWebhookReceiver interface {
	HandleStripeWebhook(ctx context.Context, in *billingv1.HandleStripeWebhookRequest, opts ...grpc.CallOption) (*billingv1.HandleStripeWebhookResponse, error)
}

// StripeWebhook passes Stripe's webhook deliveries to billing: the body byte for byte,
// since the signature covers those exact bytes, and the Stripe-Signature header. The
// gateway authenticates nothing here; billing checks the signature and refuses a
// forged, stale or unsigned delivery with 400, changing nothing. Bodies over limit
// bytes get 400 BODY_TOO_LARGE and a delivery without a signature 400, neither reaching billing;
// billing's other failures answer 5xx so that Stripe delivers again.
func StripeWebhook(billing StripeWebhookReceiver, limit int64, errs Errors) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		requestFrom(r).route = StripeWebhookRoute
		if r.Method != http.MethodPost {
			w.Header().Set("Allow", http.MethodPost)
			writeError(w, apierr.New(codes.NotFound, "METHOD_NOT_ALLOWED", "this route does not accept the HTTP method"))
			return
		}
		payload, failure := webhookBody(w, r, limit)
		if failure != nil {
			writeError(w, failure)
			return
		}
		signature := r.Header.Get(StripeSignatureHeader)
		if signature == "" {
			writeError(w, apierr.New(codes.InvalidArgument, "WEBHOOK_SIGNATURE_INVALID", "the Stripe-Signature header is missing"))
			return
		}
		ctx, cancel := context.WithTimeout(r.Context(), webhookTimeout)
		defer cancel()
		if id := logging.RequestID(ctx); id != "" {
			ctx = metadata.AppendToOutgoingContext(ctx, rpc.RequestIDKey, id)
		}
		_, err := billing.HandleStripeWebhook(ctx, &billingv1.HandleStripeWebhookRequest{
			Payload: payload, Signature: strings.ToValidUTF8(signature, ""),
		})
		if err != nil {
			writeStatus(w, errs.clientStatus(ctx, err))
			return
		}
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusOK)
		_, _ = w.Write([]byte(`{"received":true}`))
	})
}

// webhookBody reads the whole body, refusing more than limit bytes.
func webhookBody(w http.ResponseWriter, r *http.Request, limit int64) ([]byte, *apierr.Error) {
	tooLarge := apierr.New(codes.InvalidArgument, "BODY_TOO_LARGE", fmt.Sprintf("the request body exceeds %d bytes", limit))
	if r.ContentLength > limit {
		return nil, tooLarge
	}
	if r.Body == nil {
		return nil, nil
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, limit))
	var maxErr *http.MaxBytesError
	switch {
	case errors.As(err, &maxErr):
		return nil, tooLarge
	case err != nil:
		return nil, apierr.New(codes.InvalidArgument, "BODY_UNREADABLE", "the request body could not be read")
	}
	return body, nil
}
