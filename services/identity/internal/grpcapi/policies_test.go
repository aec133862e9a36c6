package grpcapi

import (
	"strings"
	"testing"

	"google.golang.org/grpc"

	"github.com/firmflow/firmflow/pkg/rpc/rpctest"
	"github.com/firmflow/firmflow/services/identity/internal/app"
)

func TestEveryMethodHasAPolicy(t *testing.T) {
	rpctest.EveryMethodHasAPolicy(t, Policies, func(srv *grpc.Server) { Register(srv, &app.App{}) }, 5)
}

// TestSupportGrantsCannotOpenTheFirmFurther checks the table for what staff on a
// grant must never reach: deciding grants, minting credentials, changing members or
// security settings, or a member's own sessions; and that only operators manage staff.
func TestSupportGrantsCannotOpenTheFirmFurther(t *testing.T) {
	for method, p := range Policies {
		service := method[:strings.LastIndex(method, "/")]
		switch {
		case service == "/firmflow.identity.v1.SupportService" && !p.NoSupport:
			t.Errorf("%s is open to staff on a grant", method)
		case service == "/firmflow.identity.v1.StaffAdminService" && (len(p.Peers) != 1 || p.Peers[0] != "operator" || p.Public || p.Staff || len(p.Roles) > 0):
			t.Errorf("%s is open to more than operators: %+v", method, p)
		case service != "/firmflow.identity.v1.StaffService" && p.Staff:
			t.Errorf("%s lets staff in without a grant", method)
		}
	}
	for _, name := range []string{
		"CreateApiKey", "RotateApiKey", "RevokeApiKey", "CreateInvitation", "UpdateMember", "RemoveMember", "UpdateFirm",
		"Logout", "ListSessions", "RevokeSession", "BeginTotpEnrollment", "ConfirmTotpEnrollment",
	} {
		if !Policies["/firmflow.identity.v1.IdentityService/"+name].NoSupport {
			t.Errorf("%s is open to staff on a write grant", name)
		}
	}
}
