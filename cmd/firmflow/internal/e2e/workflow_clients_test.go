package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"

	identityv1 "github.com/firmflow/firmflow/pkg/gen/firmflow/identity/v1"
	workflowv1 "github.com/firmflow/firmflow/pkg/gen/firmflow/workflow/v1"
	"github.com/firmflow/firmflow/pkg/natsx"
	gateway "github.com/firmflow/firmflow/services/gateway/server"
)

// unthrottled lifts the per-credential rate limit: these tests send hundreds of
// requests a second as one caller, and test what the API does, not its limits.
func unthrottled(c *gateway.Config) { c.CredentialRate, c.CredentialBurst = 100000, 100000 }

// apiKey creates an API key with the scopes and returns an integration using it.
func (f firm) apiKey(t *testing.T, sys *system, scopes ...string) *client {
	t.Helper()
	r := want(t, f.client.do("POST", "/v1/"+f.name+"/apiKeys", map[string]any{"display_name": "crm " + strings.Join(scopes, " "), "scopes": scopes}),
		http.StatusCreated, "create API key "+strings.Join(scopes, ","))
	return sys.integration(message[*identityv1.ApiKey](t, r).GetSecret())
}

// member invites someone into the firm as a member and returns their signed-in
// browser and member name.
func (f firm) member(t *testing.T, sys *system, email string) (*client, string) {
	t.Helper()
	want(t, f.client.do("POST", "/v1/"+f.name+"/invitations", map[string]any{"email": email, "role": "ROLE_MEMBER"}),
		http.StatusCreated, "invite "+email)
	m := want(t, sys.browser().do("POST", "/v1/invitations:accept", map[string]any{
		"token": sys.mailToken(t, email, "invited you", invitationTokenPattern), "display_name": "Member " + email, "password": password,
	}), http.StatusCreated, "accept invitation")
	c := sys.browser()
	c.login(t, email, "")
	return c, message[*identityv1.Member](t, m).GetName()
}

// listPage is a List method's response: a page of items and the token of the next.
type listPage interface {
	proto.Message
	GetNextPageToken() string
}

// collectNames follows next_page_token through a list and returns the name of every
// item items takes from a page, e.g. (*workflowv1.ListClientsResponse).GetClients.
func collectNames[P listPage, I interface{ GetName() string }](t *testing.T, c *client, path string, items func(P) []I) []string {
	t.Helper()
	var names []string
	token := ""
	for range 50 {
		sep := "?"
		if strings.Contains(path, "?") {
			sep = "&"
		}
		r := want(t, c.do("GET", path+sep+"page_token="+url.QueryEscape(token), nil), http.StatusOK, "list "+path)
		page := message[P](t, r)
		for _, item := range items(page) {
			names = append(names, item.GetName())
		}
		if token = page.GetNextPageToken(); token == "" {
			return names
		}
	}
	t.Fatalf("%s never ran out of pages", path)
	return nil
}

