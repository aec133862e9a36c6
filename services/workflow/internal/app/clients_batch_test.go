package app

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/jackc/pgx/v5"
	"google.golang.org/grpc/codes"

	eventsv1 "github.com/firmflow/firmflow/pkg/gen/firmflow/events/v1"
	"github.com/firmflow/firmflow/pkg/paging"
	"github.com/firmflow/firmflow/services/workflow/internal/domain"
	"google.golang.org/protobuf/proto"
)

func TestUpsertClientCreatesThenChangesTheClientWithTheExternalID(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	ctx := context.Background()
	in := taxed
	in.ExternalID = "crm-42"
	first, created, err := f.app.UpsertClient(ctx, f.writer, f.firm, in, ClientPatch{}, "")
	if err != nil || !created {
		t.Fatalf("first upsert: created %v, %v", created, err)
	}
	if first.Sensitive.TaxID != "***-**-6789" {
		t.Errorf("upsert answered tax id %q, want it masked", first.Sensitive.TaxID)
	}
	revealed, err := f.app.Client(ctx, f.owner, f.firm, first.ID, true)
	if err != nil || revealed.Sensitive != taxed.Sensitive {
		t.Fatalf("sealed fields did not survive: %+v %v", revealed.Sensitive, err)
	}
	name, notes := "Ada King", ""
	second, created, err := f.app.UpsertClient(ctx, f.writer, f.firm, domain.Client{ExternalID: "crm-42", DisplayName: name},
		ClientPatch{DisplayName: &name, Notes: &notes}, "")
	if err != nil || created {
		t.Fatalf("second upsert: created %v, %v", created, err)
	}
	if second.ID != first.ID || second.DisplayName != name || second.Sensitive.Notes != "" || second.Sensitive.TaxID != "***-**-6789" {
		t.Errorf("second upsert: %+v, want %s renamed, notes cleared, tax id kept", second, first.ID)
	}
	if n := f.eventCount(t, "client_created"); n != 1 {
		t.Errorf("%d client_created events, want 1", n)
	}
	updates := f.events(t, f.firm, "client_updated", func() proto.Message { return &eventsv1.ClientUpdated{} })
	if len(updates) != 1 || !slices.Equal(updates[0].(*eventsv1.ClientUpdated).GetChangedFields(), []string{"display_name", "notes"}) {
		t.Errorf("client_updated events %v, want one naming display_name and notes", updates)
	}
	// The same upsert again changes nothing and tells nobody.
	if _, created, err := f.app.UpsertClient(ctx, f.writer, f.firm, domain.Client{ExternalID: "crm-42"}, ClientPatch{DisplayName: &name}, ""); err != nil || created {
		t.Fatalf("repeated upsert: created %v, %v", created, err)
	}
	if n := f.eventCount(t, "client_updated"); n != 1 {
		t.Errorf("%d client_updated events after a no-op upsert, want 1", n)
	}

	t.Run("etag", func(t *testing.T) {
		_, _, err := f.app.UpsertClient(ctx, f.writer, f.firm, domain.Client{ExternalID: "crm-42"}, ClientPatch{DisplayName: &name, Etag: Etag(1)}, "")
		wantReason(t, err, "ETAG_MISMATCH")
		_, _, err = f.app.UpsertClient(ctx, f.writer, f.firm, domain.Client{ExternalID: "crm-new", DisplayName: "New"}, ClientPatch{Etag: Etag(1)}, "")
		wantReason(t, err, "ETAG_MISMATCH") // nothing exists to match
		current, err := f.app.Client(ctx, f.owner, f.firm, first.ID, false)
		if err != nil {
			t.Fatal(err)
		}
		other := "Ada, Countess"
		if _, _, err := f.app.UpsertClient(ctx, f.writer, f.firm, domain.Client{ExternalID: "crm-42"},
			ClientPatch{DisplayName: &other, Etag: Etag(current.Version)}, ""); err != nil {
			t.Errorf("upsert with the current etag: %v", err)
		}
	})

	t.Run("request id", func(t *testing.T) {
		c := domain.Client{ExternalID: "crm-7", DisplayName: "Grace"}
		made, created, err := f.app.UpsertClient(ctx, f.writer, f.firm, c, ClientPatch{}, "up-1")
		if err != nil || !created {
			t.Fatalf("upsert: %v %v", created, err)
		}
		again, created, err := f.app.UpsertClient(ctx, f.writer, f.firm, c, ClientPatch{}, "up-1")
		if err != nil || !created || again.ID != made.ID {
			t.Errorf("retry answered created %v, %s, %v; want the first answer (created %s)", created, again.ID, err, made.ID)
		}
		name := "Grace Hopper"
		if _, created, err := f.app.UpsertClient(ctx, f.writer, f.firm, c, ClientPatch{DisplayName: &name}, "up-2"); err != nil || created {
			t.Fatalf("update: %v %v", created, err)
		}
		if _, created, err := f.app.UpsertClient(ctx, f.writer, f.firm, c, ClientPatch{DisplayName: &name}, "up-2"); err != nil || created {
			t.Errorf("retry of an update answered created %v, %v; want 200 again", created, err)
		}
	})

	t.Run("refused", func(t *testing.T) {
		_, _, err := f.app.UpsertClient(ctx, f.writer, f.firm, domain.Client{DisplayName: "No key"}, ClientPatch{}, "")
		if !slices.Equal(violations(err), []string{"client.external_id"}) {
			t.Errorf("upsert without external id: %v", err)
		}
		_, _, err = f.app.UpsertClient(ctx, f.writer, f.firm, domain.Client{ExternalID: "crm-nameless"}, ClientPatch{}, "")
		if !slices.Equal(violations(err), []string{"client.display_name"}) {
			t.Errorf("creating upsert without a name: %v", err)
		}
		_, _, err = f.app.UpsertClient(ctx, f.other, f.firm, domain.Client{ExternalID: "crm-42", DisplayName: "x"}, ClientPatch{}, "")
		wantCode(t, err, codes.NotFound, "another firm")
	})
}

