package e2e

import (
	"encoding/json"
	"net/http"
	"reflect"
	"strconv"
	"strings"
	"testing"

	identityv1 "github.com/firmflow/firmflow/pkg/gen/firmflow/identity/v1"
	gateway "github.com/firmflow/firmflow/services/gateway/server"
)

// snapshot is what a firm's owner can read of it; a refused request must leave it
// exactly as it was.
func snapshot(t *testing.T, f firm) map[string]string {
	t.Helper()
	out := map[string]string{}
	for _, path := range []string{"/v1/" + f.name, "/v1/" + f.name + "/members", "/v1/" + f.name + "/apiKeys", "/v1/" + f.name + "/invitations"} {
		r := want(t, f.client.do("GET", path, nil), http.StatusOK, "snapshot "+path)
		out[path] = string(r.raw)
	}
	return out
}

// TestEveryIdentityRouteRefusesAnotherFirmsObjects tries each route that takes an id
// with the other firm's ids, as its owner (full rights in their own firm) and as its
// API key: the answer is 404, as for an id that does not exist, and nothing changes.
func TestEveryIdentityRouteRefusesAnotherFirmsObjects(t *testing.T) {
	t.Parallel()
	sys := start(t, nil)
	alpha, beta := sys.signUp(t, "victim"), sys.signUp(t, "intruder")
	key := want(t, alpha.client.do("POST", "/v1/"+alpha.name+"/apiKeys", map[string]any{
		"display_name": "crm", "scopes": []string{"identity:read"},
	}), http.StatusCreated, "victim key")
	keyName := message[*identityv1.ApiKey](t, key).GetName()
	want(t, alpha.client.do("POST", "/v1/"+alpha.name+"/invitations", map[string]any{"email": "new@victim.example", "role": "ROLE_ADMIN"}),
		http.StatusCreated, "victim invitation")
	sessions := want(t, alpha.client.do("GET", "/v1/sessions", nil), http.StatusOK, "victim sessions")
	alphaSession := message[*identityv1.ListSessionsResponse](t, sessions).GetSessions()[0].GetName()
	betaKey := message[*identityv1.ApiKey](t, want(t, beta.client.do("POST", "/v1/"+beta.name+"/apiKeys", map[string]any{
		"display_name": "crm", "scopes": []string{"identity:write"},
	}), http.StatusCreated, "intruder key")).GetSecret()
	betaMember := strings.TrimPrefix(alpha.owner, alpha.name+"/")
	before := snapshot(t, alpha)

	routes := []struct {
		method, path string
		body         any
	}{
		{"GET", "/v1/" + alpha.name, nil},
		{"PATCH", "/v1/" + alpha.name + "?update_mask=display_name", map[string]any{"display_name": "owned"}},
		{"PATCH", "/v1/" + alpha.name + "?update_mask=require_totp", map[string]any{"require_totp": true}},
		{"GET", "/v1/" + alpha.name + "/members", nil},
		{"GET", "/v1/" + alpha.owner, nil},
		{"GET", "/v1/" + beta.name + "/" + betaMember, nil}, // the victim's member under the intruder's firm
		{"PATCH", "/v1/" + alpha.owner + "?update_mask=role", map[string]any{"role": "ROLE_MEMBER"}},
		{"DELETE", "/v1/" + alpha.owner, nil},
		{"GET", "/v1/" + alpha.name + "/invitations", nil},
		{"POST", "/v1/" + alpha.name + "/invitations", map[string]any{"email": "mole@intruder.example", "role": "ROLE_OWNER"}},
		{"GET", "/v1/" + alpha.name + "/apiKeys", nil},
		{"POST", "/v1/" + alpha.name + "/apiKeys", map[string]any{"display_name": "backdoor", "scopes": []string{"identity:write"}}},
		{"GET", "/v1/" + keyName, nil},
		{"POST", "/v1/" + keyName + ":rotate", map[string]any{}},
		{"POST", "/v1/" + keyName + ":revoke", map[string]any{}},
		{"GET", "/v1/" + strings.Replace(keyName, alpha.name, beta.name, 1), nil},
		{"POST", "/v1/" + strings.Replace(keyName, alpha.name, beta.name, 1) + ":revoke", map[string]any{}},
		{"DELETE", "/v1/" + alphaSession, nil},
	}
	intruders := map[string]*client{"owner": beta.client, "api key": sys.integration(betaKey)}
	for who, c := range intruders {
		for _, r := range routes {
			resp := c.do(r.method, r.path, r.body)
			switch {
			case resp.status == http.StatusNotFound:
			case who == "api key" && resp.status == http.StatusForbidden:
				// API keys cannot reach some methods at all; the policy answers first.
			default:
				t.Errorf("%s: %s %s = %d, want 404: %s", who, r.method, r.path, resp.status, truncate(string(resp.raw), 200))
			}
		}
	}
	if after := snapshot(t, alpha); !reflect.DeepEqual(before, after) {
		t.Errorf("the victim's firm changed:\nbefore %v\nafter  %v", before, after)
	}
	want(t, alpha.client.do("GET", "/v1/caller", nil), http.StatusOK, "victim's session still works")
}

