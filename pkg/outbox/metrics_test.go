package outbox_test

import (
	"fmt"
	"net"
	"testing"
	"time"

	"github.com/firmflow/firmflow/pkg/outbox"
	"github.com/firmflow/firmflow/pkg/telemetry/telemetrytest"
)

func TestBacklogGrowsWhileNATSIsAwayAndDrainsWhenItReturns(t *testing.T) {
	t.Parallel()
	store := t.TempDir()
	ns := runNATS(t, -1, store)
	port := ns.Addr().(*net.TCPAddr).Port
	e := newEnvOn(t, ns.ClientURL())
	const service = "backlogtest"
	scrape := func() telemetrytest.Metrics { return telemetrytest.Scrape(t, tel) }

	backlog, err := outbox.ObserveBacklog(e.db, service)
	if err != nil {
		t.Fatal(err)
	}
	stop := runRelay(t, e.relay(t, outbox.RelayOptions{AckTimeout: time.Second}))
	write(t, e.db, firmA, note(firmA, "published at once"))
	telemetrytest.Eventually(t, scrape, 10*time.Second, "the first event to be published", func(m telemetrytest.Metrics) bool {
		n, ok := m.Value("firmflow_outbox_backlog_events", "service", service)
		return ok && n == 0 && e.unpublished(t) == 0
	})
	published, _ := scrape().Value("firmflow_jetstream_publish_duration_seconds", "service", t.Name())
	if published < 1 {
		t.Errorf("the relay's publish was not timed: %v publishes in the histogram", published)
	}

	ns.Shutdown()
	ns.WaitForShutdown()
	waitFor(t, "the client to notice NATS is gone", func() bool { return !e.nc.IsConnected() })
	for i := range 5 {
		write(t, e.db, firmA, note(firmA, fmt.Sprintf("queued %d", i)))
	}
	m := telemetrytest.Eventually(t, scrape, 10*time.Second, "the backlog to show 5 events aging", func(m telemetrytest.Metrics) bool {
		n, _ := m.Value("firmflow_outbox_backlog_events", "service", service)
		age, _ := m.Value("firmflow_outbox_oldest_event_age_seconds", "service", service)
		return n == 5 && age > 0
	})
	age, _ := m.Value("firmflow_outbox_oldest_event_age_seconds", "service", service)
	t.Logf("NATS down: backlog 5 events, oldest %.3fs old", age)

	runNATS(t, port, store)
	telemetrytest.Eventually(t, scrape, 15*time.Second, "the backlog to drain", func(m telemetrytest.Metrics) bool {
		n, _ := m.Value("firmflow_outbox_backlog_events", "service", service)
		age, _ := m.Value("firmflow_outbox_oldest_event_age_seconds", "service", service)
		return n == 0 && age == 0
	})

	stop()
	if err := backlog.Unregister(); err != nil {
		t.Fatal(err)
	}
	if _, ok := scrape().Value("firmflow_outbox_backlog_events", "service", service); ok {
		t.Error("the backlog is still reported once unregistered")
	}
}