func TestConcurrentUpsertsOfOneExternalIDMakeOneClient(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	ctx := context.Background()
	const n = 8
	var wg sync.WaitGroup
	ids := make([]string, n)
	createdBy := make([]bool, n)
	errs := make([]error, n)
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			name := fmt.Sprintf("Writer %d", i)
			var c domain.Client
			c, createdBy[i], errs[i] = f.app.UpsertClient(ctx, f.writer, f.firm, domain.Client{ExternalID: "crm-race", DisplayName: name},
				ClientPatch{DisplayName: &name}, "")
			ids[i] = c.ID
		}()
	}
	wg.Wait()
	creators := 0
	for i := range n {
		if errs[i] != nil {
			t.Fatalf("upsert %d: %v", i, errs[i])
		}
		if ids[i] != ids[0] {
			t.Errorf("upsert %d answered client %s, upsert 0 %s", i, ids[i], ids[0])
		}
		if createdBy[i] {
			creators++
		}
	}
	list, _, err := f.app.Clients(ctx, f.owner, f.firm, domain.ClientFilter{ExternalID: "crm-race"}, paging.Page{Size: 10})
	if err != nil || len(list) != 1 || creators != 1 || f.eventCount(t, "client_created") != 1 {
		t.Errorf("%d clients, %d upserts said they created, %d client_created events (%v); want 1 each",
			len(list), creators, f.eventCount(t, "client_created"), err)
	}
}

