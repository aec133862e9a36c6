package e2e

import (
	"net/http"
	"net/url"
	"slices"
	"testing"
	"time"
)

// syncPage is the fields a CRM's sync reads from a listed client.
type syncedClient struct {
	Name        string `json:"name"`
	DisplayName string `json:"display_name"`
	ExternalID  string `json:"external_id"`
	TaxID       string `json:"tax_id"`
	UpdateTime  string `json:"update_time"`
	DeleteTime  string `json:"delete_time"`
	ExpireTime  string `json:"expire_time"`
}

// crmSync is a CRM's sync loop as the README describes it: list what changed since
// the last update_time seen (less an overlap), tombstones included, page by page,
// and keep each object's latest state by name.
type crmSync struct {
	t        *testing.T
	c        *client
	path     string // the list, e.g. /v1/firms/{id}/clients
	lastSeen time.Time
	known    map[string]syncedClient
	pages    int
}

// overlap is how far back each round asks again: a change committed late with an
// earlier update_time still falls inside it, and the names dedupe what comes twice.
const overlap = 5 * time.Second

func (s *crmSync) round() []syncedClient {
	s.t.Helper()
	since := s.lastSeen.Add(-overlap).UTC().Format(time.RFC3339Nano)
	query := url.Values{
		"filter": {`update_time > "` + since + `"`}, "show_deleted": {"true"}, "page_size": {"2"},
	}
	var changed []syncedClient
	for range 100 {
		r := want(s.t, s.c.do("GET", s.path+"?"+query.Encode(), nil), http.StatusOK, "sync "+s.path)
		s.pages++
		page := decode[struct {
			Clients []syncedClient `json:"clients"`
			Next    string         `json:"next_page_token"`
		}](s.t, r)
		for _, c := range page.Clients {
			ut, err := time.Parse(time.RFC3339Nano, c.UpdateTime)
			if err != nil {
				s.t.Fatalf("update_time %q: %v", c.UpdateTime, err)
			}
			if ut.Before(s.lastSeen.Add(-overlap)) {
				s.t.Errorf("%s changed at %s, before the filter's %s", c.Name, c.UpdateTime, since)
			}
			if ut.After(s.lastSeen) {
				s.lastSeen = ut
			}
			s.known[c.Name] = c
			changed = append(changed, c)
		}
		if page.Next == "" {
			return changed
		}
		query.Set("page_token", page.Next)
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
		names = append(names, r.str("name"))
	}
	sync := &crmSync{t: t, c: crm, path: firmPath + "/clients", known: map[string]syncedClient{}}
	first := sync.round()
	if len(first) != 5 || sync.pages != 3 {
		t.Fatalf("first round: %d clients in %d pages, want 5 in 3", len(first), sync.pages)
	}

	// Changes: one update, one delete, one create.
	want(t, owner.do("PATCH", "/v1/"+names[0]+"?update_mask=display_name", map[string]any{"display_name": "Renamed"}),
		http.StatusOK, "update")
	want(t, owner.do("DELETE", "/v1/"+names[1], nil), http.StatusOK, "delete")
	created := want(t, owner.do("POST", firmPath+"/clients", map[string]any{"display_name": "Newcomer", "external_id": "crm-6"}),
		http.StatusCreated, "create after the first round").str("name")

	// The round may repeat clients inside the overlap; it must hold every change.
	changed := sync.round()
	var changedNames []string
	for _, c := range changed {
		changedNames = append(changedNames, c.Name)
	}
	for _, n := range []string{names[0], names[1], created} {
		if !slices.Contains(changedNames, n) {
			t.Errorf("second round %v misses %s", changedNames, n)
		}
	}
	if got := sync.known[names[0]]; got.DisplayName != "Renamed" || got.DeleteTime != "" {
		t.Errorf("updated client as synced: %+v", got)
	}
	tomb := sync.known[names[1]]
	if tomb.DeleteTime == "" || tomb.ExternalID != "crm-2" || tomb.TaxID != "" || tomb.ExpireTime == "" {
		t.Errorf("deleted client as synced: %+v", tomb)
	}
	if del, err := time.Parse(time.RFC3339Nano, tomb.DeleteTime); err != nil || tomb.UpdateTime != tomb.DeleteTime {
		t.Errorf("tombstone update_time %s, delete_time %s (%v): a delete is a change", tomb.UpdateTime, tomb.DeleteTime, err)
	} else if exp, _ := time.Parse(time.RFC3339Nano, tomb.ExpireTime); !exp.Equal(del.Add(30 * 24 * time.Hour)) {
		t.Errorf("expire_time %s, want 30 days after %s", tomb.ExpireTime, tomb.DeleteTime)
	}
	if sync.known[created].DisplayName != "Newcomer" {
		t.Errorf("created client as synced: %+v", sync.known[created])
	}

	// A round with nothing new past the overlap returns nothing new.
	sync.lastSeen = sync.lastSeen.Add(overlap + time.Microsecond)
	if again := sync.round(); len(again) != 0 {
		t.Errorf("a round after the last change lists %d clients", len(again))
	}

	// Without show_deleted, the tombstone is gone from every read.
	want(t, crm.do("GET", "/v1/"+names[1], nil), http.StatusNotFound, "get a deleted client")
	listed := collectNames(t, crm, firmPath+"/clients?page_size=2", "clients")
	if slices.Contains(listed, names[1]) || len(listed) != 5 {
		t.Errorf("plain list %v", listed)
	}
	byExt := want(t, crm.do("GET", firmPath+"/clients?external_id=crm-2", nil), http.StatusOK, "by external id")
	if len(byExt.list("clients")) != 0 {
		t.Errorf("external id of a deleted client still lists it: %s", byExt.raw)
	}
	// The deleted client's external id may be taken again.
	want(t, owner.do("POST", firmPath+"/clients", map[string]any{"display_name": "Back", "external_id": "crm-2"}),
		http.StatusCreated, "re-create with the external id of a tombstone")

	t.Run("tasks of a deleted project sync as tombstones", func(t *testing.T) {
		project := want(t, owner.do("POST", firmPath+"/projects", map[string]any{"client": names[2], "display_name": "Books"}),
			http.StatusCreated, "create project").str("name")
		task := want(t, owner.do("POST", "/v1/"+project+"/tasks", map[string]any{"title": "Close"}),
			http.StatusCreated, "create task").str("name")
		want(t, owner.do("DELETE", "/v1/"+project, nil), http.StatusOK, "delete project")
		since := url.QueryEscape(`update_time > "2000-01-01T00:00:00Z"`)
		r := want(t, crm.do("GET", firmPath+"/projects/-/tasks?show_deleted=true&filter="+since, nil), http.StatusOK, "sync tasks")
		tasks := r.list("tasks")
		if len(tasks) != 1 || tasks[0]["name"] != task || tasks[0]["delete_time"] == nil {
			t.Errorf("tasks with show_deleted: %s", r.raw)
		}
		r = want(t, crm.do("GET", firmPath+"/projects?show_deleted=true&filter="+since, nil), http.StatusOK, "sync projects")
		if p := r.list("projects"); len(p) != 1 || p[0]["name"] != project || p[0]["delete_time"] == nil {
			t.Errorf("projects with show_deleted: %s", r.raw)
		}
		r = want(t, crm.do("GET", firmPath+"/projects/-/tasks?filter="+since, nil), http.StatusOK, "tasks without show_deleted")
		if len(r.list("tasks")) != 0 {
			t.Errorf("a deleted project's task is listed: %s", r.raw)
		}
		want(t, crm.do("GET", "/v1/"+task, nil), http.StatusNotFound, "get a task of a deleted project")
	})

	t.Run("a page token is bound to its filter", func(t *testing.T) {
		first := want(t, crm.do("GET", firmPath+"/clients?page_size=1&filter="+url.QueryEscape(`update_time > "2000-01-01T00:00:00Z"`), nil),
			http.StatusOK, "first page")
		token := url.QueryEscape(first.str("next_page_token"))
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
		r = want(t, crm.do("GET", firmPath+"/clients?filter="+url.QueryEscape(`external_id = "crm-3" AND update_time > "2000-01-01T00:00:00Z"`), nil),
			http.StatusOK, "external id in the filter")
		if got := r.list("clients"); len(got) != 1 || got[0]["name"] != names[2] {
			t.Errorf("filter by external id: %s", r.raw)
		}
	})
}
