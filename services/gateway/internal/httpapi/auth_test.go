package httpapi

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/firmflow/firmflow/pkg/apierr"
	"github.com/firmflow/firmflow/pkg/principal"
	"github.com/firmflow/firmflow/pkg/rpc"
)

// authenticatedAPI is the chain from Track to the REST mux, without limits.
func authenticatedAPI(t *testing.T, auth *fakeAuthenticator, identity *fakeIdentity) http.Handler {
	t.Helper()
	errs := Errors{Logger: discardLogger()}
	return Track(discardLogger(), nil)(Authenticate(auth, errs)(newRESTForTest(t, identity)))
}

func TestAPIKeyIsExchangedForPrincipalToken(t *testing.T) {
	auth := &fakeAuthenticator{token: "signed-principal"}
	identity := &fakeIdentity{}
	req := httptest.NewRequest(http.MethodGet, "/v1/caller", nil)
	req.Header.Set("Authorization", "Bearer ffk_live_secret")
	req.Header.Set("User-Agent", "crm-sync/2.1")
	req.RemoteAddr = "192.0.2.7:40000"

	res := serve(authenticatedAPI(t, auth, identity), req)

	if res.StatusCode != http.StatusOK {
		t.Fatalf("status = %d, want 200", res.StatusCode)
	}
	if len(auth.requests) != 1 {
		t.Fatalf("identity asked %d times, want once", len(auth.requests))
	}
	in := auth.requests[0]
	if in.GetApiKey() != "ffk_live_secret" || in.GetClientIp() != "192.0.2.7" || in.GetUserAgent() != "crm-sync/2.1" || in.GetRequireCsrf() {
		t.Errorf("authenticate request = %v", in)
	}
	requestID := res.Header.Get(RequestIDHeader)
	if got := auth.metadata[0].Get(rpc.RequestIDKey); len(got) != 1 || got[0] != requestID {
		t.Errorf("authenticate metadata request id = %v, want %q", got, requestID)
	}
	md := identity.lastMetadata()
	if got := md.Get(principal.MetadataKey); len(got) != 1 || got[0] != "signed-principal" {
		t.Errorf("service saw principal %v, want the signed token", got)
	}
	if got := md.Get(rpc.RequestIDKey); len(got) != 1 || got[0] != requestID {
		t.Errorf("service saw request id %v, want %q", got, requestID)
	}
	if got := md.Get("authorization"); len(got) != 0 {
		t.Errorf("the API key reached the service: %v", got)
	}
}

func TestStaffTokenCarriesItsSupportGrantToIdentityOnly(t *testing.T) {
	const grant = "firms/0190a1b2-0000-7000-8000-000000000001/supportGrants/0190a1b2-0000-7000-8000-000000000002"
	cases := []struct {
		name      string
		token     string
		wantGrant string
	}{
		{"staff token", "ffst_staff_secret", grant},
		{"API key", "ffk_live_secret", ""}, // the header means nothing without a staff token
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			auth := &fakeAuthenticator{token: "signed-principal"}
			identity := &fakeIdentity{}
			req := jsonRequest(http.MethodPost, "/v1/logout", `{}`)
			req.Header.Set("Authorization", "Bearer "+tc.token)
			req.Header.Set(SupportGrantHeader, grant)

			res := serve(authenticatedAPI(t, auth, identity), req)

			if res.StatusCode != http.StatusOK {
				t.Fatalf("status = %d", res.StatusCode)
			}
			in := auth.requests[0]
			if in.GetApiKey() != tc.token || in.GetSupportGrant() != tc.wantGrant || in.GetRequireCsrf() {
				t.Errorf("authenticate request = %v", in)
			}
			md := identity.lastMetadata()
			for key := range md {
				if strings.Contains(key, "support") || strings.Contains(key, "authorization") {
					t.Errorf("the service saw %s: %v", key, md.Get(key))
				}
			}
		})
	}
}

