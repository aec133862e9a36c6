package rpc

import (
	"testing"

	"google.golang.org/grpc/codes"

	"github.com/firmflow/firmflow/pkg/apierr"
	"github.com/firmflow/firmflow/pkg/principal"
)

func TestFirmScheduledForDeletionIsReadOnly(t *testing.T) {
	ps := Policies{
		"/t.Clients/GetClient":     {Roles: Everyone, Scope: "clients:read"},
		"/t.Clients/ExportClients": {Roles: Managers},
		"/t.Clients/UpdateClient":  {Roles: Everyone, Scope: "clients:write"},
		"/t.Identity/Logout":       {Roles: Everyone, DuringEnrollment: true},
		"/firmflow.lifecycle.v1.LifecycleService/CancelFirmDeletion": {Roles: []principal.Role{principal.RoleOwner}},
	}
	owner := principal.Principal{Kind: principal.KindUser, FirmID: "f", UserID: "u", Role: principal.RoleOwner, DeletionScheduled: true}
	key := principal.Principal{Kind: principal.KindAPIKey, FirmID: "f", APIKeyID: "k", Scopes: []string{"clients:write"}, DeletionScheduled: true}
	for _, method := range []string{"/t.Clients/GetClient", "/t.Clients/ExportClients", "/t.Identity/Logout", "/firmflow.lifecycle.v1.LifecycleService/CancelFirmDeletion"} {
		if err := ps.authorize(method, owner, true, ""); err != nil {
			t.Errorf("%s refused during the grace period: %v", method, err)
		}
	}
	for _, p := range []principal.Principal{owner, key} {
		err := ps.authorize("/t.Clients/UpdateClient", p, true, "")
		if !apierr.HasCode(err, codes.FailedPrecondition) || err.(*apierr.Error).Reason != "FIRM_DELETION_SCHEDULED" {
			t.Errorf("%s: write during the grace period: %v", p.Kind, err)
		}
		p.DeletionScheduled = false
		if err := ps.authorize("/t.Clients/UpdateClient", p, true, ""); err != nil {
			t.Errorf("%s: write after cancellation: %v", p.Kind, err)
		}
	}
}
