package e2e

import (
	"net/http"
	"net/url"
	"reflect"
	"strings"
	"testing"
	"time"

	"google.golang.org/protobuf/proto"

	identityv1 "github.com/firmflow/firmflow/pkg/gen/firmflow/identity/v1"
	workflowv1 "github.com/firmflow/firmflow/pkg/gen/firmflow/workflow/v1"
)

// The firm's work over REST: templates, projects, tasks, series and workload, as the
// single-page app (session cookie) and as a CRM integration (API key).

// workClient creates a client through the clients API and returns its name.
func workClient(t *testing.T, c *client, firmName, display string) string {
	t.Helper()
	r := want(t, c.do("POST", "/v1/"+firmName+"/clients", map[string]any{"display_name": display, "kind": "CLIENT_KIND_BUSINESS"}),
		http.StatusCreated, "create client "+display)
	return message[*workflowv1.Client](t, r).GetName()
}

// workDay is today in the service's calendar (UTC) moved by days, as YYYY-MM-DD.
func workDay(days int) string { return time.Now().UTC().AddDate(0, 0, days).Format(time.DateOnly) }

// workTemplate is a template of three ordered tasks.
func workTemplate(t *testing.T, c *client, firmName string) *workflowv1.Template {
	t.Helper()
	return message[*workflowv1.Template](t, want(t, c.do("POST", "/v1/"+firmName+"/templates", map[string]any{
		"display_name": "Monthly close", "budget_minutes": 240,
		"tasks": []map[string]any{
			{"title": "Collect statements", "offset_days": 1, "estimate_minutes": 30, "checklist": []string{"bank", "card"}},
			{"title": "Reconcile", "offset_days": 4, "estimate_minutes": 120, "role": "preparer"},
			{"title": "Review", "anchor": "DUE_ANCHOR_DUE", "offset_days": 0, "estimate_minutes": 60, "role": "reviewer"},
		},
	}), http.StatusCreated, "create template"))
}

// firstOf is a list's first item, or the zero value (whose getters read zero values).
func firstOf[T any](list []T) T {
	var zero T
	if len(list) == 0 {
		return zero
	}
	return list[0]
}

// reading reads a string with get from a reply decoded as M.
func reading[M proto.Message](t *testing.T, get func(M) string) func(response) string {
	return func(r response) string { return get(message[M](t, r)) }
}

func (c *client) patch(t *testing.T, name, mask string, body map[string]any, status int) response {
	t.Helper()
	return want(t, c.do("PATCH", "/v1/"+name+"?update_mask="+url.QueryEscape(mask), body), status, "PATCH "+name+" "+mask)
}

