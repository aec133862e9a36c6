package e2e

import (
	"net/http"
	"slices"
	"strings"
	"testing"

	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/reflect/protoregistry"

	workflowv1 "github.com/firmflow/firmflow/pkg/gen/firmflow/workflow/v1"
)

// TestEveryRequestIDRefusesReuse covers every REST operation whose request carries a
// request_id (AIP-155), read from the protos: the request with an id, the same
// request again (answered as the first time), and a different request with the same
// id (409 ALREADY_EXISTS, REQUEST_ID_REUSED). An operation with a request_id that the
// table below does not list fails the test, so a new one cannot skip the convention.
func TestEveryRequestIDRefusesReuse(t *testing.T) {
	t.Parallel()
	sys := start(t, sharedTuning)
	f := sys.signUp(t, "request-id")
	owner := f.client
	firm := "/v1/" + f.name
	client := message[*workflowv1.Client](t, want(t, owner.do("POST", firm+"/clients", map[string]any{"display_name": "Rid client"}), http.StatusCreated, "client")).GetName()
	template := message[*workflowv1.Template](t, want(t, owner.do("POST", firm+"/templates", map[string]any{"display_name": "Rid template", "tasks": []map[string]any{{"title": "Step"}}}),
		http.StatusCreated, "template")).GetName()
	project := message[*workflowv1.Project](t, want(t, owner.do("POST", firm+"/projects", map[string]any{"display_name": "Rid project", "client": client}), http.StatusCreated, "project")).GetName()
	series := func(name string) map[string]any {
		return map[string]any{"display_name": name, "client": client, "template": template, "frequency": "FREQUENCY_MONTHLY",
			"start_date": "2026-01-01", "due_rule": map[string]any{"kind": "DUE_RULE_KIND_LAST_DAY"}}
	}

	type reuse struct {
		path         string
		first, other map[string]any
		status       int
	}
	cases := map[string]reuse{
		"firmflow.workflow.v1.ClientService.CreateClient": {firm + "/clients",
			map[string]any{"display_name": "A"}, map[string]any{"display_name": "B"}, http.StatusCreated},
		"firmflow.workflow.v1.ClientService.UpsertClient": {firm + "/clients:upsert",
			map[string]any{"external_id": "rid-1", "display_name": "A"}, map[string]any{"external_id": "rid-1", "display_name": "B"}, http.StatusCreated},
		"firmflow.workflow.v1.ClientService.BatchCreateClients": {firm + "/clients:batchCreate",
			map[string]any{"requests": []any{map[string]any{"client": map[string]any{"display_name": "A"}}}},
			map[string]any{"requests": []any{map[string]any{"client": map[string]any{"display_name": "B"}}}}, http.StatusCreated},
		"firmflow.workflow.v1.ClientService.ImportClients": {firm + "/clients:import",
			map[string]any{"csv": "display_name\nImported A\n"}, map[string]any{"csv": "display_name\nImported B\n"}, http.StatusCreated},
		"firmflow.workflow.v1.ClientService.CreateCustomField": {firm + "/customFields",
			map[string]any{"key": "rid_a", "display_name": "A", "type": "CUSTOM_FIELD_TYPE_TEXT"},
			map[string]any{"key": "rid_b", "display_name": "B", "type": "CUSTOM_FIELD_TYPE_TEXT"}, http.StatusCreated},
		"firmflow.workflow.v1.ContactService.CreateContact": {firm + "/contacts",
			map[string]any{"display_name": "A"}, map[string]any{"display_name": "B"}, http.StatusCreated},
		"firmflow.workflow.v1.ContactService.UpsertContact": {firm + "/contacts:upsert",
			map[string]any{"external_id": "rid-1", "display_name": "A"}, map[string]any{"external_id": "rid-1", "display_name": "B"}, http.StatusCreated},
		"firmflow.workflow.v1.TemplateService.CreateTemplate": {firm + "/templates",
			map[string]any{"display_name": "A"}, map[string]any{"display_name": "B"}, http.StatusCreated},
		"firmflow.workflow.v1.ProjectService.CreateProject": {firm + "/projects",
			map[string]any{"display_name": "A", "client": client}, map[string]any{"display_name": "B", "client": client}, http.StatusCreated},
		"firmflow.workflow.v1.ProjectService.CreateTask": {"/v1/" + project + "/tasks",
			map[string]any{"title": "A"}, map[string]any{"title": "B"}, http.StatusCreated},
		"firmflow.workflow.v1.ProjectService.BatchCreateTasks": {"/v1/" + project + "/tasks:batchCreate",
			map[string]any{"requests": []any{map[string]any{"task": map[string]any{"title": "A"}}}},
			map[string]any{"requests": []any{map[string]any{"task": map[string]any{"title": "B"}}}}, http.StatusCreated},
		"firmflow.workflow.v1.SeriesService.CreateSeries": {firm + "/series", series("A"), series("B"), http.StatusCreated},
		"firmflow.workflow.v1.WebhookService.CreateWebhookSubscription": {firm + "/webhookSubscriptions",
			map[string]any{"url": "https://hooks.example.com/a", "event_types": []string{"client.created"}},
			map[string]any{"url": "https://hooks.example.com/b", "event_types": []string{"client.created"}}, http.StatusCreated},
		"firmflow.identity.v1.IdentityService.CreateApiKey": {firm + "/apiKeys",
			map[string]any{"display_name": "A", "scopes": []string{"clients:read"}}, map[string]any{"display_name": "B", "scopes": []string{"clients:read"}}, http.StatusCreated},
		"firmflow.identity.v1.IdentityService.CreateInvitation": {firm + "/invitations",
			map[string]any{"email": "a@rid.example", "role": "ROLE_MEMBER"}, map[string]any{"email": "b@rid.example", "role": "ROLE_MEMBER"}, http.StatusCreated},
		"firmflow.billing.v1.BillingService.CheckoutSubscription": {firm + "/subscription:checkout",
			map[string]any{"plan": "standard"}, map[string]any{"plan": "pro"}, http.StatusOK},
	}

	var withRequestID []string
	for _, op := range hostileOperations(t) {
		if op.request.Fields().ByName("request_id") == nil {
			continue
		}
		withRequestID = append(withRequestID, op.rpc)
		c, ok := cases[op.rpc]
		if !ok {
			t.Errorf("%s takes a request_id: add it to this test's table", op.rpc)
			continue
		}
		t.Run(op.rpc[strings.LastIndex(op.rpc, ".")+1:], func(t *testing.T) {
			rid := "rid-" + strings.ToLower(op.rpc[strings.LastIndex(op.rpc, ".")+1:])
			send := func(body map[string]any) response {
				path := c.path
				if op.body == "*" {
					body["request_id"] = rid
				} else {
					path += "?request_id=" + rid
				}
				if strings.HasSuffix(op.rpc, "CheckoutSubscription") {
					return checkoutWhenReadyWith(t, f, path, body)
				}
				return owner.do(op.method, path, body)
			}
			first := want(t, send(c.first), c.status, "first")
			again := want(t, send(c.first), c.status, "the same request again")
			// Each answer is the method's response message; a retry names what the first made.
			firstName, againName := replyName(t, op.reply, first), replyName(t, op.reply, again)
			if string(again.raw) != string(first.raw) && (firstName == "" || againName != firstName) {
				t.Errorf("retry answered %s, first %s", truncate(string(again.raw), 300), truncate(string(first.raw), 300))
			}
			r := want(t, send(c.other), http.StatusConflict, "another request with the id")
			if r.reason() != "REQUEST_ID_REUSED" || r.errorReply().Error.Status != "ALREADY_EXISTS" {
				t.Errorf("reuse: %s", r.raw)
			}
		})
	}
	for rpc := range cases {
		if !slices.Contains(withRequestID, rpc) {
			t.Errorf("%s is in the table but takes no request_id over REST", rpc)
		}
	}
	t.Logf("operations with a request_id: %v", withRequestID)
}

// checkoutWhenReadyWith sends a checkout as its owner once billing has set the firm up.
func checkoutWhenReadyWith(t *testing.T, f firm, path string, body map[string]any) response {
	t.Helper()
	var r response
	eventually(t, "billing sets the firm up", func() bool {
		r = f.client.do("POST", path, body)
		return r.status != http.StatusBadRequest || r.reason() != "BILLING_NOT_READY"
	})
	return r
}

// replyName decodes r as the generated response message the operation declares
// (failing the test when the reply does not fit it) and returns its name, or "" for a
// response without one.
func replyName(t *testing.T, reply protoreflect.MessageDescriptor, r response) string {
	t.Helper()
	mt, err := protoregistry.GlobalTypes.FindMessageByName(reply.FullName())
	if err != nil {
		t.Fatalf("response type %s: %v", reply.FullName(), err)
	}
	m := mt.New().Interface()
	decodeMessage(t, r, m)
	field := reply.Fields().ByName("name")
	if field == nil || field.Kind() != protoreflect.StringKind {
		return ""
	}
	return m.ProtoReflect().Get(field).String()
}
