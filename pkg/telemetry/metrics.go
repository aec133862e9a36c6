package telemetry

import (
	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/metric"
)

// Instrument names follow one scheme so that the Prometheus names are predictable:
// "firmflow.<area>.<what>" with the unit in the instrument's unit field. The
// exporter turns dots into underscores and appends the unit ("s" becomes
// _seconds) and _total on counters, so firmflow.outbox.oldest_event_age with unit
// "s" is scraped as firmflow_outbox_oldest_event_age_seconds. Counts of things carry
// the thing in the name (firmflow.outbox.backlog.events) and a curly-brace unit,
// which adds no suffix.

// Meter is the meter firmflow's own instruments come from, named after the package
// that records them. It is the global provider's, so instruments made before Setup
// (package variables) report through the provider Setup installs.
func Meter(pkg string) metric.Meter {
	return otel.Meter("github.com/firmflow/firmflow/" + pkg)
}

// LatencyBuckets are the histogram buckets, in seconds, of every firmflow latency:
// from a millisecond (a JetStream acknowledgement on the same host) to half a minute
// (a Stripe call through its retries).
var LatencyBuckets = metric.WithExplicitBucketBoundaries(
	0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30)

// Must returns the instrument, handing a creation error to OpenTelemetry's error
// handler (which logs it). The SDK returns a working no-op instrument alongside the
// error, and an instrument can only fail to be created when its name is invalid,
// which the tests of each package would show.
func Must[T any](instrument T, err error) T {
	if err != nil {
		otel.Handle(err)
	}
	return instrument
}