func TestWorkflowWorkAsBrowserAndIntegration(t *testing.T) {
	t.Parallel()
	sys := start(t, nil)
	alpha := sys.signUp(t, "work")
	owner := alpha.client
	customer := workClient(t, owner, alpha.name, "Acme Ltd")
	tmpl := workTemplate(t, owner, alpha.name)
	if tmpl.GetRevision() != 1 || len(tmpl.GetTasks()) != 3 {
		t.Fatalf("template = %v", tmpl)
	}

	var project *workflowv1.Project
	t.Run("a template applied to a client makes a project with dated tasks", func(t *testing.T) {
		body := map[string]any{"client": customer, "template": tmpl.GetName(), "start_date": "2026-03-02", "deadline_date": "2026-04-15"}
		project = message[*workflowv1.Project](t, want(t, owner.do("POST", "/v1/"+alpha.name+"/projects?request_id=close-march", body), http.StatusCreated, "create project"))
		if project.GetStatus() != workflowv1.ProjectStatus_PROJECT_STATUS_NOT_STARTED || project.GetDueDate() != "2026-03-06" ||
			project.GetTaskCount() != 3 || project.GetTemplate() != tmpl.GetName() || project.GetBudgetMinutes() != 240 {
			t.Fatalf("project = %v", project)
		}
		again := message[*workflowv1.Project](t, want(t, owner.do("POST", "/v1/"+alpha.name+"/projects?request_id=close-march", body), http.StatusCreated, "retry create"))
		if again.GetName() != project.GetName() {
			t.Errorf("retry made %s, want %s", again.GetName(), project.GetName())
		}
		tasks := message[*workflowv1.ListTasksResponse](t, want(t, owner.do("GET", "/v1/"+project.GetName()+"/tasks", nil), http.StatusOK, "list tasks")).GetTasks()
		if len(tasks) != 3 {
			t.Fatalf("%d tasks", len(tasks))
		}
		for i, due := range []string{"2026-03-03", "2026-03-06", "2026-03-06"} {
			if tasks[i].GetDueDate() != due || tasks[i].GetClient() != customer {
				t.Errorf("task %d = %v, want due %s", i, tasks[i], due)
			}
		}
		if !tasks[0].GetUpNext() || !tasks[1].GetBlocked() || tasks[1].GetUpNext() {
			t.Errorf("flags: first %v, second %v", tasks[0], tasks[1])
		}
	})

	t.Run("completing tasks moves the project's derived status", func(t *testing.T) {
		tasks := message[*workflowv1.ListTasksResponse](t, want(t, owner.do("GET", "/v1/"+project.GetName()+"/tasks", nil), http.StatusOK, "list tasks")).GetTasks()
		first := tasks[0]
		items := first.GetChecklist()
		ticked := message[*workflowv1.Task](t, owner.patch(t, first.GetName(), "checklist", map[string]any{"etag": first.GetEtag(), "checklist": []map[string]any{
			{"id": items[0].GetId(), "text": "bank", "done": true}, {"id": items[1].GetId(), "text": "card"},
		}}, http.StatusOK))
		if list := ticked.GetChecklist(); len(list) != 2 || !list[0].GetDone() || list[1].GetDone() {
			t.Errorf("checklist = %v", ticked)
		}
		stale := owner.patch(t, first.GetName(), "status", map[string]any{"status": "TASK_STATUS_COMPLETE", "etag": first.GetEtag()}, http.StatusConflict)
		if stale.reason() != "ETAG_MISMATCH" {
			t.Errorf("stale etag reason %q", stale.reason())
		}
		for i, task := range tasks {
			etag := message[*workflowv1.Task](t, want(t, owner.do("GET", "/v1/"+task.GetName(), nil), http.StatusOK, "read task")).GetEtag()
			done := message[*workflowv1.Task](t, owner.patch(t, task.GetName(), "status", map[string]any{"status": "TASK_STATUS_COMPLETE", "etag": etag}, http.StatusOK))
			if done.GetCompleteTime() == nil {
				t.Errorf("task %d complete without complete_time", i)
			}
			got := message[*workflowv1.Project](t, want(t, owner.do("GET", "/v1/"+project.GetName(), nil), http.StatusOK, "read project"))
			wantStatus := workflowv1.ProjectStatus_PROJECT_STATUS_IN_PROGRESS
			if i == len(tasks)-1 {
				wantStatus = workflowv1.ProjectStatus_PROJECT_STATUS_COMPLETED
			}
			if got.GetStatus() != wantStatus || got.GetCompletedTaskCount() != int32(i+1) {
				t.Errorf("after task %d: %s %d, want %s", i, got.GetStatus(), got.GetCompletedTaskCount(), wantStatus)
			}
		}
	})

	t.Run("a template edit reaches only projects that have not started", func(t *testing.T) {
		waiting := message[*workflowv1.Project](t, want(t, owner.do("POST", "/v1/"+alpha.name+"/projects", map[string]any{"client": customer, "template": tmpl.GetName()}),
			http.StatusCreated, "second project"))
		current := message[*workflowv1.Template](t, want(t, owner.do("GET", "/v1/"+tmpl.GetName(), nil), http.StatusOK, "read template"))
		edited := message[*workflowv1.Template](t, owner.patch(t, tmpl.GetName(), "tasks,display_name", map[string]any{
			"etag": current.GetEtag(), "display_name": "Monthly close v2",
			"tasks": []map[string]any{{"title": "Collect statements", "offset_days": 1}, {"title": "Sign off", "offset_days": 2}},
		}, http.StatusOK))
		if edited.GetRevision() != 2 {
			t.Fatalf("edited template = %v", edited)
		}
		if n := len(message[*workflowv1.ListTasksResponse](t, want(t, owner.do("GET", "/v1/"+waiting.GetName()+"/tasks", nil), http.StatusOK, "tasks")).GetTasks()); n != 2 {
			t.Errorf("not-started project has %d tasks after the edit, want 2", n)
		}
		if got := message[*workflowv1.Project](t, want(t, owner.do("GET", "/v1/"+waiting.GetName(), nil), http.StatusOK, "read")).GetTemplateRevision(); got != 2 {
			t.Errorf("not-started project at revision %d", got)
		}
		done := message[*workflowv1.Project](t, want(t, owner.do("GET", "/v1/"+project.GetName(), nil), http.StatusOK, "read completed"))
		if done.GetTemplateRevision() != 1 || done.GetTaskCount() != 3 || done.GetStatus() != workflowv1.ProjectStatus_PROJECT_STATUS_COMPLETED {
			t.Errorf("completed project changed: %v", done)
		}
		revisions := message[*workflowv1.ListTemplateRevisionsResponse](t, want(t, owner.do("GET", "/v1/"+tmpl.GetName()+":listRevisions", nil), http.StatusOK, "revisions")).GetTemplates()
		if len(revisions) != 2 || revisions[1].GetDisplayName() != "Monthly close" {
			t.Errorf("revisions = %v", revisions)
		}
	})

	key := message[*identityv1.ApiKey](t, want(t, owner.do("POST", "/v1/"+alpha.name+"/apiKeys", map[string]any{
		"display_name": "crm", "scopes": []string{"projects:write", "tasks:write", "templates:read", "series:write", "workload:read"},
	}), http.StatusCreated, "API key")).GetSecret()
	crm := sys.integration(key)

	t.Run("an integration creates work idempotently and pages through a client's projects", func(t *testing.T) {
		for i := range 3 {
			body := map[string]any{"client": customer, "display_name": "Advisory call", "tags": []string{"crm"}}
			reqID := "crm-" + string(rune('a'+i))
			first := message[*workflowv1.Project](t, want(t, crm.do("POST", "/v1/"+alpha.name+"/projects?request_id="+reqID, body), http.StatusCreated, "crm project"))
			retry := message[*workflowv1.Project](t, want(t, crm.do("POST", "/v1/"+alpha.name+"/projects?request_id="+reqID, body), http.StatusCreated, "crm retry"))
			if first.GetName() != retry.GetName() {
				t.Errorf("retry %s made another project", reqID)
			}
		}
		var names []string
		path := "/v1/" + alpha.name + "/projects?page_size=2&tag=crm&client=" + url.QueryEscape(customer)
		next := ""
		for pages := 0; pages < 5; pages++ {
			page := message[*workflowv1.ListProjectsResponse](t, want(t, crm.do("GET", path+"&page_token="+next, nil), http.StatusOK, "page"))
			for _, p := range page.GetProjects() {
				names = append(names, p.GetName())
			}
			if next = page.GetNextPageToken(); next == "" {
				break
			}
			if pages == 0 {
				want(t, crm.do("GET", "/v1/"+alpha.name+"/projects?page_size=2&page_token="+next, nil), http.StatusBadRequest, "token of another filter")
			}
		}
		if len(names) != 3 {
			t.Errorf("paged through %d crm projects, want 3: %v", len(names), names)
		}
		want(t, crm.do("DELETE", "/v1/"+names[0], nil), http.StatusOK, "integration deletes a project")
		want(t, crm.do("POST", "/v1/"+alpha.name+"/templates", map[string]any{"display_name": "x"}), http.StatusForbidden, "template write without scope")
	})

	t.Run("workload counts the week and my work lists the caller's tasks", func(t *testing.T) {
		adHoc := message[*workflowv1.Project](t, want(t, crm.do("POST", "/v1/"+alpha.name+"/projects", map[string]any{"client": customer, "display_name": "Payroll fix"}),
			http.StatusCreated, "ad hoc project"))
		for _, task := range []map[string]any{
			{"title": "Late filing", "assignee": alpha.owner, "due_date": workDay(-3), "estimate_minutes": 60},
			{"title": "Today's call", "assignee": alpha.owner, "due_date": workDay(0), "estimate_minutes": 30},
			{"title": "Next month", "assignee": alpha.owner, "due_date": workDay(40), "estimate_minutes": 500},
		} {
			want(t, crm.do("POST", "/v1/"+adHoc.GetName()+"/tasks", task), http.StatusCreated, "task "+task["title"].(string))
		}
		ownerID := strings.TrimPrefix(alpha.owner, alpha.name+"/members/")
		owner.patch(t, alpha.name+"/capacities/"+ownerID, "weekly_minutes", map[string]any{"weekly_minutes": 60}, http.StatusOK)
		crm.patch(t, alpha.name+"/capacities/"+ownerID, "weekly_minutes", map[string]any{"weekly_minutes": 9000}, http.StatusForbidden)

		load := message[*workflowv1.Workload](t, want(t, crm.do("GET", "/v1/"+alpha.name+"/workload", nil), http.StatusOK, "workload"))
		var mine *workflowv1.MemberWorkload
		for _, m := range load.GetMembers() {
			if m.GetMember() == alpha.owner {
				mine = m
			}
		}
		monday := load.GetWeekStart()
		dueThisWeek := int32(1)
		if workDay(-3) >= monday {
			dueThisWeek = 2
		}
		if mine == nil || mine.GetOpenTasks() != 3 || mine.GetOverdueTasks() != 1 || mine.GetDueThisWeekTasks() != dueThisWeek ||
			mine.GetPlannedMinutes() != 90 || mine.GetCapacityMinutes() != 60 || !mine.GetOverCapacity() {
			t.Errorf("owner's workload = %v (week from %s)", mine, monday)
		}
		my := message[*workflowv1.MyWork](t, want(t, owner.do("GET", "/v1/"+alpha.name+"/myWork?page_size=2", nil), http.StatusOK, "my work"))
		if tasks := my.GetTasks(); len(tasks) != 2 || tasks[0].GetTitle() != "Late filing" || !tasks[0].GetOverdue() || my.GetNextPageToken() == "" {
			t.Errorf("my work = %v", my)
		}
		want(t, crm.do("GET", "/v1/"+alpha.name+"/myWork", nil), http.StatusForbidden, "my work for an API key")
	})

	t.Run("a series makes each period's project once", func(t *testing.T) {
		series := message[*workflowv1.Series](t, want(t, crm.do("POST", "/v1/"+alpha.name+"/series", map[string]any{
			"display_name": "Bookkeeping", "client": customer, "template": tmpl.GetName(), "frequency": "FREQUENCY_MONTHLY",
			"start_date": time.Now().UTC().Format("2006-01") + "-01", "create_ahead_days": 0,
			"due_rule": map[string]any{"kind": "DUE_RULE_KIND_LAST_DAY"}, "weekend_shift": "WEEKEND_SHIFT_PREVIOUS_WEEKDAY",
		}), http.StatusCreated, "create series"))
		if series.GetNextRunDate() == "" {
			t.Errorf("series = %v", series)
		}
		made := message[*workflowv1.ListProjectsResponse](t, want(t, crm.do("GET", "/v1/"+alpha.name+"/projects?client="+url.QueryEscape(customer)+"&page_size=100", nil), http.StatusOK, "projects"))
		var ofSeries int
		for _, p := range made.GetProjects() {
			if p.GetSeries() == series.GetName() {
				ofSeries++
			}
		}
		if ofSeries != 1 {
			t.Errorf("the series made %d projects for this month, want 1", ofSeries)
		}
		for range 2 {
			run := message[*workflowv1.RunSeriesResponse](t, want(t, crm.do("POST", "/v1/"+series.GetName()+":run", map[string]any{}), http.StatusOK, "run series"))
			if len(run.GetCreatedProjects()) != 0 {
				t.Errorf("running again created %v", run.GetCreatedProjects())
			}
		}
	})
}

