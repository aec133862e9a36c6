package store_test

import (
	"context"
	"fmt"
	"os"
	"runtime"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"github.com/firmflow/firmflow/pkg/firmdata"
	"github.com/firmflow/firmflow/pkg/pg/pgtest"
	"github.com/firmflow/firmflow/services/workflow/internal/store"
	"github.com/firmflow/firmflow/services/workflow/migrations"
)

// BenchmarkFirmDataAtScale measures lifecycle's two bulk paths in the service that
// holds most of a firm's rows, each beside its baseline in the same run: the export
// (FirmDataService's cursor, JSON rows, batches of 500) against a raw COPY ... TO of
// the same tables, with the heap's peak during the export; and the deletion
// (DeleteFirm: every table children first, queues included, under row-level
// security) against raw DELETE ... WHERE firm_id of the same rows as the owner.
// FIRMFLOW_BENCH_FIRM_CLIENTS (default 10,000) sets the size: one project per client
// and 20 tasks per project, so 10,000 clients are 220,000 rows.
func BenchmarkFirmDataAtScale(b *testing.B) {
	clients := 10_000
	if v, err := strconv.Atoi(os.Getenv("FIRMFLOW_BENCH_FIRM_CLIENTS")); err == nil && v > 0 {
		clients = v
	}
	ctx := context.Background()
	d := pgtest.New(b, "workflow", migrations.FS)
	s := store.New(d.Open(b))
	admin, err := pgx.Connect(ctx, d.AdminURL)
	if err != nil {
		b.Fatal(err)
	}
	defer admin.Close(ctx)
	for range b.N {
		exported, deleted := uuid.NewString(), uuid.NewString()
		rows := seedFirm(b, admin, exported, clients)
		seedFirm(b, admin, deleted, clients)
		b.Logf("firm size: %d clients, %d projects, %d tasks (%d rows)", clients, clients, 20*clients, rows)

		// Export, sampling the heap while it runs.
		runtime.GC()
		var before runtime.MemStats
		runtime.ReadMemStats(&before)
		peak, stop := sampleHeap()
		var exportBytes int64
		started := time.Now()
		err := s.ExportFirm(ctx, exported, nil, func(batch firmdata.Batch) error {
			for _, r := range batch.Rows {
				exportBytes += int64(len(r)) + 1
			}
			return nil
		})
		exportTime := time.Since(started)
		stop()
		if err != nil {
			b.Fatal(err)
		}
		copyBytes, copyTime := copyFirm(b, admin, exported)
		extra := float64(int64(peak.Load())-int64(before.HeapInuse)) / (1 << 20)

		// Deletion through the service against raw deletes of the other, identical firm.
		started = time.Now()
		counts, err := s.DeleteFirm(ctx, exported)
		deleteTime := time.Since(started)
		if err != nil {
			b.Fatal(err)
		}
		var removed int64
		for _, c := range counts {
			removed += c.Rows
		}
		started = time.Now()
		var rawRemoved int64
		for _, table := range []string{"tasks", "projects", "clients"} {
			tag, err := admin.Exec(ctx, "delete from "+table+" where firm_id = $1", deleted)
			if err != nil {
				b.Fatal(err)
			}
			rawRemoved += tag.RowsAffected()
		}
		rawDeleteTime := time.Since(started)
		if removed != rows || rawRemoved != rows {
			b.Fatalf("deleted %d rows through the service and %d raw, seeded %d", removed, rawRemoved, rows)
		}

		mbps := func(n int64, d time.Duration) float64 { return float64(n) / (1 << 20) / d.Seconds() }
		b.Logf("export: %d rows, %.1f MB JSON in %v = %.1f MB/s, %.0f rows/s; COPY TO: %.1f MB in %v = %.1f MB/s, %.0f rows/s; export/COPY time %.2fx; peak heap +%.1f MB over %.1f MB",
			rows, float64(exportBytes)/(1<<20), exportTime.Round(time.Millisecond), mbps(exportBytes, exportTime), float64(rows)/exportTime.Seconds(),
			float64(copyBytes)/(1<<20), copyTime.Round(time.Millisecond), mbps(copyBytes, copyTime), float64(rows)/copyTime.Seconds(),
			exportTime.Seconds()/copyTime.Seconds(), extra, float64(before.HeapInuse)/(1<<20))
		b.Logf("delete: %d rows in %v (%.0f rows/s); raw DELETE ... WHERE firm_id: %v (%.0f rows/s); service/raw time %.2fx",
			removed, deleteTime.Round(time.Millisecond), float64(removed)/deleteTime.Seconds(),
			rawDeleteTime.Round(time.Millisecond), float64(rawRemoved)/rawDeleteTime.Seconds(), deleteTime.Seconds()/rawDeleteTime.Seconds())
		b.ReportMetric(mbps(exportBytes, exportTime), "export-MB/s")
		b.ReportMetric(mbps(copyBytes, copyTime), "copy-MB/s")
		b.ReportMetric(extra, "export-peak-heap-MB")
		b.ReportMetric(deleteTime.Seconds(), "delete-s")
		b.ReportMetric(rawDeleteTime.Seconds(), "raw-delete-s")
	}
}

