package store_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"github.com/firmflow/firmflow/pkg/paging"
	"github.com/firmflow/firmflow/pkg/pg/pgtest"
	"github.com/firmflow/firmflow/services/workflow/internal/domain"
	"github.com/firmflow/firmflow/services/workflow/internal/store"
	"github.com/firmflow/firmflow/services/workflow/migrations"
)

// workDB is a migrated database with one firm and two of its clients.
type workDB struct {
	db              *pgtest.Database
	store           *store.Store
	firm            string
	client, client2 string
}

func newWorkDB(t *testing.T) workDB {
	t.Helper()
	d := pgtest.New(t, "workflow", migrations.FS)
	w := workDB{db: d, store: store.New(d.Open(t)), firm: uuid.NewString(), client: uuid.NewString(), client2: uuid.NewString()}
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, d.AdminURL)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	for _, id := range []string{w.client, w.client2} {
		if _, err := conn.Exec(ctx, `insert into clients (id, firm_id, display_name, kind, priority, create_time, update_time)
			values ($1, $2, 'c', 'business', 'normal', now(), now())`, id, w.firm); err != nil {
			t.Fatal(err)
		}
	}
	return w
}

func (w workDB) in(t *testing.T, fn func(*store.Queries) error) {
	t.Helper()
	if err := w.store.InFirm(context.Background(), w.firm, fn); err != nil {
		t.Fatal(err)
	}
}

// TestProjectListsPageByKeysetInEveryOrder walks every order ListProjects offers, a
// few rows per page, and checks each project comes exactly once and in order, with
// projects without a due date last in due-date order.
func TestProjectListsPageByKeysetInEveryOrder(t *testing.T) {
	t.Parallel()
	w := newWorkDB(t)
	ctx := context.Background()
	base := time.Date(2026, 3, 1, 9, 0, 0, 0, time.UTC)
	w.in(t, func(q *store.Queries) error {
		for i := range 23 {
			p := domain.Project{
				ID: uuid.Must(uuid.NewV7()).String(), ClientID: w.client, DisplayName: fmt.Sprint("p", i), Status: domain.ProjectNotStarted,
				Version: 1, CreateTime: base.Add(time.Duration(i%7) * time.Minute), // ties on create_time break by id
			}
			if i%5 != 0 {
				p.DueDate = domain.MustDate("2026-04-01").AddDays(i % 4) // ties on due dates too
			}
			if i%2 == 0 {
				p.ClientID = w.client2
			}
			if err := q.InsertProject(ctx, p); err != nil {
				return err
			}
		}
		return nil
	})
	for _, order := range []domain.ProjectOrder{domain.ProjectsByCreateTime, domain.ProjectsByCreateTimeDesc, domain.ProjectsByDueDate, domain.ProjectsByDueDateDesc} {
		for _, client := range []string{"", w.client} {
			f := domain.ProjectFilter{ClientID: client, Order: order}
			var all []domain.Project
			page := paging.Page{Size: 4}
			for range 20 {
				var got []domain.Project
				var next *paging.Cursor
				w.in(t, func(q *store.Queries) error {
					var err error
					got, next, err = q.Projects(ctx, f, page)
					return err
				})
				all = append(all, got...)
				if next == nil {
					break
				}
				page.After = next
			}
			want := 23
			if client != "" {
				want = 11
			}
			seen := map[string]bool{}
			for i, p := range all {
				if seen[p.ID] {
					t.Errorf("%s client=%q: %s twice", order, client, p.ID)
				}
				seen[p.ID] = true
				if i > 0 && !inOrder(order, all[i-1], p) {
					t.Errorf("%s client=%q: %s before %s", order, client, all[i-1].DisplayName, p.DisplayName)
				}
			}
			if len(all) != want {
				t.Errorf("%s client=%q: %d projects, want %d", order, client, len(all), want)
			}
		}
	}
}