func TestUpsertContactByExternalID(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	ctx := context.Background()
	c := domain.Contact{ExternalID: "crm-p-1", DisplayName: "Pat", Emails: []domain.ContactEmail{{Address: "pat@example.com"}}}
	first, created, err := f.app.UpsertContact(ctx, f.owner, f.firm, c, ContactPatch{}, "")
	if err != nil || !created {
		t.Fatalf("first upsert: %v %v", created, err)
	}
	title := "CFO"
	second, created, err := f.app.UpsertContact(ctx, f.owner, f.firm, domain.Contact{ExternalID: "crm-p-1"}, ContactPatch{JobTitle: &title}, "")
	if err != nil || created || second.ID != first.ID || second.JobTitle != title || len(second.Emails) != 1 {
		t.Fatalf("second upsert: %+v created %v %v", second, created, err)
	}
	if f.eventCount(t, "contact_created") != 1 || f.eventCount(t, "contact_updated") != 1 {
		t.Errorf("events: %d created, %d updated; want 1 and 1", f.eventCount(t, "contact_created"), f.eventCount(t, "contact_updated"))
	}
	other, err := f.app.CreateContact(ctx, f.owner, f.firm, domain.Contact{DisplayName: "Sam"}, "")
	if err != nil {
		t.Fatal(err)
	}
	ext := "crm-p-1"
	_, err = f.app.UpdateContact(ctx, f.owner, f.firm, other.ID, ContactPatch{ExternalID: &ext})
	wantReason(t, err, "EXTERNAL_ID_TAKEN")
}

// batchClients are n valid new clients, external ids crm-b-<i>.
func batchClients(n int) []domain.Client {
	cs := make([]domain.Client, n)
	for i := range cs {
		cs[i] = domain.Client{DisplayName: fmt.Sprintf("Batch client %d", i), ExternalID: fmt.Sprintf("crm-b-%d", i), Tags: []string{"batch"}}
	}
	return cs
}

func (f fixture) clientCount(t *testing.T) int {
	t.Helper()
	var n int
	f.sql(t, func(conn *pgx.Conn) error {
		return conn.QueryRow(context.Background(), "select count(*) from clients where firm_id = $1", f.firm).Scan(&n)
	})
	return n
}

func TestBatchCreateClientsIsAllOrNothing(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	ctx := context.Background()
	existing := f.create(t, f.owner, domain.Client{DisplayName: "Existing", ExternalID: "crm-taken"})

	bad := batchClients(6)
	bad[3].DisplayName = ""
	bad[4].ExternalID = "crm-b-1"
	bad[5].ExternalID = existing.ExternalID
	_, err := f.app.BatchCreateClients(ctx, f.owner, f.firm, slices.Clone(bad), "")
	if got := violations(err); !slices.Equal(got, []string{"requests[3].client.display_name"}) {
		t.Errorf("invalid item: violations %v (%v)", got, err)
	}
	bad[3].DisplayName = "Fixed"
	_, err = f.app.BatchCreateClients(ctx, f.owner, f.firm, slices.Clone(bad), "")
	if got := violations(err); !slices.Equal(got, []string{"requests[4].client.external_id", "requests[5].client.external_id"}) {
		t.Errorf("colliding items: violations %v (%v)", got, err)
	}
	_, err = f.app.BatchCreateClients(ctx, f.owner, f.firm, batchClients(MaxBatch+1), "")
	if got := violations(err); !slices.Equal(got, []string{"requests"}) {
		t.Errorf("%d items: %v", MaxBatch+1, err)
	}
	if n := f.clientCount(t); n != 1 {
		t.Fatalf("refused batches left %d clients, want the 1 there was", n)
	}
	_, err = f.app.BatchCreateClients(ctx, f.other, f.firm, batchClients(2), "")
	wantCode(t, err, codes.NotFound, "another firm")

	made, err := f.app.BatchCreateClients(ctx, f.writer, f.firm, batchClients(5), "batch-1")
	if err != nil || len(made) != 5 {
		t.Fatalf("batch: %d clients, %v", len(made), err)
	}
	for i, c := range made {
		if c.ExternalID != fmt.Sprintf("crm-b-%d", i) {
			t.Errorf("client %d is %s: not in request order", i, c.ExternalID)
		}
	}
	if n := f.eventCount(t, "client_created"); n != 6 {
		t.Errorf("%d client_created events, want 6 (one per client)", n)
	}
	again, err := f.app.BatchCreateClients(ctx, f.writer, f.firm, batchClients(5), "batch-1")
	if err != nil || len(again) != 5 || again[4].ID != made[4].ID || f.clientCount(t) != 6 {
		t.Errorf("retry: %d clients (%v), %d in the firm; want the first 5 again", len(again), err, f.clientCount(t))
	}
}

