package httpapi

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"
)

func TestCreateMethodsAnswer201(t *testing.T) {
	cases := []struct {
		name   string
		req    *http.Request
		status int
	}{
		{"sign-up creates", jsonRequest(http.MethodPost, "/v1/signup", `{"firm_display_name":"Ledger & Co"}`), http.StatusCreated},
		{"reading the caller does not", httptest.NewRequest(http.MethodGet, "/v1/caller", nil), http.StatusOK},
		{"login does not", jsonRequest(http.MethodPost, "/v1/login", `{}`), http.StatusOK},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			res := serve(newRESTForTest(t, &fakeIdentity{}), tc.req)
			if res.StatusCode != tc.status {
				t.Errorf("status = %d, want %d", res.StatusCode, tc.status)
			}
			if ct := res.Header.Get("Content-Type"); ct != "application/json" {
				t.Errorf("Content-Type = %q", ct)
			}
		})
	}
}

func TestResponsesUseProtoFieldNamesAndOmitUnsetFields(t *testing.T) {
	res := serve(newRESTForTest(t, &fakeIdentity{}), jsonRequest(http.MethodPost, "/v1/signup",
		`{"firmDisplayName":"Ledger & Co","display_name":"Ada"}`)) // requests may use either name

	var body map[string]map[string]any
	if err := json.NewDecoder(res.Body).Decode(&body); err != nil {
		t.Fatal(err)
	}
	firm := body["firm"]
	if firm["display_name"] != "Ledger & Co" {
		t.Errorf("firm = %v, want display_name set from firmDisplayName", firm)
	}
	if _, ok := firm["displayName"]; ok {
		t.Error("response uses lowerCamelCase names")
	}
	if _, ok := firm["etag"]; ok {
		t.Error("unset etag is present in the response")
	}
	if body["owner"]["role"] != "ROLE_OWNER" {
		t.Errorf("owner = %v, want role ROLE_OWNER", body["owner"])
	}
}

func TestLoginPutsSessionTokenInCookieNotBody(t *testing.T) {
	res := serve(newRESTForTest(t, &fakeIdentity{}), jsonRequest(http.MethodPost, "/v1/login", `{"email":"ada@example.com","password":"correct horse"}`))

	cookies := res.Cookies()
	if len(cookies) != 1 {
		t.Fatalf("cookies = %v, want one", cookies)
	}
	c := cookies[0]
	if c.Name != SessionCookie || c.Value != "session-secret-abc" || c.Path != "/" ||
		!c.HttpOnly || !c.Secure || c.SameSite != http.SameSiteStrictMode {
		t.Errorf("cookie = %+v, want firmflow_session, Path=/, HttpOnly, Secure, SameSite=Strict", c)
	}
	// The fake session expires in 12h; Max-Age counts down to it.
	if c.MaxAge <= 11*3600 || c.MaxAge > 12*3600 {
		t.Errorf("Max-Age = %d, want the seconds until the session expires", c.MaxAge)
	}
	raw := res.Header.Get("Set-Cookie")
	for _, attr := range []string{"HttpOnly", "Secure", "SameSite=Strict", "Max-Age=" + strconv.Itoa(c.MaxAge)} {
		if !strings.Contains(raw, attr) {
			t.Errorf("Set-Cookie %q lacks %s", raw, attr)
		}
	}

	var body map[string]any
	if err := json.NewDecoder(res.Body).Decode(&body); err != nil {
		t.Fatal(err)
	}
	if _, ok := body["session_token"]; ok {
		t.Errorf("body still has session_token: %v", body)
	}
	if body["csrf_token"] != "csrf-123" {
		t.Errorf("body = %v, want csrf_token for the app", body)
	}
}

func TestLogoutExpiresSessionCookie(t *testing.T) {
	req := jsonRequest(http.MethodPost, "/v1/logout", `{}`)
	res := serve(newRESTForTest(t, &fakeIdentity{}), req)

	if res.StatusCode != http.StatusOK {
		t.Fatalf("status = %d", res.StatusCode)
	}
	raw := res.Header.Get("Set-Cookie")
	if !strings.HasPrefix(raw, SessionCookie+"=;") || !strings.Contains(raw, "Max-Age=0") {
		t.Errorf("Set-Cookie = %q, want the session cookie emptied with Max-Age=0", raw)
	}
}

func TestServicesReceiveNoClientChosenMetadata(t *testing.T) {
	identity := &fakeIdentity{}
	req := httptest.NewRequest(http.MethodGet, "/v1/caller", nil)
	req.Header.Set("Cookie", "firmflow_session=stolen; other=1")
	req.Header.Set("Grpc-Metadata-X-Firmflow-Principal", "forged")
	req.Header.Set("X-Firmflow-Principal", "forged")
	req.Header.Set("X-Forwarded-Client-Ip", "203.0.113.99")
	req.Header.Set("User-Agent", "integration/1.0 \u2603")
	req.RemoteAddr = "192.0.2.7:5555"

	serve(Track(discardLogger(), nil)(newRESTForTest(t, identity)), req)

	md := identity.lastMetadata()
	if md == nil {
		t.Fatal("identity was not called")
	}
	for key := range md {
		if strings.Contains(key, "cookie") || strings.Contains(key, "principal") {
			t.Errorf("metadata %s = %v reached the service", key, md[key])
		}
	}
	if got := md.Get(ClientIPMetadataKey); len(got) != 1 || got[0] != "192.0.2.7" {
		t.Errorf("%s = %v, want the connection's address only", ClientIPMetadataKey, got)
	}
	if got := md.Get(UserAgentMetadataKey); len(got) != 1 || got[0] != "integration/1.0 " {
		t.Errorf("%s = %q, want the agent in printable ASCII", UserAgentMetadataKey, got)
	}
}