// workResources are one of each of a firm's work resources.
type workResources struct {
	client, template, project, task, series string
}

func seedWork(t *testing.T, f firm) workResources {
	t.Helper()
	c := f.client
	var w workResources
	w.client = workClient(t, c, f.name, "Victim client")
	w.template = workTemplate(t, c, f.name).GetName()
	w.project = message[*workflowv1.Project](t, want(t, c.do("POST", "/v1/"+f.name+"/projects", map[string]any{"client": w.client, "template": w.template}),
		http.StatusCreated, "project")).GetName()
	w.task = message[*workflowv1.ListTasksResponse](t, want(t, c.do("GET", "/v1/"+w.project+"/tasks", nil), http.StatusOK, "tasks")).GetTasks()[0].GetName()
	w.series = message[*workflowv1.Series](t, want(t, c.do("POST", "/v1/"+f.name+"/series", map[string]any{
		"display_name": "Quarterly", "client": w.client, "template": w.template, "frequency": "FREQUENCY_QUARTERLY",
		"start_date": "2026-01-01", "due_rule": map[string]any{"kind": "DUE_RULE_KIND_LAST_DAY", "lag_days": 15},
	}), http.StatusCreated, "series")).GetName()
	return w
}

// workSnapshot is what the owner reads of the firm's work; a refused request must
// leave it exactly as it was.
func workSnapshot(t *testing.T, f firm, w workResources) map[string]string {
	t.Helper()
	out := map[string]string{}
	for _, path := range []string{
		"/v1/" + w.template, "/v1/" + w.project, "/v1/" + w.task, "/v1/" + w.series, "/v1/" + w.project + "/tasks",
		"/v1/" + f.name + "/projects", "/v1/" + f.name + "/templates", "/v1/" + f.name + "/series", "/v1/" + f.name + "/workload",
	} {
		out[path] = string(want(t, f.client.do("GET", path, nil), http.StatusOK, "snapshot "+path).raw)
	}
	return out
}