// TestHostileInputIsRefusedOrStoredLiterally sends malformed JSON and hostile strings
// to every writable field: the answer is a 4xx naming the field, or the value is
// stored exactly as sent; never a 500, and a refused request changes nothing.
func TestHostileInputIsRefusedOrStoredLiterally(t *testing.T) {
	t.Parallel()
	sys := start(t, nil)
	f := sys.signUp(t, "hostile")
	before := snapshot(t, f)

	malformed := []struct{ name, path, body string }{
		{"not JSON", "/v1/signup", "{not json"},
		{"truncated", "/v1/signup", `{"email": "a@b.example", "password": "`},
		{"wrong type", "/v1/signup", `{"email": 42}`},
		{"unknown field", "/v1/signup", `{"email":"a@b.example","is_admin":true}`},
		{"array", "/v1/login", `[1,2,3]`},
		{"deep nesting", "/v1/login", strings.Repeat("[", 10000)},
		{"wrong enum", "/v1/" + f.name + "/invitations", `{"email":"x@hostile.example","role":"ROLE_GOD"}`},
		{"scope injection", "/v1/" + f.name + "/apiKeys", `{"display_name":"x","scopes":["identity:read' OR '1'='1"]}`},
	}
	for _, m := range malformed {
		r := f.client.do("POST", m.path, m.body)
		if r.status < 400 || r.status >= 500 {
			t.Errorf("%s: status %d, want 4xx: %s", m.name, r.status, truncate(string(r.raw), 200))
		}
		if r.errorReply().Error.Message == "" {
			t.Errorf("%s: no error message: %s", m.name, truncate(string(r.raw), 200))
		}
	}

	refused := []struct {
		name, field string
		value       string
	}{
		{"control characters", "display_name", "Robert\x00'); DROP TABLE members;--"},
		{"newline injection", "display_name", "evil\r\nSet-Cookie: x=y"},
		{"1 MB name", "display_name", strings.Repeat("A", 1<<20)},
		{"200+ characters", "display_name", strings.Repeat("é", 201)},
	}
	for _, c := range refused {
		r := f.client.do("PATCH", "/v1/"+f.name+"?update_mask="+c.field, map[string]any{c.field: c.value})
		if r.status != http.StatusBadRequest {
			t.Errorf("%s: status %d, want 400: %s", c.name, r.status, truncate(string(r.raw), 200))
		}
		// A body over the gateway's limit is refused whole (BODY_TOO_LARGE) before any field is read.
		if r.status == http.StatusBadRequest && r.reason() != "BODY_TOO_LARGE" && !contains(r.fields(), "firm."+c.field) {
			t.Errorf("%s: violations name %v, want firm.%s", c.name, r.fields(), c.field)
		}
	}
	if after := snapshot(t, f); !reflect.DeepEqual(before, after) {
		t.Errorf("refused input changed the firm:\nbefore %v\nafter  %v", before, after)
	}

	literal := []string{
		"O'Brien & Sons; DROP TABLE firms;--",
		`" OR 1=1 --`,
		"<script>alert('x')</script>",
		"${jndi:ldap://x}",
		"{{7*7}} %s %n",
		"Ünïcödé 会計事務所 🧾",
	}
	for i, value := range literal {
		etag := message[*identityv1.Firm](t, want(t, f.client.do("GET", "/v1/"+f.name, nil), http.StatusOK, "read etag")).GetEtag()
		r := want(t, f.client.do("PATCH", "/v1/"+f.name+"?update_mask=display_name", map[string]any{"display_name": value, "etag": etag}),
			http.StatusOK, "literal "+strconv.Itoa(i))
		if got := message[*identityv1.Firm](t, r).GetDisplayName(); got != value {
			t.Errorf("stored %q as %q", value, got)
		}
		read := message[*identityv1.Firm](t, want(t, f.client.do("GET", "/v1/"+f.name, nil), http.StatusOK, "read back"))
		if read.GetDisplayName() != value {
			t.Errorf("read back %q as %q", value, read.GetDisplayName())
		}
	}
	for _, email := range []string{"x'@hostile.example", "a@b.example'; --", "<x>@y.example"} {
		r := f.client.do("POST", "/v1/"+f.name+"/invitations", map[string]any{"email": email, "role": "ROLE_MEMBER"})
		if r.status >= 500 {
			t.Errorf("email %q: status %d", email, r.status)
		}
	}
	stale := want(t, f.client.do("PATCH", "/v1/"+f.name+"?update_mask=display_name", map[string]any{"display_name": "late", "etag": `"1"`}),
		http.StatusConflict, "stale etag")
	if stale.reason() != "ETAG_MISMATCH" {
		t.Errorf("stale etag reason %q", stale.reason())
	}
}

