package e2e

import (
	"context"
	"net/http"
	"reflect"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/pquerna/otp/totp"
	"google.golang.org/genproto/googleapis/api/annotations"

	identityv1 "github.com/firmflow/firmflow/pkg/gen/firmflow/identity/v1"
	lifecyclev1 "github.com/firmflow/firmflow/pkg/gen/firmflow/lifecycle/v1"
	workflowv1 "github.com/firmflow/firmflow/pkg/gen/firmflow/workflow/v1"
)

// operation is one REST binding of an RPC: its HTTP method and its path with every
// variable written as "*" ("/v1/firms/*/clients/*").
type operation struct {
	rpc, method, path string
}

// restOperations is every REST binding the protos the stack registered declare
// (hostileOperations reads them), so that an operation added to any proto is in the
// matrix below without anyone listing it.
func restOperations(t *testing.T) []operation {
	t.Helper()
	var ops []operation
	for _, op := range hostileOperations(t) {
		ops = append(ops, op.operation)
	}
	return ops
}

func httpBinding(r *annotations.HttpRule) (method, path string) {
	switch p := r.GetPattern().(type) {
	case *annotations.HttpRule_Get:
		return http.MethodGet, p.Get
	case *annotations.HttpRule_Post:
		return http.MethodPost, p.Post
	case *annotations.HttpRule_Patch:
		return http.MethodPatch, p.Patch
	case *annotations.HttpRule_Put:
		return http.MethodPut, p.Put
	case *annotations.HttpRule_Delete:
		return http.MethodDelete, p.Delete
	}
	return "", ""
}

var templateVariable = regexp.MustCompile(`\{[^}=]+(=([^}]*))?\}`)

// expandTemplate writes a path template's variables as their segments:
// "/v1/{name=firms/*/clients/*}" is "/v1/firms/*/clients/*", "/v1/x/{token}" is "/v1/x/*".
func expandTemplate(path string) string {
	return templateVariable.ReplaceAllStringFunc(path, func(v string) string {
		if m := templateVariable.FindStringSubmatch(v); m[2] != "" {
			return m[2]
		}
		return "*"
	})
}

// fill puts ids into an operation's path: each "*" takes ids[collection before it].
// ok is false when a collection has no id, i.e. the matrix does not cover it.
func fill(path string, ids map[string]string) (string, string, bool) {
	segs := strings.Split(path, "/")
	for i, seg := range segs {
		base, verb, _ := strings.Cut(seg, ":")
		if base != "*" {
			continue
		}
		id, ok := ids[segs[i-1]]
		if !ok {
			return "", segs[i-1], false
		}
		segs[i] = id
		if verb != "" {
			segs[i] += ":" + verb
		}
	}
	return strings.Join(segs, "/"), "", true
}