func TestBatchUpdateClientsIsAllOrNothing(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	ctx := context.Background()
	a := f.create(t, f.owner, domain.Client{DisplayName: "A"})
	b := f.create(t, f.owner, domain.Client{DisplayName: "B"})
	high := domain.PriorityHigh
	_, err := f.app.BatchUpdateClients(ctx, f.owner, f.firm, []ClientChange{
		{ClientID: a.ID, Patch: ClientPatch{Priority: &high}},
		{ClientID: b.ID, Patch: ClientPatch{Priority: &high, Etag: Etag(7)}},
	})
	wantReason(t, err, "ETAG_MISMATCH")
	if !strings.HasPrefix(err.Error(), "Aborted ETAG_MISMATCH: requests[1]: ") {
		t.Errorf("stale item: %v, want it named", err)
	}
	if got, _ := f.app.Client(ctx, f.owner, f.firm, a.ID, false); got.Priority == high {
		t.Error("a refused batch changed its first client")
	}
	_, err = f.app.BatchUpdateClients(ctx, f.owner, f.firm, []ClientChange{{ClientID: a.ID}, {ClientID: a.ID}})
	if !slices.Equal(violations(err), []string{"requests[1].client.name"}) {
		t.Errorf("a client twice: %v", err)
	}
	out, err := f.app.BatchUpdateClients(ctx, f.owner, f.firm, []ClientChange{
		{ClientID: a.ID, Patch: ClientPatch{Priority: &high, Etag: Etag(a.Version)}},
		{ClientID: b.ID, Patch: ClientPatch{Priority: &high}},
	})
	if err != nil || len(out) != 2 || out[0].Priority != high || out[1].Priority != high || out[1].ID != b.ID {
		t.Fatalf("batch update: %+v %v", out, err)
	}
	if n := f.eventCount(t, "client_updated"); n != 2 {
		t.Errorf("%d client_updated events, want 2", n)
	}
	_, err = f.app.BatchUpdateClients(ctx, f.other, f.firm, []ClientChange{{ClientID: a.ID, Patch: ClientPatch{Priority: &high}}})
	wantCode(t, err, codes.NotFound, "another firm")
}

