package rpc

import (
	"context"
	"log/slog"
	"net"
	"slices"
	"testing"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/status"

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

// A server given no policies applies the declared ones: DeleteFirmData is known and
// wants lifecycle's certificate, so a caller without one is unauthenticated, not told
// the method has no policy.
func TestServerWithoutPoliciesAppliesTheDeclaredOnes(t *testing.T) {
	for _, c := range []struct {
		name     string
		policies Policies
		want     codes.Code
	}{
		{"declared", nil, codes.Unauthenticated},
		{"an empty table", Policies{}, codes.PermissionDenied},
	} {
		t.Run(c.name, func(t *testing.T) {
			srv, _, err := NewServer(ServerConfig{Policies: c.policies, Logger: slog.New(slog.DiscardHandler)})
			if err != nil {
				t.Fatal(err)
			}
			lifecyclev1.RegisterFirmDataServiceServer(srv, lifecyclev1.UnimplementedFirmDataServiceServer{})
			lis, err := net.Listen("tcp", "127.0.0.1:0")
			if err != nil {
				t.Fatal(err)
			}
			go srv.Serve(lis)
			t.Cleanup(srv.Stop)
			conn, err := grpc.NewClient(lis.Addr().String(), grpc.WithTransportCredentials(insecure.NewCredentials()))
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { conn.Close() })

			_, err = lifecyclev1.NewFirmDataServiceClient(conn).DeleteFirmData(context.Background(),
				&lifecyclev1.DeleteFirmDataRequest{Firm: "firms/0b0e5f6e-4c2a-4a37-9d0b-1f0e7f4b2a11"})
			if got := status.Code(err); got != c.want {
				t.Errorf("DeleteFirmData without a certificate: %v, want %v", err, c.want)
			}
		})
	}
}