type workRoute struct {
	method, path string
	body         any
}

// workRoutes is every work route that takes an id, aimed at w of firm f.
func workRoutes(f firm, w workResources) []workRoute {
	member := f.owner
	memberID := member[strings.LastIndex(member, "/")+1:]
	return []workRoute{
		{"POST", "/v1/" + f.name + "/templates", map[string]any{"display_name": "planted"}},
		{"GET", "/v1/" + f.name + "/templates", nil},
		{"GET", "/v1/" + w.template, nil},
		{"GET", "/v1/" + w.template + ":listRevisions", nil},
		{"PATCH", "/v1/" + w.template + "?update_mask=display_name", map[string]any{"display_name": "owned"}},
		{"DELETE", "/v1/" + w.template, nil},
		{"POST", "/v1/" + f.name + "/projects", map[string]any{"client": w.client, "display_name": "planted"}},
		{"GET", "/v1/" + f.name + "/projects", nil},
		{"GET", "/v1/" + w.project, nil},
		{"PATCH", "/v1/" + w.project + "?update_mask=assignee", map[string]any{"assignee": member}},
		{"DELETE", "/v1/" + w.project, nil},
		{"POST", "/v1/" + w.project + "/tasks", map[string]any{"title": "planted"}},
		{"GET", "/v1/" + w.project + "/tasks", nil},
		{"GET", "/v1/" + f.name + "/projects/-/tasks", nil},
		{"GET", "/v1/" + w.task, nil},
		{"PATCH", "/v1/" + w.task + "?update_mask=status", map[string]any{"status": "TASK_STATUS_COMPLETE"}},
		{"DELETE", "/v1/" + w.task, nil},
		{"POST", "/v1/" + f.name + "/series", map[string]any{"display_name": "planted", "client": w.client, "template": w.template,
			"frequency": "FREQUENCY_WEEKLY", "start_date": "2026-01-05", "due_rule": map[string]any{"kind": "DUE_RULE_KIND_LAST_DAY"}}},
		{"GET", "/v1/" + f.name + "/series", nil},
		{"GET", "/v1/" + w.series, nil},
		{"PATCH", "/v1/" + w.series + "?update_mask=paused", map[string]any{"paused": true}},
		{"POST", "/v1/" + w.series + ":run", map[string]any{}},
		{"DELETE", "/v1/" + w.series, nil},
		{"GET", "/v1/" + f.name + "/workload", nil},
		{"GET", "/v1/" + f.name + "/myWork", nil},
		{"PATCH", "/v1/" + f.name + "/capacities/" + memberID + "?update_mask=weekly_minutes", map[string]any{"weekly_minutes": 1}},
	}
}

