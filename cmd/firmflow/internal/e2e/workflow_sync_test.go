package e2e

import (
	"net/http"
	"net/url"
	"slices"
	"testing"
	"time"

	workflowv1 "github.com/firmflow/firmflow/pkg/gen/firmflow/workflow/v1"
)

// crmSync is a CRM's sync loop as the README describes it: list what changed since
// the last update_time seen (less an overlap), tombstones included, page by page,
// and keep each object's latest state by name.
type crmSync struct {
	t        *testing.T
	c        *client
	path     string // the list, e.g. /v1/firms/{id}/clients
	lastSeen time.Time
	known    map[string]*workflowv1.Client
	pages    int
}

// overlap is how far back each round asks again: a change committed late with an
// earlier update_time still falls inside it, and the names dedupe what comes twice.
const overlap = 5 * time.Second

func (s *crmSync) round() []*workflowv1.Client {
	s.t.Helper()
	since := s.lastSeen.Add(-overlap).UTC().Format(time.RFC3339Nano)
	query := url.Values{
		"filter": {`update_time > "` + since + `"`}, "show_deleted": {"true"}, "page_size": {"2"},
	}
	var changed []*workflowv1.Client
	for range 100 {
		r := want(s.t, s.c.do("GET", s.path+"?"+query.Encode(), nil), http.StatusOK, "sync "+s.path)
		s.pages++
		page := message[*workflowv1.ListClientsResponse](s.t, r)
		for _, c := range page.GetClients() {
			if !c.GetUpdateTime().IsValid() {
				s.t.Fatalf("%s without a valid update_time", c.GetName())
			}
			ut := c.GetUpdateTime().AsTime()
			if ut.Before(s.lastSeen.Add(-overlap)) {
				s.t.Errorf("%s changed at %s, before the filter's %s", c.GetName(), ut, since)
			}
			if ut.After(s.lastSeen) {
				s.lastSeen = ut
			}
			s.known[c.GetName()] = c
			changed = append(changed, c)
		}
		if page.GetNextPageToken() == "" {
			return changed
		}
		query.Set("page_token", page.GetNextPageToken())
	}
	s.t.Fatal("the sync never ran out of pages")
	return nil
}

