package server

import (
	"context"
	"fmt"

	"github.com/grpc-ecosystem/grpc-gateway/v2/runtime"
	"google.golang.org/grpc"

	workflowv1 "github.com/firmflow/firmflow/pkg/gen/firmflow/workflow/v1"
)

// upstreams are the connections to the services behind the REST routes (identity's
// is the Server's own, since authentication needs it too).
type upstreams struct {
	workflow *grpc.ClientConn
}

// registerRoutes adds every service's REST routes to the mux. A new service or a new
// gRPC service of an existing one gets its line here.
func registerRoutes(ctx context.Context, rest *runtime.ServeMux, up upstreams) error {
	register := []struct {
		name string
		fn   func(context.Context, *runtime.ServeMux, *grpc.ClientConn) error
	}{
		{"workflow permissions", workflowv1.RegisterPermissionServiceHandler},
		{"workflow clients", workflowv1.RegisterClientServiceHandler},
		{"workflow contacts", workflowv1.RegisterContactServiceHandler},
		{"workflow templates", workflowv1.RegisterTemplateServiceHandler},
		{"workflow projects", workflowv1.RegisterProjectServiceHandler},
		{"workflow series", workflowv1.RegisterSeriesServiceHandler},
		{"workflow workload", workflowv1.RegisterWorkloadServiceHandler},
	}
	for _, r := range register {
		if err := r.fn(ctx, rest, up.workflow); err != nil {
			return fmt.Errorf("register %s routes: %w", r.name, err)
		}
	}
	return nil
}
