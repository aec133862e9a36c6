package app

import (
	"context"
	"slices"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"google.golang.org/grpc/codes"

	"github.com/firmflow/firmflow/pkg/listfilter"
	"github.com/firmflow/firmflow/pkg/paging"
	"github.com/firmflow/firmflow/services/workflow/internal/domain"
)

var firstPage = paging.Page{Size: 50}

func clientIDs(list []domain.Client) []string {
	out := make([]string, len(list))
	for i, c := range list {
		out[i] = c.ID
	}
	return out
}

func TestDeletedClientLeavesAnErasedTombstoneOnlyShowDeletedLists(t *testing.T) {
	t.Parallel()
	f := newFixture(t).withClock(tuesday)
	ctx := context.Background()
	in := taxed
	in.ExternalID = "crm-1"
	c := f.create(t, f.owner, in)
	contact, err := f.app.CreateContact(ctx, f.owner, f.firm, domain.Contact{DisplayName: "Bob"}, "")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.app.LinkContact(ctx, f.owner, f.firm, domain.ClientContact{ClientID: c.ID, ContactID: contact.ID}); err != nil {
		t.Fatal(err)
	}

	*f.clock = tuesday.Add(time.Hour)
	if err := f.app.DeleteClient(ctx, f.owner, f.firm, c.ID, ""); err != nil {
		t.Fatal(err)
	}
	// Every read leaves the tombstone out.
	_, err = f.app.Client(ctx, f.owner, f.firm, c.ID, false)
	wantCode(t, err, codes.NotFound, "get")
	_, err = f.app.LookupClientByTaxID(ctx, f.owner, f.firm, taxed.Sensitive.TaxID, false)
	wantCode(t, err, codes.NotFound, "lookup by tax id")
	_, err = f.app.ClientContacts(ctx, f.owner, f.firm, c.ID, nil)
	wantCode(t, err, codes.NotFound, "contacts of a deleted client")
	err = f.app.DeleteClient(ctx, f.owner, f.firm, c.ID, "")
	wantCode(t, err, codes.NotFound, "second delete")
	for what, filter := range map[string]domain.ClientFilter{
		"all": {}, "by external id": {ExternalID: "crm-1"}, "by tag": {Tag: "1040"},
		"changed since": {Order: domain.ClientsByUpdateTime, Changes: domain.Changes{
			UpdateTime: []listfilter.Bound{{Op: listfilter.Greater, Time: tuesday}}}},
	} {
		list, _, err := f.app.Clients(ctx, f.owner, f.firm, filter, firstPage)
		if err != nil || len(list) != 0 {
			t.Errorf("list %s: %v %v, want nothing", what, clientIDs(list), err)
		}
	}
	export, err := f.app.ExportClients(ctx, f.owner, f.firm, "json", domain.ClientFilter{}, false, paging.Page{Size: 1000})
	if err != nil || len(export.Clients) != 0 {
		t.Errorf("export lists %v, %v", clientIDs(export.Clients), err)
	}

	// show_deleted lists it, with what identifies it and nothing else.
	list, _, err := f.app.Clients(ctx, f.owner, f.firm, domain.ClientFilter{
		Order: domain.ClientsByUpdateTime, Changes: domain.Changes{ShowDeleted: true},
	}, firstPage)
	if err != nil || len(list) != 1 {
		t.Fatalf("show_deleted: %v %v", clientIDs(list), err)
	}
	ts := list[0]
	deleted := tuesday.Add(time.Hour)
	if ts.ID != c.ID || ts.DisplayName != in.DisplayName || ts.ExternalID != "crm-1" || !ts.DeleteTime.Equal(deleted) ||
		!ts.UpdateTime.Equal(deleted) || ts.Version <= c.Version {
		t.Errorf("tombstone %+v", ts)
	}
	if ts.Sensitive != (domain.Sensitive{}) || len(ts.Tags) != 0 || ts.PrimaryContactID != "" || len(ts.CustomFields) != 0 {
		t.Errorf("tombstone keeps %+v", ts)
	}
	f.sql(t, func(conn *pgx.Conn) error {
		var sealed bool
		err := conn.QueryRow(ctx, `select tax_id is not null or tax_id_index is not null or bank_account is not null
			or bank_routing is not null or notes is not null from clients where id = $1`, c.ID).Scan(&sealed)
		if err == nil && sealed {
			t.Error("the tombstone still holds sealed values")
		}
		return err
	})

	// Its tax id and external id are free for a new client.
	again := f.create(t, f.owner, in)
	if again.ID == c.ID || again.ExternalID != "crm-1" {
		t.Errorf("re-created %+v", again)
	}
	found, err := f.app.LookupClientByTaxID(ctx, f.owner, f.firm, taxed.Sensitive.TaxID, false)
	if err != nil || found.ID != again.ID {
		t.Errorf("lookup after re-create: %v %v", found.ID, err)
	}
	list, _, err = f.app.Clients(ctx, f.owner, f.firm, domain.ClientFilter{ExternalID: "crm-1", Changes: domain.Changes{ShowDeleted: true}}, firstPage)
	if err != nil || !slices.Equal(clientIDs(list), []string{c.ID, again.ID}) {
		t.Errorf("external id with show_deleted: %v %v, want the tombstone then the new client", clientIDs(list), err)
	}

	// A deleted contact keeps only its display name.
	if err := f.app.DeleteContact(ctx, f.owner, f.firm, contact.ID, ""); err != nil {
		t.Fatal(err)
	}
	_, err = f.app.Contact(ctx, f.owner, f.firm, contact.ID)
	wantCode(t, err, codes.NotFound, "deleted contact")
	contacts, _, err := f.app.Contacts(ctx, f.owner, f.firm, domain.ChangeFilter{}, firstPage)
	if err != nil || len(contacts) != 0 {
		t.Errorf("contacts: %v %v", contacts, err)
	}
	contacts, _, err = f.app.Contacts(ctx, f.owner, f.firm, domain.ChangeFilter{Changes: domain.Changes{ShowDeleted: true}}, firstPage)
	if err != nil || len(contacts) != 1 || contacts[0].DeleteTime.IsZero() || contacts[0].DisplayName != "Bob" {
		t.Errorf("contacts with show_deleted: %+v %v", contacts, err)
	}
}

