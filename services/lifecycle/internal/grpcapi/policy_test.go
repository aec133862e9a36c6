package grpcapi

import (
	"slices"
	"testing"

	"google.golang.org/grpc"

	lifecyclev1 "github.com/firmflow/firmflow/pkg/gen/firmflow/lifecycle/v1"
	"github.com/firmflow/firmflow/pkg/principal"
	"github.com/firmflow/firmflow/pkg/rpc"
)

// TestEveryMethodDeclaresOwnersOnly reads the policies from the proto as the server
// does: every method has one, and each is for owners signed in themselves (no API
// key scope, no support grant), except the certificate, which its token guards.
func TestEveryMethodDeclaresOwnersOnly(t *testing.T) {
	srv := grpc.NewServer()
	Register(srv, nil)
	RegisterRetentionAdmin(srv, nil)
	ps := rpc.DeclaredPolicies()
	if missing := rpc.MissingPolicies(srv, ps); len(missing) > 0 {
		t.Fatalf("methods without a policy: %v", missing)
	}
	for name, info := range srv.GetServiceInfo() {
		for _, m := range info.Methods {
			full := "/" + name + "/" + m.Name
			p := ps[full]
			if full == lifecyclev1.RetentionAdminService_ListRetentionRuns_FullMethodName {
				if !slices.Equal(p.Peers, []string{"operator"}) || len(p.Roles) > 0 || p.Public {
					t.Errorf("%s: %+v, want the operator certificate only", full, p)
				}
				continue
			}
			if full == lifecyclev1.LifecycleService_GetDeletionCertificate_FullMethodName {
				if !p.Public {
					t.Errorf("%s must be public: the account is gone when it is fetched", full)
				}
				continue
			}
			if !slices.Equal(p.Roles, []principal.Role{principal.RoleOwner}) || p.Scope != "" || !p.NoSupport || p.Public || len(p.Peers) > 0 {
				t.Errorf("%s: %+v, want owners only", full, p)
			}
		}
	}
	for _, create := range []string{lifecyclev1.LifecycleService_RequestFirmDeletion_FullMethodName, lifecyclev1.LifecycleService_CreateExport_FullMethodName} {
		if !ps[create].Created {
			t.Errorf("%s is not marked created", create)
		}
	}
}

// Incidents: operators alone declare and change them; a firm's owners and admins read
// theirs and only owners acknowledge; no API key or support grant reaches either.
func TestIncidentMethodsAreOperatorsOrFirmManagers(t *testing.T) {
	srv := grpc.NewServer()
	RegisterIncidents(srv, nil)
	ps := rpc.DeclaredPolicies()
	if missing := rpc.MissingPolicies(srv, ps); len(missing) > 0 {
		t.Fatalf("methods without a policy: %v", missing)
	}
	for _, m := range lifecyclev1.IncidentAdminService_ServiceDesc.Methods {
		p := ps["/"+lifecyclev1.IncidentAdminService_ServiceDesc.ServiceName+"/"+m.MethodName]
		if !slices.Equal(p.Peers, []string{"operator"}) || len(p.Roles) > 0 || p.Public || p.AnyPeer || p.Scope != "" {
			t.Errorf("%s: %+v, want the operator certificate only", m.MethodName, p)
		}
	}
	list, ack := ps[lifecyclev1.FirmIncidentService_ListFirmIncidents_FullMethodName], ps[lifecyclev1.FirmIncidentService_AcknowledgeFirmIncident_FullMethodName]
	if !slices.Equal(list.Roles, []principal.Role{principal.RoleOwner, principal.RoleAdmin}) || !list.NoSupport || list.Scope != "" || len(list.Peers) > 0 {
		t.Errorf("ListFirmIncidents: %+v, want owners and admins", list)
	}
	if !slices.Equal(ack.Roles, []principal.Role{principal.RoleOwner}) || !ack.NoSupport || ack.Scope != "" || len(ack.Peers) > 0 {
		t.Errorf("AcknowledgeFirmIncident: %+v, want owners", ack)
	}
}
