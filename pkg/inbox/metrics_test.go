package inbox_test

import (
	"fmt"
	"os"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/firmflow/firmflow/pkg/inbox"
	"github.com/firmflow/firmflow/pkg/telemetry"
	"github.com/firmflow/firmflow/pkg/telemetry/telemetrytest"
)

var tel *telemetry.Telemetry

func TestMain(m *testing.M) {
	tel = telemetrytest.Setup("inbox-test")
	os.Exit(m.Run())
}

func TestConsumerLagShowsEventsWaitingForAStuckHandler(t *testing.T) {
	t.Parallel()
	e := newEnv(t, true)
	for i := range 3 {
		id := uuid.NewString()
		e.publish(t, id, firmA, fmt.Sprintf("note %d", i), id)
	}
	// The handler waits until released: nothing is acknowledged, so all three events
	// count as lag, whether still in the stream (pending) or pulled ahead by the
	// client (delivered, awaiting acknowledgement).
	release := make(chan struct{})
	rec := newRecorder(e.db)
	rec.fail = func(inbox.Message) error { <-release; return nil }
	cfg := config()
	cfg.Durable = "lagging"
	run(t, e.js, cfg, rec.handle)

	labels := []string{"stream", "FIRMFLOW_INBOXTEST", "consumer", "lagging"}
	scrape := func() telemetrytest.Metrics { return telemetrytest.Scrape(t, tel) }
	telemetrytest.Eventually(t, scrape, 10*time.Second, "all three events to show as lag", func(m telemetrytest.Metrics) bool {
		pending, _ := m.Value("firmflow_jetstream_consumer_pending_messages", labels...)
		ackPending, _ := m.Value("firmflow_jetstream_consumer_ack_pending_messages", labels...)
		return pending+ackPending == 3 && ackPending >= 1
	})

	close(release)
	for i := range 3 {
		rec.waitFor(t, fmt.Sprintf("note %d", i))
	}
	telemetrytest.Eventually(t, scrape, 10*time.Second, "the lag to return to 0", func(m telemetrytest.Metrics) bool {
		pending, ok := m.Value("firmflow_jetstream_consumer_pending_messages", labels...)
		ackPending, _ := m.Value("firmflow_jetstream_consumer_ack_pending_messages", labels...)
		return ok && pending == 0 && ackPending == 0
	})
}
