package natsx_test

import (
	"context"
	"net"
	"os"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/trace"

	"github.com/firmflow/firmflow/pkg/natsx"
	"github.com/firmflow/firmflow/pkg/natsx/natstest"
	"github.com/firmflow/firmflow/pkg/telemetry"
	"github.com/firmflow/firmflow/pkg/telemetry/telemetrytest"
)

var tel *telemetry.Telemetry

func TestMain(m *testing.M) {
	tel = telemetrytest.Setup("natsx-test")
	otel.SetTextMapPropagator(propagation.TraceContext{})
	os.Exit(m.Run())
}

func TestServiceStreamFollowsConvention(t *testing.T) {
	t.Parallel()
	tests := []struct {
		service    string
		syncAlways bool
		name       string
		subject    string
	}{
		{service: "workflow", name: "FIRMFLOW_WORKFLOW", subject: "firmflow.workflow.>"},
		{service: "billing", syncAlways: true, name: "FIRMFLOW_BILLING", subject: "firmflow.billing.>"},
	}
	for _, tt := range tests {
		t.Run(tt.service, func(t *testing.T) {
			cfg := natsx.ServiceStream(tt.service, tt.syncAlways, natsx.DefaultStreamMaxAge)
			if cfg.Name != tt.name {
				t.Errorf("name = %q, want %q", cfg.Name, tt.name)
			}
			if len(cfg.Subjects) != 1 || cfg.Subjects[0] != tt.subject {
				t.Errorf("subjects = %q, want [%q]", cfg.Subjects, tt.subject)
			}
			if cfg.Storage != jetstream.FileStorage {
				t.Errorf("storage = %v, want file", cfg.Storage)
			}
			if cfg.MaxAge != natsx.DefaultStreamMaxAge {
				t.Errorf("max age = %v, want %v", cfg.MaxAge, natsx.DefaultStreamMaxAge)
			}
			if cfg.Duplicates != natsx.DuplicateWindow {
				t.Errorf("duplicate window = %v, want %v", cfg.Duplicates, natsx.DuplicateWindow)
			}
			if got := cfg.Metadata[natsx.SyncMetadataKey] == "always"; got != tt.syncAlways {
				t.Errorf("marked sync-always = %v, want %v", got, tt.syncAlways)
			}
		})
	}
}

func TestEnsureStreamDeclaresIdempotentlyAndDedupes(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	_, js := connect(t, natstest.Start(t))

	// A stream declared before streams had a maximum age takes one on the next start.
	cfg := natsx.ServiceStream("audit", true, 0)
	if _, err := natsx.EnsureStream(ctx, js, cfg); err != nil {
		t.Fatal(err)
	}
	cfg = natsx.ServiceStream("audit", true, 24*time.Hour)
	stream, err := natsx.EnsureStream(ctx, js, cfg)
	if err != nil {
		t.Fatalf("second declaration: %v", err)
	}
	info, err := stream.Info(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if info.Config.MaxAge != 24*time.Hour {
		t.Errorf("max age = %v after update, want 24h", info.Config.MaxAge)
	}

	for range 2 {
		if _, err := js.Publish(ctx, "firmflow.audit.recorded", []byte("x"), jetstream.WithMsgID("event-1")); err != nil {
			t.Fatal(err)
		}
	}
	info, err = stream.Info(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if info.State.Msgs != 1 {
		t.Errorf("stream holds %d messages after publishing one event id twice, want 1", info.State.Msgs)
	}
}

func TestTraceContextCrossesNATS(t *testing.T) {
	t.Parallel()
	nc, _ := connect(t, natstest.Start(t))
	sub, err := nc.SubscribeSync("traced")
	if err != nil {
		t.Fatal(err)
	}

	sent := trace.NewSpanContext(trace.SpanContextConfig{
		TraceID:    trace.TraceID{1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16},
		SpanID:     trace.SpanID{1, 2, 3, 4, 5, 6, 7, 8},
		TraceFlags: trace.FlagsSampled,
	})
	msg := nats.NewMsg("traced")
	natsx.InjectTrace(trace.ContextWithSpanContext(context.Background(), sent), msg.Header)
	if msg.Header.Get("traceparent") == "" {
		t.Fatalf("no lowercase traceparent header in %v", msg.Header)
	}
	if err := nc.PublishMsg(msg); err != nil {
		t.Fatal(err)
	}
	got, err := sub.NextMsg(5 * time.Second)
	if err != nil {
		t.Fatal(err)
	}
	received := trace.SpanContextFromContext(natsx.ExtractTrace(context.Background(), got.Header))
	if received.TraceID() != sent.TraceID() || received.SpanID() != sent.SpanID() || !received.IsRemote() {
		t.Errorf("received span context %v, want remote %v", received, sent)
	}
}

func TestClientReconnectsAndStreamSurvivesServerRestart(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	store := t.TempDir()
	first, err := natsx.RunEmbedded(natsx.EmbeddedOptions{Port: -1, StoreDir: store, SyncAlways: true})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { first.Shutdown(); first.WaitForShutdown() })
	port := first.Addr().(*net.TCPAddr).Port
	nc, js := connect(t, first.ClientURL())
	if _, err := natsx.EnsureStream(ctx, js, natsx.ServiceStream("billing", true, natsx.DefaultStreamMaxAge)); err != nil {
		t.Fatal(err)
	}
	if _, err := js.Publish(ctx, "firmflow.billing.paid", []byte("x"), jetstream.WithMsgID("event-1")); err != nil {
		t.Fatal(err)
	}

	first.Shutdown()
	first.WaitForShutdown()
	restarted, err := natsx.RunEmbedded(natsx.EmbeddedOptions{Port: port, StoreDir: store, SyncAlways: true})
	if err != nil {
		t.Fatalf("restart on port %d: %v", port, err)
	}
	t.Cleanup(func() { restarted.Shutdown(); restarted.WaitForShutdown() })

	deadline := time.Now().Add(30 * time.Second)
	for !nc.IsConnected() {
		if time.Now().After(deadline) {
			t.Fatal("client did not reconnect")
		}
		time.Sleep(20 * time.Millisecond)
	}
	// JetStream recovers its streams after the client is back; retry until it answers.
	var ack *jetstream.PubAck
	for {
		pubCtx, cancel := context.WithTimeout(ctx, 2*time.Second)
		ack, err = js.Publish(pubCtx, "firmflow.billing.paid", []byte("x"), jetstream.WithMsgID("event-1"))
		cancel()
		if err == nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("publish after restart: %v", err)
		}
		time.Sleep(100 * time.Millisecond)
	}
	if !ack.Duplicate || ack.Sequence != 1 {
		t.Errorf("republished event after restart: ack %+v, want duplicate of sequence 1", ack)
	}
}

