package rpc

import (
	"slices"
	"testing"

	lifecyclev1 "github.com/firmflow/firmflow/pkg/gen/firmflow/lifecycle/v1"
	"github.com/firmflow/firmflow/pkg/principal"
)

func TestDeclaredPoliciesComeFromTheProto(t *testing.T) {
	ps := DeclaredPolicies()
	got, ok := ps[lifecyclev1.FirmDataService_DeleteFirmData_FullMethodName]
	if !ok {
		t.Fatalf("no declared policy for DeleteFirmData; have %d policies", len(ps))
	}
	if !slices.Equal(got.Peers, []string{"lifecycle"}) || got.Public || len(got.Roles) > 0 || got.Scope != "" {
		t.Errorf("DeleteFirmData policy = %+v, want peers [lifecycle] only", got)
	}
	if err := ps.authorize(lifecyclev1.FirmDataService_DeleteFirmData_FullMethodName, principal.Principal{}, false, "gateway"); err == nil {
		t.Error("the gateway's certificate may call DeleteFirmData; only lifecycle's may")
	}
	if err := ps.authorize(lifecyclev1.FirmDataService_DeleteFirmData_FullMethodName, principal.Principal{}, false, "lifecycle"); err != nil {
		t.Errorf("lifecycle refused: %v", err)
	}
}