// TestClientsAsBrowserAndIntegration walks the client API as the single-page app and
// as a CRM integration: custom fields, create with retries, masking and reveal,
// updates with etags, pages, filters, tax-id lookup, import, export, contacts, and
// delete; then checks that the events reached JetStream without sensitive values.
func TestClientsAsBrowserAndIntegration(t *testing.T) {
	t.Parallel()
	sys := start(t, nil) // the shared stack is unthrottled
	alpha := sys.signUp(t, "clientele")
	owner := alpha.client
	firmPath := "/v1/" + alpha.name

	fee := message[*workflowv1.CustomField](t, want(t, owner.do("POST", firmPath+"/customFields", map[string]any{
		"key": "fee", "display_name": "Annual fee", "type": "CUSTOM_FIELD_TYPE_NUMBER",
	}), http.StatusCreated, "define custom field"))
	want(t, owner.do("POST", firmPath+"/customFields", map[string]any{
		"key": "entity", "display_name": "Entity", "type": "CUSTOM_FIELD_TYPE_SINGLE_SELECT", "options": []string{"LLC", "S-Corp"},
	}), http.StatusCreated, "define select field")

	ada := map[string]any{
		"display_name": "Ada Lovelace", "kind": "CLIENT_KIND_PERSON", "priority": "CLIENT_PRIORITY_HIGH",
		"tags": []string{"1040", "vip"}, "services": []string{"tax return"}, "external_id": "hubspot-1",
		"tax_id": "123-45-6789", "bank_account_number": "000123456789", "bank_routing_number": "021000021",
		"notes": "prefers email", "custom_fields": map[string]any{"fee": 1200, "entity": "LLC"},
	}
	created := message[*workflowv1.Client](t, want(t, owner.do("POST", firmPath+"/clients?request_id=signup-ada", ada), http.StatusCreated, "create client"))
	clientName := created.GetName()
	retried := message[*workflowv1.Client](t, want(t, owner.do("POST", firmPath+"/clients?request_id=signup-ada", ada), http.StatusCreated, "retried create"))
	if retried.GetName() != clientName {
		t.Fatalf("a retried create made %s besides %s", retried.GetName(), clientName)
	}
	if created.GetTaxId() != "***-**-6789" || created.GetBankAccountNumber() != "********6789" || created.GetSensitiveRevealed() {
		t.Errorf("create response not masked: %v", created)
	}

	t.Run("tax and bank numbers are masked unless revealed to those allowed", func(t *testing.T) {
		masked := message[*workflowv1.Client](t, want(t, owner.do("GET", "/v1/"+clientName, nil), http.StatusOK, "get client"))
		if masked.GetTaxId() != "***-**-6789" || masked.GetNotes() != "prefers email" || masked.GetCustomFields()["fee"].GetNumberValue() != 1200 {
			t.Errorf("masked view: %v", masked)
		}
		full := message[*workflowv1.Client](t, want(t, owner.do("GET", "/v1/"+clientName+"?view=CLIENT_VIEW_REVEALED", nil), http.StatusOK, "reveal as owner"))
		if full.GetTaxId() != "123-45-6789" || full.GetBankRoutingNumber() != "021000021" || !full.GetSensitiveRevealed() {
			t.Errorf("revealed view: %v", full)
		}
		reader := alpha.apiKey(t, sys, "clients:read")
		want(t, reader.do("GET", "/v1/"+clientName, nil), http.StatusOK, "read key reads")
		r := want(t, reader.do("GET", "/v1/"+clientName+"?view=CLIENT_VIEW_REVEALED", nil), http.StatusForbidden, "read key reveals")
		if r.reason() != "REVEAL_NOT_ALLOWED" {
			t.Errorf("reason %q", r.reason())
		}
		r = want(t, reader.do("POST", firmPath+"/clients", map[string]any{"display_name": "x"}), http.StatusForbidden, "read key creates")
		if r.reason() != "SCOPE_MISSING" {
			t.Errorf("reason %q", r.reason())
		}
		writer := alpha.apiKey(t, sys, "clients:write")
		if got := message[*workflowv1.Client](t, want(t, writer.do("GET", "/v1/"+clientName+"?view=CLIENT_VIEW_REVEALED", nil), http.StatusOK, "write key reveals")); got.GetTaxId() != "123-45-6789" {
			t.Errorf("write key's revealed view: %v", got)
		}
	})

	t.Run("updates need the current etag and never store a masked value", func(t *testing.T) {
		current := want(t, owner.do("GET", "/v1/"+clientName, nil), http.StatusOK, "get client")
		etag := message[*workflowv1.Client](t, current).GetEtag()
		u := message[*workflowv1.Client](t, want(t, owner.do("PATCH", "/v1/"+clientName+"?update_mask=display_name,custom_fields.fee",
			map[string]any{"display_name": "Ada King", "custom_fields": map[string]any{"fee": 1500}, "etag": etag}), http.StatusOK, "update"))
		fields := u.GetCustomFields()
		if u.GetDisplayName() != "Ada King" || fields["fee"].GetNumberValue() != 1500 || fields["entity"].GetStringValue() != "LLC" || u.GetEtag() == etag {
			t.Errorf("updated: %v", u)
		}
		r := want(t, owner.do("PATCH", "/v1/"+clientName+"?update_mask=display_name", map[string]any{"display_name": "Late", "etag": etag}),
			http.StatusConflict, "stale etag")
		if r.reason() != "ETAG_MISMATCH" {
			t.Errorf("reason %q", r.reason())
		}
		// The SPA reads a client and writes it all back: the masked numbers are refused.
		back := decode[map[string]any](t, current)
		back["etag"] = u.GetEtag()
		r = want(t, owner.do("PATCH", "/v1/"+clientName+"?update_mask=tax_id", back), http.StatusBadRequest, "masked tax id written back")
		if !slices.Contains(r.fields(), "client.tax_id") {
			t.Errorf("violations %v", r.fields())
		}
		// Without update_mask, the mask comes from the body's keys; output-only ones are ignored.
		u2 := message[*workflowv1.Client](t, want(t, owner.do("PATCH", "/v1/"+clientName, map[string]any{"description": "from the CRM", "etag": u.GetEtag(), "name": clientName}),
			http.StatusOK, "update with the mask from the body"))
		if u2.GetDescription() != "from the CRM" || u2.GetDisplayName() != "Ada King" {
			t.Errorf("body-mask update: %v", u2)
		}
		full := message[*workflowv1.Client](t, want(t, owner.do("GET", "/v1/"+clientName+"?view=CLIENT_VIEW_REVEALED", nil), http.StatusOK, "reveal"))
		if full.GetTaxId() != "123-45-6789" {
			t.Errorf("tax id after refused write: %q", full.GetTaxId())
		}
	})

	crm := alpha.apiKey(t, sys, "clients:write", "contacts:write")
	t.Run("an integration creates clients with retries and pages through them", func(t *testing.T) {
		var names []string
		for i := range 7 {
			body := map[string]any{"display_name": fmt.Sprintf("CRM client %d", i), "external_id": fmt.Sprintf("hubspot-%d", 100+i)}
			if i%3 == 0 {
				body["tags"] = []string{"payroll"}
			}
			rid := fmt.Sprintf("sync-%d", i)
			r := message[*workflowv1.Client](t, want(t, crm.do("POST", firmPath+"/clients?request_id="+rid, body), http.StatusCreated, "integration creates"))
			again := message[*workflowv1.Client](t, want(t, crm.do("POST", firmPath+"/clients?request_id="+rid, body), http.StatusCreated, "integration retries"))
			if again.GetName() != r.GetName() {
				t.Errorf("retry %d made a second client", i)
			}
			names = append(names, r.GetName())
		}
		all := collectNames(t, crm, firmPath+"/clients?page_size=3", (*workflowv1.ListClientsResponse).GetClients)
		if len(all) != 8 || all[0] != clientName || !slices.Equal(all[1:], names) {
			t.Errorf("pages of 3 gave %d clients: %v", len(all), all)
		}
		tagged := collectNames(t, crm, firmPath+"/clients?page_size=1&tag=payroll", (*workflowv1.ListClientsResponse).GetClients)
		if !slices.Equal(tagged, []string{names[0], names[3], names[6]}) {
			t.Errorf("tag payroll: %v", tagged)
		}
		byExt := message[*workflowv1.ListClientsResponse](t, want(t, crm.do("GET", firmPath+"/clients?external_id=hubspot-104", nil), http.StatusOK, "by external id"))
		if l := byExt.GetClients(); len(l) != 1 || l[0].GetName() != names[4] {
			t.Errorf("by external id: %v", byExt)
		}
		first := message[*workflowv1.ListClientsResponse](t, want(t, crm.do("GET", firmPath+"/clients?page_size=2&tag=payroll", nil), http.StatusOK, "first page"))
		r := want(t, crm.do("GET", firmPath+"/clients?page_size=2&tag=vip&page_token="+url.QueryEscape(first.GetNextPageToken()), nil),
			http.StatusBadRequest, "token of another filter")
		if !slices.Contains(r.fields(), "page_token") {
			t.Errorf("violations %v", r.fields())
		}
		want(t, crm.do("POST", firmPath+"/clients", map[string]any{"display_name": "Dup", "external_id": "hubspot-104"}),
			http.StatusConflict, "duplicate external id")
	})

	t.Run("lookup by tax id uses POST and the blind index", func(t *testing.T) {
		found := message[*workflowv1.Client](t, want(t, crm.do("POST", firmPath+"/clients:lookupByTaxId", map[string]any{"tax_id": "123 45 6789"}), http.StatusOK, "lookup"))
		if found.GetName() != clientName || found.GetTaxId() != "***-**-6789" {
			t.Errorf("lookup: %v", found)
		}
		want(t, crm.do("POST", firmPath+"/clients:lookupByTaxId", map[string]any{"tax_id": "999-99-9999"}), http.StatusNotFound, "unknown tax id")
		want(t, owner.do("POST", firmPath+"/clients", map[string]any{"display_name": "Twin", "tax_id": "123456789"}),
			http.StatusConflict, "duplicate tax id")
	})

	t.Run("an import with one bad row imports nothing and names the row", func(t *testing.T) {
		before := collectNames(t, owner, firmPath+"/clients?page_size=100", (*workflowv1.ListClientsResponse).GetClients)
		bad := "display_name,tax_id,tags,custom.entity\nGood One,111-22-3333,a,LLC\nBad One,***-**-1234,b,Trust\nGood Two,,c,\n"
		r := want(t, owner.do("POST", firmPath+"/clients:import", map[string]any{"csv": bad}), http.StatusBadRequest, "bad import")
		if r.reason() != "IMPORT_ROWS_INVALID" || !slices.Equal(r.fields(), []string{"rows[3].custom.entity", "rows[3].tax_id"}) {
			t.Errorf("import report: reason %q, fields %v", r.reason(), r.fields())
		}
		if after := collectNames(t, owner, firmPath+"/clients?page_size=100", (*workflowv1.ListClientsResponse).GetClients); len(after) != len(before) {
			t.Fatalf("a refused import changed the clients: %d -> %d", len(before), len(after))
		}
		good := strings.Replace(bad, "***-**-1234,b,Trust", "444-55-6666,b,S-Corp", 1)
		imp := message[*workflowv1.ImportClientsResponse](t, want(t, crm.do("POST", firmPath+"/clients:import", map[string]any{"csv": good, "request_id": "nightly-1"}), http.StatusCreated, "import"))
		if imp.GetImportedCount() != 3 || len(imp.GetClients()) != 3 {
			t.Fatalf("import: %v", imp)
		}
		again := message[*workflowv1.ImportClientsResponse](t, want(t, crm.do("POST", firmPath+"/clients:import", map[string]any{"csv": good, "request_id": "nightly-1"}), http.StatusCreated, "retried import"))
		if !proto.Equal(again, imp) {
			t.Errorf("retried import: %v, first %v", again, imp)
		}
		found := message[*workflowv1.Client](t, want(t, owner.do("POST", firmPath+"/clients:lookupByTaxId", map[string]any{"tax_id": "444556666", "view": "CLIENT_VIEW_REVEALED"}),
			http.StatusOK, "imported client by tax id"))
		if found.GetDisplayName() != "Bad One" || found.GetTaxId() != "444-55-6666" || found.GetCustomFields()["entity"].GetStringValue() != "S-Corp" {
			t.Errorf("imported: %v", found)
		}
	})

	t.Run("exports are CSV or JSON, masked unless revealed", func(t *testing.T) {
		exp := message[*workflowv1.ExportClientsResponse](t, want(t, owner.do("POST", firmPath+"/clients:export", map[string]any{"tag": "1040"}), http.StatusOK, "export CSV"))
		content := exp.GetContent()
		if !strings.HasPrefix(exp.GetContentType(), "text/csv") || exp.GetClientCount() != 1 ||
			!strings.HasPrefix(content, "name,display_name,") || !strings.Contains(content, "***-**-6789") || strings.Contains(content, "123-45-6789") {
			t.Errorf("CSV export: %v", exp)
		}
		exp = message[*workflowv1.ExportClientsResponse](t, want(t, crm.do("POST", firmPath+"/clients:export", map[string]any{"format": "EXPORT_FORMAT_JSON", "view": "CLIENT_VIEW_REVEALED", "page_size": 5}),
			http.StatusOK, "export JSON"))
		var docs []json.RawMessage
		if err := json.Unmarshal([]byte(exp.GetContent()), &docs); err != nil || len(docs) != 5 || exp.GetNextPageToken() == "" {
			t.Fatalf("JSON export (%v): %s", err, truncate(exp.GetContent(), 400))
		}
		// Each exported document is a Client as the API returns it.
		doc := &workflowv1.Client{}
		if err := protojson.Unmarshal(docs[0], doc); err != nil {
			t.Fatalf("JSON export document %s: %v", truncate(string(docs[0]), 300), err)
		}
		if doc.GetTaxId() != "123-45-6789" || doc.GetName() != clientName {
			t.Errorf("revealed JSON export: %v", doc)
		}
	})

	t.Run("contacts link to clients with one primary", func(t *testing.T) {
		grace := message[*workflowv1.Contact](t, want(t, crm.do("POST", firmPath+"/contacts", map[string]any{
			"display_name": "Grace Hopper", "emails": []map[string]any{{"address": "grace@example.com", "label": "work"}},
			"phones": []map[string]any{{"number": "+1 555 0100"}}, "addresses": []map[string]any{{"lines": []string{"1 Navy Way"}, "country_code": "US"}},
		}), http.StatusCreated, "create contact")).GetName()
		alan := message[*workflowv1.Contact](t, want(t, owner.do("POST", firmPath+"/contacts", map[string]any{"display_name": "Alan Turing"}), http.StatusCreated, "create contact")).GetName()
		first := message[*workflowv1.ClientContact](t, want(t, crm.do("POST", "/v1/"+clientName+"/contacts", map[string]any{"contact": grace, "relationship": "spouse"}),
			http.StatusCreated, "link Grace"))
		if !first.GetPrimary() {
			t.Errorf("first link not primary: %v", first)
		}
		want(t, crm.do("POST", "/v1/"+clientName+"/contacts", map[string]any{"contact": alan, "primary": true}), http.StatusCreated, "link Alan as primary")
		want(t, crm.do("POST", "/v1/"+clientName+"/contacts", map[string]any{"contact": alan}), http.StatusConflict, "link twice")
		links := message[*workflowv1.ListClientContactsResponse](t, want(t, owner.do("GET", "/v1/"+clientName+"/contacts", nil), http.StatusOK, "list links")).GetClientContacts()
		if len(links) != 2 || links[0].GetContact() != alan || !links[0].GetPrimary() || links[1].GetPrimary() {
			t.Errorf("links: %v", links)
		}
		c := message[*workflowv1.Client](t, want(t, owner.do("GET", "/v1/"+clientName, nil), http.StatusOK, "client"))
		if c.GetPrimaryContact() != alan {
			t.Errorf("primary contact %q", c.GetPrimaryContact())
		}
		graceLink := first.GetName()
		want(t, owner.do("PATCH", "/v1/"+graceLink+"?update_mask=primary", map[string]any{"primary": true}), http.StatusOK, "make Grace primary")
		if got := message[*workflowv1.Client](t, want(t, owner.do("GET", "/v1/"+clientName, nil), http.StatusOK, "client")).GetPrimaryContact(); got != grace {
			t.Errorf("primary after change %q", got)
		}
		want(t, owner.do("DELETE", "/v1/"+graceLink, nil), http.StatusOK, "unlink")
		want(t, owner.do("GET", "/v1/"+grace, nil), http.StatusOK, "contact survives unlinking")
		contacts := collectNames(t, crm, firmPath+"/contacts?page_size=1", (*workflowv1.ListContactsResponse).GetContacts)
		if !slices.Equal(contacts, []string{grace, alan}) {
			t.Errorf("contacts: %v", contacts)
		}
	})

	t.Run("delete needs the current etag", func(t *testing.T) {
		victim := message[*workflowv1.Client](t, want(t, owner.do("POST", firmPath+"/clients", map[string]any{"display_name": "Short-lived"}), http.StatusCreated, "create"))
		want(t, owner.do("DELETE", "/v1/"+victim.GetName()+"?etag="+url.QueryEscape(`"99"`), nil), http.StatusConflict, "stale delete")
		want(t, owner.do("DELETE", "/v1/"+victim.GetName()+"?etag="+url.QueryEscape(victim.GetEtag()), nil), http.StatusOK, "delete")
		want(t, owner.do("GET", "/v1/"+victim.GetName(), nil), http.StatusNotFound, "deleted client")
		want(t, owner.do("DELETE", "/v1/"+fee.GetName(), nil), http.StatusOK, "delete custom field")
	})

	t.Run("events reach JetStream without sensitive values", func(t *testing.T) {
		nc, js, err := natsx.Connect(sys.nats, "e2e")
		if err != nil {
			t.Fatal(err)
		}
		defer nc.Close()
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		defer cancel()
		stream, err := js.Stream(ctx, "FIRMFLOW_WORKFLOW")
		if err != nil {
			t.Fatal(err)
		}
		consumer, err := stream.OrderedConsumer(ctx, jetstream.OrderedConsumerConfig{})
		if err != nil {
			t.Fatal(err)
		}
		seen := map[string]int{}
		for seen["firmflow.workflow.client_deleted"] == 0 {
			msg, err := consumer.Next(jetstream.FetchMaxWait(10 * time.Second))
			if err != nil {
				t.Fatalf("waiting for client events (seen %v): %v", seen, err)
			}
			if !strings.Contains(string(msg.Data()), alpha.name+"/") {
				continue // another test's firm: the stream is the shared stack's
			}
			seen[msg.Subject()]++
			if msg.Headers().Get("Nats-Msg-Id") == "" {
				t.Errorf("%s without Nats-Msg-Id", msg.Subject())
			}
			for _, secret := range []string{"123-45-6789", "123456789", "000123456789", "021000021", "prefers email", "444-55-6666"} {
				if strings.Contains(string(msg.Data()), secret) {
					t.Errorf("%s carries a sensitive value", msg.Subject())
				}
			}
		}
		for _, s := range []string{"client_created", "client_updated", "client_revealed", "client_contact_linked"} {
			if seen["firmflow.workflow."+s] == 0 {
				t.Errorf("no %s event; saw %v", s, seen)
			}
		}
	})

	if logs := sys.logs.String(); strings.Contains(logs, "123-45-6789") || strings.Contains(logs, "000123456789") {
		t.Error("a tax id or bank number appears in the logs")
	}
}