// TestEveryWorkRouteRefusesOutsidersAndMembersWithoutPermission tries each work route
// with another firm's ids (as its owner and its fully scoped API key: 404, as for an
// id that does not exist) and as a member whose permissions were taken away (403);
// the victim's work does not change.
func TestEveryWorkRouteRefusesOutsidersAndMembersWithoutPermission(t *testing.T) {
	t.Parallel()
	sys := start(t, nil)
	alpha, beta := sys.signUp(t, "workvictim"), sys.signUp(t, "workintruder")
	w := seedWork(t, alpha)
	betaKey := message[*identityv1.ApiKey](t, want(t, beta.client.do("POST", "/v1/"+beta.name+"/apiKeys", map[string]any{
		"display_name": "crm", "scopes": []string{"templates:write", "projects:write", "tasks:write", "series:write", "workload:read"},
	}), http.StatusCreated, "intruder key")).GetSecret()
	before := workSnapshot(t, alpha, w)

	routes := workRoutes(alpha, w)
	// The victim's objects under the intruder's own firm.
	for _, name := range []string{w.template, w.project, w.task, w.series} {
		routes = append(routes, workRoute{"GET", "/v1/" + strings.Replace(name, alpha.name, beta.name, 1), nil})
	}
	// Any member of the firm may read capacities, so only outsiders are tried here.
	routes = append(routes, workRoute{"GET", "/v1/" + alpha.name + "/capacities/" + alpha.owner[strings.LastIndex(alpha.owner, "/")+1:], nil})
	routes = append(routes,
		workRoute{"POST", "/v1/" + beta.name + "/projects", map[string]any{"client": strings.Replace(w.client, alpha.name, beta.name, 1), "display_name": "x"}},
		workRoute{"POST", "/v1/" + beta.name + "/projects", map[string]any{
			"client": workClient(t, beta.client, beta.name, "Intruder client"), "template": strings.Replace(w.template, alpha.name, beta.name, 1),
		}},
	)
	for who, c := range map[string]*client{"owner": beta.client, "api key": sys.integration(betaKey)} {
		for _, r := range routes {
			resp := c.do(r.method, r.path, r.body)
			switch {
			case resp.status == http.StatusNotFound:
			case who == "api key" && resp.status == http.StatusForbidden:
				// myWork and capacities are for people; the policy answers first.
			default:
				t.Errorf("%s: %s %s = %d, want 404: %s", who, r.method, r.path, resp.status, truncate(string(resp.raw), 200))
			}
		}
	}

	// A member whose role has no rights on templates, projects, tasks or series.
	want(t, alpha.client.do("POST", "/v1/"+alpha.name+"/invitations", map[string]any{"email": "temp@workvictim.example", "role": "ROLE_MEMBER"}),
		http.StatusCreated, "invite")
	token := sys.mailToken(t, "temp@workvictim.example", "invited you", invitationTokenPattern)
	want(t, sys.browser().do("POST", "/v1/invitations:accept", map[string]any{"token": token, "display_name": "Temp", "password": password}),
		http.StatusCreated, "accept")
	var rules []map[string]any
	for _, category := range []string{"templates", "projects", "tasks", "series"} {
		for _, action := range []string{"create", "read", "update", "delete"} {
			rules = append(rules, map[string]any{"role": "member", "category": category, "action": action, "scope": "none"})
		}
	}
	want(t, alpha.client.do("PATCH", "/v1/"+alpha.name+"/permissions", map[string]any{"rules": rules}), http.StatusOK, "take the member's rights")
	member := sys.browser()
	member.login(t, "temp@workvictim.example", "")
	for _, r := range workRoutes(alpha, w) {
		if resp := member.do(r.method, r.path, r.body); resp.status != http.StatusForbidden {
			t.Errorf("member: %s %s = %d, want 403: %s", r.method, r.path, resp.status, truncate(string(resp.raw), 200))
		}
	}
	if after := workSnapshot(t, alpha, w); !reflect.DeepEqual(before, after) {
		for path := range before {
			if before[path] != after[path] {
				t.Errorf("%s changed:\nbefore %s\nafter  %s", path, truncate(before[path], 300), truncate(after[path], 300))
			}
		}
	}
}