// seedFirm gives firm clients clients, a project each and 20 tasks per project,
// and answers the rows written.
func seedFirm(b *testing.B, conn *pgx.Conn, firm string, clients int) int64 {
	b.Helper()
	ctx := context.Background()
	var total int64
	for _, sql := range []string{
		`insert into clients (id, firm_id, display_name, kind, priority, create_time, update_time)
		 select gen_random_uuid(), $1, 'Client ' || i, 'business', 'normal', now(), now()
		 from generate_series(1, ` + fmt.Sprint(clients) + `) i`,
		`insert into projects (id, firm_id, client_id, display_name, status, start_date, due_date, budget_minutes,
		   task_count, completed_task_count, version, create_time, update_time)
		 select gen_random_uuid(), $1, c.id, 'Project of ' || c.display_name, 'in_progress', date '2026-01-01',
		   date '2026-03-31', 240, 20, 2, 1, now(), now()
		 from clients c where c.firm_id = $1`,
		`insert into tasks (id, firm_id, project_id, client_id, position, title, status, due_date, estimate_minutes,
		   version, create_time, update_time)
		 select gen_random_uuid(), $1, p.id, p.client_id, k, 'Task ' || k, case when k <= 2 then 'complete' else 'ready' end,
		   p.due_date - (20 - k), 30, 1, now(), now()
		 from projects p cross join generate_series(1, 20) k where p.firm_id = $1`,
	} {
		tag, err := conn.Exec(ctx, sql, firm)
		if err != nil {
			b.Fatalf("seed: %v", err)
		}
		total += tag.RowsAffected()
	}
	if _, err := conn.Exec(ctx, "analyze"); err != nil {
		b.Fatal(err)
	}
	return total
}

// copyFirm is the baseline export: COPY ... TO of the firm's rows of the same tables,
// in the same order, answering the bytes written and the time taken.
func copyFirm(b *testing.B, conn *pgx.Conn, firm string) (int64, time.Duration) {
	b.Helper()
	var w countingWriter
	started := time.Now()
	for _, table := range []string{"clients", "projects", "tasks"} {
		// The firm id is a UUID this benchmark made: safe to inline (COPY takes no parameters).
		if _, err := conn.PgConn().CopyTo(context.Background(), &w,
			"copy (select * from "+table+" where firm_id = '"+firm+"' order by id) to stdout"); err != nil {
			b.Fatal(err)
		}
	}
	return w.n, time.Since(started)
}

type countingWriter struct{ n int64 }

func (w *countingWriter) Write(p []byte) (int, error) { w.n += int64(len(p)); return len(p), nil }

// sampleHeap records the largest HeapInuse seen every 5 ms until stop is called.
func sampleHeap() (peak *atomic.Uint64, stop func()) {
	peak = &atomic.Uint64{}
	done := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		var m runtime.MemStats
		for {
			runtime.ReadMemStats(&m)
			if m.HeapInuse > peak.Load() {
				peak.Store(m.HeapInuse)
			}
			select {
			case <-done:
				return
			case <-time.After(5 * time.Millisecond):
			}
		}
	}()
	return peak, func() { close(done); wg.Wait() }
}
