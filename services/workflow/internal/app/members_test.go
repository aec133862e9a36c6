package app

import (
	"context"
	"slices"
	"testing"
	"time"

	"github.com/google/uuid"
	"google.golang.org/grpc/codes"
	"google.golang.org/protobuf/proto"

	eventsv1 "github.com/firmflow/firmflow/pkg/gen/firmflow/events/v1"
	"github.com/firmflow/firmflow/services/workflow/internal/domain"
)

// wantNotMember fails the test unless err is INVALID_ARGUMENT naming field.
func wantNotMember(t *testing.T, err error, field string) {
	t.Helper()
	wantCode(t, err, codes.InvalidArgument, field)
	if got := violations(err); !slices.Equal(got, []string{field}) {
		t.Fatalf("violations %v, want %s (err %v)", got, field, err)
	}
}

func TestReferencesToAnyoneButTheFirmsMembersAreRefused(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	ctx := context.Background()
	client := f.client(t, f.firm)
	project, err := f.app.CreateProject(ctx, f.owner, f.firm, NewProject{Project: domain.Project{ClientID: client, DisplayName: "Year end"}})
	if err != nil {
		t.Fatal(err)
	}
	task, err := f.app.CreateTask(ctx, f.owner, f.firm, project.ID, domain.Task{Title: "Prepare"}, "")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.app.CreateCustomField(ctx, f.admin, f.firm, domain.CustomField{Key: "manager", DisplayName: "Manager", Type: domain.FieldMember}, ""); err != nil {
		t.Fatal(err)
	}
	outsiders := map[string]string{
		"another firm's member": f.other.UserID,
		"nobody":                uuid.NewString(),
	}
	for who, id := range outsiders {
		_, err := f.app.CreateTask(ctx, f.owner, f.firm, project.ID, domain.Task{Title: "x", AssigneeID: id}, "")
		wantNotMember(t, err, "task.assignee")
		_, err = f.app.CreateTask(ctx, f.key, f.firm, project.ID, domain.Task{Title: "x", AssigneeID: id}, "")
		wantNotMember(t, err, "task.assignee")
		_, err = f.app.UpdateTask(ctx, f.key, f.firm, project.ID, task.ID, TaskPatch{AssigneeID: &id})
		wantNotMember(t, err, "task.assignee")
		_, err = f.app.UpdateProject(ctx, f.owner, f.firm, project.ID, ProjectPatch{AssigneeID: &id})
		wantNotMember(t, err, "project.assignee")
		_, err = f.app.CreateProject(ctx, f.key, f.firm, NewProject{Project: domain.Project{ClientID: client, DisplayName: "x", AssigneeID: id}})
		wantNotMember(t, err, "project.assignee")
		_, err = f.app.SetCapacity(ctx, f.owner, f.firm, id, 60, "")
		wantNotMember(t, err, "capacity.name")
		_, err = f.app.CreateClient(ctx, f.owner, f.firm, domain.Client{DisplayName: "x", Assignees: []string{f.member.UserID, id}}, "")
		wantNotMember(t, err, "client.assignees[1]")
		_, err = f.app.CreateClient(ctx, f.writer, f.firm, domain.Client{DisplayName: "x", CustomFields: map[string]any{
			"manager": "firms/" + f.firm + "/members/" + id}}, "")
		wantNotMember(t, err, "client.custom_fields.manager")
		_, err = f.app.CreateTemplate(ctx, f.owner, f.firm, domain.Template{DisplayName: "x",
			Tasks: []domain.TemplateTask{{Title: "a", Anchor: domain.AnchorStart}, {Title: "b", Anchor: domain.AnchorStart, AssigneeID: id}}}, "")
		wantNotMember(t, err, "template.tasks[1].assignee")
		t.Logf("%s refused everywhere", who)
	}

	// Nothing was written: the task is unassigned, no capacity was set.
	got, err := f.app.Task(ctx, f.owner, f.firm, project.ID, task.ID)
	if err != nil || got.AssigneeID != "" || got.Version != task.Version {
		t.Errorf("task after refused assignments: %+v, %v", got, err)
	}
	if n := f.eventCount(t, "member_capacity_changed"); n != 0 {
		t.Errorf("%d capacity events after refusals", n)
	}
	// The firm's members are accepted, by people and by API keys alike.
	if _, err := f.app.UpdateTask(ctx, f.key, f.firm, project.ID, task.ID, TaskPatch{AssigneeID: &f.member.UserID}); err != nil {
		t.Errorf("assign a member: %v", err)
	}
	if _, err := f.app.SetCapacity(ctx, f.owner, f.firm, f.admin.UserID, 600, ""); err != nil {
		t.Errorf("set a member's capacity: %v", err)
	}
}