func connect(t *testing.T, url string) (*nats.Conn, jetstream.JetStream) {
	t.Helper()
	nc, js, err := natsx.Connect(url, t.Name())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(nc.Close)
	return nc, js
}

// replicaJS is a JetStream whose one stream runs at the replicas an operator gave it,
// as on a cluster; it records the configuration a declaration asks for.
type replicaJS struct {
	jetstream.JetStream // only Stream and CreateOrUpdateStream are called
	existing            *jetstream.StreamConfig
	declared            []jetstream.StreamConfig
}

type cachedStream struct {
	jetstream.Stream
	info *jetstream.StreamInfo
}

func (s cachedStream) CachedInfo() *jetstream.StreamInfo { return s.info }

func (j *replicaJS) Stream(_ context.Context, name string) (jetstream.Stream, error) {
	if j.existing == nil || j.existing.Name != name {
		return nil, jetstream.ErrStreamNotFound
	}
	return cachedStream{info: &jetstream.StreamInfo{Config: *j.existing}}, nil
}

func (j *replicaJS) CreateOrUpdateStream(_ context.Context, cfg jetstream.StreamConfig) (jetstream.Stream, error) {
	j.declared = append(j.declared, cfg)
	return cachedStream{info: &jetstream.StreamInfo{Config: cfg}}, nil
}

func TestEnsureStreamKeepsTheReplicasTheDeploymentChose(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	cfg := natsx.ServiceStream("workflow", false, natsx.DefaultStreamMaxAge)

	js := &replicaJS{}
	if _, err := natsx.EnsureStream(ctx, js, cfg); err != nil {
		t.Fatal(err)
	}
	if got := js.declared[0].Replicas; got != 0 {
		t.Errorf("new stream declared with %d replicas, want the server's default (0)", got)
	}

	raised := cfg
	raised.Replicas = 3
	js = &replicaJS{existing: &raised}
	if _, err := natsx.EnsureStream(ctx, js, cfg); err != nil {
		t.Fatal(err)
	}
	if got := js.declared[0].Replicas; got != 3 {
		t.Errorf("a restart declared the stream with %d replicas, want the 3 it runs at", got)
	}

	explicit := cfg
	explicit.Replicas = 1
	if _, err := natsx.EnsureStream(ctx, js, explicit); err != nil {
		t.Fatal(err)
	}
	if got := js.declared[1].Replicas; got != 1 {
		t.Errorf("an explicit replica count was replaced by %d", got)
	}
}
