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

// Server implements workflow's gRPC services.
type Server struct {
	workflowv1.UnimplementedPermissionServiceServer
	app *app.App
}

// registrations add the services of each resource file to a gRPC server.
var registrations []func(grpc.ServiceRegistrar, *Server)

// policyTables are the per-file authorization tables, merged into Policies.
var policyTables []rpc.Policies

// Register adds every workflow service to srv.
func Register(srv grpc.ServiceRegistrar, a *app.App) {
	s := &Server{app: a}
	workflowv1.RegisterPermissionServiceServer(srv, s)
	for _, register := range registrations {
		register(srv, s)
	}
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
