package app

// Inside the package so the tests can set the clock the firm's calendar runs on.

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"google.golang.org/grpc/codes"

	"github.com/firmflow/firmflow/pkg/apierr"
	"github.com/firmflow/firmflow/pkg/keystore/keystoretest"
	"github.com/firmflow/firmflow/pkg/paging"
	"github.com/firmflow/firmflow/pkg/pg/pgtest"
	"github.com/firmflow/firmflow/pkg/principal"
	"github.com/firmflow/firmflow/services/workflow/internal/domain"
	"github.com/firmflow/firmflow/services/workflow/internal/store"
	"github.com/firmflow/firmflow/services/workflow/migrations"
)

// workFixture is a migrated database, the app on it with a settable clock, and the
// people of one firm.
type workFixture struct {
	app    *App
	db     *pgtest.Database
	clock  *time.Time
	firm   string
	owner  principal.Principal
	member principal.Principal
	key    principal.Principal
}

func newWorkFixture(t *testing.T) workFixture {
	t.Helper()
	d := pgtest.New(t, "workflow", migrations.FS)
	keys := keystoretest.New(t, "workflow")
	clock := time.Date(2026, 3, 10, 9, 0, 0, 0, time.UTC) // a Tuesday
	a := New(store.New(d.Open(t)), keys)
	a.now = func() time.Time { return clock }
	firm := uuid.NewString()
	return workFixture{
		app: a, db: d, clock: &clock, firm: firm,
		owner:  principal.Principal{Kind: principal.KindUser, FirmID: firm, UserID: uuid.NewString(), Role: principal.RoleOwner},
		member: principal.Principal{Kind: principal.KindUser, FirmID: firm, UserID: uuid.NewString(), Role: principal.RoleMember},
		key:    principal.Principal{Kind: principal.KindAPIKey, FirmID: firm, APIKeyID: uuid.NewString(), Scopes: []string{"projects:write"}},
	}
}

// client inserts a client row as the administrator: clients are another part of the
// service, and these tests need only that one exists.
func (f workFixture) client(t *testing.T, firmID string) string {
	t.Helper()
	id := uuid.NewString()
	f.admin(t, func(conn *pgx.Conn) error {
		_, err := conn.Exec(context.Background(), `insert into clients (id, firm_id, display_name, kind, priority, create_time, update_time)
			values ($1, $2, 'Client', 'business', 'normal', now(), now())`, id, firmID)
		return err
	})
	return id
}

func (f workFixture) admin(t *testing.T, fn func(*pgx.Conn) error) {
	t.Helper()
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, f.db.AdminURL)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	if err := fn(conn); err != nil {
		t.Fatal(err)
	}
}

// eventCount counts the firm's queued events with the subject.
func (f workFixture) eventCount(t *testing.T, event string) int {
	t.Helper()
	var n int
	f.admin(t, func(conn *pgx.Conn) error {
		return conn.QueryRow(context.Background(), "select count(*) from outbox where firm_id = $1 and subject = $2",
			f.firm, "firmflow.workflow."+event).Scan(&n)
	})
	return n
}

func (f workFixture) template(t *testing.T, tasks ...domain.TemplateTask) domain.Template {
	t.Helper()
	tmpl, err := f.app.CreateTemplate(context.Background(), f.owner, f.firm, domain.Template{DisplayName: "Monthly close", BudgetMinutes: 300, Tasks: tasks}, "")
	if err != nil {
		t.Fatal(err)
	}
	return tmpl
}

func closeTasks() []domain.TemplateTask {
	return []domain.TemplateTask{
		{Title: "Collect statements", Anchor: domain.AnchorStart, OffsetDays: 2, EstimateMinutes: 30, Checklist: []string{"bank", "card"}},
		{Title: "Reconcile", Anchor: domain.AnchorStart, OffsetDays: 5, EstimateMinutes: 120},
		{Title: "Review", Anchor: domain.AnchorDue, OffsetDays: 0, EstimateMinutes: 60},
	}
}

func (f workFixture) tasks(t *testing.T, p principal.Principal, projectID string) []domain.Task {
	t.Helper()
	tasks, _, err := f.app.Tasks(context.Background(), p, f.firm, store.TaskFilter{ProjectID: projectID, Order: store.TasksByPosition}, paging.Page{Size: 100})
	if err != nil {
		t.Fatal(err)
	}
	return tasks
}