func TestAReferenceToAMemberJustJoinedWaitsForIdentitysEvent(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	ctx := context.Background()
	project, err := f.app.CreateProject(ctx, f.owner, f.firm, NewProject{Project: domain.Project{ClientID: f.client(t, f.firm), DisplayName: "p"}})
	if err != nil {
		t.Fatal(err)
	}
	newcomer := uuid.NewString()
	joined := make(chan struct{})
	go func() {
		defer close(joined)
		time.Sleep(100 * time.Millisecond) // identity committed; its event is on the way
		if err := f.app.MemberJoined(ctx, identityEvent(f.firm, "member_joined"), newcomer); err != nil {
			t.Errorf("join: %v", err)
		}
	}()
	task, err := f.app.CreateTask(ctx, f.owner, f.firm, project.ID, domain.Task{Title: "Welcome", AssigneeID: newcomer}, "")
	<-joined
	if err != nil || task.AssigneeID != newcomer {
		t.Fatalf("task for a member whose event came during the request: %+v, %v", task, err)
	}
}

func TestRemovingAMemberReleasesTheirOpenWork(t *testing.T) {
	t.Parallel()
	f := newFixture(t).withClock(tuesday)
	ctx := context.Background()
	leaver := f.member.UserID
	client := f.create(t, f.owner, domain.Client{DisplayName: "Acme", Assignees: []string{f.owner.UserID, leaver}})
	if _, err := f.app.CreateCustomField(ctx, f.admin, f.firm, domain.CustomField{Key: "manager", DisplayName: "Manager", Type: domain.FieldMember}, ""); err != nil {
		t.Fatal(err)
	}
	managed := f.create(t, f.owner, domain.Client{DisplayName: "Managed", CustomFields: map[string]any{
		"manager": "firms/" + f.firm + "/members/" + leaver}})
	project, err := f.app.CreateProject(ctx, f.owner, f.firm, NewProject{Project: domain.Project{ClientID: client.ID, DisplayName: "p", AssigneeID: leaver}})
	if err != nil {
		t.Fatal(err)
	}
	open, err := f.app.CreateTask(ctx, f.owner, f.firm, project.ID, domain.Task{Title: "Open", AssigneeID: leaver}, "")
	if err != nil {
		t.Fatal(err)
	}
	done, err := f.app.CreateTask(ctx, f.owner, f.firm, project.ID, domain.Task{Title: "Done", AssigneeID: leaver, Status: domain.TaskComplete}, "")
	if err != nil {
		t.Fatal(err)
	}
	others, err := f.app.CreateTask(ctx, f.owner, f.firm, project.ID, domain.Task{Title: "Owner's", AssigneeID: f.owner.UserID}, "")
	if err != nil {
		t.Fatal(err)
	}
	tmpl := f.template(t, domain.TemplateTask{Title: "Default", Anchor: domain.AnchorStart, AssigneeID: leaver})
	series, err := f.app.CreateSeries(ctx, f.owner, f.firm, domain.Series{
		ClientID: client.ID, TemplateID: tmpl.ID, DisplayName: "Monthly", AssigneeID: leaver, Paused: true,
		Recurrence: domain.Recurrence{Frequency: domain.Monthly, Interval: 1, Start: domain.MustDate("2026-01-01"), CreateAheadDays: 5,
			Due: domain.DueRule{Kind: domain.DueDayOfPeriod, Day: 15}},
	}, "")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.app.SetCapacity(ctx, f.owner, f.firm, leaver, 300, ""); err != nil {
		t.Fatal(err)
	}

	removed := identityEvent(f.firm, "member_removed")
	for range 2 { // a redelivery changes nothing more
		if err := f.app.MemberRemoved(ctx, removed, leaver); err != nil {
			t.Fatal(err)
		}
	}
	// A member_joined arriving late does not bring them back.
	f.join(t, f.firm, leaver)

	if got, _ := f.app.Task(ctx, f.owner, f.firm, project.ID, open.ID); got.AssigneeID != "" || got.Version != open.Version+1 {
		t.Errorf("open task: assignee %q version %d", got.AssigneeID, got.Version)
	}
	if got, _ := f.app.Task(ctx, f.owner, f.firm, project.ID, done.ID); got.AssigneeID != leaver {
		t.Errorf("completed task lost its record of who did it: %q", got.AssigneeID)
	}
	if got, _ := f.app.Task(ctx, f.owner, f.firm, project.ID, others.ID); got.AssigneeID != f.owner.UserID {
		t.Errorf("another member's task changed: %q", got.AssigneeID)
	}
	if got, _ := f.app.Project(ctx, f.owner, f.firm, project.ID); got.AssigneeID != "" {
		t.Errorf("project still assigned to %q", got.AssigneeID)
	}
	if got, _ := f.app.Series(ctx, f.owner, f.firm, series.ID); got.AssigneeID != "" {
		t.Errorf("series still assigned to %q", got.AssigneeID)
	}
	if got, _ := f.app.Client(ctx, f.owner, f.firm, client.ID, false); !slices.Equal(got.Assignees, []string{f.owner.UserID}) {
		t.Errorf("client assignees %v", got.Assignees)
	}
	if got, _ := f.app.Client(ctx, f.owner, f.firm, managed.ID, false); len(got.CustomFields) != 0 || got.Version != managed.Version+1 {
		t.Errorf("client managed by the former member: fields %v, version %d", got.CustomFields, got.Version)
	}
	if c, _ := f.app.Capacity(ctx, f.owner, f.firm, leaver); c.Version != 0 || c.WeeklyMinutes != domain.DefaultWeeklyCapacityMinutes {
		t.Errorf("capacity %+v, want the default, unset", c)
	}
	// A project made from the template now leaves the default assignee out.
	fresh, err := f.app.CreateProject(ctx, f.owner, f.firm, NewProject{Project: domain.Project{ClientID: client.ID}, TemplateID: tmpl.ID})
	if err != nil {
		t.Fatal(err)
	}
	if tasks := f.tasks(t, f.owner, fresh.ID); len(tasks) != 1 || tasks[0].AssigneeID != "" {
		t.Errorf("template task assigned to a former member: %+v", tasks)
	}
	// They can be named no more.
	_, err = f.app.CreateTask(ctx, f.owner, f.firm, project.ID, domain.Task{Title: "x", AssigneeID: leaver}, "")
	wantNotMember(t, err, "task.assignee")

	updates := f.events(t, f.firm, "task_updated", func() proto.Message { return &eventsv1.TaskChanged{} })
	if len(updates) != 1 || updates[0].(*eventsv1.TaskChanged).GetTask() != taskName(f.firm, project.ID, open.ID) ||
		!slices.Equal(updates[0].(*eventsv1.TaskChanged).GetChangedFields(), []string{"assignee"}) {
		t.Errorf("task_updated events %v", updates)
	}
	for event, want := range map[string]int{"project_updated": 1, "series_updated": 1, "client_updated": 2, "member_capacity_changed": 2} {
		if n := f.eventCount(t, event); n != want {
			t.Errorf("%d %s events, want %d", n, event, want)
		}
	}
}
