package grpcapi

import (
	"strings"
	"testing"

	"google.golang.org/grpc"

	auditv1 "github.com/firmflow/firmflow/pkg/gen/firmflow/audit/v1"
	"github.com/firmflow/firmflow/pkg/principal"
	"github.com/firmflow/firmflow/pkg/rpc"
	"github.com/firmflow/firmflow/pkg/rpc/rpctest"
	"github.com/firmflow/firmflow/services/audit/internal/app"
)

func TestEveryMethodHasAPolicy(t *testing.T) {
	rpctest.EveryMethodHasAPolicy(t, func(srv *grpc.Server) { Register(srv, &app.App{}) }, 1)
}

// auditPolicies are the policies declared on audit's methods.
func auditPolicies() rpc.Policies {
	ps := rpc.Policies{}
	for method, p := range rpc.DeclaredPolicies() {
		if strings.HasPrefix(method, "/firmflow.audit.v1.") && !strings.HasPrefix(method, "/firmflow.audit.v1.IncidentEvidenceService/") {
			ps[method] = p
		}
	}
	return ps
}

// The log is for those who run the firm: members and support staff never read it,
// and an API key reads it only with audit:read and changes nothing.
func TestOnlyManagersAndAuditReadersReachTheLog(t *testing.T) {
	policies := auditPolicies()
	if len(policies) < 6 {
		t.Fatalf("%d audit methods declare a policy, want all 6", len(policies))
	}
	for method, p := range policies {
		if p.Public || p.AnyPeer || len(p.Peers) > 0 || p.Staff || !p.NoSupport {
			t.Errorf("%s is open beyond the firm's owners, admins and audit readers: %+v", method, p)
		}
		for _, role := range p.Roles {
			if role == principal.RoleMember {
				t.Errorf("%s admits members", method)
			}
		}
		if p.Scope != "" && p.Scope != "audit:read" {
			t.Errorf("%s admits API keys with %s", method, p.Scope)
		}
	}
	for _, write := range []string{
		auditv1.AuditService_CreateAuditCheckpoint_FullMethodName, auditv1.AuditService_UpdateAuditSettings_FullMethodName,
	} {
		if policies[write].Scope != "" {
			t.Errorf("API keys may call %s", write)
		}
	}
}

func TestChangeEventsShowTheirFields(t *testing.T) {
	for subject, want := range map[string]string{
		"firmflow.identity.member_joined":   "MemberJoined",
		"firmflow.identity.api_key_revoked": "ApiKeyChanged",
		"firmflow.workflow.contact_created": "ContactChanged",
		"firmflow.billing.seats_changed":    "SeatsChanged",
		"firmflow.workflow.no_such_thing":   "",
		"not.a.firmflow.subject.at.all":     "",
	} {
		mt := changeType(subject)
		got := ""
		if mt != nil {
			got = string(mt.Descriptor().Name())
		}
		if got != want {
			t.Errorf("%s: type %q, want %q", subject, got, want)
		}
	}
}

// The cross-firm evidence of an incident is for lifecycle's certificate only.
func TestIncidentEvidenceIsLifecyclesOnly(t *testing.T) {
	n := 0
	for method, p := range rpc.DeclaredPolicies() {
		if !strings.HasPrefix(method, "/firmflow.audit.v1.IncidentEvidenceService/") {
			continue
		}
		n++
		if p.Public || p.AnyPeer || len(p.Roles) > 0 || p.Scope != "" || p.Staff || len(p.Peers) != 1 || p.Peers[0] != "lifecycle" {
			t.Errorf("%s is open beyond lifecycle: %+v", method, p)
		}
	}
	if n != 2 {
		t.Fatalf("%d IncidentEvidenceService methods declare a policy, want 2", n)
	}
}
