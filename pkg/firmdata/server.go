package firmdata

import (
	"context"

	"google.golang.org/grpc"

	lifecyclev1 "github.com/firmflow/firmflow/pkg/gen/firmflow/lifecycle/v1"
	"github.com/firmflow/firmflow/pkg/rpc"
)

// Deleted is what a service removed for a firm: rows per table, and facts worth
// recording in the deletion certificate (a chain head, destroyed key ids, a Stripe
// customer).
type Deleted struct {
	Tables []Count
	Facts  map[string]string
}

// UseCases are a service's three firm-data use cases, each taking the firm's id.
type UseCases interface {
	ExportFirmData(ctx context.Context, firmID string, send func(Batch) error) error
	DeleteFirmData(ctx context.Context, firmID, deletion string) (Deleted, error)
	CountFirmRows(ctx context.Context, firmID string) ([]Count, error)
}

// Register serves uc as FirmDataService on srv. The handlers only translate: every
// service's use cases decide what is exported and deleted.
func Register(srv grpc.ServiceRegistrar, uc UseCases) {
	lifecyclev1.RegisterFirmDataServiceServer(srv, &server{uc: uc})
}

// Policies are FirmDataService's methods as the proto declares them: lifecycle's
// certificate only. For services that still pass a hand-written table.
var Policies = rpc.Policies{
	lifecyclev1.FirmDataService_ExportFirmData_FullMethodName: {Peers: []string{"lifecycle"}},
	lifecyclev1.FirmDataService_DeleteFirmData_FullMethodName: {Peers: []string{"lifecycle"}},
	lifecyclev1.FirmDataService_CountFirmRows_FullMethodName:  {Peers: []string{"lifecycle"}},
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
