package e2e

import (
	"context"
	"net/http"
	"testing"
	"time"

	"github.com/pquerna/otp/totp"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	identityv1 "github.com/firmflow/firmflow/pkg/gen/firmflow/identity/v1"
)

// staffAdmin is identity's StaffAdminService as a holder of the named development
// certificate reaches it: what `firmflow staff` does with "operator".
func (s *system) staffAdmin(t *testing.T, certificate string) identityv1.StaffAdminServiceClient {
	t.Helper()
	return identityv1.NewStaffAdminServiceClient(s.dialAs(t, certificate, s.stack.IdentityAddr))
}

// headerTransport adds one header to every request, as a support tool sends
// X-Support-Grant.
type headerTransport struct {
	next       http.RoundTripper
	key, value string
}

func (h headerTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	r = r.Clone(r.Context())
	r.Header.Set(h.key, h.value)
	return h.next.RoundTrip(r)
}

// staffClient calls the API with a staff session token, acting under grant ("" for none).
func (s *system) staffClient(token, grant string) *client {
	c := s.integration(token)
	if grant != "" {
		c.http.Transport = headerTransport{next: c.http.Transport, key: "X-Support-Grant", value: grant}
	}
	return c
}

// wantCreated accepts a create's success, 200 or 201.
func wantCreated(t *testing.T, r response, what string) response {
	t.Helper()
	if r.status != http.StatusOK && r.status != http.StatusCreated {
		t.Fatalf("%s: status %d; body %s", what, r.status, truncate(string(r.raw), 600))
	}
	return r
}

func noticeKinds(t *testing.T, f firm) map[string]string {
	t.Helper()
	r := want(t, f.client.do("GET", "/v1/"+f.name+"/notifications", nil), http.StatusOK, "notifications")
	out := map[string]string{}
	for _, n := range message[*identityv1.ListNotificationsResponse](t, r).GetNotifications() {
		out[n.GetKind().String()] = n.GetSupportGrant()
	}
	return out
}