// TestCrossFirmMatrixOverEveryOperation takes every REST operation the protos declare
// whose path holds an id, aims it at firm A's real objects, and sends it as each kind
// of outsider: firm B's owner, B's member, B's API key with every scope, and a staff
// member holding an approved grant for B. Each answer must be refused and exactly the
// answer the same caller gets for ids that exist nowhere (so nothing tells A's
// objects apart from none), and A's data must read the same afterwards. An operation
// whose path names a collection the matrix has no object for fails the test: new
// operations are covered, or this test says which are not.
func TestCrossFirmMatrixOverEveryOperation(t *testing.T) {
	t.Parallel()
	sys := start(t, nil)
	alpha, beta := sys.signUp(t, "matrixvictim"), sys.signUp(t, "matrixintruder")
	a, ap := alpha.client, "/v1/"+alpha.name

	// One of each of A's objects. The webhook subscription comes first, so the work
	// seeded next makes deliveries to it.
	hooks := newHookReceiver(t, sys.stack.Material.PKI, 0)
	hook := message[*workflowv1.WebhookSubscription](t, want(t, a.do("POST", ap+"/webhookSubscriptions",
		map[string]any{"url": hooks.srv.URL, "event_types": []string{"*"}}), http.StatusCreated, "webhook subscription")).GetName()
	w := seedWork(t, alpha)
	contact := message[*workflowv1.Contact](t, want(t, a.do("POST", ap+"/contacts", map[string]any{"display_name": "Victim contact"}), http.StatusCreated, "contact")).GetName()
	want(t, a.do("POST", "/v1/"+w.client+"/contacts", map[string]any{"contact": contact}), http.StatusCreated, "link")
	field := message[*workflowv1.CustomField](t, want(t, a.do("POST", ap+"/customFields", map[string]any{"key": "k", "display_name": "K", "type": "CUSTOM_FIELD_TYPE_TEXT"}),
		http.StatusCreated, "custom field")).GetName()
	apiKey := message[*identityv1.ApiKey](t, want(t, a.do("POST", ap+"/apiKeys", map[string]any{"display_name": "victim key", "scopes": []string{"clients:read"}}),
		http.StatusCreated, "api key")).GetName()
	_, memberName := alpha.member(t, sys, "member@matrixvictim.example")
	export := message[*lifecyclev1.Operation](t, want(t, a.do("POST", ap+"/exports", map[string]any{}), http.StatusCreated, "export")).GetName()
	sessions := message[*identityv1.ListSessionsResponse](t, want(t, a.do("GET", "/v1/sessions", nil), http.StatusOK, "sessions")).GetSessions()
	if len(sessions) == 0 {
		t.Fatal("the victim's owner has no session to aim at")
	}
	staffToken, alphaGrant, betaGrant := staffWithGrants(t, sys, alpha, beta)
	incident := firmIncident(t, sys, alpha)
	var delivery string
	eventually(t, "a webhook delivery", func() bool {
		list := message[*workflowv1.ListWebhookDeliveriesResponse](t, want(t, a.do("GET", "/v1/"+hook+"/deliveries", nil),
			http.StatusOK, "deliveries")).GetDeliveries()
		if len(list) > 0 {
			delivery = list[len(list)-1].GetName()
		}
		return delivery != ""
	})

	ids := map[string]string{
		"firms": lastID(alpha.name), "clients": lastID(w.client), "contacts": lastID(contact), "customFields": lastID(field),
		"templates": lastID(w.template), "projects": lastID(w.project), "tasks": lastID(w.task), "series": lastID(w.series),
		"members": lastID(memberName), "capacities": lastID(memberName), "apiKeys": lastID(apiKey),
		"supportGrants": lastID(alphaGrant), "operations": lastID(export), "sessions": lastID(sessions[0].GetName()),
		"deletionCertificates": "ffdc_" + strings.Repeat("a", 43), "incidents": lastID(incident),
		"webhookSubscriptions": lastID(hook), "deliveries": lastID(delivery),
	}
	// The same shape of ids, of nothing.
	nowhere := map[string]string{}
	for k, v := range ids {
		nowhere[k] = uuid.NewString()
		if k == "deletionCertificates" {
			nowhere[k] = "ffdc_" + strings.Repeat("b", len(v)-5)
		}
	}

	snapshot := func() map[string]string {
		out := workSnapshot(t, alpha, w)
		for _, p := range []string{"/v1/" + alpha.name, "/v1/" + contact, "/v1/" + field, "/v1/" + apiKey, "/v1/" + memberName,
			"/v1/" + alphaGrant, ap + "/members", ap + "/permissions", ap + "/apiKeys", "/v1/" + w.client + "/contacts", ap + "/incidents", "/v1/" + hook} {
			out[p] = string(want(t, a.do("GET", p, nil), http.StatusOK, "snapshot "+p).raw)
		}
		return out
	}
	before := snapshot()

	betaMember, _ := beta.member(t, sys, "member@matrixintruder.example")
	outsiders := map[string]*client{
		"owner":  beta.client,
		"member": betaMember,
		"api key": beta.apiKey(t, sys, "identity:write", "clients:write", "contacts:write", "templates:write", "projects:write",
			"tasks:write", "series:write", "workload:read", "audit:read", "webhooks:write"),
		"staff": sys.staffClient(staffToken, betaGrant),
	}

	var uncovered []string
	tried := 0
	for _, op := range restOperations(t) {
		if !strings.Contains(op.path, "*") {
			continue // no id: sign-up, login, the caller's own things
		}
		path, missing, ok := fill(op.path, ids)
		if !ok {
			uncovered = append(uncovered, op.method+" "+op.path+" (no object in collection "+missing+")")
			continue
		}
		control, _, _ := fill(op.path, nowhere)
		query, body := matrixRequest(op.method)
		for who, c := range outsiders {
			got, ref := c.do(op.method, path+query, body), c.do(op.method, control+query, body)
			tried++
			if got.status < 400 || got.status >= 500 {
				t.Errorf("%s: %s %s (%s) = %d, want a refusal: %s", who, op.method, path, op.rpc, got.status, truncate(string(got.raw), 200))
				continue
			}
			if got.status != ref.status || got.reason() != ref.reason() {
				t.Errorf("%s: %s %s (%s) = %d %s, but %d %s for ids of nothing: the answer tells A's objects apart",
					who, op.method, path, op.rpc, got.status, got.reason(), ref.status, ref.reason())
			}
		}
	}
	if len(uncovered) > 0 {
		slices.Sort(uncovered)
		t.Errorf("operations the cross-firm matrix does not cover:\n%s", strings.Join(uncovered, "\n"))
	}
	t.Logf("%d requests by %d kinds of outsider, each against ids of nothing too", tried, len(outsiders))

	if after := snapshot(); !reflect.DeepEqual(before, after) {
		for path := range before {
			if before[path] != after[path] {
				t.Errorf("%s changed:\nbefore %s\nafter  %s", path, truncate(before[path], 300), truncate(after[path], 300))
			}
		}
	}
}

