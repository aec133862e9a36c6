package ingest_test

import (
	"context"
	"os"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/nats-io/nats.go"

	"github.com/firmflow/firmflow/pkg/natsx"
	"github.com/firmflow/firmflow/pkg/telemetry"
	"github.com/firmflow/firmflow/pkg/telemetry/telemetrytest"
	"github.com/firmflow/firmflow/services/audit/chain"
	"github.com/firmflow/firmflow/services/audit/internal/audittest"
	"github.com/firmflow/firmflow/services/audit/internal/ingest"
)

var tel *telemetry.Telemetry

func TestMain(m *testing.M) {
	tel = telemetrytest.Setup("audit-ingest-test")
	os.Exit(m.Run())
}

// gated holds every append until open is closed, as a slow database would.
type gated struct {
	ingest.Appender
	open chan struct{}
}

func (g gated) Append(ctx context.Context, events []chain.Event) (int, error) {
	select {
	case <-g.open:
	case <-ctx.Done():
		return 0, ctx.Err()
	}
	return g.Appender.Append(ctx, events)
}

func TestLagShowsWhileAppendsWaitAndDelayIsRecordedPerEvent(t *testing.T) {
	t.Parallel()
	f := audittest.New(t)
	js := broker(t)
	// A stream of its own, so that the labels are this test's alone.
	if _, err := natsx.EnsureStream(context.Background(), js, natsx.ServiceStream("ingestmetrics", true, natsx.DefaultStreamMaxAge)); err != nil {
		t.Fatal(err)
	}
	const events = 50
	var msgs []*nats.Msg
	for range events {
		m := changeMsg(t, uuid.NewString(), uuid.NewString())
		m.Subject = "firmflow.ingestmetrics.member_joined"
		msgs = append(msgs, m)
	}
	publish(t, js, msgs)

	app := gated{Appender: f.App, open: make(chan struct{})}
	// Small batches: at most 40 messages (20 batches) are delivered unacknowledged,
	// so the rest stay pending in the stream while appends wait.
	opts := ingest.Options{Streams: []string{"FIRMFLOW_INGESTMETRICS"}, Batch: 2}
	ctx, stop := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- ingest.New(js, app, opts).Run(ctx) }()
	defer func() { stop(); <-done }()

	consumer := []string{"stream", "FIRMFLOW_INGESTMETRICS", "consumer", "audit"}
	scrape := func() telemetrytest.Metrics { return telemetrytest.Scrape(t, tel) }
	m := telemetrytest.Eventually(t, scrape, 10*time.Second, "the consumer's lag to show every event", func(m telemetrytest.Metrics) bool {
		pending, ok := m.Value("firmflow_jetstream_consumer_pending_messages", consumer...)
		ackPending, _ := m.Value("firmflow_jetstream_consumer_ack_pending_messages", consumer...)
		return ok && pending > 0 && pending+ackPending == events
	})
	pending, _ := m.Value("firmflow_jetstream_consumer_pending_messages", consumer...)
	t.Logf("appends held: %v of %d events still pending in the stream", pending, events)

	time.Sleep(50 * time.Millisecond) // a delay the histogram must show
	close(app.open)
	m = telemetrytest.Eventually(t, scrape, 30*time.Second, "the lag to return to 0", func(m telemetrytest.Metrics) bool {
		pending, _ := m.Value("firmflow_jetstream_consumer_pending_messages", consumer...)
		ackPending, _ := m.Value("firmflow_jetstream_consumer_ack_pending_messages", consumer...)
		return pending == 0 && ackPending == 0
	})
	delay := []string{"stream", "FIRMFLOW_INGESTMETRICS"}
	if n, _ := m.Value("firmflow_audit_ingestion_delay_seconds", delay...); n != events {
		t.Errorf("ingestion delay recorded for %v events, want %d", n, events)
	}
	if mean := m.Sum("firmflow_audit_ingestion_delay_seconds", delay...) / events; mean < 0.05 {
		t.Errorf("mean ingestion delay %.3fs, want at least the 50ms the appends were held", mean)
	}
}