// TestSupportAccessNeedsTheFirmsPermissionAndEndsWithIt walks support access end to
// end: an operator creates a staff account, the staff member signs in with TOTP and
// finds every firm route closed (404), asks for access, the owner is notified and
// approves read-only; the staff member reads but cannot write, and the access log
// names the grant; revocation closes the firm on the next request; offboarding ends
// the session and every grant at once.
func TestSupportAccessNeedsTheFirmsPermissionAndEndsWithIt(t *testing.T) {
	t.Parallel()
	sys := start(t, nil)
	alpha, beta := sys.signUp(t, "supported"), sys.signUp(t, "bystander")
	// Each staff-admin call gets its own deadline: one for the whole test would count
	// every REST call before it, which a loaded machine makes slow.
	call := func() context.Context {
		ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
		t.Cleanup(cancel)
		return ctx
	}

	created, err := sys.staffAdmin(t, "operator").CreateStaff(call(), &identityv1.CreateStaffRequest{
		Email: "ada@support.firmflow.example", DisplayName: "Ada Support", Password: password,
	})
	if err != nil {
		t.Fatalf("operator creates staff: %v", err)
	}
	staffName := created.GetStaff().GetName()
	if _, err := sys.staffAdmin(t, "gateway").CreateStaff(call(), &identityv1.CreateStaffRequest{
		Email: "mallory@support.firmflow.example", DisplayName: "Mallory", Password: password,
	}); status.Code(err) != codes.Unauthenticated && status.Code(err) != codes.PermissionDenied {
		t.Errorf("the gateway's certificate created staff: %v", err)
	}

	anon := sys.browser()
	want(t, anon.do("POST", "/v1/staff/login", map[string]any{"email": "ada@support.firmflow.example", "password": password}),
		http.StatusBadRequest, "staff login without a code")
	code, _ := totp.GenerateCode(created.GetTotpSecret(), time.Now())
	login := want(t, anon.do("POST", "/v1/staff/login", map[string]any{
		"email": "ada@support.firmflow.example", "password": password, "totp_code": code,
	}), http.StatusOK, "staff login")
	token := message[*identityv1.StaffLoginResponse](t, login).GetSessionToken()
	if token == "" || login.header.Get("Set-Cookie") != "" {
		t.Fatalf("staff login gave token %q, cookie %q", token, login.header.Get("Set-Cookie"))
	}

	t.Run("without a grant every firm route is 404", func(t *testing.T) {
		before := snapshot(t, alpha)
		routes := []struct {
			method, path string
			body         any
		}{
			{"GET", "/v1/" + alpha.name, nil},
			{"PATCH", "/v1/" + alpha.name + "?update_mask=display_name", map[string]any{"display_name": "owned"}},
			{"GET", "/v1/" + alpha.name + "/members", nil},
			{"GET", "/v1/" + alpha.owner, nil},
			{"PATCH", "/v1/" + alpha.owner + "?update_mask=role", map[string]any{"role": "ROLE_MEMBER"}},
			{"DELETE", "/v1/" + alpha.owner, nil},
			{"GET", "/v1/" + alpha.name + "/invitations", nil},
			{"POST", "/v1/" + alpha.name + "/invitations", map[string]any{"email": "mole@support.firmflow.example", "role": "ROLE_OWNER"}},
			{"GET", "/v1/" + alpha.name + "/apiKeys", nil},
			{"POST", "/v1/" + alpha.name + "/apiKeys", map[string]any{"display_name": "backdoor", "scopes": []string{"identity:write"}}},
			{"GET", "/v1/" + alpha.name + "/permissions", nil},
			{"PATCH", "/v1/" + alpha.name + "/permissions", map[string]any{"rules": []map[string]any{
				{"role": "member", "category": "clients", "action": "export", "scope": "all"},
			}}},
			{"GET", "/v1/" + alpha.name + "/supportGrants", nil},
			{"GET", "/v1/" + alpha.name + "/notifications", nil},
			{"GET", "/v1/caller", nil},
			{"GET", "/v1/sessions", nil},
		}
		forged := "firms/" + alpha.name[len("firms/"):] + "/supportGrants/00000000-0000-7000-8000-000000000000"
		for _, grant := range []string{"", forged} {
			staff := sys.staffClient(token, grant)
			for _, r := range routes {
				if resp := staff.do(r.method, r.path, r.body); resp.status != http.StatusNotFound {
					t.Errorf("grant %q: %s %s = %d, want 404: %s", grant, r.method, r.path, resp.status, truncate(string(resp.raw), 200))
				}
			}
		}
		if after := snapshot(t, alpha); len(after) != len(before) || after["/v1/"+alpha.name] != before["/v1/"+alpha.name] {
			t.Error("the firm changed under a staff member without a grant")
		}
	})

	staff := sys.staffClient(token, "")
	grant := message[*identityv1.SupportGrant](t, wantCreated(t, staff.do("POST", "/v1/"+alpha.name+"/supportGrants", map[string]any{
		"reason": "invoices do not show for the customer", "ticket": "SUP-1234",
	}), "request access")).GetName()
	if kinds := noticeKinds(t, alpha); kinds["NOTIFICATION_KIND_SUPPORT_REQUESTED"] != grant {
		t.Fatalf("owner's notifications after the request: %v", kinds)
	}
	if len(noticeKinds(t, beta)) != 0 {
		t.Error("another firm was told about the request")
	}
	want(t, beta.client.do("POST", "/v1/"+grant+":approve", map[string]any{}), http.StatusNotFound, "another firm approves")
	approved := want(t, alpha.client.do("POST", "/v1/"+grant+":approve", map[string]any{}), http.StatusOK, "owner approves")
	if g := message[*identityv1.SupportGrant](t, approved); g.GetState() != identityv1.SupportGrantState_SUPPORT_GRANT_STATE_APPROVED || g.GetScope() != identityv1.SupportScope_SUPPORT_SCOPE_READ {
		t.Fatalf("approved grant = %s", approved.raw)
	}

	inside := sys.staffClient(token, grant)
	var readID string
	t.Run("a read-only grant reads and does not write", func(t *testing.T) {
		read := want(t, inside.do("GET", "/v1/"+alpha.name, nil), http.StatusOK, "staff reads the firm")
		readID = read.header.Get("X-Request-Id")
		want(t, inside.do("GET", "/v1/"+alpha.name+"/members", nil), http.StatusOK, "staff lists members")
		want(t, inside.do("GET", "/v1/"+alpha.name+"/permissions", nil), http.StatusOK, "staff reads workflow permissions")
		writes := []struct {
			method, path string
			body         any
		}{
			{"PATCH", "/v1/" + alpha.name + "/permissions", map[string]any{"rules": []map[string]any{
				{"role": "member", "category": "clients", "action": "export", "scope": "all"},
			}}},
			{"PATCH", "/v1/" + alpha.name + "?update_mask=display_name", map[string]any{"display_name": "owned"}},
			{"POST", "/v1/" + alpha.name + "/apiKeys", map[string]any{"display_name": "backdoor", "scopes": []string{"identity:write"}}},
			{"POST", "/v1/" + grant + ":approve", map[string]any{"scope": "SUPPORT_SCOPE_WRITE"}},
		}
		for _, w := range writes {
			if r := inside.do(w.method, w.path, w.body); r.status != http.StatusForbidden {
				t.Errorf("%s %s on a read-only grant = %d, want 403: %s", w.method, w.path, r.status, truncate(string(r.raw), 200))
			}
		}
		for _, path := range []string{"/v1/" + beta.name, "/v1/" + beta.name + "/members", "/v1/" + beta.name + "/permissions"} {
			if r := inside.do("GET", path, nil); r.status != http.StatusNotFound {
				t.Errorf("firm A's grant reached %s: %d", path, r.status)
			}
		}
	})

	events := sys.accessEvents(t)
	if e := events[readID]; e == nil || e.GetSupportGrant() != grant || e.GetFirm() != alpha.name ||
		e.GetActor() != staffName || e.GetActorKind() != "staff" {
		t.Errorf("access event of the staff read = %v, want grant %s, firm %s, actor %s", e, grant, alpha.name, staffName)
	}
	if kinds := noticeKinds(t, alpha); kinds["NOTIFICATION_KIND_SUPPORT_APPROVED"] != grant || kinds["NOTIFICATION_KIND_SUPPORT_FIRST_USED"] != grant {
		t.Errorf("owner's notifications after first use: %v", kinds)
	}

	want(t, alpha.client.do("POST", "/v1/"+grant+":revoke", map[string]any{}), http.StatusOK, "owner revokes")
	want(t, inside.do("GET", "/v1/"+alpha.name, nil), http.StatusNotFound, "staff read after revocation")
	if kinds := noticeKinds(t, alpha); kinds["NOTIFICATION_KIND_SUPPORT_REVOKED"] != grant {
		t.Errorf("owner's notifications after revocation: %v", kinds)
	}

	second := message[*identityv1.SupportGrant](t, wantCreated(t, staff.do("POST", "/v1/"+alpha.name+"/supportGrants", map[string]any{
		"reason": "follow-up on the invoice fix", "ticket": "SUP-1235",
	}), "request again")).GetName()
	want(t, alpha.client.do("POST", "/v1/"+second+":approve", map[string]any{"scope": "SUPPORT_SCOPE_WRITE", "ttl": "3600s"}),
		http.StatusOK, "owner approves write access")
	again := sys.staffClient(token, second)
	want(t, again.do("GET", "/v1/"+alpha.name, nil), http.StatusOK, "staff reads on the second grant")
	mine := want(t, staff.do("GET", "/v1/staff/supportGrants", nil), http.StatusOK, "staff lists their grants")
	if got := message[*identityv1.ListMySupportGrantsResponse](t, mine).GetSupportGrants(); len(got) != 2 || got[0].GetName() != second ||
		got[0].GetState() != identityv1.SupportGrantState_SUPPORT_GRANT_STATE_APPROVED {
		t.Errorf("staff's own grants = %s", mine.raw)
	}

	left, err := sys.staffAdmin(t, "operator").OffboardStaff(call(), &identityv1.OffboardStaffRequest{
		Staff: &identityv1.OffboardStaffRequest_Email{Email: "ada@support.firmflow.example"},
	})
	if err != nil || left.GetRevokedGrants() != 1 || left.GetStaff().GetOffboardTime() == nil {
		t.Fatalf("offboarding: %v, %v", left, err)
	}
	want(t, again.do("GET", "/v1/"+alpha.name, nil), http.StatusUnauthorized, "offboarded staff's next request")
	code, _ = totp.GenerateCode(created.GetTotpSecret(), time.Now().Add(30*time.Second))
	want(t, anon.do("POST", "/v1/staff/login", map[string]any{
		"email": "ada@support.firmflow.example", "password": password, "totp_code": code,
	}), http.StatusUnauthorized, "offboarded staff signs in")
	ended := want(t, alpha.client.do("GET", "/v1/"+second, nil), http.StatusOK, "owner reads the grant")
	if g := message[*identityv1.SupportGrant](t, ended); g.GetState() != identityv1.SupportGrantState_SUPPORT_GRANT_STATE_REVOKED || g.GetRevokedBy() != "operator" {
		t.Errorf("grant after offboarding = %s", ended.raw)
	}
}