// TestWorkHostileInputIsRefusedOrStoredLiterally sends hostile strings to every
// writable string field of the work resources: a 4xx, or the value read back exactly
// as sent; never a 5xx.
func TestWorkHostileInputIsRefusedOrStoredLiterally(t *testing.T) {
	t.Parallel()
	sys := start(t, nil)
	f := sys.signUp(t, "workhostile")
	w := seedWork(t, f)
	c := f.client
	// A task added by hand: editing the template below replans the project and
	// replaces the tasks the template made.
	w.task = message[*workflowv1.Task](t, want(t, c.do("POST", "/v1/"+w.project+"/tasks", map[string]any{"title": "by hand"}), http.StatusCreated, "task")).GetName()
	values := []string{
		"O'Brien & Sons; DROP TABLE projects;--", `" OR 1=1 --`, "<script>alert('x')</script>", "${jndi:ldap://x}",
		"{{7*7}} %s %n", "Ünïcödé 会計事務所 🧾", "Robert\x00'); DROP TABLE tasks;--", "evil\r\nSet-Cookie: x=y",
		strings.Repeat("A", 300), strings.Repeat("é", 201), "../../etc/passwd", "\u202eevil", " ",
	}
	type target struct {
		name, mask, field string
		read              func(response) string
	}
	targets := []struct {
		target
		body func(v string) map[string]any
	}{
		{target{w.template, "display_name", "display_name", reading(t, (*workflowv1.Template).GetDisplayName)}, func(v string) map[string]any { return map[string]any{"display_name": v} }},
		{target{w.template, "description", "description", reading(t, (*workflowv1.Template).GetDescription)}, func(v string) map[string]any { return map[string]any{"description": v} }},
		{target{w.template, "tasks", "tasks.title", reading(t, func(m *workflowv1.Template) string { return firstOf(m.GetTasks()).GetTitle() })}, func(v string) map[string]any {
			return map[string]any{"tasks": []map[string]any{{"title": v}}}
		}},
		{target{w.template, "tasks", "tasks.checklist", reading(t, func(m *workflowv1.Template) string { return firstOf(firstOf(m.GetTasks()).GetChecklist()) })}, func(v string) map[string]any {
			return map[string]any{"tasks": []map[string]any{{"title": "t", "checklist": []string{v}}}}
		}},
		{target{w.project, "display_name", "display_name", reading(t, (*workflowv1.Project).GetDisplayName)}, func(v string) map[string]any { return map[string]any{"display_name": v} }},
		{target{w.project, "description", "description", reading(t, (*workflowv1.Project).GetDescription)}, func(v string) map[string]any { return map[string]any{"description": v} }},
		{target{w.project, "tags", "tags", reading(t, func(m *workflowv1.Project) string { return firstOf(m.GetTags()) })}, func(v string) map[string]any {
			return map[string]any{"tags": []string{v}}
		}},
		{target{w.task, "title", "title", reading(t, (*workflowv1.Task).GetTitle)}, func(v string) map[string]any { return map[string]any{"title": v} }},
		{target{w.task, "role", "role", reading(t, (*workflowv1.Task).GetRole)}, func(v string) map[string]any { return map[string]any{"role": v} }},
		{target{w.task, "checklist", "checklist", reading(t, func(m *workflowv1.Task) string { return firstOf(m.GetChecklist()).GetText() })}, func(v string) map[string]any {
			return map[string]any{"checklist": []map[string]any{{"text": v}}}
		}},
		{target{w.series, "display_name", "display_name", reading(t, (*workflowv1.Series).GetDisplayName)}, func(v string) map[string]any { return map[string]any{"display_name": v} }},
	}
	// Values every field must take as they are: refusing them would be a bug too.
	mustStore := map[string]bool{values[0]: true, values[1]: true, values[2]: true, values[5]: true}
	for _, tg := range targets {
		for _, v := range values {
			r := c.do("PATCH", "/v1/"+tg.name+"?update_mask="+tg.mask, tg.body(v))
			switch {
			case r.status >= 500:
				t.Errorf("%s %s = %q: status %d: %s", tg.name, tg.field, v, r.status, truncate(string(r.raw), 200))
			case r.status >= 400 && mustStore[v]:
				t.Errorf("%s %s = %q refused: %s", tg.name, tg.field, v, truncate(string(r.raw), 200))
			case r.status >= 400:
			default:
				read := want(t, c.do("GET", "/v1/"+tg.name, nil), http.StatusOK, "read back")
				if got := tg.read(read); got != v {
					t.Errorf("%s %s: stored %q as %q", tg.name, tg.field, truncate(v, 40), truncate(got, 40))
				}
			}
		}
	}
	// Hostile strings where ids, dates, enums and filters go.
	for _, path := range []string{
		"/v1/" + f.name + "/projects?client=" + url.QueryEscape("firms/x' OR 1=1/clients/y"),
		"/v1/" + f.name + "/projects?due_after=2026-02-30",
		"/v1/" + f.name + "/projects?order_by=" + url.QueryEscape("id; DROP TABLE projects"),
		"/v1/" + f.name + "/projects?tag=" + url.QueryEscape("x' OR '1'='1"),
		"/v1/" + f.name + "/projects?page_token=" + url.QueryEscape("eyJhIjp7InQiOiIwMDAxLTAxLTAxIn19"),
		"/v1/" + f.name + "/projects/------------------------------------",
		"/v1/" + f.name + "/projects/-/tasks?status=TASK_STATUS_BOGUS",
		"/v1/" + f.name + "/workload?week_of=yesterday",
	} {
		if r := c.do("GET", path, nil); r.status >= 500 || (r.status == http.StatusOK && !strings.Contains(path, "tag=")) {
			t.Errorf("GET %s = %d, want 4xx: %s", path, r.status, truncate(string(r.raw), 200))
		}
	}
	for _, body := range []map[string]any{
		{"client": w.client, "display_name": "x", "start_date": "2026-13-01"},
		{"client": w.client, "display_name": "x", "assignee": "firms/" + strings.Repeat("0", 36) + "/members/" + strings.Repeat("1", 36)},
		{"client": w.client, "display_name": "x", "due_date": "2026-01-01", "start_date": "2026-02-01"},
		{"client": w.client},
		{"client": w.client, "display_name": "x", "budget_minutes": -5},
	} {
		if r := c.do("POST", "/v1/"+f.name+"/projects", body); r.status < 400 || r.status >= 500 {
			t.Errorf("create project %v = %d, want 4xx: %s", body, r.status, truncate(string(r.raw), 200))
		}
	}
}
