package ingest

import (
	"context"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"

	"github.com/firmflow/firmflow/pkg/telemetry"
)

var ingestionDelay = telemetry.Must(telemetry.Meter("services/audit/ingest").Float64Histogram(
	"firmflow.audit.ingestion.delay", metric.WithUnit("s"), telemetry.LatencyBuckets,
	metric.WithDescription("Time from JetStream storing an event to the audit log committing it to its firm's chain.")))

// observeDelay records how long msg waited between JetStream storing it and the
// append of its last event committing, at appended. The producer's occurred-at would
// add the producer's own outbox wait, which the outbox metrics already show; this is
// the audit log's share alone. A redelivered message counts again, from its first
// storing: it did wait that long.
func observeDelay(ctx context.Context, msg jetstream.Msg, appended time.Time) {
	meta, err := msg.Metadata()
	if err != nil {
		return
	}
	ingestionDelay.Record(context.WithoutCancel(ctx), max(0, appended.Sub(meta.Timestamp).Seconds()),
		metric.WithAttributes(attribute.String("stream", meta.Stream)))
}
