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
	return sys.integration(r.str("secret"))
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
	return c, m.str("name")
}

// collectNames follows next_page_token through a list and returns every item's name.
func collectNames(t *testing.T, c *client, path, key string) []string {
	t.Helper()
	var names []string
	token := ""
	for range 50 {
		sep := "?"
		if strings.Contains(path, "?") {
			sep = "&"
		}
		r := want(t, c.do("GET", path+sep+"page_token="+url.QueryEscape(token), nil), http.StatusOK, "list "+path)
		for _, item := range r.list(key) {
			names = append(names, item["name"].(string))
		}
		if token = r.str("next_page_token"); token == "" {
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

	fee := want(t, owner.do("POST", firmPath+"/customFields", map[string]any{
		"key": "fee", "display_name": "Annual fee", "type": "CUSTOM_FIELD_TYPE_NUMBER",
	}), http.StatusCreated, "define custom field")
	want(t, owner.do("POST", firmPath+"/customFields", map[string]any{
		"key": "entity", "display_name": "Entity", "type": "CUSTOM_FIELD_TYPE_SINGLE_SELECT", "options": []string{"LLC", "S-Corp"},
	}), http.StatusCreated, "define select field")

	ada := map[string]any{
		"display_name": "Ada Lovelace", "kind": "CLIENT_KIND_PERSON", "priority": "CLIENT_PRIORITY_HIGH",
		"tags": []string{"1040", "vip"}, "services": []string{"tax return"}, "external_id": "hubspot-1",
		"tax_id": "123-45-6789", "bank_account_number": "000123456789", "bank_routing_number": "021000021",
		"notes": "prefers email", "custom_fields": map[string]any{"fee": 1200, "entity": "LLC"},
	}
	created := want(t, owner.do("POST", firmPath+"/clients?request_id=signup-ada", ada), http.StatusCreated, "create client")
	clientName := created.str("name")
	retried := want(t, owner.do("POST", firmPath+"/clients?request_id=signup-ada", ada), http.StatusCreated, "retried create")
	if retried.str("name") != clientName {
		t.Fatalf("a retried create made %s besides %s", retried.str("name"), clientName)
	}
	if created.str("tax_id") != "***-**-6789" || created.str("bank_account_number") != "********6789" || created.get("sensitive_revealed") != nil {
		t.Errorf("create response not masked: %s", created.raw)
	}

	t.Run("tax and bank numbers are masked unless revealed to those allowed", func(t *testing.T) {
		masked := want(t, owner.do("GET", "/v1/"+clientName, nil), http.StatusOK, "get client")
		if masked.str("tax_id") != "***-**-6789" || masked.str("notes") != "prefers email" || masked.get("custom_fields", "fee") != 1200.0 {
			t.Errorf("masked view: %s", masked.raw)
		}
		full := want(t, owner.do("GET", "/v1/"+clientName+"?view=CLIENT_VIEW_REVEALED", nil), http.StatusOK, "reveal as owner")
		if full.str("tax_id") != "123-45-6789" || full.str("bank_routing_number") != "021000021" || full.get("sensitive_revealed") != true {
			t.Errorf("revealed view: %s", full.raw)
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
		if got := want(t, writer.do("GET", "/v1/"+clientName+"?view=CLIENT_VIEW_REVEALED", nil), http.StatusOK, "write key reveals"); got.str("tax_id") != "123-45-6789" {
			t.Errorf("write key's revealed view: %s", got.raw)
		}
	})

	t.Run("updates need the current etag and never store a masked value", func(t *testing.T) {
		current := want(t, owner.do("GET", "/v1/"+clientName, nil), http.StatusOK, "get client")
		etag := current.str("etag")
		u := want(t, owner.do("PATCH", "/v1/"+clientName+"?update_mask=display_name,custom_fields.fee",
			map[string]any{"display_name": "Ada King", "custom_fields": map[string]any{"fee": 1500}, "etag": etag}), http.StatusOK, "update")
		if u.str("display_name") != "Ada King" || u.get("custom_fields", "fee") != 1500.0 || u.get("custom_fields", "entity") != "LLC" || u.str("etag") == etag {
			t.Errorf("updated: %s", u.raw)
		}
		r := want(t, owner.do("PATCH", "/v1/"+clientName+"?update_mask=display_name", map[string]any{"display_name": "Late", "etag": etag}),
			http.StatusConflict, "stale etag")
		if r.reason() != "ETAG_MISMATCH" {
			t.Errorf("reason %q", r.reason())
		}
		// The SPA reads a client and writes it all back: the masked numbers are refused.
		back := current.body
		back["etag"] = u.str("etag")
		r = want(t, owner.do("PATCH", "/v1/"+clientName+"?update_mask=tax_id", back), http.StatusBadRequest, "masked tax id written back")
		if !slices.Contains(r.fields(), "client.tax_id") {
			t.Errorf("violations %v", r.fields())
		}
		// Without update_mask, the mask comes from the body's keys; output-only ones are ignored.
		u2 := want(t, owner.do("PATCH", "/v1/"+clientName, map[string]any{"description": "from the CRM", "etag": u.str("etag"), "name": clientName}),
			http.StatusOK, "update with the mask from the body")
		if u2.str("description") != "from the CRM" || u2.str("display_name") != "Ada King" {
			t.Errorf("body-mask update: %s", u2.raw)
		}
		full := want(t, owner.do("GET", "/v1/"+clientName+"?view=CLIENT_VIEW_REVEALED", nil), http.StatusOK, "reveal")
		if full.str("tax_id") != "123-45-6789" {
			t.Errorf("tax id after refused write: %q", full.str("tax_id"))
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
			r := want(t, crm.do("POST", firmPath+"/clients?request_id="+rid, body), http.StatusCreated, "integration creates")
			again := want(t, crm.do("POST", firmPath+"/clients?request_id="+rid, body), http.StatusCreated, "integration retries")
			if again.str("name") != r.str("name") {
				t.Errorf("retry %d made a second client", i)
			}
			names = append(names, r.str("name"))
		}
		all := collectNames(t, crm, firmPath+"/clients?page_size=3", "clients")
		if len(all) != 8 || all[0] != clientName || !slices.Equal(all[1:], names) {
			t.Errorf("pages of 3 gave %d clients: %v", len(all), all)
		}
		tagged := collectNames(t, crm, firmPath+"/clients?page_size=1&tag=payroll", "clients")
		if !slices.Equal(tagged, []string{names[0], names[3], names[6]}) {
			t.Errorf("tag payroll: %v", tagged)
		}
		byExt := want(t, crm.do("GET", firmPath+"/clients?external_id=hubspot-104", nil), http.StatusOK, "by external id")
		if l := byExt.list("clients"); len(l) != 1 || l[0]["name"] != names[4] {
			t.Errorf("by external id: %s", byExt.raw)
		}
		first := want(t, crm.do("GET", firmPath+"/clients?page_size=2&tag=payroll", nil), http.StatusOK, "first page")
		r := want(t, crm.do("GET", firmPath+"/clients?page_size=2&tag=vip&page_token="+url.QueryEscape(first.str("next_page_token")), nil),
			http.StatusBadRequest, "token of another filter")
		if !slices.Contains(r.fields(), "page_token") {
			t.Errorf("violations %v", r.fields())
		}
		want(t, crm.do("POST", firmPath+"/clients", map[string]any{"display_name": "Dup", "external_id": "hubspot-104"}),
			http.StatusConflict, "duplicate external id")
	})

	t.Run("lookup by tax id uses POST and the blind index", func(t *testing.T) {
		found := want(t, crm.do("POST", firmPath+"/clients:lookupByTaxId", map[string]any{"tax_id": "123 45 6789"}), http.StatusOK, "lookup")
		if found.str("name") != clientName || found.str("tax_id") != "***-**-6789" {
			t.Errorf("lookup: %s", found.raw)
		}
		want(t, crm.do("POST", firmPath+"/clients:lookupByTaxId", map[string]any{"tax_id": "999-99-9999"}), http.StatusNotFound, "unknown tax id")
		want(t, owner.do("POST", firmPath+"/clients", map[string]any{"display_name": "Twin", "tax_id": "123456789"}),
			http.StatusConflict, "duplicate tax id")
	})

	t.Run("an import with one bad row imports nothing and names the row", func(t *testing.T) {
		before := collectNames(t, owner, firmPath+"/clients?page_size=100", "clients")
		bad := "display_name,tax_id,tags,custom.entity\nGood One,111-22-3333,a,LLC\nBad One,***-**-1234,b,Trust\nGood Two,,c,\n"
		r := want(t, owner.do("POST", firmPath+"/clients:import", map[string]any{"csv": bad}), http.StatusBadRequest, "bad import")
		if r.reason() != "IMPORT_ROWS_INVALID" || !slices.Equal(r.fields(), []string{"rows[3].custom.entity", "rows[3].tax_id"}) {
			t.Errorf("import report: reason %q, fields %v", r.reason(), r.fields())
		}
		if after := collectNames(t, owner, firmPath+"/clients?page_size=100", "clients"); len(after) != len(before) {
			t.Fatalf("a refused import changed the clients: %d -> %d", len(before), len(after))
		}
		good := strings.Replace(bad, "***-**-1234,b,Trust", "444-55-6666,b,S-Corp", 1)
		imp := want(t, crm.do("POST", firmPath+"/clients:import", map[string]any{"csv": good, "request_id": "nightly-1"}), http.StatusCreated, "import")
		if imp.get("imported_count") != 3.0 || len(imp.get("clients").([]any)) != 3 {
			t.Fatalf("import: %s", imp.raw)
		}
		again := want(t, crm.do("POST", firmPath+"/clients:import", map[string]any{"csv": good, "request_id": "nightly-1"}), http.StatusCreated, "retried import")
		if again.str("import") != imp.str("import") || !reflect.DeepEqual(again.get("clients"), imp.get("clients")) {
			t.Errorf("retried import: %s", again.raw)
		}
		found := want(t, owner.do("POST", firmPath+"/clients:lookupByTaxId", map[string]any{"tax_id": "444556666", "view": "CLIENT_VIEW_REVEALED"}),
			http.StatusOK, "imported client by tax id")
		if found.str("display_name") != "Bad One" || found.str("tax_id") != "444-55-6666" || found.get("custom_fields", "entity") != "S-Corp" {
			t.Errorf("imported: %s", found.raw)
		}
	})

	t.Run("exports are CSV or JSON, masked unless revealed", func(t *testing.T) {
		exp := want(t, owner.do("POST", firmPath+"/clients:export", map[string]any{"tag": "1040"}), http.StatusOK, "export CSV")
		content := exp.str("content")
		if !strings.HasPrefix(exp.str("content_type"), "text/csv") || exp.get("client_count") != 1.0 ||
			!strings.HasPrefix(content, "name,display_name,") || !strings.Contains(content, "***-**-6789") || strings.Contains(content, "123-45-6789") {
			t.Errorf("CSV export: %s", exp.raw)
		}
		exp = want(t, crm.do("POST", firmPath+"/clients:export", map[string]any{"format": "EXPORT_FORMAT_JSON", "view": "CLIENT_VIEW_REVEALED", "page_size": 5}),
			http.StatusOK, "export JSON")
		var docs []map[string]any
		if err := json.Unmarshal([]byte(exp.str("content")), &docs); err != nil || len(docs) != 5 || exp.str("next_page_token") == "" {
			t.Fatalf("JSON export (%v): %s", err, truncate(string(exp.raw), 400))
		}
		if docs[0]["tax_id"] != "123-45-6789" || docs[0]["name"] != clientName {
			t.Errorf("revealed JSON export: %v", docs[0])
		}
	})

	t.Run("contacts link to clients with one primary", func(t *testing.T) {
		grace := want(t, crm.do("POST", firmPath+"/contacts", map[string]any{
			"display_name": "Grace Hopper", "emails": []map[string]any{{"address": "grace@example.com", "label": "work"}},
			"phones": []map[string]any{{"number": "+1 555 0100"}}, "addresses": []map[string]any{{"lines": []string{"1 Navy Way"}, "country_code": "US"}},
		}), http.StatusCreated, "create contact").str("name")
		alan := want(t, owner.do("POST", firmPath+"/contacts", map[string]any{"display_name": "Alan Turing"}), http.StatusCreated, "create contact").str("name")
		first := want(t, crm.do("POST", "/v1/"+clientName+"/contacts", map[string]any{"contact": grace, "relationship": "spouse"}),
			http.StatusCreated, "link Grace")
		if first.get("primary") != true {
			t.Errorf("first link not primary: %s", first.raw)
		}
		want(t, crm.do("POST", "/v1/"+clientName+"/contacts", map[string]any{"contact": alan, "primary": true}), http.StatusCreated, "link Alan as primary")
		want(t, crm.do("POST", "/v1/"+clientName+"/contacts", map[string]any{"contact": alan}), http.StatusConflict, "link twice")
		links := want(t, owner.do("GET", "/v1/"+clientName+"/contacts", nil), http.StatusOK, "list links").list("client_contacts")
		if len(links) != 2 || links[0]["contact"] != alan || links[0]["primary"] != true || links[1]["primary"] != nil {
			t.Errorf("links: %v", links)
		}
		c := want(t, owner.do("GET", "/v1/"+clientName, nil), http.StatusOK, "client")
		if c.str("primary_contact") != alan {
			t.Errorf("primary contact %q", c.str("primary_contact"))
		}
		graceLink := first.str("name")
		want(t, owner.do("PATCH", "/v1/"+graceLink+"?update_mask=primary", map[string]any{"primary": true}), http.StatusOK, "make Grace primary")
		if got := want(t, owner.do("GET", "/v1/"+clientName, nil), http.StatusOK, "client").str("primary_contact"); got != grace {
			t.Errorf("primary after change %q", got)
		}
		want(t, owner.do("DELETE", "/v1/"+graceLink, nil), http.StatusOK, "unlink")
		want(t, owner.do("GET", "/v1/"+grace, nil), http.StatusOK, "contact survives unlinking")
		contacts := collectNames(t, crm, firmPath+"/contacts?page_size=1", "contacts")
		if !slices.Equal(contacts, []string{grace, alan}) {
			t.Errorf("contacts: %v", contacts)
		}
	})

	t.Run("delete needs the current etag", func(t *testing.T) {
		victim := want(t, owner.do("POST", firmPath+"/clients", map[string]any{"display_name": "Short-lived"}), http.StatusCreated, "create")
		want(t, owner.do("DELETE", "/v1/"+victim.str("name")+"?etag="+url.QueryEscape(`"99"`), nil), http.StatusConflict, "stale delete")
		want(t, owner.do("DELETE", "/v1/"+victim.str("name")+"?etag="+url.QueryEscape(victim.str("etag")), nil), http.StatusOK, "delete")
		want(t, owner.do("GET", "/v1/"+victim.str("name"), nil), http.StatusNotFound, "deleted client")
		want(t, owner.do("DELETE", "/v1/"+fee.str("name"), nil), http.StatusOK, "delete custom field")
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
	victimClient := want(t, a.do("POST", ap+"/clients", map[string]any{"display_name": "Secret client", "tax_id": "321-54-9876", "tags": []string{"x"}}),
		http.StatusCreated, "victim client").str("name")
	contact := want(t, a.do("POST", ap+"/contacts", map[string]any{"display_name": "Secret contact"}), http.StatusCreated, "victim contact").str("name")
	field := want(t, a.do("POST", ap+"/customFields", map[string]any{"key": "k", "display_name": "K", "type": "CUSTOM_FIELD_TYPE_TEXT"}),
		http.StatusCreated, "victim field").str("name")
	link := want(t, a.do("POST", "/v1/"+victimClient+"/contacts", map[string]any{"contact": contact}), http.StatusCreated, "victim link").str("name")
	betaClient := want(t, beta.client.do("POST", bp+"/clients", map[string]any{"display_name": "Intruder's client"}), http.StatusCreated, "intruder client").str("name")
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
			if r.get("error", "message") == nil {
				t.Errorf("%s %q: %d without an error message", what, truncate(value, 40), r.status)
			}
		case r.status >= 200 && stored != nil:
			if got := stored(); got != value {
				t.Errorf("%s %q stored as %q", what, truncate(value, 40), truncate(got, 40))
			}
		}
	}
	clientFields := []string{"display_name", "description", "external_id", "tax_id", "bank_account_number", "bank_routing_number", "notes"}
	for _, value := range hostile {
		for _, field := range clientFields {
			body := map[string]any{"display_name": "Hostile", field: value}
			r := c.do("POST", fp+"/clients", body)
			check("client."+field, r, func() string {
				got := want(t, c.do("GET", "/v1/"+r.str("name")+"?view=CLIENT_VIEW_REVEALED", nil), http.StatusOK, "read back")
				return got.str(field)
			}, value)
		}
		for _, field := range []string{"tags", "services"} {
			r := c.do("POST", fp+"/clients", map[string]any{"display_name": "Hostile list", field: []string{value}})
			check("client."+field, r, func() string {
				list, _ := want(t, c.do("GET", "/v1/"+r.str("name"), nil), http.StatusOK, "read back").get(field).([]any)
				if len(list) != 1 {
					return fmt.Sprint(list)
				}
				return list[0].(string)
			}, value)
		}
		r := c.do("POST", fp+"/clients", map[string]any{"display_name": "Hostile custom", "custom_fields": map[string]any{"memo": value}})
		check("client.custom_fields.memo", r, func() string {
			got, _ := want(t, c.do("GET", "/v1/"+r.str("name"), nil), http.StatusOK, "read back").get("custom_fields", "memo").(string)
			return got
		}, value)
		for _, field := range []string{"display_name", "given_name", "family_name", "job_title"} {
			body := map[string]any{"display_name": "Hostile contact", field: value}
			r := c.do("POST", fp+"/contacts", body)
			check("contact."+field, r, func() string {
				return want(t, c.do("GET", "/v1/"+r.str("name"), nil), http.StatusOK, "read back").str(field)
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
	holder := want(t, c.do("POST", fp+"/clients", map[string]any{"display_name": "Link holder"}), http.StatusCreated, "client").str("name")
	person := want(t, c.do("POST", fp+"/contacts", map[string]any{"display_name": "Linked"}), http.StatusCreated, "contact").str("name")
	link := want(t, c.do("POST", "/v1/"+holder+"/contacts", map[string]any{"contact": person}), http.StatusCreated, "link").str("name")
	for _, value := range hostile {
		r := c.do("PATCH", "/v1/"+link+"?update_mask=relationship", map[string]any{"relationship": value})
		check("link relationship", r, func() string { return r.str("relationship") }, value)
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
