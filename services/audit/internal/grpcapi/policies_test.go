package grpcapi

import (
	"strings"
	"testing"

	"google.golang.org/grpc"

	auditv1 "github.com/firmflow/firmflow/pkg/gen/firmflow/audit/v1"
	"github.com/firmflow/firmflow/pkg/principal"
	"github.com/firmflow/firmflow/pkg/rpc/rpctest"
	"github.com/firmflow/firmflow/services/audit/internal/app"
)

func TestEveryMethodHasAPolicy(t *testing.T) {
	rpctest.EveryMethodHasAPolicy(t, Policies(), func(srv *grpc.Server) { Register(srv, &app.App{}) }, 1)
}

// The log is for those who run the firm: members and support staff never read it,
// and an API key reads it only with audit:read and changes nothing.
func TestOnlyManagersAndAuditReadersReachTheLog(t *testing.T) {
	for method, p := range Policies() {
		if strings.HasPrefix(method, "/firmflow.lifecycle.v1.FirmDataService/") {
			// Lifecycle's export and deletion of the firm: its certificate only.
			if len(p.Peers) != 1 || p.Peers[0] != "lifecycle" || len(p.Roles) > 0 || p.Scope != "" || p.Public || p.AnyPeer {
				t.Errorf("%s is open beyond lifecycle: %+v", method, p)
			}
			continue
		}
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
		if Policies()[write].Scope != "" {
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
