package peers_test

import (
	"context"
	"os"
	"strconv"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/firmflow/firmflow/pkg/natsx"
	"github.com/firmflow/firmflow/pkg/natsx/natstest"
	"github.com/firmflow/firmflow/pkg/outbox"
	"github.com/firmflow/firmflow/services/lifecycle/internal/domain"
	"github.com/firmflow/firmflow/services/lifecycle/internal/peers"
)

const (
	doomed = "0190a4b2-0000-7000-8000-0000000000d0"
	kept   = "0190a4b2-0000-7000-8000-0000000000c0"
)

func publish(t *testing.T, js jetstream.JetStream, subject string, firms ...string) {
	t.Helper()
	msg := nats.NewMsg(subject)
	msg.Data = []byte("payload")
	for _, f := range firms {
		msg.Header.Add(outbox.HeaderFirmID, f)
	}
	if _, err := js.PublishMsg(context.Background(), msg); err != nil {
		t.Fatal(err)
	}
}

// firmMessages counts the messages of the stream whose headers name firm.
func firmMessages(t *testing.T, js jetstream.JetStream, name, firm string) (n int) {
	t.Helper()
	ctx := context.Background()
	stream, err := js.Stream(ctx, name)
	if err != nil {
		t.Fatal(err)
	}
	info, err := stream.Info(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for seq := info.State.FirstSeq; seq <= info.State.LastSeq && info.State.Msgs > 0; seq++ {
		m, err := stream.GetMsg(ctx, seq)
		if err != nil {
			continue // deleted
		}
		for _, f := range m.Header.Values(outbox.HeaderFirmID) {
			if f == firm {
				n++
				break
			}
		}
	}
	return n
}

// TestPurgeDeletesTheFirmsOwnMessagesFromEveryStream: of every stream in the account,
// the messages naming only the deleted firm go, those naming the other firm or no
// firm stay, a batch naming both stays and is counted, a second purge finds nothing,
// and each stream's date is the purge time plus its maximum age (none for a stream
// without one).
func TestPurgeDeletesTheFirmsOwnMessagesFromEveryStream(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	nc, js, err := natsx.Connect(natstest.Start(t), "lifecycle-test")
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	for _, cfg := range []jetstream.StreamConfig{
		natsx.ServiceStream("workflow", false, natsx.DefaultStreamMaxAge),
		natsx.ServiceStream("gateway", true, natsx.DefaultStreamMaxAge),
		{Name: "OTHER", Subjects: []string{"other.>"}}, // made by someone else, without a maximum age
	} {
		if _, err := natsx.EnsureStream(ctx, js, cfg); err != nil {
			t.Fatal(err)
		}
	}
	for range 3 {
		publish(t, js, "firmflow.workflow.task_created", doomed)
		publish(t, js, "firmflow.workflow.task_created", kept)
	}
	publish(t, js, "firmflow.workflow.task_created")
	publish(t, js, "firmflow.gateway.access_batch", doomed)
	publish(t, js, "firmflow.gateway.access_batch", doomed, kept)
	publish(t, js, "firmflow.gateway.access_batch", kept)
	publish(t, js, "firmflow.gateway.access", doomed)
	publish(t, js, "other.thing", doomed)

	now := time.Date(2026, 12, 3, 10, 0, 0, 0, time.UTC)
	horizons, err := peers.NewStreams(js).Purge(ctx, doomed, now)
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]domain.StreamHorizon{}
	for _, h := range horizons {
		got[h.Stream] = h
	}
	clear := now.Add(natsx.DefaultStreamMaxAge)
	want := map[string]domain.StreamHorizon{
		"FIRMFLOW_WORKFLOW": {Stream: "FIRMFLOW_WORKFLOW", Purged: true, PurgedMessages: 3, MaxAge: "720h0m0s", ClearAfter: clear},
		"FIRMFLOW_GATEWAY":  {Stream: "FIRMFLOW_GATEWAY", Purged: true, PurgedMessages: 2, SharedMessages: 1, MaxAge: "720h0m0s", ClearAfter: clear},
		"OTHER":             {Stream: "OTHER", Purged: true, PurgedMessages: 1, Unbounded: true},
	}
	if len(got) != len(want) {
		t.Errorf("horizons of %d streams, want %d: %+v", len(got), len(want), horizons)
	}
	for name, w := range want {
		if got[name] != w {
			t.Errorf("%s: %+v, want %+v", name, got[name], w)
		}
	}

	for name, doomedLeft := range map[string]int{"FIRMFLOW_WORKFLOW": 0, "FIRMFLOW_GATEWAY": 1, "OTHER": 0} {
		if n := firmMessages(t, js, name, doomed); n != doomedLeft {
			t.Errorf("%s holds %d messages naming the deleted firm, want %d (the shared batch)", name, n, doomedLeft)
		}
	}
	if n := firmMessages(t, js, "FIRMFLOW_WORKFLOW", kept); n != 3 {
		t.Errorf("the other firm has %d workflow messages, want 3", n)
	}
	if n := firmMessages(t, js, "FIRMFLOW_GATEWAY", kept); n != 2 {
		t.Errorf("the other firm has %d gateway messages, want 2", n)
	}
	info, err := js.Stream(ctx, "FIRMFLOW_WORKFLOW")
	if err != nil {
		t.Fatal(err)
	}
	if n := info.CachedInfo().State.Msgs; n != 4 {
		t.Errorf("workflow stream holds %d messages, want 4 (the other firm's and the firmless one)", n)
	}

	again, err := peers.NewStreams(js).Purge(ctx, doomed, now)
	if err != nil {
		t.Fatal(err)
	}
	for _, h := range again {
		if h.PurgedMessages != 0 || !h.Purged {
			t.Errorf("second purge of %s: %+v, want nothing left to purge", h.Stream, h)
		}
	}
}