func TestBatchCreateAndUpdateTasks(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	ctx := context.Background()
	project, err := f.app.CreateProject(ctx, f.owner, f.firm, NewProject{Project: domain.Project{ClientID: f.client(t, f.firm), DisplayName: "Close"}})
	if err != nil {
		t.Fatal(err)
	}
	tasks := []domain.Task{{Title: "Collect"}, {Title: "Reconcile", AssigneeID: f.member.UserID}, {Title: ""}}
	_, err = f.app.BatchCreateTasks(ctx, f.owner, f.firm, project.ID, slices.Clone(tasks), "")
	if got := violations(err); len(got) != 1 || !strings.HasPrefix(got[0], "requests[2].task.title") {
		t.Errorf("invalid task: %v", err)
	}
	if got := f.tasks(t, f.owner, project.ID); len(got) != 0 {
		t.Fatalf("a refused batch left %d tasks", len(got))
	}
	tasks[2].Title = "Review"
	made, err := f.app.BatchCreateTasks(ctx, f.owner, f.firm, project.ID, slices.Clone(tasks), "tasks-1")
	if err != nil || len(made) != 3 {
		t.Fatalf("batch: %v %v", made, err)
	}
	for i, task := range made {
		if task.Position != i+1 || task.Title != tasks[i].Title {
			t.Errorf("task %d: %q at %d, want %q at %d", i, task.Title, task.Position, tasks[i].Title, i+1)
		}
	}
	again, err := f.app.BatchCreateTasks(ctx, f.owner, f.firm, project.ID, slices.Clone(tasks), "tasks-1")
	if err != nil || len(again) != 3 || again[0].ID != made[0].ID || len(f.tasks(t, f.owner, project.ID)) != 3 {
		t.Errorf("retry: %v %v", again, err)
	}
	if n := f.eventCount(t, "task_created"); n != 3 {
		t.Errorf("%d task_created events, want 3", n)
	}
	done := domain.TaskComplete
	_, err = f.app.BatchUpdateTasks(ctx, f.owner, f.firm, project.ID, []TaskChange{
		{TaskID: made[0].ID, Patch: TaskPatch{Status: &done}},
		{TaskID: made[1].ID, Patch: TaskPatch{Status: &done, Etag: Etag(9)}},
	})
	wantReason(t, err, "ETAG_MISMATCH")
	if got := f.tasks(t, f.owner, project.ID); got[0].Status == done {
		t.Error("a refused batch completed its first task")
	}
	updated, err := f.app.BatchUpdateTasks(ctx, f.owner, f.firm, project.ID, []TaskChange{
		{TaskID: made[0].ID, Patch: TaskPatch{Status: &done}},
		{TaskID: made[1].ID, Patch: TaskPatch{Status: &done}},
		{TaskID: made[2].ID, Patch: TaskPatch{Status: &done}},
	})
	if err != nil || len(updated) != 3 || updated[2].Status != done {
		t.Fatalf("batch update: %v %v", updated, err)
	}
	p, err := f.app.Project(ctx, f.owner, f.firm, project.ID)
	if err != nil || p.Status != domain.ProjectCompleted {
		t.Errorf("project after every task completed in one batch: %s %v", p.Status, err)
	}
}

// An import names a row that repeats an earlier row's external id or tax id, as a
// batch does, rather than failing on the unique index without saying where.
func TestImportNamesRowsRepeatingAnEarlierRow(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	csv := "display_name,external_id,tax_id\nA,crm-1,111-11-1111\nB,crm-1,222-22-2222\nC,crm-3,111 11 1111\n"
	_, err := f.app.ImportClients(context.Background(), f.owner, f.firm, csv, "", false)
	wantReason(t, err, "IMPORT_ROWS_INVALID")
	if got := violations(err); !slices.Equal(got, []string{"rows[3].external_id", "rows[4].tax_id"}) {
		t.Errorf("violations %v", got)
	}
}

// A deleted client's tombstone keeps its external id for syncs to see, but an upsert
// of that id makes a new client rather than bringing the tombstone back.
func TestUpsertAfterADeleteMakesANewClient(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	ctx := context.Background()
	first, _, err := f.app.UpsertClient(ctx, f.owner, f.firm, domain.Client{ExternalID: "crm-9", DisplayName: "Old"}, ClientPatch{}, "")
	if err != nil {
		t.Fatal(err)
	}
	if err := f.app.DeleteClient(ctx, f.owner, f.firm, first.ID, ""); err != nil {
		t.Fatal(err)
	}
	again, created, err := f.app.UpsertClient(ctx, f.owner, f.firm, domain.Client{ExternalID: "crm-9", DisplayName: "New"}, ClientPatch{}, "")
	if err != nil || !created || again.ID == first.ID {
		t.Fatalf("upsert after delete: %s created %v %v; want a new client", again.ID, created, err)
	}
	contact, _, err := f.app.UpsertContact(ctx, f.owner, f.firm, domain.Contact{ExternalID: "crm-c", DisplayName: "Old"}, ContactPatch{}, "")
	if err != nil {
		t.Fatal(err)
	}
	if err := f.app.DeleteContact(ctx, f.owner, f.firm, contact.ID, ""); err != nil {
		t.Fatal(err)
	}
	if c, created, err := f.app.UpsertContact(ctx, f.owner, f.firm, domain.Contact{ExternalID: "crm-c", DisplayName: "New"}, ContactPatch{}, ""); err != nil || !created || c.ID == contact.ID {
		t.Errorf("contact upsert after delete: %s created %v %v; want a new contact", c.ID, created, err)
	}
}