// matrixRequest is what the matrix sends with a method: a body that passes most
// requests' validation, so a refusal comes from whose object it is.
func matrixRequest(method string) (query string, body any) {
	switch method {
	case http.MethodPatch:
		return "?update_mask=display_name", map[string]any{"display_name": "owned"}
	case http.MethodPost, http.MethodPut:
		return "", map[string]any{}
	}
	return "", nil
}

// staffWithGrants makes a staff member, signs them in, and has them ask both firms
// for access; only B approves. It returns the staff session token and both grants.
func staffWithGrants(t *testing.T, sys *system, alpha, beta firm) (token, alphaGrant, betaGrant string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	email := "matrix-" + uuid.NewString()[:8] + "@support.firmflow.example"
	created, err := sys.staffAdmin(t, "operator").CreateStaff(ctx, &identityv1.CreateStaffRequest{
		Email: email, DisplayName: "Matrix Support", Password: password,
	})
	if err != nil {
		t.Fatal(err)
	}
	code, _ := totp.GenerateCode(created.GetTotpSecret(), time.Now())
	token = message[*identityv1.StaffLoginResponse](t, want(t, sys.browser().do("POST", "/v1/staff/login", map[string]any{"email": email, "password": password, "totp_code": code}),
		http.StatusOK, "staff login")).GetSessionToken()
	staff := sys.staffClient(token, "")
	ask := map[string]any{"reason": "the matrix checks firm borders", "ticket": "SUP-1"}
	alphaGrant = message[*identityv1.SupportGrant](t, wantCreated(t, staff.do("POST", "/v1/"+alpha.name+"/supportGrants", ask), "ask A")).GetName()
	betaGrant = message[*identityv1.SupportGrant](t, wantCreated(t, staff.do("POST", "/v1/"+beta.name+"/supportGrants", ask), "ask B")).GetName()
	want(t, beta.client.do("POST", "/v1/"+betaGrant+":approve", map[string]any{"scope": "SUPPORT_SCOPE_WRITE"}), http.StatusOK, "B approves")
	return token, alphaGrant, betaGrant
}