// clientRoute is one request the isolation tests try.
type clientRoute struct {
	method, path string
	body         any
}

// TestEveryClientRouteRefusesAnotherFirmsObjects tries each client, contact, link
// and custom field route with another firm's ids, as that firm's owner and as its
// API key (write scopes): the answer is 404 as for an id that does not exist (or the
// policy's 403 for methods API keys cannot call), and nothing changes. Then a member
// of the victim's own firm tries what members may not do: 403, nothing changes.
func TestEveryClientRouteRefusesAnotherFirmsObjects(t *testing.T) {
	t.Parallel()
	sys := start(t, nil) // the shared stack is unthrottled
	alpha, beta := sys.signUp(t, "clientvictim"), sys.signUp(t, "clientintruder")
	a := alpha.client
	ap, bp := "/v1/"+alpha.name, "/v1/"+beta.name
	victimClient := message[*workflowv1.Client](t, want(t, a.do("POST", ap+"/clients", map[string]any{"display_name": "Secret client", "tax_id": "321-54-9876", "tags": []string{"x"}}),
		http.StatusCreated, "victim client")).GetName()
	contact := message[*workflowv1.Contact](t, want(t, a.do("POST", ap+"/contacts", map[string]any{"display_name": "Secret contact"}), http.StatusCreated, "victim contact")).GetName()
	field := message[*workflowv1.CustomField](t, want(t, a.do("POST", ap+"/customFields", map[string]any{"key": "k", "display_name": "K", "type": "CUSTOM_FIELD_TYPE_TEXT"}),
		http.StatusCreated, "victim field")).GetName()
	link := message[*workflowv1.ClientContact](t, want(t, a.do("POST", "/v1/"+victimClient+"/contacts", map[string]any{"contact": contact}), http.StatusCreated, "victim link")).GetName()
	betaClient := message[*workflowv1.Client](t, want(t, beta.client.do("POST", bp+"/clients", map[string]any{"display_name": "Intruder's client"}), http.StatusCreated, "intruder client")).GetName()
	clientID, contactID, fieldID := lastID(victimClient), lastID(contact), lastID(field)

	snapshot := func() map[string]string {
		out := map[string]string{}
		for _, p := range []string{"/v1/" + victimClient + "?view=CLIENT_VIEW_REVEALED", ap + "/clients", ap + "/contacts", "/v1/" + contact,
			ap + "/customFields", "/v1/" + victimClient + "/contacts"} {
			out[p] = string(want(t, a.do("GET", p, nil), http.StatusOK, "snapshot "+p).raw)
		}
		return out
	}
	before := snapshot()

	routes := []clientRoute{
		{"GET", "/v1/" + victimClient, nil},
		{"GET", "/v1/" + victimClient + "?view=CLIENT_VIEW_REVEALED", nil},
		{"PATCH", "/v1/" + victimClient + "?update_mask=display_name", map[string]any{"display_name": "owned"}},
		{"PATCH", "/v1/" + victimClient + "?update_mask=tax_id", map[string]any{"tax_id": "000-00-0000"}},
		{"DELETE", "/v1/" + victimClient, nil},
		{"GET", ap + "/clients", nil},
		{"GET", ap + "/clients?tag=x", nil},
		{"POST", ap + "/clients", map[string]any{"display_name": "planted"}},
		{"POST", ap + "/clients:lookupByTaxId", map[string]any{"tax_id": "321-54-9876"}},
		{"POST", ap + "/clients:import", map[string]any{"csv": "display_name\nplanted\n"}},
		{"POST", ap + "/clients:export", map[string]any{}},
		{"GET", ap + "/customFields", nil},
		{"GET", "/v1/" + field, nil},
		{"POST", ap + "/customFields", map[string]any{"key": "planted", "display_name": "P", "type": "CUSTOM_FIELD_TYPE_TEXT"}},
		{"PATCH", "/v1/" + field + "?update_mask=display_name", map[string]any{"display_name": "owned"}},
		{"DELETE", "/v1/" + field, nil},
		{"GET", "/v1/" + contact, nil},
		{"PATCH", "/v1/" + contact + "?update_mask=display_name", map[string]any{"display_name": "owned"}},
		{"DELETE", "/v1/" + contact, nil},
		{"GET", ap + "/contacts", nil},
		{"POST", ap + "/contacts", map[string]any{"display_name": "planted"}},
		{"GET", "/v1/" + victimClient + "/contacts", nil},
		{"POST", "/v1/" + victimClient + "/contacts", map[string]any{"contact": contact, "primary": true}},
		{"PATCH", "/v1/" + link + "?update_mask=relationship", map[string]any{"relationship": "owned"}},
		{"DELETE", "/v1/" + link, nil},
		// The victim's ids under the intruder's own firm.
		{"GET", bp + "/clients/" + clientID, nil},
		{"PATCH", bp + "/clients/" + clientID + "?update_mask=display_name", map[string]any{"display_name": "owned"}},
		{"DELETE", bp + "/clients/" + clientID, nil},
		{"GET", bp + "/clients/" + clientID + "/contacts", nil},
		{"DELETE", bp + "/clients/" + clientID + "/contacts/" + contactID, nil},
		{"GET", bp + "/contacts/" + contactID, nil},
		{"DELETE", bp + "/contacts/" + contactID, nil},
		{"GET", bp + "/customFields/" + fieldID, nil},
		{"DELETE", bp + "/customFields/" + fieldID, nil},
		// The victim's contact linked to the intruder's client.
		{"POST", "/v1/" + betaClient + "/contacts", map[string]any{"contact": contact}},
		{"POST", "/v1/" + betaClient + "/contacts", map[string]any{"contact": beta.name + "/contacts/" + contactID}},
	}
	intruders := map[string]*client{"owner": beta.client, "api key": beta.apiKey(t, sys, "clients:write", "contacts:write")}
	for who, c := range intruders {
		for _, r := range routes {
			resp := c.do(r.method, r.path, r.body)
			switch {
			case resp.status == http.StatusNotFound:
			case who == "api key" && resp.status == http.StatusForbidden && resp.reason() == "API_KEY_NOT_ALLOWED":
				// Custom field definitions are configuration; API keys cannot change them at all.
			default:
				t.Errorf("%s: %s %s = %d, want 404: %s", who, r.method, r.path, resp.status, truncate(string(resp.raw), 200))
			}
		}
	}
	if after := snapshot(); !reflect.DeepEqual(before, after) {
		t.Errorf("the victim's data changed:\nbefore %v\nafter  %v", before, after)
	}

	member, _ := alpha.member(t, sys, "staff@clientvictim.example")
	want(t, member.do("GET", "/v1/"+victimClient, nil), http.StatusOK, "member reads a client")
	forbidden := []clientRoute{
		{"DELETE", "/v1/" + victimClient, nil},
		{"DELETE", "/v1/" + contact, nil},
		{"GET", "/v1/" + victimClient + "?view=CLIENT_VIEW_REVEALED", nil},
		{"POST", ap + "/clients:lookupByTaxId", map[string]any{"tax_id": "321549876", "view": "CLIENT_VIEW_REVEALED"}},
		{"POST", ap + "/clients:import", map[string]any{"csv": "display_name\nplanted\n"}},
		{"POST", ap + "/clients:export", map[string]any{}},
		{"POST", ap + "/customFields", map[string]any{"key": "planted", "display_name": "P", "type": "CUSTOM_FIELD_TYPE_TEXT"}},
		{"PATCH", "/v1/" + field + "?update_mask=display_name", map[string]any{"display_name": "owned"}},
		{"DELETE", "/v1/" + field, nil},
	}
	for _, r := range forbidden {
		want(t, member.do(r.method, r.path, r.body), http.StatusForbidden, "member "+r.method+" "+r.path)
	}
	// An owner takes updates away from members; the member's next update is refused.
	want(t, a.do("PATCH", ap+"/permissions", map[string]any{"rules": []map[string]any{
		{"role": "member", "category": "clients", "action": "update", "scope": "none"},
	}}), http.StatusOK, "restrict members")
	r := want(t, member.do("PATCH", "/v1/"+victimClient+"?update_mask=display_name", map[string]any{"display_name": "member edit"}),
		http.StatusForbidden, "member update without permission")
	if r.reason() != "PERMISSION_NOT_GRANTED" {
		t.Errorf("reason %q", r.reason())
	}
	if after := snapshot(); !reflect.DeepEqual(before, after) {
		t.Errorf("refused member requests changed the data:\nbefore %v\nafter  %v", before, after)
	}
}

