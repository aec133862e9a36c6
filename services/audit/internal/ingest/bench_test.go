package ingest_test

import (
	"context"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/nats-io/nats.go"
	"google.golang.org/protobuf/proto"

	eventsv1 "github.com/firmflow/firmflow/pkg/gen/firmflow/events/v1"
	"github.com/firmflow/firmflow/pkg/principal"
	"github.com/firmflow/firmflow/services/audit/internal/audittest"
	"github.com/firmflow/firmflow/services/audit/internal/domain"
	"github.com/firmflow/firmflow/services/audit/internal/ingest"
)

// benchFirms spreads the load over firms as a busy deployment would.
const benchFirms = 20

// BenchmarkIngest measures sustained ingestion: b.N access events already in
// JetStream, consumed, hashed into their firms' chains and committed, arriving one
// event a message (as change events and the gateway's follow-ups do) or in the
// gateway's group-committed batches. In the same run the very rows it wrote are
// loaded into a fresh database with pgx CopyFrom, the fastest way PostgreSQL takes
// rows, as the baseline.
func BenchmarkIngest(b *testing.B) {
	for _, perMessage := range []int{1, gatewayBatch} {
		name := "one_event_a_message"
		if perMessage > 1 {
			name = fmt.Sprintf("gateway_batches_of_%d", perMessage)
		}
		b.Run(name, func(b *testing.B) { benchIngest(b, perMessage) })
	}
}

// gatewayBatch is a batch size the gateway forms under load: the requests that finish
// during one fsync'd write.
const gatewayBatch = 16

func benchIngest(b *testing.B, perMessage int) {
	f := audittest.New(b)
	js := broker(b)
	firms := make([]string, benchFirms)
	for i := range firms {
		firms[i] = uuid.NewString()
	}
	var msgs []*nats.Msg
	var batch []*eventsv1.AccessEvent
	for i := range b.N {
		id := uuid.NewString()
		msg := accessMsg(b, id, firms[i%benchFirms], fmt.Sprintf("users/u%d", i%50), id)
		if perMessage == 1 {
			msgs = append(msgs, msg)
			continue
		}
		e := &eventsv1.AccessEvent{}
		if err := proto.Unmarshal(msg.Data, e); err != nil {
			b.Fatal(err)
		}
		if batch = append(batch, e); len(batch) == perMessage || i == b.N-1 {
			msgs = append(msgs, accessBatchMsg(b, uuid.NewString(), batch...))
			batch = nil
		}
	}
	publish(b, js, msgs)
	admin, err := pgx.Connect(context.Background(), f.DB.AdminURL)
	if err != nil {
		b.Fatal(err)
	}
	defer admin.Close(context.Background())
	appended := func() int {
		var n int
		if err := admin.QueryRow(context.Background(), "select coalesce(sum(seq), 0) from audit_chain_heads").Scan(&n); err != nil {
			b.Fatal(err)
		}
		return n
	}

	ctx, stop := context.WithCancel(context.Background())
	done := make(chan error, 1)
	b.ResetTimer()
	began := time.Now()
	go func() {
		done <- ingest.New(js, f.App, ingest.Options{Streams: []string{"FIRMFLOW_GATEWAY"}}).Run(ctx)
	}()
	// Sustained: from the first committed batch (the consumer is created and has
	// fetched) to the last.
	first := 0
	for ; first == 0; first = appended() {
		time.Sleep(time.Millisecond)
	}
	start := time.Now()
	for appended() < b.N {
		time.Sleep(2 * time.Millisecond)
	}
	end := time.Now()
	b.StopTimer()
	stop()
	<-done

	rate := float64(b.N) / end.Sub(began).Seconds() // a run too short for a sustained figure
	if b.N > first && end.After(start) {
		rate = float64(b.N-first) / end.Sub(start).Seconds()
	}
	copyRate := copyFromRate(b, admin)
	b.ReportMetric(rate, "events/s")
	b.ReportMetric(copyRate, "copyfrom-rows/s")
	b.ReportMetric(100*rate/copyRate, "%-of-copyfrom")
}

// copyFromRate loads every row of the log behind admin into a fresh audit database
// with CopyFrom, as the owner, and returns rows per second.
func copyFromRate(b *testing.B, admin *pgx.Conn) float64 {
	ctx := context.Background()
	columns := []string{"firm_id", "seq", "event_id", "record_time", "time", "kind", "category", "actor", "action",
		"resources", "code", "subject", "payload", "prev_hash", "hash"}
	rows, err := admin.Query(ctx, "select "+joined(columns)+" from audit_events")
	if err != nil {
		b.Fatal(err)
	}
	values, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) ([]any, error) { return r.Values() })
	if err != nil {
		b.Fatal(err)
	}
	target := audittest.Database(b)
	conn, err := pgx.Connect(ctx, target.OwnerURL)
	if err != nil {
		b.Fatal(err)
	}
	defer conn.Close(ctx)
	start := time.Now()
	n, err := conn.CopyFrom(ctx, pgx.Identifier{"audit_events"}, columns, pgx.CopyFromRows(values))
	if err != nil {
		b.Fatal(err)
	}
	return float64(n) / time.Since(start).Seconds()
}

func joined(columns []string) string {
	out := columns[0]
	for _, c := range columns[1:] {
		out += ", " + c
	}
	return out
}

// BenchmarkQueryLatency measures how long an event takes from its publication to
// being found by a query of the log, while the gateway's stream carries a steady
// background load. It reports the median and the 99th percentile.
func BenchmarkQueryLatency(b *testing.B) {
	const backgroundPerSecond = 4000
	f := audittest.New(b)
	js := broker(b)
	ctx, stop := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- ingest.New(js, f.App, ingest.Options{Streams: []string{"FIRMFLOW_GATEWAY"}}).Run(ctx) }()
	var wg sync.WaitGroup
	defer func() {
		stop()
		wg.Wait()
		<-done
	}()
	wg.Go(func() {
		ticker := time.NewTicker(10 * time.Millisecond)
		defer ticker.Stop()
		for ctx.Err() == nil {
			select {
			case <-ctx.Done():
				return
			case <-ticker.C:
			}
			for range backgroundPerSecond / 100 {
				id := uuid.NewString()
				if _, err := js.PublishMsgAsync(accessMsg(b, id, uuid.NewString(), "users/background", id)); err != nil && ctx.Err() == nil {
					b.Error(err)
					return
				}
			}
		}
	})

	firm := uuid.NewString()
	p := principal.Principal{Kind: principal.KindUser, FirmID: firm, Role: principal.RoleOwner}
	latencies := make([]time.Duration, 0, b.N)
	b.ResetTimer()
	for i := range b.N {
		actor := fmt.Sprintf("users/probe-%d", i)
		id := uuid.NewString()
		published := time.Now()
		if _, err := js.PublishMsg(ctx, accessMsg(b, id, firm, actor, id)); err != nil {
			b.Fatal(err)
		}
		for {
			events, _, err := f.App.Events(ctx, p, firm, domain.Filter{Actor: actor}, 1, "")
			if err != nil {
				b.Fatal(err)
			}
			if len(events) == 1 {
				break
			}
			time.Sleep(time.Millisecond)
		}
		latencies = append(latencies, time.Since(published))
	}
	b.StopTimer()
	slices.Sort(latencies)
	b.ReportMetric(float64(latencies[len(latencies)/2].Microseconds())/1000, "p50-ms")
	b.ReportMetric(float64(latencies[len(latencies)*99/100].Microseconds())/1000, "p99-ms")
}