func inOrder(order domain.ProjectOrder, a, b domain.Project) bool {
	ca, cb := store.ProjectCursor(a, order), store.ProjectCursor(b, order)
	less := ca.Time.Before(cb.Time) || (ca.Time.Equal(cb.Time) && ca.ID < cb.ID)
	if order == domain.ProjectsByCreateTimeDesc || order == domain.ProjectsByDueDateDesc {
		return !less
	}
	return less
}

// TestTasksPageInPositionOrder pages a project's tasks by position, ties by id.
func TestTasksPageInPositionOrder(t *testing.T) {
	t.Parallel()
	w := newWorkDB(t)
	ctx := context.Background()
	project := domain.Project{ID: uuid.NewString(), ClientID: w.client, DisplayName: "p", Status: domain.ProjectNotStarted, Version: 1, CreateTime: time.Now()}
	w.in(t, func(q *store.Queries) error {
		if err := q.InsertProject(ctx, project); err != nil {
			return err
		}
		var tasks []domain.Task
		for i := range 9 {
			tasks = append(tasks, domain.Task{
				ID: uuid.NewString(), ProjectID: project.ID, ClientID: w.client, Position: 1 + i/2, Title: fmt.Sprint(i),
				Status: domain.TaskReady, Version: 1, CreateTime: time.Now(),
			})
		}
		return q.InsertTasks(ctx, tasks)
	})
	f := domain.TaskFilter{ProjectID: project.ID, Order: domain.TasksByPosition}
	var positions []int
	page := paging.Page{Size: 2}
	for range 10 {
		var got []domain.Task
		var next *paging.Cursor
		w.in(t, func(q *store.Queries) error {
			var err error
			got, next, err = q.Tasks(ctx, f, page)
			return err
		})
		for _, task := range got {
			positions = append(positions, task.Position)
			if first := len(positions) == 1; task.EarlierOpen == first {
				t.Errorf("task %d at %d: earlier task open = %v, want %v", len(positions), task.Position, task.EarlierOpen, !first)
			}
		}
		if next == nil {
			break
		}
		page.After = next
	}
	if fmt.Sprint(positions) != "[1 1 2 2 3 3 4 4 5]" {
		t.Errorf("positions %v", positions)
	}
}

// TestSeriesQueueCrossesFirmsWithIdsOnly checks the scheduler's one cross-firm
// lookup: due series of every firm, by id, and nothing else readable outside a firm.
func TestSeriesQueueCrossesFirmsWithIdsOnly(t *testing.T) {
	t.Parallel()
	w := newWorkDB(t)
	ctx := context.Background()
	template := domain.Template{ID: uuid.NewString(), DisplayName: "t", Revision: 1, CreateTime: time.Now(), UpdateTime: time.Now()}
	series := domain.Series{
		ID: uuid.NewString(), ClientID: w.client, TemplateID: template.ID, DisplayName: "s", Version: 1, CreateTime: time.Now(),
		Recurrence:  domain.Recurrence{Frequency: domain.Monthly, Interval: 1, Start: domain.MustDate("2026-01-01"), Due: domain.DueRule{Kind: domain.DueLastDay}},
		NextRunDate: domain.MustDate("2026-03-01"),
	}
	w.in(t, func(q *store.Queries) error {
		if err := q.CreateTemplate(ctx, template); err != nil {
			return err
		}
		return q.InsertSeries(ctx, series)
	})
	for day, want := range map[string]int{"2026-02-28": 0, "2026-03-01": 1, "2026-06-01": 1} {
		refs, err := w.store.DueSeries(ctx, domain.MustDate(day), 10)
		if err != nil {
			t.Fatal(err)
		}
		if len(refs) != want || (want == 1 && refs[0] != store.SeriesRef{FirmID: w.firm, SeriesID: series.ID}) {
			t.Errorf("due on %s: %v, want %d", day, refs, want)
		}
	}
	conn, err := pgx.Connect(ctx, w.db.RuntimeURL)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	var visible int
	if err := conn.QueryRow(ctx, "select count(*) from series").Scan(&visible); err != nil || visible != 0 {
		t.Errorf("runtime role outside a firm sees %d series (%v), want none", visible, err)
	}
}
