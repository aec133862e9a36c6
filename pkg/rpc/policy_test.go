package rpc

import (
	"testing"

	"google.golang.org/grpc/codes"

	"github.com/firmflow/firmflow/pkg/apierr"
	"github.com/firmflow/firmflow/pkg/principal"
)

// staffPolicies is a service's table as the staff rules see it: a staff method,
// methods for everyone, for managers, for owners only, one kept from support, and
// one only a peer may call.
var staffPolicies = Policies{
	"/t.Staff/RequestSupportAccess": {Staff: true},
	"/t.Clients/GetClient":          {Roles: Everyone, Scope: "clients:read"},
	"/t.Clients/ListClients":        {Roles: Everyone, Scope: "clients:read"},
	"/t.Clients/UpdateClient":       {Roles: Everyone, Scope: "clients:write"},
	"/t.Clients/ExportClients":      {Roles: Managers},
	"/t.Firms/UpdateFirm":           {Roles: Managers},
	"/t.Firms/DeleteFirm":           {Roles: []principal.Role{principal.RoleOwner}},
	"/t.Keys/CreateApiKey":          {Roles: Managers, NoSupport: true},
	"/t.Keys/ListApiKeys":           {Roles: Managers, NoSupport: true},
	"/t.Auth/Authenticate":          {Peers: []string{"gateway"}},
}

func TestStaffReachFirmsOnlyThroughAGrantAndItsScope(t *testing.T) {
	noGrant := principal.Principal{Kind: principal.KindStaff, StaffID: "s1"}
	read := principal.Principal{Kind: principal.KindStaff, StaffID: "s1", FirmID: "f1", GrantID: "g1", GrantScope: principal.GrantRead}
	write := read
	write.GrantScope = principal.GrantWrite

	const allowed = codes.OK
	cases := []struct {
		name   string
		p      principal.Principal
		method string
		want   codes.Code
		reason string
	}{
		{"staff method without a grant", noGrant, "/t.Staff/RequestSupportAccess", allowed, ""},
		{"staff method on a grant", read, "/t.Staff/RequestSupportAccess", allowed, ""},
		{"read without a grant", noGrant, "/t.Clients/GetClient", codes.NotFound, "NOT_FOUND"},
		{"write without a grant", noGrant, "/t.Clients/UpdateClient", codes.NotFound, "NOT_FOUND"},
		{"support-proof method without a grant", noGrant, "/t.Keys/CreateApiKey", codes.NotFound, "NOT_FOUND"},
		{"get on a read grant", read, "/t.Clients/GetClient", allowed, ""},
		{"list on a read grant", read, "/t.Clients/ListClients", allowed, ""},
		{"update on a read grant", read, "/t.Clients/UpdateClient", codes.PermissionDenied, "SUPPORT_GRANT_READ_ONLY"},
		{"export on a read grant", read, "/t.Clients/ExportClients", codes.PermissionDenied, "SUPPORT_GRANT_READ_ONLY"},
		{"update on a write grant", write, "/t.Clients/UpdateClient", allowed, ""},
		{"manager method on a write grant", write, "/t.Firms/UpdateFirm", allowed, ""},
		{"owner-only method on a write grant", write, "/t.Firms/DeleteFirm", codes.PermissionDenied, "SUPPORT_NOT_ALLOWED"},
		{"credential method on a write grant", write, "/t.Keys/CreateApiKey", codes.PermissionDenied, "SUPPORT_NOT_ALLOWED"},
		{"support-proof read on a read grant", read, "/t.Keys/ListApiKeys", codes.PermissionDenied, "SUPPORT_NOT_ALLOWED"},
		{"peer method on a write grant", write, "/t.Auth/Authenticate", codes.PermissionDenied, "SUPPORT_NOT_ALLOWED"},
		{"unknown method on a write grant", write, "/t.Clients/PurgeClients", codes.PermissionDenied, "NO_POLICY"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			err := staffPolicies.authorize(c.method, c.p, true, "")
			if c.want == allowed {
				if err != nil {
					t.Fatalf("refused: %v", err)
				}
				return
			}
			if !apierr.HasCode(err, c.want) || err.(*apierr.Error).Reason != c.reason {
				t.Fatalf("err = %v, want %s %s", err, c.want, c.reason)
			}
		})
	}
}

func TestOthersCannotCallStaffMethods(t *testing.T) {
	callers := map[string]principal.Principal{
		"owner":   {Kind: principal.KindUser, FirmID: "f1", UserID: "u1", Role: principal.RoleOwner},
		"API key": {Kind: principal.KindAPIKey, FirmID: "f1", APIKeyID: "k1", Scopes: []string{"identity:write"}},
	}
	for who, p := range callers {
		if err := staffPolicies.authorize("/t.Staff/RequestSupportAccess", p, true, ""); !apierr.HasCode(err, codes.PermissionDenied) {
			t.Errorf("%s called a staff method: %v", who, err)
		}
	}
	if err := staffPolicies.authorize("/t.Staff/RequestSupportAccess", principal.Principal{}, false, ""); !apierr.HasCode(err, codes.Unauthenticated) {
		t.Errorf("anonymous caller: %v", err)
	}
}

func TestReadOnlyGoesByTheAIPVerb(t *testing.T) {
	cases := map[string]bool{
		"/firmflow.workflow.v1.ClientService/GetClient":       true,
		"/firmflow.workflow.v1.ClientService/ListClients":     true,
		"/firmflow.audit.v1.AuditService/VerifyChain":         true,
		"/firmflow.identity.v1.IdentityService/LookupThing":   true,
		"/firmflow.workflow.v1.ClientService/SearchClients":   true,
		"/firmflow.workflow.v1.ClientService/UpdateClient":    false,
		"/firmflow.workflow.v1.ClientService/ExportClients":   false,
		"/firmflow.workflow.v1.ClientService/Listen":          false,
		"/firmflow.workflow.v1.ClientService/Getaway":         false,
		"/firmflow.workflow.v1.ClientService/Get":             false,
		"/firmflow.identity.v1.SupportService/RevokeListings": false,
	}
	for method, want := range cases {
		if got := ReadOnly(method); got != want {
			t.Errorf("ReadOnly(%s) = %v, want %v", method, got, want)
		}
	}
}

func TestPeerMethodsAdmitOnlyTheirPeers(t *testing.T) {
	if err := staffPolicies.authorize("/t.Auth/Authenticate", principal.Principal{}, false, "gateway"); err != nil {
		t.Errorf("gateway refused: %v", err)
	}
	err := staffPolicies.authorize("/t.Auth/Authenticate", principal.Principal{}, false, "billing")
	if !apierr.HasCode(err, codes.PermissionDenied) || err.(*apierr.Error).Reason != "PEER_NOT_ALLOWED" {
		t.Errorf("another service: %v, want PERMISSION_DENIED PEER_NOT_ALLOWED", err)
	}
}