func lastID(name string) string { return name[strings.LastIndex(name, "/")+1:] }

// TestHostileStringsInClientFieldsAreRefusedOrStoredLiterally sends hostile strings
// in every string field of clients, contacts, links and custom fields, and as
// filters: each gets a 4xx, or is stored and read back exactly; never a 5xx.
func TestHostileStringsInClientFieldsAreRefusedOrStoredLiterally(t *testing.T) {
	t.Parallel()
	sys := start(t, nil) // the shared stack is unthrottled
	f := sys.signUp(t, "clienthostile")
	c := f.client
	fp := "/v1/" + f.name
	want(t, c.do("POST", fp+"/customFields", map[string]any{"key": "memo", "display_name": "Memo", "type": "CUSTOM_FIELD_TYPE_TEXT"}),
		http.StatusCreated, "define text field")
	hostile := []string{
		"O'Brien & Sons; DROP TABLE clients;--",
		`" OR 1=1 --`,
		"<script>alert('x')</script>",
		"${jndi:ldap://x}",
		"{{7*7}} %s %n %x",
		"Ünïcödé 会計事務所 🧾",
		"=cmd|' /C calc'!A0",
		"../../etc/passwd",
		"\u202eevil",
		"Robert\x00'); DROP TABLE clients;--",
		"evil\r\nSet-Cookie: x=y",
		"tab\tand\vvertical",
		strings.Repeat("A", 300),
		strings.Repeat("é", 5000),
		"",
	}
	check := func(what string, r response, stored func() string, value string) {
		t.Helper()
		switch {
		case r.status >= 500:
			t.Errorf("%s %q: status %d: %s", what, truncate(value, 40), r.status, truncate(string(r.raw), 200))
		case r.status >= 400:
			if r.errorReply().Error.Message == "" {
				t.Errorf("%s %q: %d without an error message", what, truncate(value, 40), r.status)
			}
		case r.status >= 200 && stored != nil:
			if got := stored(); got != value {
				t.Errorf("%s %q stored as %q", what, truncate(value, 40), truncate(got, 40))
			}
		}
	}
	// readClient reads back the client a create answered with.
	readClient := func(created response, query string) *workflowv1.Client {
		t.Helper()
		name := message[*workflowv1.Client](t, created).GetName()
		return message[*workflowv1.Client](t, want(t, c.do("GET", "/v1/"+name+query, nil), http.StatusOK, "read back"))
	}
	clientFields := []struct {
		name string
		read func(*workflowv1.Client) string
	}{
		{"display_name", (*workflowv1.Client).GetDisplayName}, {"description", (*workflowv1.Client).GetDescription},
		{"external_id", (*workflowv1.Client).GetExternalId}, {"tax_id", (*workflowv1.Client).GetTaxId},
		{"bank_account_number", (*workflowv1.Client).GetBankAccountNumber}, {"bank_routing_number", (*workflowv1.Client).GetBankRoutingNumber},
		{"notes", (*workflowv1.Client).GetNotes},
	}
	clientLists := []struct {
		name string
		read func(*workflowv1.Client) []string
	}{{"tags", (*workflowv1.Client).GetTags}, {"services", (*workflowv1.Client).GetServices}}
	contactFields := []struct {
		name string
		read func(*workflowv1.Contact) string
	}{
		{"display_name", (*workflowv1.Contact).GetDisplayName}, {"given_name", (*workflowv1.Contact).GetGivenName},
		{"family_name", (*workflowv1.Contact).GetFamilyName}, {"job_title", (*workflowv1.Contact).GetJobTitle},
	}
	for _, value := range hostile {
		for _, field := range clientFields {
			body := map[string]any{"display_name": "Hostile", field.name: value}
			r := c.do("POST", fp+"/clients", body)
			check("client."+field.name, r, func() string {
				return field.read(readClient(r, "?view=CLIENT_VIEW_REVEALED"))
			}, value)
		}
		for _, field := range clientLists {
			r := c.do("POST", fp+"/clients", map[string]any{"display_name": "Hostile list", field.name: []string{value}})
			check("client."+field.name, r, func() string {
				list := field.read(readClient(r, ""))
				if len(list) != 1 {
					return fmt.Sprint(list)
				}
				return list[0]
			}, value)
		}
		r := c.do("POST", fp+"/clients", map[string]any{"display_name": "Hostile custom", "custom_fields": map[string]any{"memo": value}})
		check("client.custom_fields.memo", r, func() string {
			return readClient(r, "").GetCustomFields()["memo"].GetStringValue()
		}, value)
		for _, field := range contactFields {
			body := map[string]any{"display_name": "Hostile contact", field.name: value}
			r := c.do("POST", fp+"/contacts", body)
			check("contact."+field.name, r, func() string {
				name := message[*workflowv1.Contact](t, r).GetName()
				return field.read(message[*workflowv1.Contact](t, want(t, c.do("GET", "/v1/"+name, nil), http.StatusOK, "read back")))
			}, value)
		}
		for _, body := range []map[string]any{
			{"display_name": "H", "emails": []map[string]any{{"address": value}}},
			{"display_name": "H", "emails": []map[string]any{{"address": "a@example.com", "label": value}}},
			{"display_name": "H", "phones": []map[string]any{{"number": value}}},
			{"display_name": "H", "addresses": []map[string]any{{"lines": []string{value}, "locality": value, "postal_code": value}}},
		} {
			check("contact details", c.do("POST", fp+"/contacts", body), nil, value)
		}
		check("custom field display_name", c.do("POST", fp+"/customFields", map[string]any{"key": "k" + fmt.Sprint(len(value)%7), "display_name": value, "type": "CUSTOM_FIELD_TYPE_TEXT"}), nil, value)
		check("custom field key", c.do("POST", fp+"/customFields", map[string]any{"key": value, "display_name": "x", "type": "CUSTOM_FIELD_TYPE_TEXT"}), nil, value)
		check("custom field options", c.do("POST", fp+"/customFields", map[string]any{"key": "sel", "display_name": "x", "type": "CUSTOM_FIELD_TYPE_SINGLE_SELECT", "options": []string{value}}), nil, value)
		q := url.QueryEscape(value)
		for _, path := range []string{fp + "/clients?tag=" + q, fp + "/clients?external_id=" + q, fp + "/clients?order_by=" + q,
			fp + "/clients?page_token=" + q, fp + "/clients?assignee=" + q, fp + "/contacts?page_token=" + q} {
			check("filter "+path[:strings.Index(path, "=")], c.do("GET", path, nil), nil, value)
		}
		check("lookup tax_id", c.do("POST", fp+"/clients:lookupByTaxId", map[string]any{"tax_id": value}), nil, value)
		check("import", c.do("POST", fp+"/clients:import", map[string]any{"csv": "display_name,notes\n" + value + "," + value + "\n", "validate_only": true}), nil, value)
		check("export tag", c.do("POST", fp+"/clients:export", map[string]any{"tag": value}), nil, value)
	}
	holder := message[*workflowv1.Client](t, want(t, c.do("POST", fp+"/clients", map[string]any{"display_name": "Link holder"}), http.StatusCreated, "client")).GetName()
	person := message[*workflowv1.Contact](t, want(t, c.do("POST", fp+"/contacts", map[string]any{"display_name": "Linked"}), http.StatusCreated, "contact")).GetName()
	link := message[*workflowv1.ClientContact](t, want(t, c.do("POST", "/v1/"+holder+"/contacts", map[string]any{"contact": person}), http.StatusCreated, "link")).GetName()
	for _, value := range hostile {
		r := c.do("PATCH", "/v1/"+link+"?update_mask=relationship", map[string]any{"relationship": value})
		check("link relationship", r, func() string { return message[*workflowv1.ClientContact](t, r).GetRelationship() }, value)
	}
	for _, name := range []string{"firms/x/clients/y", "firms/" + strings.Repeat("-", 36) + "/clients/" + strings.Repeat("-", 36),
		f.name + "/clients/" + strings.Repeat("0", 36), f.name + "/clients/%27%20OR%201=1"} {
		r := c.do("GET", "/v1/"+name, nil)
		if r.status >= 500 || r.status < 400 {
			t.Errorf("GET %s: status %d", name, r.status)
		}
	}
	for _, body := range []string{`{"display_name": 42}`, `{"kind": "CLIENT_KIND_ALIEN", "display_name": "x"}`, `{"custom_fields": {"memo": {"nested": [1]}}, "display_name": "x"}`,
		`{"display_name": "x", "assignees": ["firms/x/members/y"]}`, `{"display_name": "x", "tags": "not a list"}`} {
		r := c.do("POST", fp+"/clients", body)
		if r.status < 400 || r.status >= 500 {
			t.Errorf("body %s: status %d: %s", body, r.status, truncate(string(r.raw), 200))
		}
	}
}
