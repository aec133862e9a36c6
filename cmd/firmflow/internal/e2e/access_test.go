package e2e

import (
	"context"
	"net/http"
	"slices"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"google.golang.org/protobuf/proto"

	eventsv1 "github.com/firmflow/firmflow/pkg/gen/firmflow/events/v1"
	identityv1 "github.com/firmflow/firmflow/pkg/gen/firmflow/identity/v1"
	"github.com/firmflow/firmflow/pkg/natsx"
)

// accessEvents reads every access event in the gateway's stream, keyed by request id.
func (s *system) accessEvents(t *testing.T) map[string]*eventsv1.AccessEvent {
	t.Helper()
	nc, js, err := natsx.Connect(s.nats, "e2e-access")
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	stream, err := js.Stream(ctx, "FIRMFLOW_GATEWAY")
	if err != nil {
		t.Fatal(err)
	}
	info, err := stream.Info(ctx)
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]*eventsv1.AccessEvent{}
	if info.State.Msgs == 0 {
		return out
	}
	consumer, err := stream.OrderedConsumer(ctx, jetstream.OrderedConsumerConfig{})
	if err != nil {
		t.Fatal(err)
	}
	for range info.State.Msgs {
		msg, err := consumer.Next(jetstream.FetchMaxWait(5 * time.Second))
		if err != nil {
			t.Fatalf("read access events: %v", err)
		}
		// The gateway group-commits: a message holds one event or a batch of them.
		var batch eventsv1.AccessEventBatch
		if msg.Subject() == "firmflow.gateway.access_batch" {
			if err := proto.Unmarshal(msg.Data(), &batch); err != nil {
				t.Fatal(err)
			}
		} else {
			var e eventsv1.AccessEvent
			if err := proto.Unmarshal(msg.Data(), &e); err != nil {
				t.Fatal(err)
			}
			batch.Events = append(batch.Events, &e)
		}
		for _, e := range batch.GetEvents() {
			if _, dup := out[e.GetRequestId()]; dup {
				t.Errorf("two access events for request %s", e.GetRequestId())
			}
			out[e.GetRequestId()] = e
		}
	}
	return out
}

// TestEveryResponseHasExactlyOneAccessEvent counts responses against access events:
// successes, refusals, bad input, unknown routes and anonymous calls alike.
func TestEveryResponseHasExactlyOneAccessEvent(t *testing.T) {
	t.Parallel()
	sys := startPrivate(t, nil) // counts every event of its stack
	f := sys.signUp(t, "counted")
	key := message[*identityv1.ApiKey](t, want(t, f.client.do("POST", "/v1/"+f.name+"/apiKeys", map[string]any{"display_name": "crm", "scopes": []string{"identity:read"}}),
		http.StatusCreated, "key")).GetSecret()
	crm := sys.integration(key)
	anon := sys.browser()

	var responses []response
	keep := func(r response) { responses = append(responses, r) }
	keep(f.client.do("GET", "/v1/"+f.name, nil))
	keep(f.client.do("GET", "/v1/"+f.name+"/members", nil))
	keep(crm.do("GET", "/v1/"+f.name+"/members", nil))
	keep(crm.do("POST", "/v1/"+f.name+"/invitations", map[string]any{"email": "x@counted.example", "role": "ROLE_MEMBER"}))
	keep(anon.do("GET", "/v1/"+f.name, nil))
	keep(anon.do("POST", "/v1/login", map[string]any{"email": f.email, "password": "wrong password!"}))
	keep(anon.do("POST", "/v1/signup", "{broken"))
	keep(anon.do("GET", "/v1/nowhere", nil))
	keep(sys.integration("ffk_forged").do("GET", "/v1/"+f.name, nil))
	keep(anon.do("POST", "/v1/billing/stripe/webhook", `{"id":"evt_unsigned"}`))
	keep(f.client.do("GET", "/v1/firms/00000000-0000-0000-0000-000000000000", nil))
	// Every service behind the gateway: workflow, billing and audit routes too.
	keep(f.client.do("POST", "/v1/"+f.name+"/clients", map[string]any{"display_name": "Counted Client"}))
	keep(f.client.do("GET", "/v1/"+f.name+"/clients", nil))
	keep(f.client.do("GET", "/v1/"+f.name+"/projects", nil))
	keep(f.client.do("GET", "/v1/"+f.name+"/permissions", nil))
	subscription := f.client.do("GET", "/v1/"+f.name+"/subscription", nil)
	keep(subscription)
	keep(f.client.do("GET", "/v1/"+f.name+"/auditEvents", nil))
	keep(crm.do("GET", "/v1/"+f.name+"/clients", nil))

	events := sys.accessEvents(t)
	for _, r := range responses {
		id := r.header.Get("X-Request-Id")
		e, ok := events[id]
		if !ok {
			t.Errorf("no access event for a %d response (request %s)", r.status, id)
			continue
		}
		if int(e.GetHttpStatus()) != r.status {
			t.Errorf("request %s: event says %d, response was %d", id, e.GetHttpStatus(), r.status)
		}
	}
	// Sign-up, login, key creation and the requests above: nothing more, nothing less.
	if want := len(responses) + 3; len(events) != want {
		t.Errorf("%d access events for %d responses", len(events), want)
	}

	byStatus := map[int]*eventsv1.AccessEvent{}
	for _, r := range responses {
		byStatus[r.status] = events[r.header.Get("X-Request-Id")]
	}
	ok := events[responses[2].header.Get("X-Request-Id")]
	if ok.GetFirm() != f.name || ok.GetActorKind() != "api_key" || ok.GetRpcMethod() != "/firmflow.identity.v1.IdentityService/ListMembers" ||
		ok.GetRoute() == "" || ok.GetGrpcCode() != "OK" || len(ok.GetResources()) != 1 || ok.GetClientIp() == "" {
		t.Errorf("API key access event incomplete: %v", ok)
	}
	denied := events[responses[3].header.Get("X-Request-Id")]
	if denied.GetGrpcCode() != "PERMISSION_DENIED" || denied.GetActor() == "anonymous" {
		t.Errorf("refused write recorded as %v", denied)
	}
	if billing := events[subscription.header.Get("X-Request-Id")]; billing.GetCategory() != "billing" || billing.GetFirm() != f.name {
		t.Errorf("billing read recorded as %v", billing)
	}
	login := events[responses[5].header.Get("X-Request-Id")]
	if login.GetCategory() != "auth" || login.GetActor() != "anonymous" || login.GetGrpcCode() != "UNAUTHENTICATED" {
		t.Errorf("failed login recorded as %v", login)
	}
}

