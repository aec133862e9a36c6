package natsx_test

import (
	"context"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/firmflow/firmflow/pkg/natsx"
	"github.com/firmflow/firmflow/pkg/natsx/natstest"
	"github.com/firmflow/firmflow/pkg/telemetry/telemetrytest"
)

func TestPublishesAreTimedAndFailuresCountedByReason(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	nc, js, err := natsx.Connect(natstest.Start(t), "publish-metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	if _, err := natsx.EnsureStream(ctx, js, natsx.ServiceStream("pubmetrics", false, natsx.DefaultStreamMaxAge)); err != nil {
		t.Fatal(err)
	}
	for range 3 {
		if _, err := js.Publish(ctx, "firmflow.pubmetrics.noted", []byte("x")); err != nil {
			t.Fatal(err)
		}
	}
	// No stream holds this subject: JetStream cannot acknowledge it.
	if _, err := js.Publish(ctx, "firmflow.nostream.noted", []byte("x")); err == nil {
		t.Fatal("a publish no stream takes was acknowledged")
	}

	m := telemetrytest.Scrape(t, tel)
	if n, _ := m.Value("firmflow_jetstream_publish_duration_seconds", "service", "publish-metrics"); n != 3 {
		t.Errorf("publish duration histogram counts %v publishes, want 3", n)
	}
	if sum := m.Sum("firmflow_jetstream_publish_duration_seconds", "service", "publish-metrics"); sum <= 0 {
		t.Errorf("publish durations sum to %v, want more than 0", sum)
	}
	if n, _ := m.Value("firmflow_jetstream_publish_errors_total", "service", "publish-metrics", "reason", "no_responders"); n != 1 {
		t.Errorf("publish errors (no_responders) %v, want 1", n)
	}
}

func TestConsumerLagIsItsPendingMessages(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	nc, js, err := natsx.Connect(natstest.Start(t), "lag-test")
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	stream, err := natsx.EnsureStream(ctx, js, natsx.ServiceStream("lagtest", false, natsx.DefaultStreamMaxAge))
	if err != nil {
		t.Fatal(err)
	}
	for range 3 {
		if _, err := js.Publish(ctx, "firmflow.lagtest.noted", []byte("x")); err != nil {
			t.Fatal(err)
		}
	}
	cons, err := stream.CreateOrUpdateConsumer(ctx, jetstream.ConsumerConfig{Durable: "lagger", AckPolicy: jetstream.AckExplicitPolicy})
	if err != nil {
		t.Fatal(err)
	}
	reg, err := natsx.ObserveConsumer(cons)
	if err != nil {
		t.Fatal(err)
	}
	labels := []string{"stream", "FIRMFLOW_LAGTEST", "consumer", "lagger"}
	if n, _ := telemetrytest.Scrape(t, tel).Value("firmflow_jetstream_consumer_pending_messages", labels...); n != 3 {
		t.Errorf("pending %v before anything was consumed, want 3", n)
	}

	msg, err := cons.Next(jetstream.FetchMaxWait(5 * time.Second))
	if err != nil {
		t.Fatal(err)
	}
	m := telemetrytest.Scrape(t, tel)
	if n, _ := m.Value("firmflow_jetstream_consumer_pending_messages", labels...); n != 2 {
		t.Errorf("pending %v after one delivery, want 2", n)
	}
	if n, _ := m.Value("firmflow_jetstream_consumer_ack_pending_messages", labels...); n != 1 {
		t.Errorf("ack pending %v with one delivery unacknowledged, want 1", n)
	}
	if err := msg.DoubleAck(ctx); err != nil {
		t.Fatal(err)
	}
	if n, _ := telemetrytest.Scrape(t, tel).Value("firmflow_jetstream_consumer_ack_pending_messages", labels...); n != 0 {
		t.Errorf("ack pending %v once acknowledged, want 0", n)
	}

	if err := reg.Unregister(); err != nil {
		t.Fatal(err)
	}
	if _, ok := telemetrytest.Scrape(t, tel).Value("firmflow_jetstream_consumer_pending_messages", labels...); ok {
		t.Error("an unregistered consumer is still reported")
	}
}
