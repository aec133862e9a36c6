package grpcapi

import (
	"strings"
	"testing"

	"google.golang.org/grpc"

	"github.com/firmflow/firmflow/pkg/rpc"
	"github.com/firmflow/firmflow/pkg/rpc/rpctest"
	"github.com/firmflow/firmflow/services/identity/internal/app"
)

func TestEveryMethodHasAPolicy(t *testing.T) {
	rpctest.EveryMethodHasAPolicy(t, func(srv *grpc.Server) { Register(srv, &app.App{}) }, 5)
}

// identityPolicies are the policies declared on identity's methods.
func identityPolicies() rpc.Policies {
	ps := rpc.Policies{}
	for method, p := range rpc.DeclaredPolicies() {
		if strings.HasPrefix(method, "/firmflow.identity.v1.") {
			ps[method] = p
		}
	}
	return ps
}

// TestSupportGrantsCannotOpenTheFirmFurther checks the declared policies for what
// staff on a grant must never reach: deciding grants, minting credentials, changing
// members or security settings, or a member's own sessions; and that only operators
// manage staff.
func TestSupportGrantsCannotOpenTheFirmFurther(t *testing.T) {
	policies := identityPolicies()
	if len(policies) < 35 {
		t.Fatalf("%d identity methods declare a policy, want all 35", len(policies))
	}
	for method, p := range policies {
		service := method[:strings.LastIndex(method, "/")]
		switch {
		case service == "/firmflow.identity.v1.SupportService" && !p.NoSupport:
			t.Errorf("%s is open to staff on a grant", method)
		case service == "/firmflow.identity.v1.StaffAdminService" && (len(p.Peers) != 1 || p.Peers[0] != "operator" || p.Public || p.AnyPeer || p.Staff || len(p.Roles) > 0):
			t.Errorf("%s is open to more than operators: %+v", method, p)
		case service != "/firmflow.identity.v1.StaffService" && p.Staff:
			t.Errorf("%s lets staff in without a grant", method)
		}
	}
	for _, name := range []string{
		"CreateApiKey", "RotateApiKey", "RevokeApiKey", "CreateInvitation", "UpdateMember", "RemoveMember", "UpdateFirm",
		"Logout", "ListSessions", "RevokeSession", "BeginTotpEnrollment", "ConfirmTotpEnrollment",
	} {
		if !policies["/firmflow.identity.v1.IdentityService/"+name].NoSupport {
			t.Errorf("%s is open to staff on a write grant", name)
		}
	}
}