// TestCRMSyncSeesCreatesUpdatesAndDeletes runs a CRM's sync over REST: a first
// round pages through every client, later rounds ask for what changed since the
// last update_time seen with show_deleted and see updates, new clients and
// tombstones of deleted ones, and never a client that did not change.
func TestCRMSyncSeesCreatesUpdatesAndDeletes(t *testing.T) {
	t.Parallel()
	sys := start(t, nil)
	alpha := sys.signUp(t, "syncing")
	owner := alpha.client
	firmPath := "/v1/" + alpha.name
	crm := alpha.apiKey(t, sys, "clients:read", "projects:read", "tasks:read", "contacts:read")

	var names []string
	for i, ext := range []string{"crm-1", "crm-2", "crm-3", "crm-4", "crm-5"} {
		r := want(t, owner.do("POST", firmPath+"/clients", map[string]any{
			"display_name": "Client " + ext, "external_id": ext, "tax_id": "12-345678" + string(rune('0'+i)),
		}), http.StatusCreated, "create "+ext)
		names = append(names, message[*workflowv1.Client](t, r).GetName())
	}
	sync := &crmSync{t: t, c: crm, path: firmPath + "/clients", known: map[string]*workflowv1.Client{}}
	first := sync.round()
	if len(first) != 5 || sync.pages != 3 {
		t.Fatalf("first round: %d clients in %d pages, want 5 in 3", len(first), sync.pages)
	}

	// Changes: one update, one delete, one create.
	want(t, owner.do("PATCH", "/v1/"+names[0]+"?update_mask=display_name", map[string]any{"display_name": "Renamed"}),
		http.StatusOK, "update")
	want(t, owner.do("DELETE", "/v1/"+names[1], nil), http.StatusOK, "delete")
	created := message[*workflowv1.Client](t, want(t, owner.do("POST", firmPath+"/clients", map[string]any{"display_name": "Newcomer", "external_id": "crm-6"}),
		http.StatusCreated, "create after the first round")).GetName()

	// The round may repeat clients inside the overlap; it must hold every change.
	changed := sync.round()
	var changedNames []string
	for _, c := range changed {
		changedNames = append(changedNames, c.GetName())
	}
	for _, n := range []string{names[0], names[1], created} {
		if !slices.Contains(changedNames, n) {
			t.Errorf("second round %v misses %s", changedNames, n)
		}
	}
	if got := sync.known[names[0]]; got.GetDisplayName() != "Renamed" || got.GetDeleteTime() != nil {
		t.Errorf("updated client as synced: %v", got)
	}
	tomb := sync.known[names[1]]
	if tomb.GetDeleteTime() == nil || tomb.GetExternalId() != "crm-2" || tomb.GetTaxId() != "" || tomb.GetExpireTime() == nil {
		t.Errorf("deleted client as synced: %v", tomb)
	}
	if del := tomb.GetDeleteTime().AsTime(); !tomb.GetUpdateTime().AsTime().Equal(del) {
		t.Errorf("tombstone update_time %s, delete_time %s: a delete is a change", tomb.GetUpdateTime().AsTime(), del)
	} else if exp := tomb.GetExpireTime().AsTime(); !exp.Equal(del.Add(30 * 24 * time.Hour)) {
		t.Errorf("expire_time %s, want 30 days after %s", exp, del)
	}
	if sync.known[created].GetDisplayName() != "Newcomer" {
		t.Errorf("created client as synced: %v", sync.known[created])
	}

	// A round with nothing new past the overlap returns nothing new.
	sync.lastSeen = sync.lastSeen.Add(overlap + time.Microsecond)
	if again := sync.round(); len(again) != 0 {
		t.Errorf("a round after the last change lists %d clients", len(again))
	}

	// Without show_deleted, the tombstone is gone from every read.
	want(t, crm.do("GET", "/v1/"+names[1], nil), http.StatusNotFound, "get a deleted client")
	listed := collectNames(t, crm, firmPath+"/clients?page_size=2", (*workflowv1.ListClientsResponse).GetClients)
	if slices.Contains(listed, names[1]) || len(listed) != 5 {
		t.Errorf("plain list %v", listed)
	}
	byExt := message[*workflowv1.ListClientsResponse](t, want(t, crm.do("GET", firmPath+"/clients?external_id=crm-2", nil), http.StatusOK, "by external id"))
	if len(byExt.GetClients()) != 0 {
		t.Errorf("external id of a deleted client still lists it: %v", byExt)
	}
	// The deleted client's external id may be taken again.
	want(t, owner.do("POST", firmPath+"/clients", map[string]any{"display_name": "Back", "external_id": "crm-2"}),
		http.StatusCreated, "re-create with the external id of a tombstone")

	t.Run("tasks of a deleted project sync as tombstones", func(t *testing.T) {
		project := message[*workflowv1.Project](t, want(t, owner.do("POST", firmPath+"/projects", map[string]any{"client": names[2], "display_name": "Books"}),
			http.StatusCreated, "create project")).GetName()
		task := message[*workflowv1.Task](t, want(t, owner.do("POST", "/v1/"+project+"/tasks", map[string]any{"title": "Close"}),
			http.StatusCreated, "create task")).GetName()
		want(t, owner.do("DELETE", "/v1/"+project, nil), http.StatusOK, "delete project")
		since := url.QueryEscape(`update_time > "2000-01-01T00:00:00Z"`)
		tasks := message[*workflowv1.ListTasksResponse](t, want(t, crm.do("GET", firmPath+"/projects/-/tasks?show_deleted=true&filter="+since, nil), http.StatusOK, "sync tasks")).GetTasks()
		if len(tasks) != 1 || tasks[0].GetName() != task || tasks[0].GetDeleteTime() == nil {
			t.Errorf("tasks with show_deleted: %v", tasks)
		}
		projects := message[*workflowv1.ListProjectsResponse](t, want(t, crm.do("GET", firmPath+"/projects?show_deleted=true&filter="+since, nil), http.StatusOK, "sync projects")).GetProjects()
		if len(projects) != 1 || projects[0].GetName() != project || projects[0].GetDeleteTime() == nil {
			t.Errorf("projects with show_deleted: %v", projects)
		}
		live := message[*workflowv1.ListTasksResponse](t, want(t, crm.do("GET", firmPath+"/projects/-/tasks?filter="+since, nil), http.StatusOK, "tasks without show_deleted"))
		if len(live.GetTasks()) != 0 {
			t.Errorf("a deleted project's task is listed: %v", live)
		}
		want(t, crm.do("GET", "/v1/"+task, nil), http.StatusNotFound, "get a task of a deleted project")
	})

	t.Run("a page token is bound to its filter", func(t *testing.T) {
		first := want(t, crm.do("GET", firmPath+"/clients?page_size=1&filter="+url.QueryEscape(`update_time > "2000-01-01T00:00:00Z"`), nil),
			http.StatusOK, "first page")
		token := url.QueryEscape(message[*workflowv1.ListClientsResponse](t, first).GetNextPageToken())
		want(t, crm.do("GET", firmPath+"/clients?page_size=1&page_token="+token+"&filter="+url.QueryEscape(`update_time > "2000-01-01T00:00:00Z"`), nil),
			http.StatusOK, "same filter")
		for what, query := range map[string]string{
			"another filter":      "&filter=" + url.QueryEscape(`update_time > "2001-01-01T00:00:00Z"`),
			"no filter":           "",
			"show_deleted added":  "&show_deleted=true&filter=" + url.QueryEscape(`update_time > "2000-01-01T00:00:00Z"`),
			"a filter term added": "&filter=" + url.QueryEscape(`update_time > "2000-01-01T00:00:00Z" AND kind = CLIENT_KIND_PERSON`),
		} {
			r := want(t, crm.do("GET", firmPath+"/clients?page_size=1&page_token="+token+query, nil), http.StatusBadRequest, what)
			if !slices.Contains(r.fields(), "page_token") {
				t.Errorf("%s: fields %v", what, r.fields())
			}
		}
	})

	t.Run("bad filters are 400 naming filter", func(t *testing.T) {
		for _, path := range []string{firmPath + "/clients", firmPath + "/contacts", firmPath + "/projects", firmPath + "/projects/-/tasks"} {
			for _, filter := range []string{
				`updated_since > "2026-12-01T00:00:00Z"`, `update_time > "yesterday"`, `update_time = "2026-12-01T00:00:00Z"`,
				`update_time > "2026-12-01T00:00:00Z" OR update_time < "2020-01-01T00:00:00Z"`, `update_time >`, `"`,
			} {
				r := want(t, crm.do("GET", path+"?filter="+url.QueryEscape(filter), nil), http.StatusBadRequest, path+" "+filter)
				if !slices.Contains(r.fields(), "filter") {
					t.Errorf("%s %s: fields %v", path, filter, r.fields())
				}
			}
		}
		r := want(t, crm.do("GET", firmPath+"/clients?tag=a&filter="+url.QueryEscape(`tag = "b"`), nil), http.StatusBadRequest, "conflict")
		if !slices.Contains(r.fields(), "filter") {
			t.Errorf("conflicting tag: fields %v", r.fields())
		}
		// The list's own fields work in the filter, joined by AND.
		listed := message[*workflowv1.ListClientsResponse](t, want(t, crm.do("GET", firmPath+"/clients?filter="+url.QueryEscape(`external_id = "crm-3" AND update_time > "2000-01-01T00:00:00Z"`), nil),
			http.StatusOK, "external id in the filter"))
		if got := listed.GetClients(); len(got) != 1 || got[0].GetName() != names[2] {
			t.Errorf("filter by external id: %v", listed)
		}
	})
}

