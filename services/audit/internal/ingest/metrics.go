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

// observeDelay records, for each appended message, how long it waited between
// JetStream storing it and its append committing. The producer's occurred-at would
// add the producer's own outbox wait, which the outbox metrics already show; this is
// the audit log's share alone. A redelivered message counts again, from its first
// storing: it did wait that long.
func observeDelay(ctx context.Context, msgs []jetstream.Msg) {
	now := time.Now()
	ctx = context.WithoutCancel(ctx)
	for _, msg := range msgs {
		meta, err := msg.Metadata()
		if err != nil {
			continue
		}
		ingestionDelay.Record(ctx, max(0, now.Sub(meta.Timestamp).Seconds()),
			metric.WithAttributes(attribute.String("stream", meta.Stream)))
	}
}
