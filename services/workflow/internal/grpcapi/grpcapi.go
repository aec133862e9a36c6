// Package grpcapi is workflow's gRPC surface: each handler turns the request into
// arguments, calls one use case and turns the result into the response.
package grpcapi

import (
	"context"
	"github.com/firmflow/firmflow/pkg/firmdata"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/protobuf/types/known/timestamppb"

	workflowv1 "github.com/firmflow/firmflow/pkg/gen/firmflow/workflow/v1"
	"github.com/firmflow/firmflow/pkg/principal"
	"github.com/firmflow/firmflow/services/workflow/internal/app"
)

// Server implements workflow's gRPC services.
type Server struct {
	workflowv1.UnimplementedPermissionServiceServer
	app *app.App
}

// Register adds every workflow service to srv.
func Register(srv grpc.ServiceRegistrar, a *app.App) {
	s := &Server{app: a}
	workflowv1.RegisterPermissionServiceServer(srv, s)
	workflowv1.RegisterClientServiceServer(srv, &clientService{Server: s})
	workflowv1.RegisterContactServiceServer(srv, &contactService{Server: s})
	workflowv1.RegisterTemplateServiceServer(srv, &templateServer{app: a})
	workflowv1.RegisterProjectServiceServer(srv, &projectServer{app: a})
	workflowv1.RegisterSeriesServiceServer(srv, &seriesServer{app: a})
	workflowv1.RegisterWorkloadServiceServer(srv, &workloadServer{app: a})
	// lifecycle exports and deletes the firm's workflow data through FirmDataService.
	firmdata.Register(srv, a)
}

// caller is the verified principal; the declared policies guarantee one on every method.
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
