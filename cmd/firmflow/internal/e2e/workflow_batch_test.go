package e2e

import (
	"fmt"
	"net/http"
	"slices"
	"strings"
	"sync"
	"testing"

	workflowv1 "github.com/firmflow/firmflow/pkg/gen/firmflow/workflow/v1"
)

// Upserts by external id and batch methods, as a CRM integration calls them over
// TLS REST through the gateway.
func TestUpsertAndBatchOverREST(t *testing.T) {
	t.Parallel()
	sys := start(t, sharedTuning)
	f := sys.signUp(t, "upsert")
	crm := f.apiKey(t, sys, "clients:write", "contacts:write", "projects:write", "tasks:write")
	firmPath := "/v1/" + f.name
	count := func(t *testing.T, query string) int {
		t.Helper()
		return len(collectNames(t, crm, firmPath+"/clients?page_size=100"+query, (*workflowv1.ListClientsResponse).GetClients))
	}

	t.Run("an upsert creates (201) then changes (200) the client with the external id", func(t *testing.T) {
		created := want(t, crm.do("POST", firmPath+"/clients:upsert",
			map[string]any{"display_name": "Acme", "external_id": "crm-42", "tax_id": "12-3456789", "tags": []string{"payroll"}}),
			http.StatusCreated, "first upsert")
		c := message[*workflowv1.Client](t, created)
		name := c.GetName()
		if created.header.Get("Location") != "/v1/"+name || created.header.Get("ETag") != c.GetEtag() || c.GetTaxId() != "**-***6789" {
			t.Errorf("created: Location %q, ETag %q, tax id %q", created.header.Get("Location"), created.header.Get("ETag"), c.GetTaxId())
		}
		updated := want(t, crm.do("POST", firmPath+"/clients:upsert", map[string]any{"external_id": "crm-42", "description": "from the CRM"}),
			http.StatusOK, "second upsert")
		if u := message[*workflowv1.Client](t, updated); u.GetName() != name || u.GetDisplayName() != "Acme" || u.GetDescription() != "from the CRM" ||
			updated.header.Get("Location") != "" {
			t.Errorf("updated: %s (Location %q)", updated.raw, updated.header.Get("Location"))
		}
		cleared := want(t, crm.do("POST", firmPath+"/clients:upsert?update_mask=description,tags", map[string]any{"external_id": "crm-42"}),
			http.StatusOK, "upsert clearing the fields its mask names")
		if cl := message[*workflowv1.Client](t, cleared); cl.GetDescription() != "" || len(cl.GetTags()) != 0 || cl.GetTaxId() != "**-***6789" {
			t.Errorf("cleared: %s", cleared.raw)
		}
		stale := updated.header.Get("ETag")
		r := want(t, crm.doWith("POST", firmPath+"/clients:upsert", map[string]any{"external_id": "crm-42", "notes": "x"},
			http.Header{"If-Match": {stale}}), http.StatusPreconditionFailed, "stale If-Match")
		if r.reason() != "ETAG_MISMATCH" {
			t.Errorf("stale If-Match: reason %s", r.reason())
		}
		want(t, crm.doWith("POST", firmPath+"/clients:upsert", map[string]any{"external_id": "crm-42", "notes": "x"},
			http.Header{"If-Match": {cleared.header.Get("ETag")}}), http.StatusOK, "current If-Match")
		want(t, crm.doWith("POST", firmPath+"/clients:upsert", map[string]any{"external_id": "crm-none", "display_name": "x"},
			http.Header{"If-Match": {stale}}), http.StatusPreconditionFailed, "If-Match on a client that does not exist")
		r = want(t, crm.do("POST", firmPath+"/clients:upsert", map[string]any{"display_name": "No key"}), http.StatusBadRequest, "no external id")
		if !slices.Equal(r.fields(), []string{"client.external_id"}) {
			t.Errorf("no external id: fields %v", r.fields())
		}
		if n := count(t, "&external_id=crm-42"); n != 1 {
			t.Errorf("%d clients with the external id, want 1", n)
		}
	})

	t.Run("concurrent upserts of one external id make one client", func(t *testing.T) {
		const n = 6
		replies := make([]response, n)
		var wg sync.WaitGroup
		for i := range n {
			wg.Add(1)
			go func() {
				defer wg.Done()
				replies[i] = crm.do("POST", firmPath+"/clients:upsert", map[string]any{"external_id": "crm-race", "display_name": fmt.Sprintf("Racer %d", i)})
			}()
		}
		wg.Wait()
		created := 0
		names := make([]string, n)
		for i, r := range replies {
			switch {
			case r.status == http.StatusCreated:
				created++
			case r.status != http.StatusOK:
				t.Errorf("upsert %d: status %d", i, r.status)
				continue
			}
			names[i] = message[*workflowv1.Client](t, r).GetName()
		}
		for i := range replies {
			if names[i] != names[0] {
				t.Errorf("upsert %d answered %s, upsert 0 %s", i, names[i], names[0])
			}
		}
		if c := count(t, "&external_id=crm-race"); created != 1 || c != 1 {
			t.Errorf("%d answers 201, %d clients; want 1 and 1", created, c)
		}
	})

	t.Run("an upsert retried with its request_id answers as the first time", func(t *testing.T) {
		body := map[string]any{"external_id": "crm-rid", "display_name": "Retry"}
		first := message[*workflowv1.Client](t, want(t, crm.do("POST", firmPath+"/clients:upsert?request_id=up-1", body), http.StatusCreated, "upsert"))
		again := message[*workflowv1.Client](t, want(t, crm.do("POST", firmPath+"/clients:upsert?request_id=up-1", body), http.StatusCreated, "retry"))
		if again.GetName() != first.GetName() {
			t.Errorf("retry answered %s, want %s", again.GetName(), first.GetName())
		}
		body["display_name"] = "Other"
		if r := want(t, crm.do("POST", firmPath+"/clients:upsert?request_id=up-1", body), http.StatusConflict, "reuse"); r.reason() != "REQUEST_ID_REUSED" {
			t.Errorf("reuse: reason %s", r.reason())
		}
	})

	t.Run("contacts upsert by external id", func(t *testing.T) {
		first := message[*workflowv1.Contact](t, want(t, crm.do("POST", firmPath+"/contacts:upsert", map[string]any{"external_id": "p-1", "display_name": "Pat"}),
			http.StatusCreated, "create contact"))
		second := message[*workflowv1.Contact](t, want(t, crm.do("POST", firmPath+"/contacts:upsert", map[string]any{"external_id": "p-1", "job_title": "CFO"}),
			http.StatusOK, "update contact"))
		if second.GetName() != first.GetName() || second.GetDisplayName() != "Pat" || second.GetJobTitle() != "CFO" ||
			second.GetExternalId() != "p-1" {
			t.Errorf("contact upsert: %v", second)
		}
	})

	batch := func(n int, item func(i int) map[string]any) map[string]any {
		requests := make([]map[string]any, n)
		for i := range requests {
			requests[i] = item(i)
		}
		return map[string]any{"requests": requests}
	}
	newClient := func(prefix string) func(int) map[string]any {
		return func(i int) map[string]any {
			return map[string]any{"client": map[string]any{"display_name": fmt.Sprintf("%s %d", prefix, i), "external_id": fmt.Sprintf("%s-%d", prefix, i)}}
		}
	}

	t.Run("batchCreate is all or nothing and names the item at fault", func(t *testing.T) {
		before := count(t, "")
		body := batch(5, newClient("bad"))
		body["requests"].([]map[string]any)[3]["client"].(map[string]any)["display_name"] = ""
		r := want(t, crm.do("POST", firmPath+"/clients:batchCreate", body), http.StatusBadRequest, "one invalid item")
		if !slices.Equal(r.fields(), []string{"requests[3].client.display_name"}) || !strings.Contains(r.errorReply().Error.Message, "requests[3]") {
			t.Errorf("invalid item: fields %v, message %q", r.fields(), r.errorReply().Error.Message)
		}
		body = batch(3, newClient("tag"))
		body["requests"].([]map[string]any)[2]["client"].(map[string]any)["tags"] = []string{"a;b"}
		r = want(t, crm.do("POST", firmPath+"/clients:batchCreate", body), http.StatusBadRequest, "item the validator refuses")
		if !slices.Equal(r.fields(), []string{"requests[2].client.tags[0]"}) {
			t.Errorf("validator: fields %v", r.fields())
		}
		body = batch(3, newClient("dup"))
		body["requests"].([]map[string]any)[2]["client"].(map[string]any)["external_id"] = "crm-42"
		r = want(t, crm.do("POST", firmPath+"/clients:batchCreate", body), http.StatusBadRequest, "item colliding with a client")
		if !slices.Equal(r.fields(), []string{"requests[2].client.external_id"}) {
			t.Errorf("collision: fields %v", r.fields())
		}
		r = want(t, crm.do("POST", firmPath+"/clients:batchCreate", batch(501, newClient("many"))), http.StatusBadRequest, "501 items")
		if !slices.Equal(r.fields(), []string{"requests"}) {
			t.Errorf("501 items: fields %v", r.fields())
		}
		if after := count(t, ""); after != before {
			t.Errorf("refused batches changed the firm's clients from %d to %d", before, after)
		}
		withID := func(body map[string]any) map[string]any {
			body["request_id"] = "batch-1" // with body "*", in the body
			return body
		}
		made := message[*workflowv1.BatchCreateClientsResponse](t, want(t, crm.do("POST", firmPath+"/clients:batchCreate", withID(batch(3, newClient("ok")))), http.StatusCreated, "batch"))
		again := message[*workflowv1.BatchCreateClientsResponse](t, want(t, crm.do("POST", firmPath+"/clients:batchCreate", withID(batch(3, newClient("ok")))), http.StatusCreated, "retry"))
		names := func(r *workflowv1.BatchCreateClientsResponse) (out []string) {
			for _, c := range r.GetClients() {
				out = append(out, c.GetName())
			}
			return out
		}
		if len(names(made)) != 3 || !slices.Equal(names(made), names(again)) || count(t, "") != before+3 {
			t.Errorf("batch %v, retry %v, %d clients (had %d)", names(made), names(again), count(t, ""), before)
		}
		if r := want(t, crm.do("POST", firmPath+"/clients:batchCreate", withID(batch(2, newClient("ok")))), http.StatusConflict, "reuse"); r.reason() != "REQUEST_ID_REUSED" {
			t.Errorf("batch reuse: reason %s", r.reason())
		}

		update := func(i int) map[string]any {
			c := made.GetClients()[i]
			return map[string]any{"client": map[string]any{"name": c.GetName(), "priority": "CLIENT_PRIORITY_HIGH", "etag": c.GetEtag()}, "update_mask": "priority"}
		}
		body = batch(3, update)
		body["requests"].([]map[string]any)[1]["client"].(map[string]any)["etag"] = `"99"`
		r = want(t, crm.do("POST", firmPath+"/clients:batchUpdate", body), http.StatusConflict, "batch update with a stale item")
		if r.reason() != "ETAG_MISMATCH" || !strings.HasPrefix(r.errorReply().Error.Message, "requests[1]: ") {
			t.Errorf("stale item: %s", r.raw)
		}
		if c := message[*workflowv1.Client](t, want(t, crm.do("GET", "/v1/"+names(made)[0], nil), http.StatusOK, "get")); c.GetPriority() == workflowv1.ClientPriority_CLIENT_PRIORITY_HIGH {
			t.Error("a refused batch update changed its first client")
		}
		done := message[*workflowv1.BatchUpdateClientsResponse](t, want(t, crm.do("POST", firmPath+"/clients:batchUpdate", batch(3, update)), http.StatusOK, "batch update"))
		for _, c := range done.GetClients() {
			if c.GetPriority() != workflowv1.ClientPriority_CLIENT_PRIORITY_HIGH {
				t.Errorf("after batch update: %v", c)
			}
		}
	})

	t.Run("tasks are batch created and updated per project", func(t *testing.T) {
		client := message[*workflowv1.Client](t, want(t, crm.do("POST", firmPath+"/clients", map[string]any{"display_name": "Task client"}), http.StatusCreated, "client"))
		project := message[*workflowv1.Project](t, want(t, crm.do("POST", firmPath+"/projects", map[string]any{"display_name": "Close", "client": client.GetName()}),
			http.StatusCreated, "project")).GetName()
		task := func(i int) map[string]any {
			return map[string]any{"task": map[string]any{"title": fmt.Sprintf("Step %d", i)}}
		}
		body := batch(4, task)
		body["requests"].([]map[string]any)[2]["task"].(map[string]any)["title"] = ""
		r := want(t, crm.do("POST", "/v1/"+project+"/tasks:batchCreate", body), http.StatusBadRequest, "invalid task")
		if len(r.fields()) != 1 || !strings.HasPrefix(r.fields()[0], "requests[2].task.title") {
			t.Errorf("invalid task: fields %v", r.fields())
		}
		body = batch(2, task)
		body["requests"].([]map[string]any)[1]["parent"] = f.name + "/projects/00000000-0000-0000-0000-000000000000"
		r = want(t, crm.do("POST", "/v1/"+project+"/tasks:batchCreate", body), http.StatusBadRequest, "item of another parent")
		if !slices.Equal(r.fields(), []string{"requests[1].parent"}) {
			t.Errorf("other parent: fields %v", r.fields())
		}
		if n := len(message[*workflowv1.ListTasksResponse](t, want(t, crm.do("GET", "/v1/"+project+"/tasks", nil), http.StatusOK, "tasks")).GetTasks()); n != 0 {
			t.Fatalf("refused batches left %d tasks", n)
		}
		made := message[*workflowv1.BatchCreateTasksResponse](t, want(t, crm.do("POST", "/v1/"+project+"/tasks:batchCreate", batch(4, task)), http.StatusCreated, "batch create tasks"))
		tasks := made.GetTasks()
		if len(tasks) != 4 || tasks[3].GetTitle() != "Step 3" || tasks[3].GetPosition() != 4 {
			t.Fatalf("tasks: %v", made)
		}
		complete := func(i int) map[string]any {
			return map[string]any{"task": map[string]any{"name": tasks[i].GetName(), "status": "TASK_STATUS_COMPLETE"}, "update_mask": "status"}
		}
		want(t, crm.do("POST", "/v1/"+project+"/tasks:batchUpdate", batch(4, complete)), http.StatusOK, "complete every task")
		if p := message[*workflowv1.Project](t, want(t, crm.do("GET", "/v1/"+project, nil), http.StatusOK, "project")); p.GetStatus() != workflowv1.ProjectStatus_PROJECT_STATUS_COMPLETED {
			t.Errorf("project after its tasks were completed in one batch: %s", p.GetStatus())
		}
	})
}
