package store_test

import (
	"context"
	"os"
	"strconv"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"github.com/firmflow/firmflow/pkg/listfilter"
	"github.com/firmflow/firmflow/pkg/paging"
	"github.com/firmflow/firmflow/pkg/pg/pgtest"
	"github.com/firmflow/firmflow/services/workflow/internal/domain"
	"github.com/firmflow/firmflow/services/workflow/internal/store"
	"github.com/firmflow/firmflow/services/workflow/migrations"
)

// BenchmarkSyncPages measures a CRM's sync reads of a large firm beside the plain
// list in the same run: a page of 100 clients in update_time order from the start
// (a first sync), from deep in the list (a page token near the end), and of what
// changed in the last minute (the next sync), each against the first page of the
// default create_time list. Keyset paging on (firm_id, update_time, id) should make
// every one cost about the same however deep it goes. Another firm of the same size
// shares the tables. FIRMFLOW_BENCH_SYNC_CLIENTS (default 20,000) sets the size.
func BenchmarkSyncPages(b *testing.B) {
	clients := 20_000
	if v, err := strconv.Atoi(os.Getenv("FIRMFLOW_BENCH_SYNC_CLIENTS")); err == nil && v > 0 {
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
	firm := uuid.NewString()
	now := time.Now().UTC().Truncate(time.Second)
	for _, f := range []string{firm, uuid.NewString()} {
		// One client changed per second, the newest now; a tenth are tombstones.
		_, err := admin.Exec(ctx, `insert into clients (id, firm_id, display_name, kind, priority, create_time, update_time, delete_time)
			select gen_random_uuid(), $1, 'Client ' || i, 'business', 'normal', $2::timestamptz - ($3::int + i) * interval '1 second',
				$2::timestamptz - ($3::int - i) * interval '1 second',
				case when i % 10 = 0 then $2::timestamptz - ($3::int - i) * interval '1 second' end
			from generate_series(1, $3::int) i`, f, now, clients)
		if err != nil {
			b.Fatal(err)
		}
	}
	if _, err := admin.Exec(ctx, "analyze"); err != nil {
		b.Fatal(err)
	}
	list := func(f domain.ClientFilter, page paging.Page) ([]store.ClientRecord, *paging.Cursor) {
		var out []store.ClientRecord
		var next *paging.Cursor
		err := s.InFirm(ctx, firm, func(q *store.Queries) (err error) {
			out, next, err = q.Clients(ctx, store.ClientQuery{Filter: f, Page: page})
			return err
		})
		if err != nil {
			b.Fatal(err)
		}
		return out, next
	}
	since := func(t time.Time) domain.ClientFilter {
		return domain.ClientFilter{Order: domain.ClientsByUpdateTime, Changes: domain.Changes{
			UpdateTime: []listfilter.Bound{{Op: listfilter.Greater, Time: t}}, ShowDeleted: true}}
	}
	deep := &paging.Cursor{Time: now.Add(-200 * time.Second), ID: uuid.Nil.String()}
	cases := []struct {
		name   string
		filter domain.ClientFilter
		page   paging.Page
		want   int
	}{
		{"plain list, first page", domain.ClientFilter{}, paging.Page{Size: 100}, 100},
		{"sync from the start", since(time.Time{}), paging.Page{Size: 100}, 100},
		{"sync, a page near the end", since(time.Time{}), paging.Page{Size: 100, After: deep}, 100},
		{"changed in the last minute", since(now.Add(-time.Minute)), paging.Page{Size: 100}, 60},
	}
	const rounds = 50
	for range b.N {
		took := make([]time.Duration, len(cases))
		for i, c := range cases {
			started := time.Now()
			for range rounds {
				if got, _ := list(c.filter, c.page); len(got) != c.want {
					b.Fatalf("%s: %d clients, want %d", c.name, len(got), c.want)
				}
			}
			took[i] = time.Since(started) / rounds
		}
		for i, c := range cases {
			b.Logf("%-28s %8v a page (%.2fx the plain list's first page)", c.name, took[i].Round(time.Microsecond),
				took[i].Seconds()/took[0].Seconds())
		}
		b.ReportMetric(float64(took[2].Microseconds()), "deep-sync-page-µs")
		b.ReportMetric(took[2].Seconds()/took[1].Seconds(), "deep/first-page")
	}
}