// TestNoResponseLeavesWithoutADurableAccessEvent stops NATS: the gateway answers 503
// with no data; once NATS is back, requests succeed, every acknowledged event is
// still there, and the refused request is recorded as the 503 its client got.
func TestNoResponseLeavesWithoutADurableAccessEvent(t *testing.T) {
	t.Parallel()
	sys := startPrivate(t, nil) // stops NATS
	f := sys.signUp(t, "outage")
	before := want(t, f.client.do("GET", "/v1/"+f.name, nil), http.StatusOK, "before the outage")

	sys.stack.StopNATS()
	r := f.client.do("GET", "/v1/"+f.name, nil)
	if r.status != http.StatusServiceUnavailable || r.reason() != "AUDIT_UNAVAILABLE" {
		t.Errorf("during the outage: status %d reason %q, want 503 AUDIT_UNAVAILABLE", r.status, r.reason())
	}
	// The body is an error, not a Firm: neither of the firm's fields may be in it.
	if leaked := decode[struct {
		Name        *string `json:"name"`
		DisplayName *string `json:"display_name"`
	}](t, r); leaked.Name != nil || leaked.DisplayName != nil {
		t.Errorf("firm data left without an access record: %s", r.raw)
	}

	if err := sys.stack.StartNATS(); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(30 * time.Second)
	var after response
	for {
		after = f.client.do("GET", "/v1/"+f.name, nil)
		if after.status == http.StatusOK || time.Now().After(deadline) {
			break
		}
		time.Sleep(200 * time.Millisecond)
	}
	want(t, after, http.StatusOK, "after NATS returned")
	events := sys.accessEvents(t)
	for _, r := range []response{before, after} {
		if _, ok := events[r.header.Get("X-Request-Id")]; !ok {
			t.Errorf("acknowledged access event for request %s is missing", r.header.Get("X-Request-Id"))
		}
	}
	// The refused request is recorded as what its client got: the gateway follows a
	// failed publish with an event saying the response was 503, once NATS takes it.
	refused := r.header.Get("X-Request-Id")
	for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(200 * time.Millisecond) {
		if _, ok := events[refused]; ok || time.Now().After(deadline) {
			break
		}
		events = sys.accessEvents(t)
	}
	if e, ok := events[refused]; !ok || e.GetHttpStatus() != http.StatusServiceUnavailable || e.GetGrpcCode() != "UNAVAILABLE" {
		t.Errorf("refused request recorded as %v, want its 503 UNAVAILABLE", e)
	}
}

// TestInvalidUTF8IsA400NamingTheParameterAndIsRecorded sends what the probe found:
// percent-encoded invalid UTF-8 in query parameters of list routes of every service
// and in a path. Each is a 400 naming the parameter, with its access event.
func TestInvalidUTF8IsA400NamingTheParameterAndIsRecorded(t *testing.T) {
	t.Parallel()
	sys := start(t, nil)
	f := sys.signUp(t, "bytes")
	cases := []struct{ path, field string }{
		{"/v1/" + f.name + "/clients?order_by=%ED%A0%80", "order_by"},
		{"/v1/" + f.name + "/members?page_token=%ED%BF%BF", "page_token"},
		{"/v1/" + f.name + "/auditEvents?actor=%ED%BF%BF", "actor"},
		{"/v1/" + f.name + "/projects?client=%ff", "client"},
		{"/v1/firms/%ff/apiKeys", "parent"},
	}
	var responses []response
	for _, tc := range cases {
		r := f.client.do("GET", tc.path, nil)
		responses = append(responses, r)
		if r.status != http.StatusBadRequest || !slices.Equal(r.fields(), []string{tc.field}) {
			t.Errorf("GET %s: %d fields %v (%s), want 400 naming %s", tc.path, r.status, r.fields(), r.raw, tc.field)
		}
	}
	events := sys.accessEvents(t)
	for i, r := range responses {
		e, ok := events[r.header.Get("X-Request-Id")]
		if !ok || e.GetHttpStatus() != http.StatusBadRequest || e.GetFirm() != f.name {
			t.Errorf("GET %s recorded as %v, want a 400 of the firm", cases[i].path, e)
		}
	}

	key := message[*identityv1.ApiKey](t, want(t, f.client.do("POST", "/v1/"+f.name+"/apiKeys", map[string]any{"display_name": "hr", "scopes": []string{"identity:write"}}),
		http.StatusCreated, "key")).GetSecret()
	r := sys.integration(key).do("POST", "/v1/"+f.name+"/invitations", map[string]any{"email": "sam@bytes.example", "role": "ROLE_MEMBER"})
	if r.status != http.StatusForbidden || r.reason() != "API_KEY_CANNOT_INVITE" {
		t.Errorf("API key inviting a member: %d %s, want 403 API_KEY_CANNOT_INVITE", r.status, r.raw)
	}
}