func (f workFixture) setStatus(t *testing.T, task domain.Task, s domain.TaskStatus) domain.Task {
	t.Helper()
	out, err := f.app.UpdateTask(context.Background(), f.owner, f.firm, task.ProjectID, task.ID, TaskPatch{Status: &s})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func wantCode(t *testing.T, err error, code codes.Code, what string) {
	t.Helper()
	if !apierr.HasCode(err, code) {
		t.Errorf("%s: error %v, want %s", what, err, code)
	}
}

func TestProjectFromTemplateRunsToCompletion(t *testing.T) {
	t.Parallel()
	f := newWorkFixture(t)
	ctx := context.Background()
	client := f.client(t, f.firm)
	tmpl := f.template(t, closeTasks()...)

	project, err := f.app.CreateProject(ctx, f.owner, f.firm, NewProject{
		Project: domain.Project{ClientID: client, AssigneeID: f.member.UserID, StartDate: domain.MustDate("2026-03-02")}, TemplateID: tmpl.ID,
	})
	if err != nil {
		t.Fatal(err)
	}
	if project.DisplayName != "Monthly close" || project.BudgetMinutes != 300 || project.DueDate.String() != "2026-03-07" ||
		project.Status != domain.ProjectNotStarted || project.TaskCount != 3 || project.TemplateRevision != 1 {
		t.Fatalf("project = %+v", project)
	}
	tasks := f.tasks(t, f.owner, project.ID)
	wantDue := []string{"2026-03-04", "2026-03-07", "2026-03-07"}
	for i, task := range tasks {
		if task.DueDate.String() != wantDue[i] || task.AssigneeID != f.member.UserID {
			t.Errorf("task %d due %s assigned %s, want %s and the project's assignee", i, task.DueDate, task.AssigneeID, wantDue[i])
		}
	}
	// Today is March 10: the first task is up next and overdue, the others blocked.
	today := f.app.Today()
	if fl := tasks[0].Flags(today); !fl.UpNext || !fl.Overdue || fl.Blocked {
		t.Errorf("first task flags %+v", fl)
	}
	if fl := tasks[1].Flags(today); fl.UpNext || !fl.Blocked {
		t.Errorf("second task flags %+v", fl)
	}

	steps := []struct {
		task int
		to   domain.TaskStatus
		want domain.ProjectStatus
	}{
		{0, domain.TaskInProgress, domain.ProjectInProgress},
		{0, domain.TaskComplete, domain.ProjectInProgress},
		{1, domain.TaskComplete, domain.ProjectInProgress},
		{2, domain.TaskComplete, domain.ProjectCompleted},
		{2, domain.TaskReady, domain.ProjectInProgress},
		{2, domain.TaskComplete, domain.ProjectCompleted},
	}
	for i, s := range steps {
		updated := f.setStatus(t, f.tasks(t, f.owner, project.ID)[s.task], s.to)
		if s.to == domain.TaskComplete && updated.CompleteTime.IsZero() {
			t.Errorf("step %d: completed task has no completion time", i)
		}
		got, err := f.app.Project(ctx, f.owner, f.firm, project.ID)
		if err != nil {
			t.Fatal(err)
		}
		if got.Status != s.want {
			t.Errorf("step %d: task %d %s: project %s, want %s", i, s.task, s.to, got.Status, s.want)
		}
	}
	if n := f.eventCount(t, "project_status_changed"); n != 4 {
		t.Errorf("%d project_status_changed events, want 4", n)
	}
	if n := f.eventCount(t, "task_created"); n != 3 {
		t.Errorf("%d task_created events, want 3", n)
	}
}

func TestTemplateEditReachesOnlyNotStartedProjects(t *testing.T) {
	t.Parallel()
	f := newWorkFixture(t)
	ctx := context.Background()
	client := f.client(t, f.firm)
	tmpl := f.template(t, closeTasks()...)
	create := func() domain.Project {
		p, err := f.app.CreateProject(ctx, f.owner, f.firm, NewProject{Project: domain.Project{ClientID: client}, TemplateID: tmpl.ID})
		if err != nil {
			t.Fatal(err)
		}
		return p
	}
	waiting, started, done := create(), create(), create()
	f.setStatus(t, f.tasks(t, f.owner, started.ID)[0], domain.TaskInProgress)
	for _, task := range f.tasks(t, f.owner, done.ID) {
		f.setStatus(t, task, domain.TaskComplete)
	}
	byHand, err := f.app.CreateTask(ctx, f.owner, f.firm, waiting.ID, domain.Task{Title: "Call the client"}, "")
	if err != nil {
		t.Fatal(err)
	}

	edited := []domain.TemplateTask{
		{Title: "Collect statements", Anchor: domain.AnchorStart, OffsetDays: 1},
		{Title: "Reconcile", Anchor: domain.AnchorStart, OffsetDays: 3},
		{Title: "Prepare adjustments", Anchor: domain.AnchorStart, OffsetDays: 4},
		{Title: "Review", Anchor: domain.AnchorDue, OffsetDays: -1},
	}
	updated, err := f.app.UpdateTemplate(ctx, f.owner, f.firm, tmpl.ID, TemplatePatch{Tasks: &edited, Etag: Etag(tmpl.Revision)})
	if err != nil {
		t.Fatal(err)
	}
	if updated.Revision != 2 {
		t.Fatalf("revision %d, want 2", updated.Revision)
	}

	titles := func(p domain.Project) []string {
		var out []string
		for _, task := range f.tasks(t, f.owner, p.ID) {
			out = append(out, task.Title)
		}
		return out
	}
	got := titles(waiting)
	want := []string{"Collect statements", "Reconcile", "Prepare adjustments", "Review", "Call the client"}
	if len(got) != len(want) {
		t.Fatalf("not-started project tasks %v, want %v", got, want)
	}
	for i := range want {
		if got[i] != want[i] {
			t.Fatalf("not-started project tasks %v, want %v", got, want)
		}
	}
	if p, _ := f.app.Project(ctx, f.owner, f.firm, waiting.ID); p.TemplateRevision != 2 || p.TaskCount != 5 || p.Status != domain.ProjectNotStarted {
		t.Errorf("not-started project after edit: %+v", p)
	}
	if kept, err := f.app.Task(ctx, f.owner, f.firm, waiting.ID, byHand.ID); err != nil || kept.Position != 5 {
		t.Errorf("hand-made task: %+v, %v; want it kept after the template's tasks", kept, err)
	}
	for _, p := range []domain.Project{started, done} {
		if n := len(titles(p)); n != 3 {
			t.Errorf("project %s (%s) has %d tasks after the edit, want its 3", p.ID, p.Status, n)
		}
		if got, _ := f.app.Project(ctx, f.owner, f.firm, p.ID); got.TemplateRevision != 1 {
			t.Errorf("started project moved to revision %d", got.TemplateRevision)
		}
	}
	if n := f.eventCount(t, "project_replanned"); n != 1 {
		t.Errorf("%d project_replanned events, want 1", n)
	}
	revisions, _, err := f.app.TemplateRevisions(ctx, f.owner, f.firm, tmpl.ID, paging.Page{Size: 10})
	if err != nil || len(revisions) != 2 || revisions[0].Revision != 2 || len(revisions[1].Tasks) != 3 {
		t.Errorf("revisions %+v, %v", revisions, err)
	}
	_, err = f.app.UpdateTemplate(ctx, f.owner, f.firm, tmpl.ID, TemplatePatch{DisplayName: ptr("Stale"), Etag: Etag(1)})
	wantCode(t, err, codes.Aborted, "edit with a stale etag")
}

func TestSeriesCreatesEachPeriodOnce(t *testing.T) {
	t.Parallel()
	f := newWorkFixture(t)
	ctx := context.Background()
	client := f.client(t, f.firm)
	tmpl := f.template(t, closeTasks()...)

	series, err := f.app.CreateSeries(ctx, f.owner, f.firm, domain.Series{
		ClientID: client, TemplateID: tmpl.ID, DisplayName: "Bookkeeping", AssigneeID: f.member.UserID,
		Recurrence: domain.Recurrence{
			Frequency: domain.Monthly, Interval: 1, Start: domain.MustDate("2026-01-01"), CreateAheadDays: 25,
			Due: domain.DueRule{Kind: domain.DueDayOfPeriod, Day: 15, Shift: domain.ShiftNextWeekday},
		},
	}, "")
	if err != nil {
		t.Fatal(err)
	}
	projects := func() []domain.Project {
		out, _, err := f.app.Projects(ctx, f.owner, f.firm, store.ProjectFilter{ClientID: client, Order: store.ProjectsByDueDate}, paging.Page{Size: 100})
		if err != nil {
			t.Fatal(err)
		}
		return out
	}
	// March 10: March is under way, April is 22 days off (within 25); Jan and Feb
	// ended before the series existed.
	got := projects()
	if len(got) != 2 || got[0].DisplayName != "Bookkeeping — March 2026" || got[0].DueDate.String() != "2026-03-16" ||
		got[1].PeriodStart.String() != "2026-04-01" || got[1].DueDate.String() != "2026-04-15" {
		t.Fatalf("projects after create: %+v", got)
	}
	if series.NextRunDate.String() != "2026-04-06" {
		t.Errorf("next run %s, want 2026-04-06 (May 1 - 25 days)", series.NextRunDate)
	}

	created, _, err := f.app.RunSeries(ctx, f.owner, f.firm, series.ID)
	if err != nil || len(created) != 0 {
		t.Fatalf("second run created %d projects (%v), want none", len(created), err)
	}

	// The scheduler on May 2, run by two workers at once, makes May once.
	*f.clock = time.Date(2026, 5, 2, 6, 0, 0, 0, time.UTC)
	var wg sync.WaitGroup
	errs := make([]error, 2)
	for i := range errs {
		wg.Go(func() { errs[i] = f.app.RunDueSeries(ctx, *f.clock) })
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		t.Fatal(err)
	}
	got = projects()
	if len(got) != 3 || got[2].PeriodStart.String() != "2026-05-01" || got[2].DueDate.String() != "2026-05-15" {
		t.Fatalf("projects after the scheduler: %+v", got)
	}
	if err := f.app.RunDueSeries(ctx, *f.clock); err != nil || len(projects()) != 3 {
		t.Errorf("third run: %v, %d projects", err, len(projects()))
	}
	if n := f.eventCount(t, "series_period_created"); n != 3 {
		t.Errorf("%d series_period_created events, want 3", n)
	}

	// Deleting a period's project does not make the next run create it again.
	if err := f.app.DeleteProject(ctx, f.owner, f.firm, got[2].ID, ""); err != nil {
		t.Fatal(err)
	}
	if created, _, err := f.app.RunSeries(ctx, f.owner, f.firm, series.ID); err != nil || len(created) != 0 {
		t.Errorf("run after deleting a period's project created %d (%v)", len(created), err)
	}
}

func TestSeriesEditReplansOnlyNotStartedProjects(t *testing.T) {
	t.Parallel()
	f := newWorkFixture(t)
	ctx := context.Background()
	client := f.client(t, f.firm)
	tmpl := f.template(t, closeTasks()...)
	series, err := f.app.CreateSeries(ctx, f.owner, f.firm, domain.Series{
		ClientID: client, TemplateID: tmpl.ID, DisplayName: "Payroll", AssigneeID: f.owner.UserID,
		Recurrence: domain.Recurrence{
			Frequency: domain.Monthly, Interval: 1, Start: domain.MustDate("2026-03-01"), CreateAheadDays: 60,
			Due: domain.DueRule{Kind: domain.DueLastDay},
		},
	}, "")
	if err != nil {
		t.Fatal(err)
	}
	list := func() []domain.Project {
		out, _, err := f.app.Projects(ctx, f.owner, f.firm, store.ProjectFilter{Order: store.ProjectsByDueDate}, paging.Page{Size: 100})
		if err != nil {
			t.Fatal(err)
		}
		return out
	}
	before := list() // March, April, May
	if len(before) != 3 {
		t.Fatalf("%d projects, want 3", len(before))
	}
	f.setStatus(t, f.tasks(t, f.owner, before[0].ID)[0], domain.TaskComplete)

	rule := domain.DueRule{Kind: domain.DueNthWeekday, Nth: -1, Weekday: time.Friday}
	_, err = f.app.UpdateSeries(ctx, f.owner, f.firm, series.ID, SeriesPatch{
		AssigneeID: &f.member.UserID, DueRule: &rule, DisplayName: ptr("Payroll run"), Etag: Etag(series.Version),
	})
	if err != nil {
		t.Fatal(err)
	}
	after := list()
	if after[0].AssigneeID != f.owner.UserID || after[0].DueDate.String() != "2026-03-31" || after[0].DisplayName != "Payroll — March 2026" {
		t.Errorf("in-progress project changed: %+v", after[0])
	}
	for i, want := range []string{"2026-04-24", "2026-05-29"} {
		p := after[i+1]
		if p.AssigneeID != f.member.UserID || p.DueDate.String() != want || p.DisplayName[:11] != "Payroll run" {
			t.Errorf("not-started project %d: %+v, want the new assignee, name and due %s", i+1, p, want)
		}
		for _, task := range f.tasks(t, f.owner, p.ID) {
			if task.AssigneeID != f.member.UserID {
				t.Errorf("task %q kept assignee %s", task.Title, task.AssigneeID)
			}
		}
	}
	if got := f.tasks(t, f.owner, after[0].ID); got[1].AssigneeID != f.owner.UserID {
		t.Errorf("in-progress project's task reassigned to %s", got[1].AssigneeID)
	}
}

func TestWorkloadCountsOpenOverdueAndThisWeek(t *testing.T) {
	t.Parallel()
	f := newWorkFixture(t)
	ctx := context.Background()
	client := f.client(t, f.firm)
	project, err := f.app.CreateProject(ctx, f.owner, f.firm, NewProject{Project: domain.Project{ClientID: client, DisplayName: "Ad hoc"}})
	if err != nil {
		t.Fatal(err)
	}
	// Today is Tuesday March 10; the week is March 9 to 15.
	add := func(assignee, due string, minutes int, status domain.TaskStatus) {
		t.Helper()
		_, err := f.app.CreateTask(ctx, f.owner, f.firm, project.ID, domain.Task{
			Title: "t", AssigneeID: assignee, DueDate: domain.MustDate(due), EstimateMinutes: minutes, Status: status,
		}, "")
		if err != nil {
			t.Fatal(err)
		}
	}
	m := f.member.UserID
	add(m, "2026-03-02", 60, domain.TaskReady)       // overdue
	add(m, "2026-03-11", 120, domain.TaskInProgress) // this week
	add(m, "2026-03-15", 30, domain.TaskReady)       // this week, Sunday
	add(m, "2026-03-16", 500, domain.TaskReady)      // next week
	add(m, "2026-03-12", 999, domain.TaskComplete)   // done: not counted
	add(f.owner.UserID, "2026-03-13", 45, domain.TaskReady)
	if _, err := f.app.SetCapacity(ctx, f.owner, f.firm, m, 200, ""); err != nil {
		t.Fatal(err)
	}

	week, loads, err := f.app.Workload(ctx, f.owner, f.firm, domain.Date{})
	if err != nil {
		t.Fatal(err)
	}
	if week.Monday.String() != "2026-03-09" || week.Sunday.String() != "2026-03-15" {
		t.Errorf("week %s..%s", week.Monday, week.Sunday)
	}
	byMember := map[string]domain.MemberLoad{}
	for _, l := range loads {
		byMember[l.MemberID] = l
	}
	want := domain.MemberLoad{MemberID: m, OpenTasks: 4, OverdueTasks: 1, DueThisWeek: 2, PlannedMinutes: 210, CapacityMinutes: 200}
	if byMember[m] != want || !want.OverCapacity() {
		t.Errorf("member load %+v, want %+v", byMember[m], want)
	}
	if o := byMember[f.owner.UserID]; o.OpenTasks != 1 || o.CapacityMinutes != domain.DefaultWeeklyCapacityMinutes {
		t.Errorf("owner load %+v", o)
	}

	summary, tasks, _, err := f.app.MyWork(ctx, f.member, f.firm, paging.Page{Size: 10})
	if err != nil {
		t.Fatal(err)
	}
	if summary != want || len(tasks) != 4 || tasks[0].DueDate.String() != "2026-03-02" {
		t.Errorf("my work %+v with %d tasks", summary, len(tasks))
	}
}

func TestWorkPermissionsAndIsolation(t *testing.T) {
	t.Parallel()
	f := newWorkFixture(t)
	ctx := context.Background()
	client := f.client(t, f.firm)
	tmpl := f.template(t, closeTasks()...)
	project, err := f.app.CreateProject(ctx, f.owner, f.firm, NewProject{Project: domain.Project{ClientID: client}, TemplateID: tmpl.ID})
	if err != nil {
		t.Fatal(err)
	}
	task := f.tasks(t, f.owner, project.ID)[0]

	// Members cannot delete by default.
	wantCode(t, f.app.DeleteProject(ctx, f.member, f.firm, project.ID, ""), codes.PermissionDenied, "member deletes a project")
	wantCode(t, f.app.DeleteTask(ctx, f.member, f.firm, project.ID, task.ID, ""), codes.PermissionDenied, "member deletes a task")
	wantCode(t, f.app.DeleteTemplate(ctx, f.member, f.firm, tmpl.ID, ""), codes.PermissionDenied, "member deletes a template")

	// With tasks:read "assigned", a member lists only their own tasks and reads no others.
	_, err = f.app.SetPermissions(ctx, f.owner, f.firm, domain.Permissions{
		{Role: principal.RoleMember, Category: domain.CategoryTasks, Action: domain.ActionRead}: domain.ScopeAssigned,
	})
	if err != nil {
		t.Fatal(err)
	}
	mine, err := f.app.CreateTask(ctx, f.owner, f.firm, project.ID, domain.Task{Title: "Mine", AssigneeID: f.member.UserID}, "")
	if err != nil {
		t.Fatal(err)
	}
	if got := f.tasks(t, f.member, ""); len(got) != 1 || got[0].ID != mine.ID {
		t.Errorf("member with assigned scope lists %d tasks, want only their own", len(got))
	}
	_, err = f.app.Task(ctx, f.member, f.firm, project.ID, task.ID)
	wantCode(t, err, codes.PermissionDenied, "member reads someone else's task")
	if _, err := f.app.Task(ctx, f.member, f.firm, project.ID, mine.ID); err != nil {
		t.Errorf("member reads own task: %v", err)
	}

	// Another firm's owner finds nothing, and nothing changes.
	other := principal.Principal{Kind: principal.KindUser, FirmID: uuid.NewString(), UserID: uuid.NewString(), Role: principal.RoleOwner}
	_, err = f.app.Project(ctx, other, f.firm, project.ID)
	wantCode(t, err, codes.NotFound, "other firm reads the project")
	_, err = f.app.Project(ctx, other, other.FirmID, project.ID)
	wantCode(t, err, codes.NotFound, "other firm reads the project through its own firm")
	_, err = f.app.UpdateTask(ctx, other, other.FirmID, project.ID, task.ID, TaskPatch{Title: ptr("owned")})
	wantCode(t, err, codes.NotFound, "other firm updates a task through its own firm")
	_, err = f.app.CreateProject(ctx, other, other.FirmID, NewProject{Project: domain.Project{ClientID: client, DisplayName: "x"}})
	wantCode(t, err, codes.NotFound, "other firm uses the client")
	_, err = f.app.CreateProject(ctx, other, other.FirmID, NewProject{Project: domain.Project{ClientID: f.client(t, other.FirmID)}, TemplateID: tmpl.ID})
	wantCode(t, err, codes.NotFound, "other firm uses the template")
	if got, _ := f.app.Task(ctx, f.owner, f.firm, project.ID, task.ID); got.Title != task.Title || got.Version != task.Version {
		t.Errorf("task changed: %+v", got)
	}
}

func TestRetriedCreatesReturnTheFirstResult(t *testing.T) {
	t.Parallel()
	f := newWorkFixture(t)
	ctx := context.Background()
	client := f.client(t, f.firm)
	first, err := f.app.CreateProject(ctx, f.key, f.firm, NewProject{Project: domain.Project{ClientID: client, DisplayName: "Audit"}, RequestID: "crm-42"})
	if err != nil {
		t.Fatal(err)
	}
	again, err := f.app.CreateProject(ctx, f.key, f.firm, NewProject{Project: domain.Project{ClientID: client, DisplayName: "Audit"}, RequestID: "crm-42"})
	if err != nil || again.ID != first.ID {
		t.Errorf("retry made %s (%v), want %s", again.ID, err, first.ID)
	}
	_, err = f.app.CreateTask(ctx, f.owner, f.firm, first.ID, domain.Task{Title: "x"}, "crm-42")
	wantCode(t, err, codes.InvalidArgument, "request id reused for a task")
	tasks := []string{}
	for range 2 {
		task, err := f.app.CreateTask(ctx, f.owner, f.firm, first.ID, domain.Task{Title: "Send letter"}, "task-1")
		if err != nil {
			t.Fatal(err)
		}
		tasks = append(tasks, task.ID)
	}
	if tasks[0] != tasks[1] || len(f.tasks(t, f.owner, first.ID)) != 1 {
		t.Errorf("retried task create made %v", tasks)
	}
}

func TestClientWithWorkCannotBeDeleted(t *testing.T) {
	t.Parallel()
	f := newWorkFixture(t)
	ctx := context.Background()
	client := f.client(t, f.firm)
	project, err := f.app.CreateProject(ctx, f.owner, f.firm, NewProject{Project: domain.Project{ClientID: client, DisplayName: "x"}})
	if err != nil {
		t.Fatal(err)
	}
	wantCode(t, f.app.DeleteClient(ctx, f.owner, f.firm, client, ""), codes.FailedPrecondition, "delete a client with a project")
	if _, err := f.app.Project(ctx, f.owner, f.firm, project.ID); err != nil {
		t.Errorf("the project went with the refused delete: %v", err)
	}
}

func ptr[T any](v T) *T { return &v }
