package firmdata

import (
	"context"
	"time"

	"google.golang.org/grpc"

	lifecyclev1 "github.com/firmflow/firmflow/pkg/gen/firmflow/lifecycle/v1"
)

// Deleted is what a service removed for a firm: rows per table, and facts worth
// recording in the deletion certificate (a chain head, destroyed key ids, a Stripe
// customer).
type Deleted struct {
	Tables []Count
	Facts  map[string]string
}

// UseCases are a service's firm-data use cases: three taking the firm's id, and the
// retention run's Prune.
type UseCases interface {
	ExportFirmData(ctx context.Context, firmID string, send func(Batch) error) error
	DeleteFirmData(ctx context.Context, firmID, deletion string) (Deleted, error)
	CountFirmRows(ctx context.Context, firmID string) ([]Count, error)
	// Prune removes, across every firm, what has served its purpose as of now
	// (at least PruneQueues) and answers the counts per table.
	Prune(ctx context.Context, now time.Time) ([]Count, error)
}

// Register serves uc as FirmDataService on srv. The handlers only translate: every
// service's use cases decide what is exported and deleted.
func Register(srv grpc.ServiceRegistrar, uc UseCases) {
	lifecyclev1.RegisterFirmDataServiceServer(srv, &server{uc: uc})
}

type server struct {
	lifecyclev1.UnimplementedFirmDataServiceServer
	uc UseCases
}

func (s *server) ExportFirmData(req *lifecyclev1.ExportFirmDataRequest, stream grpc.ServerStreamingServer[lifecyclev1.FirmDataBatch]) error {
	firm, err := ParseFirm(req.GetFirm())
	if err != nil {
		return err
	}
	return s.uc.ExportFirmData(stream.Context(), firm, func(b Batch) error { return stream.Send(BatchProto(b)) })
}

func (s *server) DeleteFirmData(ctx context.Context, req *lifecyclev1.DeleteFirmDataRequest) (*lifecyclev1.DeleteFirmDataResponse, error) {
	firm, err := ParseFirm(req.GetFirm())
	if err != nil {
		return nil, err
	}
	d, err := s.uc.DeleteFirmData(ctx, firm, req.GetDeletion())
	if err != nil {
		return nil, err
	}
	return &lifecyclev1.DeleteFirmDataResponse{Deleted: CountsProto(d.Tables), Facts: d.Facts}, nil
}

func (s *server) CountFirmRows(ctx context.Context, req *lifecyclev1.CountFirmRowsRequest) (*lifecyclev1.CountFirmRowsResponse, error) {
	firm, err := ParseFirm(req.GetFirm())
	if err != nil {
		return nil, err
	}
	counts, err := s.uc.CountFirmRows(ctx, firm)
	if err != nil {
		return nil, err
	}
	return &lifecyclev1.CountFirmRowsResponse{Tables: CountsProto(counts)}, nil
}

func (s *server) Prune(ctx context.Context, req *lifecyclev1.PruneRequest) (*lifecyclev1.PruneResponse, error) {
	counts, err := s.uc.Prune(ctx, req.GetNow().AsTime())
	if err != nil {
		return nil, err
	}
	return &lifecyclev1.PruneResponse{Pruned: CountsProto(counts)}, nil
}
