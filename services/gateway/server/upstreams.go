package server

import (
	"context"
	"fmt"

	"github.com/grpc-ecosystem/grpc-gateway/v2/runtime"
	"google.golang.org/grpc"

	auditv1 "github.com/firmflow/firmflow/pkg/gen/firmflow/audit/v1"
	billingv1 "github.com/firmflow/firmflow/pkg/gen/firmflow/billing/v1"
	lifecyclev1 "github.com/firmflow/firmflow/pkg/gen/firmflow/lifecycle/v1"
	workflowv1 "github.com/firmflow/firmflow/pkg/gen/firmflow/workflow/v1"
)

// upstreams are the connections to the services behind the REST routes (identity's
// is the Server's own, since authentication needs it too).
type upstreams struct {
	workflow *grpc.ClientConn
	billing  *grpc.ClientConn
	audit    *grpc.ClientConn
	// lifecycle serves exports, deletions and deletion certificates.
	lifecycle *grpc.ClientConn
}

// registerRoutes adds every service's REST routes to the mux. A new service or a new
// gRPC service of an existing one gets its line here.
func registerRoutes(ctx context.Context, rest *runtime.ServeMux, up upstreams) error {
	register := []struct {
		name string
		fn   func(context.Context, *runtime.ServeMux, *grpc.ClientConn) error
		conn *grpc.ClientConn
	}{
		{"workflow permissions", workflowv1.RegisterPermissionServiceHandler, up.workflow},
		{"workflow clients", workflowv1.RegisterClientServiceHandler, up.workflow},
		{"workflow contacts", workflowv1.RegisterContactServiceHandler, up.workflow},
		{"workflow templates", workflowv1.RegisterTemplateServiceHandler, up.workflow},
		{"workflow projects", workflowv1.RegisterProjectServiceHandler, up.workflow},
		{"workflow series", workflowv1.RegisterSeriesServiceHandler, up.workflow},
		{"workflow workload", workflowv1.RegisterWorkloadServiceHandler, up.workflow},
		{"billing", billingv1.RegisterBillingServiceHandler, up.billing},
		{"audit", auditv1.RegisterAuditServiceHandler, up.audit},
		{"lifecycle", lifecyclev1.RegisterLifecycleServiceHandler, up.lifecycle},
		{"lifecycle incidents", lifecyclev1.RegisterFirmIncidentServiceHandler, up.lifecycle},
	}
	for _, r := range register {
		if err := r.fn(ctx, rest, r.conn); err != nil {
			return fmt.Errorf("register %s routes: %w", r.name, err)
		}
	}
	return nil
}