// TestGatewayLimitsAndBrowserRules checks the gateway's own rules: body size, rate
// limits with Retry-After, CORS only for the app's origin, HSTS, and the OpenAPI
// document.
func TestGatewayLimitsAndBrowserRules(t *testing.T) {
	t.Parallel()
	sys := start(t, func(c *gateway.Config) {
		// A bucket that refills once in 100 s: however slowly a loaded machine
		// answers the logins below, the 30 it holds run out.
		c.IPRate, c.IPBurst = 0.01, 30
		c.CORSOrigins = []string{"https://app.firmflow.example"}
	})
	anon := sys.browser()

	r := anon.do("POST", "/v1/signup", `{"firm_display_name":"`+strings.Repeat("x", 2<<20)+`"}`)
	if r.status != http.StatusBadRequest || r.reason() != "BODY_TOO_LARGE" {
		t.Errorf("2 MB body: status %d, want 400 BODY_TOO_LARGE", r.status)
	}

	doc := want(t, anon.do("GET", "/openapi.json", nil), http.StatusOK, "openapi")
	// The OpenAPI document is no proto message: its paths are all the test reads.
	if _, ok := decode[struct {
		Paths map[string]json.RawMessage `json:"paths"`
	}](t, doc).Paths["/v1/signup"]; !ok {
		t.Errorf("OpenAPI document lacks /v1/signup")
	}
	if !strings.Contains(doc.header.Get("Strict-Transport-Security"), "max-age=") {
		t.Errorf("no HSTS header: %v", doc.header)
	}

	app := sys.browser()
	app.origin = "https://app.firmflow.example"
	if got := app.do("GET", "/openapi.json", nil).header.Get("Access-Control-Allow-Origin"); got != app.origin {
		t.Errorf("allowed origin got ACAO %q", got)
	}
	evil := sys.browser()
	evil.origin = "https://evil.example"
	if got := evil.do("GET", "/openapi.json", nil).header.Get("Access-Control-Allow-Origin"); got != "" {
		t.Errorf("foreign origin got ACAO %q", got)
	}

	var limited response
	for range 60 {
		limited = anon.do("POST", "/v1/login", map[string]any{"email": "nobody@x.example", "password": "wrong password"})
		if limited.status == http.StatusTooManyRequests {
			break
		}
	}
	if limited.status != http.StatusTooManyRequests {
		t.Fatalf("no 429 after 60 rapid requests; last status %d", limited.status)
	}
	if secs, err := strconv.Atoi(limited.header.Get("Retry-After")); err != nil || secs < 1 {
		t.Errorf("Retry-After = %q", limited.header.Get("Retry-After"))
	}
}

func contains(list []string, s string) bool {
	for _, v := range list {
		if v == s {
			return true
		}
	}
	return false
}
