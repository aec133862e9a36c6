package grpcapi

import (
	"context"

	"google.golang.org/grpc"
	"google.golang.org/protobuf/types/known/timestamppb"

	auditv1 "github.com/firmflow/firmflow/pkg/gen/firmflow/audit/v1"
	"github.com/firmflow/firmflow/services/audit/internal/app"
)

// Evidence implements IncidentEvidenceService for lifecycle's impact analysis.
type Evidence struct {
	auditv1.UnimplementedIncidentEvidenceServiceServer
	app *app.App
}

func (s *Evidence) ListAccessEventsAcrossFirms(req *auditv1.ListAccessEventsAcrossFirmsRequest, stream grpc.ServerStreamingServer[auditv1.AccessEventRecord]) error {
	return s.app.IncidentEvidence(stream.Context(), req.GetStartTime().AsTime(), req.GetEndTime().AsTime(),
		req.GetActors(), req.GetNetworks(), req.GetFirms(), func(e app.Evidence) error {
			return stream.Send(&auditv1.AccessEventRecord{
				Firm: "firms/" + e.FirmID, Sequence: e.Sequence, Time: timestamppb.New(e.Time), Actor: e.Actor,
				ClientIp: e.ClientIP, Resources: e.Resources,
			})
		})
}

func (s *Evidence) FindUnknownActors(ctx context.Context, req *auditv1.FindUnknownActorsRequest) (*auditv1.FindUnknownActorsResponse, error) {
	unknown, err := s.app.UnknownActors(ctx, req.GetActors())
	if err != nil {
		return nil, err
	}
	return &auditv1.FindUnknownActorsResponse{Actors: unknown}, nil
}
