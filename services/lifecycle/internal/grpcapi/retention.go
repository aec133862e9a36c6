package grpcapi

import (
	"context"

	"google.golang.org/grpc"
	"google.golang.org/protobuf/types/known/timestamppb"

	lifecyclev1 "github.com/firmflow/firmflow/pkg/gen/firmflow/lifecycle/v1"
	"github.com/firmflow/firmflow/services/lifecycle/internal/app"
	"github.com/firmflow/firmflow/services/lifecycle/internal/domain"
)

// RetentionAdmin implements RetentionAdminService, which only operators call.
type RetentionAdmin struct {
	lifecyclev1.UnimplementedRetentionAdminServiceServer
	app *app.App
}

// RegisterRetentionAdmin adds the operators' view of retention runs to srv.
func RegisterRetentionAdmin(srv grpc.ServiceRegistrar, a *app.App) {
	lifecyclev1.RegisterRetentionAdminServiceServer(srv, &RetentionAdmin{app: a})
}

func (s *RetentionAdmin) ListRetentionRuns(ctx context.Context, req *lifecyclev1.ListRetentionRunsRequest) (*lifecyclev1.ListRetentionRunsResponse, error) {
	runs, err := s.app.RetentionRuns(ctx, int(req.GetPageSize()))
	if err != nil {
		return nil, err
	}
	out := &lifecyclev1.ListRetentionRunsResponse{}
	for _, r := range runs {
		out.RetentionRuns = append(out.RetentionRuns, retentionRunProto(r))
	}
	return out, nil
}

func retentionRunProto(r domain.RetentionRun) *lifecyclev1.RetentionRun {
	p := &lifecyclev1.RetentionRun{
		Name: "retentionRuns/" + r.ID, State: stateName(r.State), StartTime: timestamppb.New(r.StartTime), Failures: r.Failures,
	}
	if !r.EndTime.IsZero() {
		p.EndTime = timestamppb.New(r.EndTime)
	}
	for _, c := range r.Removed {
		p.Removed = append(p.Removed, &lifecyclev1.RetentionCount{Service: c.Service, Table: c.Table, Rows: c.Rows})
	}
	return p
}

func stateName(s domain.State) string {
	switch s {
	case domain.StateSucceeded:
		return "SUCCEEDED"
	case domain.StateFailed:
		return "FAILED"
	}
	return "RUNNING"
}
