package e2e

import (
	"net/http"
	"slices"
	"strings"
	"testing"

	workflowv1 "github.com/firmflow/firmflow/pkg/gen/firmflow/workflow/v1"
)

// wantField fails the test unless r is 400 INVALID_ARGUMENT naming field.
func wantField(t *testing.T, r response, field, what string) {
	t.Helper()
	want(t, r, http.StatusBadRequest, what)
	if r.reason() != "INVALID_ARGUMENT" || !slices.Equal(r.fields(), []string{field}) {
		t.Fatalf("%s: reason %s fields %v, want INVALID_ARGUMENT on %s: %s", what, r.reason(), r.fields(), field, truncate(string(r.raw), 300))
	}
}

// TestMemberReferencesAreRefusedUnlessTheyAreTheFirmsMembers names another firm's
// member and a member of no firm as assignee of a task, among a client's assignees
// and in a capacity, as the owner and as an API key: each is 400 naming the field,
// and nothing changes. A member invited a moment ago is accepted at once.
func TestMemberReferencesAreRefusedUnlessTheyAreTheFirmsMembers(t *testing.T) {
	t.Parallel()
	sys := start(t, nil)
	alpha, beta := sys.signUp(t, "refsalpha"), sys.signUp(t, "refsbeta")
	owner := alpha.client
	crm := alpha.apiKey(t, sys, "projects:write", "tasks:write", "clients:write")
	betaOwnerID := beta.owner[strings.LastIndex(beta.owner, "/")+1:]
	nobodyID := "0190b6d1-0000-7000-8000-000000000000"
	customer := workClient(t, owner, alpha.name, "Refs Ltd")
	project := message[*workflowv1.Project](t, want(t, owner.do("POST", "/v1/"+alpha.name+"/projects", map[string]any{"client": customer, "display_name": "Refs"}),
		http.StatusCreated, "project")).GetName()
	task := message[*workflowv1.Task](t, want(t, owner.do("POST", "/v1/"+project+"/tasks", map[string]any{"title": "Prepare"}), http.StatusCreated, "task"))

	for label, id := range map[string]string{"another firm's member": betaOwnerID, "no member": nobodyID} {
		member := alpha.name + "/members/" + id
		for caller, c := range map[string]*client{"owner": owner, "api key": crm} {
			wantField(t, c.do("POST", "/v1/"+project+"/tasks", map[string]any{"title": "x", "assignee": member}),
				"task.assignee", caller+" creates a task for "+label)
			wantField(t, c.do("PATCH", "/v1/"+task.GetName()+"?update_mask=assignee", map[string]any{"assignee": member}),
				"task.assignee", caller+" assigns a task to "+label)
			wantField(t, c.do("POST", "/v1/"+alpha.name+"/clients", map[string]any{"display_name": "x", "assignees": []string{alpha.owner, member}}),
				"client.assignees[1]", caller+" creates a client for "+label)
		}
		wantField(t, owner.do("PATCH", "/v1/"+alpha.name+"/capacities/"+id+"?update_mask=weekly_minutes", map[string]any{"weekly_minutes": 60}),
			"capacity.name", "owner sets the capacity of "+label)
	}
	if got := message[*workflowv1.Task](t, want(t, owner.do("GET", "/v1/"+task.GetName(), nil), http.StatusOK, "task")).GetEtag(); got != task.GetEtag() {
		t.Errorf("the task changed under refused requests: etag %s, was %s", got, task.GetEtag())
	}

	// A member who has just accepted an invitation is assignable at once.
	_, member := alpha.member(t, sys, "refs-member@example.com")
	memberID := member[strings.LastIndex(member, "/")+1:]
	want(t, crm.do("POST", "/v1/"+project+"/tasks", map[string]any{"title": "Welcome", "assignee": member}), http.StatusCreated, "task for the newcomer")
	owner.patch(t, alpha.name+"/capacities/"+memberID, "weekly_minutes", map[string]any{"weekly_minutes": 600}, http.StatusOK)
}

// TestRemovedMembersOpenWorkIsReleased removes a member who has open and completed
// tasks, a project, a client and a capacity: the open work loses them as assignee,
// the completed task keeps them as the record of who did it, their capacity is back
// to the default, and they can no longer be assigned.
func TestRemovedMembersOpenWorkIsReleased(t *testing.T) {
	t.Parallel()
	sys := start(t, nil)
	alpha := sys.signUp(t, "leaver")
	owner := alpha.client
	_, member := alpha.member(t, sys, "leaver-member@example.com")
	memberID := member[strings.LastIndex(member, "/")+1:]
	customer := message[*workflowv1.Client](t, want(t, owner.do("POST", "/v1/"+alpha.name+"/clients", map[string]any{"display_name": "Leaver Ltd", "assignees": []string{alpha.owner, member}}),
		http.StatusCreated, "client")).GetName()
	project := message[*workflowv1.Project](t, want(t, owner.do("POST", "/v1/"+alpha.name+"/projects", map[string]any{"client": customer, "display_name": "Leaver", "assignee": member}),
		http.StatusCreated, "project")).GetName()
	open := message[*workflowv1.Task](t, want(t, owner.do("POST", "/v1/"+project+"/tasks", map[string]any{"title": "Open", "assignee": member}), http.StatusCreated, "open task")).GetName()
	done := message[*workflowv1.Task](t, want(t, owner.do("POST", "/v1/"+project+"/tasks", map[string]any{"title": "Done", "assignee": member, "status": "TASK_STATUS_COMPLETE"}),
		http.StatusCreated, "done task")).GetName()
	owner.patch(t, alpha.name+"/capacities/"+memberID, "weekly_minutes", map[string]any{"weekly_minutes": 600}, http.StatusOK)

	want(t, owner.do("DELETE", "/v1/"+member, nil), http.StatusOK, "remove the member")
	eventually(t, "the open task released", func() bool {
		return message[*workflowv1.Task](t, want(t, owner.do("GET", "/v1/"+open, nil), http.StatusOK, "open task")).GetAssignee() == ""
	})
	if got := message[*workflowv1.Task](t, want(t, owner.do("GET", "/v1/"+done, nil), http.StatusOK, "done task")).GetAssignee(); got != member {
		t.Errorf("completed task assignee %q, want %s", got, member)
	}
	if got := message[*workflowv1.Project](t, want(t, owner.do("GET", "/v1/"+project, nil), http.StatusOK, "project")).GetAssignee(); got != "" {
		t.Errorf("project still assigned to %q", got)
	}
	assignees := message[*workflowv1.Client](t, want(t, owner.do("GET", "/v1/"+customer, nil), http.StatusOK, "client")).GetAssignees()
	if !slices.Equal(assignees, []string{alpha.owner}) {
		t.Errorf("client assignees %v, want only the owner", assignees)
	}
	if got := message[*workflowv1.MemberCapacity](t, want(t, owner.do("GET", "/v1/"+alpha.name+"/capacities/"+memberID, nil), http.StatusOK, "capacity")).GetWeeklyMinutes(); got == 600 {
		t.Errorf("the removed member's capacity is still %d", got)
	}
	wantField(t, owner.do("POST", "/v1/"+project+"/tasks", map[string]any{"title": "x", "assignee": member}), "task.assignee", "assign a removed member")
}