func TestDeletedProjectsAndTasksAreTombstonesUntilTheRetentionRunPurgesThem(t *testing.T) {
	t.Parallel()
	f := newFixture(t).withClock(tuesday)
	ctx := context.Background()
	client := f.create(t, f.owner, domain.Client{DisplayName: "Acme"}).ID
	project, err := f.app.CreateProject(ctx, f.owner, f.firm, NewProject{Project: domain.Project{ClientID: client, DisplayName: "Books"}})
	if err != nil {
		t.Fatal(err)
	}
	var tasks []domain.Task
	for _, title := range []string{"Collect", "Reconcile", "Close"} {
		task, err := f.app.CreateTask(ctx, f.owner, f.firm, project.ID, domain.Task{Title: title}, "")
		if err != nil {
			t.Fatal(err)
		}
		tasks = append(tasks, task)
	}
	liveTasks := func(show bool) []string {
		t.Helper()
		list, _, err := f.app.Tasks(ctx, f.owner, f.firm, domain.TaskFilter{Order: domain.TasksByUpdateTime, Changes: domain.Changes{ShowDeleted: show}}, firstPage)
		if err != nil {
			t.Fatal(err)
		}
		var out []string
		for _, task := range list {
			out = append(out, task.Title)
		}
		return out
	}

	*f.clock = tuesday.Add(time.Minute)
	if err := f.app.DeleteTask(ctx, f.owner, f.firm, project.ID, tasks[0].ID, ""); err != nil {
		t.Fatal(err)
	}
	_, err = f.app.Task(ctx, f.owner, f.firm, project.ID, tasks[0].ID)
	wantCode(t, err, codes.NotFound, "deleted task")
	if got := liveTasks(false); !slices.Equal(got, []string{"Reconcile", "Close"}) {
		t.Errorf("tasks %v", got)
	}
	if got := liveTasks(true); !slices.Equal(got, []string{"Reconcile", "Close", "Collect"}) {
		t.Errorf("tasks with show_deleted, by update_time: %v", got)
	}
	p, err := f.app.Project(ctx, f.owner, f.firm, project.ID)
	if err != nil || p.TaskCount != 2 {
		t.Errorf("project counts %d tasks (%v), want the 2 left", p.TaskCount, err)
	}
	second, err := f.app.Task(ctx, f.owner, f.firm, project.ID, tasks[1].ID)
	if err != nil || second.EarlierOpen {
		t.Errorf("the deleted first task still blocks the second: %+v %v", second, err)
	}

	err = f.app.DeleteClient(ctx, f.owner, f.firm, client, "")
	wantReason(t, err, "CLIENT_IN_USE")

	*f.clock = tuesday.Add(time.Hour)
	if err := f.app.DeleteProject(ctx, f.owner, f.firm, project.ID, ""); err != nil {
		t.Fatal(err)
	}
	_, err = f.app.Project(ctx, f.owner, f.firm, project.ID)
	wantCode(t, err, codes.NotFound, "deleted project")
	if got := liveTasks(false); len(got) != 0 {
		t.Errorf("tasks of a deleted project are listed: %v", got)
	}
	projects, _, err := f.app.Projects(ctx, f.owner, f.firm, domain.ProjectFilter{Changes: domain.Changes{ShowDeleted: true}}, firstPage)
	if err != nil || len(projects) != 1 || !projects[0].DeleteTime.Equal(tuesday.Add(time.Hour)) {
		t.Errorf("projects with show_deleted: %+v %v", projects, err)
	}
	if err := f.app.DeleteClient(ctx, f.owner, f.firm, client, ""); err != nil {
		t.Fatalf("a client whose projects are all deleted: %v", err)
	}

	// The retention run keeps tombstones for 30 days, then purges them.
	tombstones := func() int64 {
		var n int64
		f.sql(t, func(conn *pgx.Conn) error {
			return conn.QueryRow(ctx, `select (select count(*) from clients where firm_id = $1) + (select count(*) from projects where firm_id = $1)
				+ (select count(*) from tasks where firm_id = $1) + (select count(*) from contacts where firm_id = $1)`, f.firm).Scan(&n)
		})
		return n
	}
	if _, err := f.app.Prune(ctx, tuesday.Add(29*24*time.Hour)); err != nil {
		t.Fatal(err)
	}
	if n := tombstones(); n != 5 {
		t.Fatalf("%d rows after a run within 30 days, want the 5 tombstones", n)
	}
	counts, err := f.app.Prune(ctx, tuesday.Add(domain.TombstoneRetention+2*time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]int64{"tasks": 3, "projects": 1, "clients": 1, "contacts": 0}
	for _, c := range counts {
		if n, ok := want[c.Table]; ok && c.Rows != n {
			t.Errorf("pruned %d %s, want %d", c.Rows, c.Table, n)
		}
	}
	if n := tombstones(); n != 0 {
		t.Errorf("%d rows after the run past 30 days", n)
	}
}

func TestDeletingTheFirmRemovesItsTombstones(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	ctx := context.Background()
	c := f.create(t, f.owner, taxed)
	contact, err := f.app.CreateContact(ctx, f.owner, f.firm, domain.Contact{DisplayName: "Bob"}, "")
	if err != nil {
		t.Fatal(err)
	}
	project, err := f.app.CreateProject(ctx, f.owner, f.firm, NewProject{Project: domain.Project{ClientID: c.ID, DisplayName: "Books"}})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.app.CreateTask(ctx, f.owner, f.firm, project.ID, domain.Task{Title: "Close"}, ""); err != nil {
		t.Fatal(err)
	}
	for _, del := range []func() error{
		func() error { return f.app.DeleteProject(ctx, f.owner, f.firm, project.ID, "") },
		func() error { return f.app.DeleteClient(ctx, f.owner, f.firm, c.ID, "") },
		func() error { return f.app.DeleteContact(ctx, f.owner, f.firm, contact.ID, "") },
	} {
		if err := del(); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := f.app.DeleteFirmData(ctx, f.firm, "deletions/test"); err != nil {
		t.Fatal(err)
	}
	counts, err := f.app.CountFirmRows(ctx, f.firm)
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range counts {
		if c.Rows != 0 {
			t.Errorf("%d rows left in %s", c.Rows, c.Table)
		}
	}
}

func TestAChangedSinceListPagesInUpdateOrder(t *testing.T) {
	t.Parallel()
	f := newFixture(t).withClock(tuesday)
	ctx := context.Background()
	var ids []string
	for i := range 5 {
		*f.clock = tuesday.Add(time.Duration(i) * time.Minute)
		ids = append(ids, f.create(t, f.owner, domain.Client{DisplayName: "Client " + string(rune('A'+i))}).ID)
	}
	// Two clients share an update_time: the id breaks the tie, so paging loses neither.
	*f.clock = tuesday.Add(time.Hour)
	for _, id := range []string{ids[0], ids[3]} {
		name := "Renamed"
		if _, err := f.app.UpdateClient(ctx, f.owner, f.firm, id, ClientPatch{DisplayName: &name}); err != nil {
			t.Fatal(err)
		}
	}
	filter := domain.ClientFilter{Order: domain.ClientsByUpdateTime, Changes: domain.Changes{
		UpdateTime: []listfilter.Bound{{Op: listfilter.Greater, Time: tuesday.Add(time.Minute)}}}}
	var got []string
	page := paging.Page{Size: 2}
	for {
		list, next, err := f.app.Clients(ctx, f.owner, f.firm, filter, page)
		if err != nil {
			t.Fatal(err)
		}
		got = append(got, clientIDs(list)...)
		if next == nil {
			break
		}
		page.After = next
	}
	tied := []string{ids[0], ids[3]}
	slices.Sort(tied)
	want := append([]string{ids[2], ids[4]}, tied...)
	if !slices.Equal(got, want) {
		t.Errorf("changed since minute 1: %v, want %v", got, want)
	}
}

// TestAClientIsNeverDeletedUnderAProjectCreatedAtTheSameTime races project creates
// against the client's delete: either the delete is refused (CLIENT_IN_USE) or the
// create finds no client; a tombstone never has a live project.
func TestAClientIsNeverDeletedUnderAProjectCreatedAtTheSameTime(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	ctx := context.Background()
	for range 20 {
		client := f.create(t, f.owner, domain.Client{DisplayName: "Raced"}).ID
		start := make(chan struct{})
		created, deleted := make(chan error, 1), make(chan error, 1)
		go func() {
			<-start
			_, err := f.app.CreateProject(ctx, f.owner, f.firm, NewProject{Project: domain.Project{ClientID: client, DisplayName: "Race"}})
			created <- err
		}()
		go func() {
			<-start
			deleted <- f.app.DeleteClient(ctx, f.owner, f.firm, client, "")
		}()
		close(start)
		createErr, deleteErr := <-created, <-deleted
		switch {
		case createErr == nil && deleteErr == nil:
			t.Fatal("the client was deleted and a project made for it")
		case createErr != nil:
			wantCode(t, createErr, codes.NotFound, "create after the delete")
		default:
			wantReason(t, deleteErr, "CLIENT_IN_USE")
		}
		var orphans int
		f.sql(t, func(conn *pgx.Conn) error {
			return conn.QueryRow(ctx, `select count(*) from projects p join clients c on c.id = p.client_id
				where c.delete_time is not null and p.delete_time is null`).Scan(&orphans)
		})
		if orphans != 0 {
			t.Fatalf("%d live projects of a deleted client", orphans)
		}
	}
}

func TestDeletedTemplatesSeriesAndCustomFieldsAreTombstonesUntilTheRetentionRunPurgesThem(t *testing.T) {
	t.Parallel()
	f := newFixture(t).withClock(tuesday)
	ctx := context.Background()
	client := f.client(t, f.firm)
	tmpl := f.template(t, closeTasks()...)
	series, err := f.app.CreateSeries(ctx, f.owner, f.firm, domain.Series{
		ClientID: client, TemplateID: tmpl.ID, DisplayName: "Payroll",
		Recurrence: domain.Recurrence{
			Frequency: domain.Monthly, Interval: 1, Start: domain.MustDate("2026-03-01"), CreateAheadDays: 60,
			Due: domain.DueRule{Kind: domain.DueLastDay},
		},
	}, "")
	if err != nil {
		t.Fatal(err)
	}
	field, err := f.app.CreateCustomField(ctx, f.admin, f.firm, domain.CustomField{Key: "fee", DisplayName: "Fee", Type: domain.FieldNumber}, "")
	if err != nil {
		t.Fatal(err)
	}
	valued := f.create(t, f.owner, domain.Client{DisplayName: "Valued", CustomFields: map[string]any{"fee": 100.0}})

	// A template a live series uses cannot go; once the series is deleted it can.
	*f.clock = tuesday.Add(time.Hour)
	wantReason(t, f.app.DeleteTemplate(ctx, f.owner, f.firm, tmpl.ID, ""), "TEMPLATE_IN_USE")
	if err := f.app.DeleteSeries(ctx, f.owner, f.firm, series.ID, ""); err != nil {
		t.Fatal(err)
	}
	_, err = f.app.Series(ctx, f.owner, f.firm, series.ID)
	wantCode(t, err, codes.NotFound, "deleted series")
	_, _, err = f.app.RunSeries(ctx, f.owner, f.firm, series.ID)
	wantCode(t, err, codes.NotFound, "run of a deleted series")
	if err := f.app.RunDueSeries(ctx, tuesday.Add(90*24*time.Hour)); err != nil {
		t.Fatal(err)
	}
	projects, _, err := f.app.Projects(ctx, f.owner, f.firm, domain.ProjectFilter{}, firstPage)
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range projects {
		if p.SeriesID != "" || p.PeriodStart.After(domain.MustDate("2026-05-01")) {
			t.Errorf("project %+v after its series was deleted", p)
		}
	}
	if err := f.app.DeleteTemplate(ctx, f.owner, f.firm, tmpl.ID, ""); err != nil {
		t.Fatal(err)
	}
	_, err = f.app.Template(ctx, f.owner, f.firm, tmpl.ID)
	wantCode(t, err, codes.NotFound, "deleted template")
	_, err = f.app.CreateProject(ctx, f.owner, f.firm, NewProject{Project: domain.Project{ClientID: client}, TemplateID: tmpl.ID})
	wantCode(t, err, codes.NotFound, "project from a deleted template")
	if err := f.app.DeleteCustomField(ctx, f.admin, f.firm, field.ID, ""); err != nil {
		t.Fatal(err)
	}
	_, err = f.app.CustomField(ctx, f.admin, f.firm, field.ID)
	wantCode(t, err, codes.NotFound, "deleted custom field")
	if c, err := f.app.Client(ctx, f.owner, f.firm, valued.ID, false); err != nil || len(c.CustomFields) != 0 {
		t.Errorf("client after its field was deleted: %v %v", c.CustomFields, err)
	}
	_, err = f.app.CreateClient(ctx, f.owner, f.firm, domain.Client{DisplayName: "Late", CustomFields: map[string]any{"fee": 1.0}}, "")
	wantCode(t, err, codes.InvalidArgument, "a value of a deleted field")

	// Lists leave them out; show_deleted lists them, with only what identifies them.
	deleted := tuesday.Add(time.Hour)
	live := domain.ChangeFilter{}
	show := domain.ChangeFilter{Order: domain.ByUpdateTime, Changes: domain.Changes{ShowDeleted: true,
		UpdateTime: []listfilter.Bound{{Op: listfilter.GreaterEqual, Time: deleted}}}}
	if list, _, err := f.app.Templates(ctx, f.owner, f.firm, live, firstPage); err != nil || len(list) != 0 {
		t.Errorf("templates %v %v", list, err)
	}
	templates, _, err := f.app.Templates(ctx, f.owner, f.firm, show, firstPage)
	if err != nil || len(templates) != 1 || templates[0].ID != tmpl.ID || !templates[0].DeleteTime.Equal(deleted) ||
		!templates[0].UpdateTime.Equal(deleted) || templates[0].DisplayName != tmpl.DisplayName || len(templates[0].Tasks) != 0 ||
		templates[0].Description != "" {
		t.Errorf("templates with show_deleted: %+v %v", templates, err)
	}
	if list, _, err := f.app.SeriesList(ctx, f.owner, f.firm, domain.SeriesFilter{ClientID: client}, firstPage); err != nil || len(list) != 0 {
		t.Errorf("series %v %v", list, err)
	}
	seriesList, _, err := f.app.SeriesList(ctx, f.owner, f.firm, domain.SeriesFilter{ClientID: client, ChangeFilter: show}, firstPage)
	if err != nil || len(seriesList) != 1 || seriesList[0].ID != series.ID || !seriesList[0].DeleteTime.Equal(deleted) ||
		seriesList[0].AssigneeID != "" || !seriesList[0].NextRunDate.IsZero() {
		t.Errorf("series with show_deleted: %+v %v", seriesList, err)
	}
	if list, _, err := f.app.CustomFields(ctx, f.admin, f.firm, live, firstPage); err != nil || len(list) != 0 {
		t.Errorf("custom fields %v %v", list, err)
	}
	fields, _, err := f.app.CustomFields(ctx, f.admin, f.firm, show, firstPage)
	if err != nil || len(fields) != 1 || fields[0].Key != "fee" || !fields[0].DeleteTime.Equal(deleted) {
		t.Errorf("custom fields with show_deleted: %+v %v", fields, err)
	}
	// The key is free again.
	again, err := f.app.CreateCustomField(ctx, f.admin, f.firm, domain.CustomField{Key: "fee", DisplayName: "Fee", Type: domain.FieldText}, "")
	if err != nil {
		t.Fatal(err)
	}
	c := f.create(t, f.owner, domain.Client{DisplayName: "Texted", CustomFields: map[string]any{"fee": "high"}})
	if got, err := f.app.Client(ctx, f.owner, f.firm, c.ID, false); err != nil || got.CustomFields["fee"] != "high" {
		t.Errorf("value of the new field: %v %v", got.CustomFields, err)
	}

	// The retention run purges the tombstones 30 days after the delete.
	if _, err := f.app.Prune(ctx, tuesday.Add(29*24*time.Hour)); err != nil {
		t.Fatal(err)
	}
	count := func() (n int64) {
		f.sql(t, func(conn *pgx.Conn) error {
			return conn.QueryRow(ctx, `select (select count(*) from templates where firm_id = $1) + (select count(*) from series where firm_id = $1)
				+ (select count(*) from custom_field_definitions where firm_id = $1 and id <> $2)`, f.firm, again.ID).Scan(&n)
		})
		return n
	}
	if n := count(); n != 3 {
		t.Fatalf("%d rows within 30 days, want the 3 tombstones", n)
	}
	if _, err := f.app.Prune(ctx, deleted.Add(domain.TombstoneRetention+time.Hour)); err != nil {
		t.Fatal(err)
	}
	if n := count(); n != 0 {
		t.Errorf("%d tombstones after the run past 30 days", n)
	}
}

func TestClientContactLinksCarryUpdateTimeAndFilterByIt(t *testing.T) {
	t.Parallel()
	f := newFixture(t).withClock(tuesday)
	ctx := context.Background()
	c := f.create(t, f.owner, domain.Client{DisplayName: "Linked"})
	var contacts []string
	for _, name := range []string{"Ann", "Bob", "Cid"} {
		k, err := f.app.CreateContact(ctx, f.owner, f.firm, domain.Contact{DisplayName: name}, "")
		if err != nil {
			t.Fatal(err)
		}
		if _, err := f.app.LinkContact(ctx, f.owner, f.firm, domain.ClientContact{ClientID: c.ID, ContactID: k.ID}); err != nil {
			t.Fatal(err)
		}
		contacts = append(contacts, k.ID)
	}
	// Making Bob primary changes his link and Ann's (demoted); Cid's stays.
	later := tuesday.Add(time.Hour)
	*f.clock = later
	primary := true
	if _, err := f.app.UpdateClientContact(ctx, f.owner, f.firm, c.ID, contacts[1], ClientContactPatch{Primary: &primary}); err != nil {
		t.Fatal(err)
	}
	links, err := f.app.ClientContacts(ctx, f.owner, f.firm, c.ID, []listfilter.Bound{{Op: listfilter.Greater, Time: tuesday}})
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, l := range links {
		if !l.UpdateTime.Equal(later) {
			t.Errorf("link %s update_time %s, want %s", l.ContactID, l.UpdateTime, later)
		}
		got = append(got, l.ContactID)
	}
	if want := []string{contacts[1], contacts[0]}; !slices.Equal(got, want) {
		t.Errorf("links changed since the links were made: %v, want %v", got, want)
	}
	all, err := f.app.ClientContacts(ctx, f.owner, f.firm, c.ID, nil)
	if err != nil || len(all) != 3 || !all[2].UpdateTime.Equal(tuesday) {
		t.Errorf("every link: %+v %v", all, err)
	}
}
