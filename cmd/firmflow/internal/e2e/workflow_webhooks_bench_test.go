package e2e

import (
	"fmt"
	"net/http"
	"os"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/firmflow/firmflow/cmd/firmflow/internal/e2e/harness"
	workflowv1 "github.com/firmflow/firmflow/pkg/gen/firmflow/workflow/v1"
)

// Webhook load shape: changes are client creations over REST, each its own object.
const (
	webhookRate       = 50 // changes a second in the paced and outage runs
	webhookPacedFor   = 10 * time.Second
	webhookBacklog    = 1000 // deliveries waiting when a paused subscription is enabled
	webhookOutageFor  = 10 * time.Second
	webhookDrainLimit = 3 * time.Minute
)

// BenchmarkWebhookDelivery drives the whole path on the shared stack (REST change,
// outbox, JetStream, the change consumer, the delivery worker, HTTPS to a receiver
// on loopback) and prints: the delay from change to delivery at 50 changes/s (p50,
// p99) against the REST latency of the changes themselves (the baseline, same run);
// deliveries/s draining a backlog of 1000; and, after a 10 s outage of the receiver
// at 50 changes/s, the retries made, how long the backlog took to drain once it was
// back, and whether every change arrived. Run with -benchtime=1x: each part runs for
// a fixed time, not b.N times.
func BenchmarkWebhookDelivery(b *testing.B) {
	f, err := shared.SignUp("webhookbench")
	if err != nil {
		b.Fatal(err)
	}
	owner := f.Client
	recv := newHookReceiver(b, shared.Stack.Material.PKI, 0)
	sub := &workflowv1.WebhookSubscription{}
	r, err := owner.Do("POST", "/v1/"+f.Name+"/webhookSubscriptions", map[string]any{"url": recv.srv.URL, "event_types": []string{"client.created"}})
	if err != nil || r.Status != http.StatusCreated || r.Message(sub) != nil {
		b.Fatalf("subscribe: %v %d %s", err, r.Status, r.Raw)
	}
	create := func(name string) (string, time.Duration) {
		start := time.Now()
		c := &workflowv1.Client{}
		r, err := owner.Do("POST", "/v1/"+f.Name+"/clients", map[string]any{"display_name": name})
		if err != nil || r.Status != http.StatusCreated || r.Message(c) != nil {
			b.Fatalf("create client: %v %d %s", err, r.Status, r.Raw)
		}
		return c.GetName(), time.Since(start)
	}
	// paced makes webhookRate changes a second for d and answers their names and
	// REST latencies.
	paced := func(prefix string, d time.Duration) ([]string, []time.Duration) {
		var mu sync.Mutex
		var names []string
		var latencies []time.Duration
		var wg sync.WaitGroup
		tick := time.NewTicker(time.Second / webhookRate)
		defer tick.Stop()
		for i, end := 0, time.Now().Add(d); time.Now().Before(end); i++ {
			<-tick.C
			wg.Add(1)
			go func() {
				defer wg.Done()
				name, took := create(fmt.Sprintf("%s %d", prefix, i))
				mu.Lock()
				names, latencies = append(names, name), append(latencies, took)
				mu.Unlock()
			}()
		}
		wg.Wait()
		return names, latencies
	}
	// await waits until every named object has arrived and answers when the last did.
	await := func(names []string) time.Time {
		want := map[string]bool{}
		for _, n := range names {
			want[n] = true
		}
		deadline := time.Now().Add(webhookDrainLimit)
		for {
			var last time.Time
			seen := 0
			for _, m := range recv.messages() {
				if want[m.Data.Object] {
					seen++
					if m.arrived.After(last) {
						last = m.arrived
					}
				}
			}
			if seen >= len(want) {
				return last
			}
			if time.Now().After(deadline) {
				b.Fatalf("%d of %d changes delivered within %v", seen, len(want), webhookDrainLimit)
			}
			time.Sleep(50 * time.Millisecond)
		}
	}
	delays := func(names []string) []time.Duration {
		in := map[string]bool{}
		for _, n := range names {
			in[n] = true
		}
		var out []time.Duration
		for _, m := range recv.messages() {
			if in[m.Data.Object] {
				out = append(out, m.arrived.Sub(m.Time))
			}
		}
		return out
	}

	for b.Loop() {
		// 1. Delay at a steady 50 changes/s.
		names, restLatency := paced("paced", webhookPacedFor)
		await(names)
		delay := delays(names)
		p50, p99 := percentile(delay, 50), percentile(delay, 99)
		restP99 := percentile(restLatency, 99)

		// 2. Throughput: a paused subscription collects a backlog, then is enabled.
		mustDo(b, owner, "PATCH", "/v1/"+sub.GetName()+"?update_mask=state", map[string]any{"state": "WEBHOOK_SUBSCRIPTION_STATE_DISABLED"})
		var backlog []string
		var wg sync.WaitGroup
		var mu sync.Mutex
		for w := range 8 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for i := w; i < webhookBacklog; i += 8 {
					name, _ := create(fmt.Sprintf("backlog %d", i))
					mu.Lock()
					backlog = append(backlog, name)
					mu.Unlock()
				}
			}()
		}
		wg.Wait()
		time.Sleep(2 * time.Second) // the change consumer queues the last of them
		enabled := time.Now()
		mustDo(b, owner, "PATCH", "/v1/"+sub.GetName()+"?update_mask=state", map[string]any{"state": "WEBHOOK_SUBSCRIPTION_STATE_ACTIVE"})
		drained := await(backlog)
		perSecond := float64(len(backlog)) / drained.Sub(enabled).Seconds()

		// 3. An outage of the receiver while changes keep coming.
		recv.mu.Lock()
		failedBefore := recv.requests - len(recv.got)
		recv.mu.Unlock()
		recv.setDown(true)
		outage, _ := paced("outage", webhookOutageFor)
		back := time.Now()
		recv.setDown(false)
		caughtUp := await(outage)
		recv.mu.Lock()
		retries := recv.requests - len(recv.got) - failedBefore
		recv.mu.Unlock()
		lost := 0
		for _, n := range outage {
			if len(recv.about(n)) == 0 {
				lost++
			}
		}

		b.ReportMetric(float64(p50.Milliseconds()), "delay-p50-ms")
		b.ReportMetric(float64(p99.Milliseconds()), "delay-p99-ms")
		b.ReportMetric(float64(p99)/float64(restP99), "delay-p99/rest-p99")
		b.ReportMetric(perSecond, "deliveries/s")
		b.ReportMetric(float64(retries), "outage-retries")
		b.ReportMetric(caughtUp.Sub(back).Seconds(), "catch-up-s")
		b.ReportMetric(float64(lost), "lost")
		fmt.Fprintf(os.Stdout, "\nwebhooks: %d changes at %d/s: delay p50 %v, p99 %v (REST create p99 %v, ratio %.1f)\n",
			len(names), webhookRate, p50, p99, restP99, float64(p99)/float64(restP99))
		fmt.Fprintf(os.Stdout, "webhooks: backlog of %d drained at %.0f deliveries/s\n", len(backlog), perSecond)
		fmt.Fprintf(os.Stdout, "webhooks: %v outage at %d changes/s: %d changes, %d failed attempts retried, caught up %v after the receiver was back, %d lost\n",
			webhookOutageFor, webhookRate, len(outage), retries, caughtUp.Sub(back).Round(time.Millisecond), lost)
		if lost > 0 {
			b.Fatalf("%d changes lost", lost)
		}
	}
}

func mustDo(b *testing.B, c *harness.Client, method, path string, body any) {
	b.Helper()
	r, err := c.Do(method, path, body)
	if err != nil || r.Status >= 300 {
		b.Fatalf("%s %s: %v %d %s", method, path, err, r.Status, r.Raw)
	}
}

func percentile(ds []time.Duration, p int) time.Duration {
	if len(ds) == 0 {
		return 0
	}
	s := slices.Clone(ds)
	slices.Sort(s)
	return s[min(len(s)-1, len(s)*p/100)]
}
