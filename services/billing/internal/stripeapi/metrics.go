package stripeapi

import (
	"context"
	"errors"
	"net"
	"net/http"
	"strings"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"

	"github.com/firmflow/firmflow/pkg/telemetry"
)

var (
	meter = telemetry.Meter("services/billing/stripeapi")

	callDuration = telemetry.Must(meter.Float64Histogram("firmflow.stripe.request.duration",
		metric.WithUnit("s"), telemetry.LatencyBuckets,
		metric.WithDescription("Time of each HTTP attempt to Stripe, retries counted apart, by operation (method and path with ids replaced).")))
	callErrors = telemetry.Must(meter.Int64Counter("firmflow.stripe.request.errors",
		metric.WithUnit("{request}"),
		metric.WithDescription("Attempts to Stripe that failed, by operation and reason: timeout, network, rate_limited (429), client_error (other 4xx), server_error (5xx).")))
)

// meteredTransport times every attempt stripe-go makes and counts the failed ones.
// It sits below stripe-go's retries, so a call retried twice shows as three attempts:
// what Stripe's latency and reliability look like, not how patient billing was.
type meteredTransport struct {
	next http.RoundTripper
}

func (m meteredTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	start := time.Now()
	resp, err := m.next.RoundTrip(r)
	ctx := context.WithoutCancel(r.Context())
	op := attribute.String("operation", operation(r))
	callDuration.Record(ctx, time.Since(start).Seconds(), metric.WithAttributes(op))
	if reason := failure(r.Context(), resp, err); reason != "" {
		callErrors.Add(ctx, 1, metric.WithAttributes(op, attribute.String("reason", reason)))
	}
	return resp, err
}

// failure names why an attempt failed, or is empty when it did not. The client's
// timeout shows as the request's context running out while the transport reports
// only "request canceled": an attempt that failed at or after its deadline is a
// timeout, whatever its context says yet (see pastDeadline).
func failure(ctx context.Context, resp *http.Response, err error) string {
	var netErr net.Error
	switch {
	case err != nil && pastDeadline(ctx),
		errors.Is(err, context.DeadlineExceeded), errors.As(err, &netErr) && netErr.Timeout():
		return "timeout"
	case err != nil:
		return "network"
	case resp.StatusCode == http.StatusTooManyRequests:
		return "rate_limited"
	case resp.StatusCode >= 500:
		return "server_error"
	case resp.StatusCode >= 400:
		return "client_error"
	}
	return ""
}

// pastDeadline reports whether the attempt ran out of time. http.Client gives a
// transport it does not know (ours) both a context deadline and a Cancel channel its
// own timer closes at that deadline; the transport may see either first, so the
// context may say DeadlineExceeded, Canceled or, for a moment, nothing yet.
func pastDeadline(ctx context.Context) bool {
	if errors.Is(ctx.Err(), context.DeadlineExceeded) {
		return true
	}
	deadline, ok := ctx.Deadline()
	return ok && !time.Now().Before(deadline)
}

// operation is the request's method and path with Stripe object ids replaced by
// {id}, so that the label has as many values as billing has kinds of call:
// POST /v1/subscription_items/si_123 becomes POST /v1/subscription_items/{id}.
func operation(r *http.Request) string {
	segments := strings.Split(r.URL.Path, "/")
	for i, s := range segments {
		if stripeID(s) {
			segments[i] = "{id}"
		}
	}
	return r.Method + " " + strings.Join(segments, "/")
}

// stripeID reports whether a path segment is an object id (cus_NffrFeUf2Hib,
// sub_123) rather than a collection (subscription_items): ids are a prefix, an
// underscore and random base-62 text, which holds a digit or a capital letter.
func stripeID(segment string) bool {
	_, random, ok := strings.Cut(segment, "_")
	return ok && strings.ContainsFunc(random, func(r rune) bool {
		return r >= '0' && r <= '9' || r >= 'A' && r <= 'Z'
	})
}
