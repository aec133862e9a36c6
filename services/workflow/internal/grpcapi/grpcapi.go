// Package grpcapi is workflow's gRPC surface: each handler turns the request into
// arguments, calls one use case and turns the result into the response.
package grpcapi

import (
	"context"
	"fmt"
	"github.com/firmflow/firmflow/pkg/firmdata"
	"slices"
	"strings"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/firmflow/firmflow/pkg/apierr"
	workflowv1 "github.com/firmflow/firmflow/pkg/gen/firmflow/workflow/v1"
	"github.com/firmflow/firmflow/pkg/paging"
	"github.com/firmflow/firmflow/pkg/principal"
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
	webhookServer struct {
		workflowv1.UnimplementedWebhookServiceServer
		app *app.App
	}
)

// Register adds every workflow service to srv.
func Register(srv grpc.ServiceRegistrar, a *app.App) {
	workflowv1.RegisterPermissionServiceServer(srv, &permissionServer{app: a})
	workflowv1.RegisterClientServiceServer(srv, &clientServer{app: a})
	workflowv1.RegisterContactServiceServer(srv, &contactServer{app: a})
	workflowv1.RegisterTemplateServiceServer(srv, &templateServer{app: a})
	workflowv1.RegisterProjectServiceServer(srv, &projectServer{app: a})
	workflowv1.RegisterSeriesServiceServer(srv, &seriesServer{app: a})
	workflowv1.RegisterWorkloadServiceServer(srv, &workloadServer{app: a})
	workflowv1.RegisterWebhookServiceServer(srv, &webhookServer{app: a})
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

// listFilter is the canonical form of a list request's filters, which its page
// tokens are bound to; every list makes its page tokens' key with it.
func listFilter(parts ...any) string {
	var b strings.Builder
	for _, p := range parts {
		fmt.Fprintf(&b, "%v\x1f", p)
	}
	return b.String()
}

// nextPageToken is the token of the page after next, "" when the list ended.
func nextPageToken(next *paging.Cursor, filter string) string {
	if next == nil {
		return ""
	}
	return paging.Next(*next, true, filter)
}

func maskPaths(paths, outputOnly []string) []string {
	out := make([]string, 0, len(paths))
	for _, p := range paths {
		if !slices.Contains(outputOnly, p) {
			out = append(out, p)
		}
	}
	return out
}

// errNoPaths refuses an update that names no field to change.
var errNoPaths = apierr.InvalidArgument("update_mask", "required", "name the fields to change")

func unknownPath(field, allowed string) error {
	return apierr.InvalidArgument("update_mask", "update_mask.paths", field+": can only change "+allowed)
}

// fromProto inverts one of the enum maps; unspecified (0) maps to the zero value.
func fromProto[D comparable, P comparable](m map[D]P, v P) D {
	for d, p := range m {
		if p == v {
			return d
		}
	}
	var zero D
	return zero
}
