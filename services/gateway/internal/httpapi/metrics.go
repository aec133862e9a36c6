package httpapi

import (
	"context"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"

	"github.com/firmflow/firmflow/pkg/telemetry"
)

// Kinds of refusal the gateway makes to protect the system rather than because the
// request was wrong.
const (
	rejectIP         = "ip"         // the client address's rate limit (429)
	rejectCredential = "credential" // the session's or API key's rate limit (429)
	rejectOverload   = "overload"   // admission control: too many requests in flight (503)
	rejectLogin      = "login"      // identity locked the account after failed sign-ins (429)
)

var meter = telemetry.Meter("services/gateway/httpapi")

var rejections = telemetry.Must(meter.Int64Counter(
	"firmflow.gateway.rate_limit.rejections", metric.WithUnit("{request}"),
	metric.WithDescription("Requests refused by a rate limit or by admission control, by kind: ip, credential, overload, login.")))

// startRejectionCounts makes every kind's series exist, at 0, before its first
// refusal, so that rate() and alerts see a series from the start.
func startRejectionCounts() {
	for _, kind := range []string{rejectIP, rejectCredential, rejectOverload, rejectLogin} {
		rejections.Add(context.Background(), 0, metric.WithAttributes(attribute.String("kind", kind)))
	}
}

func reject(ctx context.Context, kind string) {
	rejections.Add(context.WithoutCancel(ctx), 1, metric.WithAttributes(attribute.String("kind", kind)))
}

// identityCalls counts the calls made to identity to authenticate requests; against
// the requests that carried a credential, it shows how many each call answered
// (CoalesceAuthentications).
var identityCalls = telemetry.Must(meter.Int64Counter(
	"firmflow.gateway.identity.calls", metric.WithUnit("{call}"),
	metric.WithDescription("Calls to identity's Authenticate; requests with the same credential that arrive during a call share the next one.")))