// BenchmarkPurge fills a stream with FIRMFLOW_BENCH_STREAM_MESSAGES messages (100,000
// unless set, 300 bytes each), 1% of them the deleted firm's, and times Purge (every
// message's headers read, the firm's deleted one by one, then read again) beside what a subject naming
// the firm would allow instead: PurgeStream with a subject filter, of a stream holding
// the same messages on per-firm subjects, in the same run.
func BenchmarkPurge(b *testing.B) {
	n := 100_000
	if v, err := strconv.Atoi(os.Getenv("FIRMFLOW_BENCH_STREAM_MESSAGES")); err == nil && v > 0 {
		n = v
	}
	ctx := context.Background()
	nc, js, err := natsx.Connect(natstest.Start(b), "lifecycle-bench")
	if err != nil {
		b.Fatal(err)
	}
	defer nc.Close()
	// fill makes the stream and publishes n messages, every hundredth the deleted
	// firm's, on the subject subject gives for a firm.
	fill := func(name string, subject func(firm string) string) jetstream.Stream {
		stream, err := natsx.EnsureStream(ctx, js, natsx.ServiceStream(name, false, natsx.DefaultStreamMaxAge))
		if err != nil {
			b.Fatal(err)
		}
		for i := range n {
			firm := kept
			if i%100 == 0 {
				firm = doomed
			}
			msg := &nats.Msg{Subject: subject(firm), Data: make([]byte, 300), Header: nats.Header{outbox.HeaderFirmID: []string{firm}}}
			if _, err := js.PublishMsgAsync(msg); err != nil {
				b.Fatal(err)
			}
		}
		select {
		case <-js.PublishAsyncComplete():
		case <-time.After(5 * time.Minute):
			b.Fatal("publishing did not complete")
		}
		return stream
	}
	for range b.N {
		b.StopTimer()
		fill("byheader", func(string) string { return "firmflow.byheader.task_created" })
		b.StartTimer()
		started := time.Now()
		horizons, err := peers.NewStreams(js).Purge(ctx, doomed, time.Now())
		purgeTime := time.Since(started)
		b.StopTimer()
		if err != nil || len(horizons) != 1 {
			b.Fatalf("purge: %v %+v", err, horizons)
		}
		purged := horizons[0].PurgedMessages
		if err := js.DeleteStream(ctx, "FIRMFLOW_BYHEADER"); err != nil {
			b.Fatal(err)
		}

		stream := fill("bysubject", func(firm string) string { return "firmflow.bysubject.task_created." + firm })
		started = time.Now()
		if err := stream.Purge(ctx, jetstream.WithPurgeSubject("firmflow.bysubject.*."+doomed)); err != nil {
			b.Fatal(err)
		}
		subjectTime := time.Since(started)
		info, err := stream.Info(ctx)
		if err != nil {
			b.Fatal(err)
		}
		if want := uint64(n) - uint64(purged); purged != int64((n+99)/100) || info.State.Msgs != want {
			b.Fatalf("purged %d by header, subject purge left %d of %d", purged, info.State.Msgs, n)
		}
		if err := js.DeleteStream(ctx, "FIRMFLOW_BYSUBJECT"); err != nil {
			b.Fatal(err)
		}
		b.Logf("%d messages, %d of the firm: header scan, delete and rescan %v (%.0f messages scanned/s); "+
			"PurgeStream by subject (were the firm in the subject) %v; ratio %.1fx",
			n, purged, purgeTime.Round(time.Millisecond), float64(n)/purgeTime.Seconds(),
			subjectTime.Round(time.Millisecond), purgeTime.Seconds()/subjectTime.Seconds())
		b.ReportMetric(float64(n)/purgeTime.Seconds(), "scanned-msgs/s")
		b.ReportMetric(purgeTime.Seconds()/subjectTime.Seconds(), "scan/subject-purge")
		b.StartTimer()
	}
}