func TestCookieWritesRequireCSRFToken(t *testing.T) {
	cases := []struct {
		name        string
		method      string
		path        string
		credential  func(*http.Request)
		requireCSRF bool
	}{
		{"cookie read", http.MethodGet, "/v1/caller", withSession, false},
		{"cookie write", http.MethodPost, "/v1/logout", withSession, true},
		{"API key write", http.MethodPost, "/v1/logout", withAPIKey, false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			auth := &fakeAuthenticator{token: "signed-principal"}
			req := jsonRequest(tc.method, tc.path, "")
			if tc.method == http.MethodPost {
				req = jsonRequest(tc.method, tc.path, `{}`)
			}
			req.Header.Set(CSRFHeader, "csrf-123")
			tc.credential(req)

			res := serve(authenticatedAPI(t, auth, &fakeIdentity{}), req)

			if res.StatusCode != http.StatusOK {
				t.Fatalf("status = %d", res.StatusCode)
			}
			in := auth.requests[0]
			if in.GetRequireCsrf() != tc.requireCSRF {
				t.Errorf("require_csrf = %v, want %v", in.GetRequireCsrf(), tc.requireCSRF)
			}
			if tc.requireCSRF && in.GetCsrfToken() != "csrf-123" {
				t.Errorf("csrf_token = %q, want the header's value", in.GetCsrfToken())
			}
		})
	}
}

func withSession(r *http.Request) {
	r.AddCookie(&http.Cookie{Name: SessionCookie, Value: "session-secret"})
}
func withAPIKey(r *http.Request) { r.Header.Set("Authorization", "Bearer ffk_live_secret") }

func TestRefusedCredentialEndsTheRequest(t *testing.T) {
	cases := []struct {
		name          string
		err           error
		status        int
		reason        string
		clearsSession bool
	}{
		{"session over", apierr.Unauthenticated("SESSION_EXPIRED", "sign in again"), http.StatusUnauthorized, "SESSION_EXPIRED", true},
		{"CSRF token missing", apierr.PermissionDenied("CSRF_TOKEN_MISSING", "send X-CSRF-Token"), http.StatusForbidden, "CSRF_TOKEN_MISSING", false},
		{"identity unreachable", status.Error(codes.Unavailable, "dial tcp 10.1.2.3:9101: connection refused"), http.StatusServiceUnavailable, "UNAVAILABLE", false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			identity := &fakeIdentity{}
			req := jsonRequest(http.MethodPost, "/v1/logout", `{}`)
			withSession(req)

			res := serve(authenticatedAPI(t, &fakeAuthenticator{err: tc.err}, identity), req)

			if res.StatusCode != tc.status {
				t.Fatalf("status = %d, want %d", res.StatusCode, tc.status)
			}
			e := decodeError(t, res)
			if e.reason() != tc.reason || strings.Contains(e.Error.Message, "10.1.2.3") {
				t.Errorf("error = %+v reason %q, want reason %s and no addresses", e.Error, e.reason(), tc.reason)
			}
			if identity.lastMetadata() != nil {
				t.Error("the route ran although the credential was refused")
			}
			cleared := strings.Contains(res.Header.Get("Set-Cookie"), SessionCookie+"=;")
			if cleared != tc.clearsSession {
				t.Errorf("session cookie cleared = %v, want %v", cleared, tc.clearsSession)
			}
		})
	}
}

func TestMalformedAuthorizationIsRefusedWithoutAskingIdentity(t *testing.T) {
	for _, header := range []string{"Basic YWRhOnB3", "Bearer", "Bearer ", "ffk_live_secret", "Bearer \xff\xfe"} {
		t.Run(header, func(t *testing.T) {
			auth := &fakeAuthenticator{token: "signed-principal"}
			req := httptest.NewRequest(http.MethodGet, "/v1/caller", nil)
			req.Header.Set("Authorization", header)

			res := serve(authenticatedAPI(t, auth, &fakeIdentity{}), req)

			if res.StatusCode != http.StatusUnauthorized || decodeError(t, res).reason() != "MALFORMED_CREDENTIAL" {
				t.Errorf("status = %d, want 401 MALFORMED_CREDENTIAL", res.StatusCode)
			}
			if len(auth.requests) != 0 {
				t.Error("identity was asked about a malformed credential")
			}
			if res.Header.Get("WWW-Authenticate") == "" {
				t.Error("401 without WWW-Authenticate")
			}
		})
	}
}

func TestRequestWithoutCredentialGoesOnWithoutPrincipal(t *testing.T) {
	auth := &fakeAuthenticator{token: "signed-principal"}
	identity := &fakeIdentity{}

	res := serve(authenticatedAPI(t, auth, identity), jsonRequest(http.MethodPost, "/v1/signup", `{"email":"ada@example.com"}`))

	if res.StatusCode != http.StatusCreated {
		t.Fatalf("status = %d, want 201", res.StatusCode)
	}
	if len(auth.requests) != 0 {
		t.Error("identity was asked to authenticate nothing")
	}
	if got := identity.lastMetadata().Get(principal.MetadataKey); len(got) != 0 {
		t.Errorf("service saw principal %v without a credential", got)
	}
}