// TestSyncSeesDeletedTemplatesSeriesAndCustomFields syncs templates, series and
// custom fields over REST: after deletes, a changed-since list with show_deleted
// holds each one's tombstone (only what identifies it), every other read leaves it
// out, and a deleted field's key can be taken again.
func TestSyncSeesDeletedTemplatesSeriesAndCustomFields(t *testing.T) {
	t.Parallel()
	sys := start(t, nil)
	alpha := sys.signUp(t, "syncing-config")
	owner := alpha.client
	firmPath := "/v1/" + alpha.name
	since := time.Now().Add(-time.Minute).UTC().Format(time.RFC3339Nano)

	client := message[*workflowv1.Client](t, want(t, owner.do("POST", firmPath+"/clients", map[string]any{"display_name": "Acme"}),
		http.StatusCreated, "client")).GetName()
	tmpl := message[*workflowv1.Template](t, want(t, owner.do("POST", firmPath+"/templates", map[string]any{
		"display_name": "Monthly close", "description": "the close", "tasks": []map[string]any{{"title": "Reconcile"}},
	}), http.StatusCreated, "template")).GetName()
	series := message[*workflowv1.Series](t, want(t, owner.do("POST", firmPath+"/series", map[string]any{
		"display_name": "Quarterly", "client": client, "template": tmpl, "frequency": "FREQUENCY_QUARTERLY",
		"start_date": "2026-01-01", "due_rule": map[string]any{"kind": "DUE_RULE_KIND_LAST_DAY"},
	}), http.StatusCreated, "series")).GetName()
	field := message[*workflowv1.CustomField](t, want(t, owner.do("POST", firmPath+"/customFields", map[string]any{
		"key": "fee", "display_name": "Fee", "type": "CUSTOM_FIELD_TYPE_SINGLE_SELECT", "options": []string{"low", "high"},
	}), http.StatusCreated, "custom field")).GetName()

	want(t, owner.do("DELETE", "/v1/"+tmpl, nil), http.StatusBadRequest, "delete a template a series uses")
	for _, name := range []string{series, tmpl, field} {
		want(t, owner.do("DELETE", "/v1/"+name, nil), http.StatusOK, "delete "+name)
		want(t, owner.do("GET", "/v1/"+name, nil), http.StatusNotFound, "get deleted "+name)
	}
	want(t, owner.do("POST", firmPath+"/projects", map[string]any{"client": client, "template": tmpl}),
		http.StatusNotFound, "project from a deleted template")
	want(t, owner.do("POST", "/v1/"+series+":run", map[string]any{}),
		http.StatusNotFound, "run a deleted series")

	query := url.Values{"filter": {`update_time > "` + since + `"`}, "show_deleted": {"true"}}
	templates := message[*workflowv1.ListTemplatesResponse](t, want(t, owner.do("GET", firmPath+"/templates?"+query.Encode(), nil),
		http.StatusOK, "templates")).GetTemplates()
	if len(templates) != 1 || templates[0].GetName() != tmpl || templates[0].GetDeleteTime() == nil || templates[0].GetExpireTime() == nil ||
		templates[0].GetDisplayName() != "Monthly close" || templates[0].GetDescription() != "" || len(templates[0].GetTasks()) != 0 {
		t.Errorf("templates with show_deleted: %v", templates)
	}
	seriesList := message[*workflowv1.ListSeriesResponse](t, want(t, owner.do("GET", firmPath+"/series?"+query.Encode()+"&client="+url.QueryEscape(client), nil),
		http.StatusOK, "series")).GetSeries()
	if len(seriesList) != 1 || seriesList[0].GetName() != series || seriesList[0].GetDeleteTime() == nil ||
		seriesList[0].GetClient() != client || seriesList[0].GetNextRunDate() != "" || seriesList[0].GetFrequency() != 0 {
		t.Errorf("series with show_deleted: %v", seriesList)
	}
	fields := message[*workflowv1.ListCustomFieldsResponse](t, want(t, owner.do("GET", firmPath+"/customFields?"+query.Encode(), nil),
		http.StatusOK, "custom fields")).GetCustomFields()
	if len(fields) != 1 || fields[0].GetName() != field || fields[0].GetDeleteTime() == nil || fields[0].GetKey() != "fee" || len(fields[0].GetOptions()) != 0 {
		t.Errorf("custom fields with show_deleted: %v", fields)
	}
	plain := len(message[*workflowv1.ListTemplatesResponse](t, want(t, owner.do("GET", firmPath+"/templates", nil), http.StatusOK, "templates")).GetTemplates()) +
		len(message[*workflowv1.ListSeriesResponse](t, want(t, owner.do("GET", firmPath+"/series", nil), http.StatusOK, "series")).GetSeries()) +
		len(message[*workflowv1.ListCustomFieldsResponse](t, want(t, owner.do("GET", firmPath+"/customFields", nil), http.StatusOK, "fields")).GetCustomFields())
	if plain != 0 {
		t.Errorf("plain lists show %d tombstones", plain)
	}
	want(t, owner.do("GET", firmPath+"/series?filter="+url.QueryEscape(`paused = "true"`), nil), http.StatusBadRequest, "unknown filter field")
	want(t, owner.do("POST", firmPath+"/customFields", map[string]any{"key": "fee", "display_name": "Fee", "type": "CUSTOM_FIELD_TYPE_TEXT"}),
		http.StatusCreated, "re-create a deleted field's key")
}
