package app

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/firmflow/firmflow/services/workflow/internal/domain"
)

// BenchmarkClientCreateAndGet measures the whole use-case path (transaction,
// permissions, SQL, events) for creating a client and reading it back, with its tax
// id, bank numbers and notes encrypted and the tax id blind-indexed, against the
// same path for a client without sensitive values, in the same run. It reports
// both and their ratio: what encryption at rest costs a request.
func BenchmarkClientCreateAndGet(b *testing.B) {
	f := newFixture(b)
	ctx := context.Background()
	roundTrip := func(c domain.Client) time.Duration {
		start := time.Now()
		created, err := f.app.CreateClient(ctx, f.owner, f.firm, c, "")
		if err != nil {
			b.Fatal(err)
		}
		if _, err := f.app.Client(ctx, f.owner, f.firm, created.ID, false); err != nil {
			b.Fatal(err)
		}
		return time.Since(start)
	}
	plain := domain.Client{DisplayName: "Plain client", Tags: []string{"1040"}, Description: "prefers email"}
	n := 0
	var plainTime, sealedTime time.Duration
	for b.Loop() {
		n++
		sensitive := taxed
		sensitive.Sensitive.TaxID = fmt.Sprintf("9%08d", n) // unique per firm
		// Interleaved, so both see the same table sizes and caches.
		plainTime += roundTrip(plain)
		sealedTime += roundTrip(sensitive)
	}
	perOp := func(d time.Duration) float64 { return float64(d.Nanoseconds()) / float64(n) }
	b.ReportMetric(perOp(plainTime), "plain-ns/op")
	b.ReportMetric(perOp(sealedTime), "encrypted-ns/op")
	b.ReportMetric(perOp(sealedTime)/perOp(plainTime), "encrypted/plain")
}

// BenchmarkBatchCreateClients creates 500 clients with one BatchCreateClients call
// and 500 clients with 500 CreateClient calls, interleaved in the same run, through
// the whole use-case path (transaction, permissions, sealing, SQL, events), and
// reports both per 500 and their ratio: what a CRM saves by sending a batch.
func BenchmarkBatchCreateClients(b *testing.B) {
	f := newFixture(b)
	ctx := context.Background()
	const n = MaxBatch
	round := 0
	clients := func() []domain.Client {
		round++
		cs := make([]domain.Client, n)
		for i := range cs {
			cs[i] = domain.Client{
				DisplayName: fmt.Sprintf("Client %d-%d", round, i), ExternalID: fmt.Sprintf("crm-%d-%d", round, i),
				Tags: []string{"batch"}, Sensitive: domain.Sensitive{Notes: "prefers email"},
			}
		}
		return cs
	}
	var batchTime, singleTime time.Duration
	rounds := 0
	for b.Loop() {
		rounds++
		start := time.Now()
		if _, err := f.app.BatchCreateClients(ctx, f.writer, f.firm, clients(), ""); err != nil {
			b.Fatal(err)
		}
		batchTime += time.Since(start)
		start = time.Now()
		for _, c := range clients() {
			if _, err := f.app.CreateClient(ctx, f.writer, f.firm, c, ""); err != nil {
				b.Fatal(err)
			}
		}
		singleTime += time.Since(start)
	}
	per := func(d time.Duration) float64 { return float64(d.Milliseconds()) / float64(rounds) }
	b.ReportMetric(per(batchTime), "batch-ms/500")
	b.ReportMetric(per(singleTime), "single-ms/500")
	b.ReportMetric(float64(singleTime)/float64(batchTime), "single/batch")
}
