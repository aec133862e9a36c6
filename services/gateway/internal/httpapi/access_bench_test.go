package httpapi

import (
	"context"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"
	"google.golang.org/protobuf/types/known/timestamppb"

	eventsv1 "github.com/firmflow/firmflow/pkg/gen/firmflow/events/v1"
	"github.com/firmflow/firmflow/pkg/natsx"
	"github.com/firmflow/firmflow/pkg/natsx/natstest"
)

// BenchmarkDurableAccessEvents makes access events durable from many concurrent
// requests against a JetStream stream that syncs every write, as the gateway's does:
// first one write per request (each waiting for its own acknowledgement, as the
// gateway did before group commit), then group-committed through accessLog. It
// reports events/s and the p50 and p99 wait of each, and the ratio; then the wait
// one request at a time, which is what the access event adds at low load.
func BenchmarkDurableAccessEvents(b *testing.B) {
	nc, js, err := natsx.Connect(natstest.Start(b), "gateway-bench")
	if err != nil {
		b.Fatal(err)
	}
	defer nc.Close()
	if _, err := natsx.EnsureStream(context.Background(), js, natsx.ServiceStream("gateway", true, natsx.DefaultStreamMaxAge)); err != nil {
		b.Fatal(err)
	}
	const requests, perRequest = 64, 40 // in flight, and events each sends in turn
	event := func() *eventsv1.AccessEvent {
		return &eventsv1.AccessEvent{
			EventId: uuid.Must(uuid.NewV7()).String(), Firm: "firms/" + uuid.NewString(), Actor: "apiKeys/" + uuid.NewString(),
			ActorKind: "api_key", RpcMethod: "/firmflow.workflow.v1.ProjectService/GetProject", HttpMethod: "GET",
			Route: "/v1/{name=firms/*/projects/*}", Resources: []string{"firms/x/projects/y"}, HttpStatus: 200,
			GrpcCode: "OK", ClientIp: "127.0.0.1", UserAgent: "loadbench", RequestId: uuid.NewString(), Time: timestamppb.Now(),
		}
	}
	run := func(record func(*eventsv1.AccessEvent) error) (perSecond float64, waits []time.Duration) {
		var mu sync.Mutex
		var wg sync.WaitGroup
		start := time.Now()
		for range requests {
			wg.Go(func() {
				for range perRequest {
					t0 := time.Now()
					if err := record(event()); err != nil {
						b.Error(err)
						return
					}
					mu.Lock()
					waits = append(waits, time.Since(t0))
					mu.Unlock()
				}
			})
		}
		wg.Wait()
		slices.Sort(waits)
		return float64(len(waits)) / time.Since(start).Seconds(), waits
	}
	pct := func(waits []time.Duration, p float64) float64 {
		return float64(waits[min(len(waits)-1, int(float64(len(waits))*p/100))].Microseconds()) / 1000
	}

	b.ResetTimer()
	alone, aloneWaits := run(func(e *eventsv1.AccessEvent) error {
		ctx, cancel := context.WithTimeout(context.Background(), accessPublishTimeout)
		defer cancel()
		return publishBatch(ctx, js, &eventsv1.AccessEventBatch{Events: []*eventsv1.AccessEvent{e}})
	})
	log := &accessLog{pub: js}
	grouped, groupedWaits := run(log.record)
	// At low load, one request at a time: what the access event adds to a response
	// that has nothing to share its write with.
	var lowLoad []time.Duration
	for range 500 {
		t0 := time.Now()
		if err := log.record(event()); err != nil {
			b.Fatal(err)
		}
		lowLoad = append(lowLoad, time.Since(t0))
	}
	slices.Sort(lowLoad)
	b.StopTimer()

	b.ReportMetric(alone, "alone-events/s")
	b.ReportMetric(grouped, "grouped-events/s")
	b.ReportMetric(grouped/alone, "grouped/alone")
	b.ReportMetric(pct(aloneWaits, 50), "alone-p50-ms")
	b.ReportMetric(pct(groupedWaits, 50), "grouped-p50-ms")
	b.ReportMetric(pct(groupedWaits, 99), "grouped-p99-ms")
	b.ReportMetric(pct(lowLoad, 50), "low-load-p50-ms")
	b.Logf("one request at a time: the access event adds p50 %.2f ms, p99 %.2f ms", pct(lowLoad, 50), pct(lowLoad, 99))
	b.Logf("%d requests in flight: a durable write each %.0f events/s (p50 %.1f ms, p99 %.1f ms); group commit %.0f events/s (p50 %.1f ms, p99 %.1f ms): %.1fx",
		requests, alone, pct(aloneWaits, 50), pct(aloneWaits, 99), grouped, pct(groupedWaits, 50), pct(groupedWaits, 99), grouped/alone)
}
