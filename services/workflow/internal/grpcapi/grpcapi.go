// Package grpcapi is workflow's gRPC surface: each handler turns the request into
// arguments, calls one use case and turns the result into the response.
package grpcapi

import (
	"context"
	"maps"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/protobuf/types/known/timestamppb"

	workflowv1 "github.com/firmflow/firmflow/pkg/gen/firmflow/workflow/v1"
	"github.com/firmflow/firmflow/pkg/principal"
	"github.com/firmflow/firmflow/pkg/rpc"
	"github.com/firmflow/firmflow/services/workflow/internal/app"
)

// One server per gRPC service, each a translation over the same use cases.
type (
	permissionServer struct {
		workflowv1.UnimplementedPermissionServiceServer
		app *app.App
	}
	clientServer struct {
		workflowv1.UnimplementedClientServiceServer
		app *app.App
	}
	contactServer struct {
		workflowv1.UnimplementedContactServiceServer
		app *app.App
	}
	templateServer struct {
		workflowv1.UnimplementedTemplateServiceServer
		app *app.App
	}
	projectServer struct {
		workflowv1.UnimplementedProjectServiceServer
		app *app.App
	}
	seriesServer struct {
		workflowv1.UnimplementedSeriesServiceServer
		app *app.App
	}
	workloadServer struct {
		workflowv1.UnimplementedWorkloadServiceServer
		app *app.App
	}
)

// policyTables are the per-file authorization tables, merged into Policies.
var policyTables []rpc.Policies

// Register adds every workflow service to srv.
func Register(srv grpc.ServiceRegistrar, a *app.App) {
	workflowv1.RegisterPermissionServiceServer(srv, &permissionServer{app: a})
	workflowv1.RegisterClientServiceServer(srv, &clientServer{app: a})
	workflowv1.RegisterContactServiceServer(srv, &contactServer{app: a})
	workflowv1.RegisterTemplateServiceServer(srv, &templateServer{app: a})
	workflowv1.RegisterProjectServiceServer(srv, &projectServer{app: a})
	workflowv1.RegisterSeriesServiceServer(srv, &seriesServer{app: a})
	workflowv1.RegisterWorkloadServiceServer(srv, &workloadServer{app: a})
}

// Policies is workflow's authorization table: every RPC and who may call it. The
// finer, per-firm permission matrix is applied in app on top of it.
func Policies() rpc.Policies {
	all := rpc.Policies{
		workflowv1.PermissionService_GetPermissions_FullMethodName:    {Roles: rpc.Everyone},
		workflowv1.PermissionService_UpdatePermissions_FullMethodName: {Roles: rpc.Managers},
	}
	for _, t := range policyTables {
		maps.Copy(all, t)
	}
	return all
}

// caller is the verified principal; the policy table guarantees one on every method.
func caller(ctx context.Context) principal.Principal {
	p, _ := principal.FromContext(ctx)
	return p
}

func ts(t time.Time) *timestamppb.Timestamp {
	if t.IsZero() {
		return nil
	}
	return timestamppb.New(t)
}
