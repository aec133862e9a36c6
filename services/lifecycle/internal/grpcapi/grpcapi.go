// Package grpcapi is lifecycle's gRPC surface: each handler turns the request into
// arguments, calls one use case and turns the result into the response. Who may call
// what is declared on each RPC in the proto (firmflow.api.v1.policy).
package grpcapi

import (
	"context"
	"time"

	"google.golang.org/genproto/googleapis/api/httpbody"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/firmflow/firmflow/pkg/apierr"
	lifecyclev1 "github.com/firmflow/firmflow/pkg/gen/firmflow/lifecycle/v1"
	"github.com/firmflow/firmflow/pkg/principal"
	"github.com/firmflow/firmflow/pkg/resource"
	"github.com/firmflow/firmflow/services/lifecycle/internal/app"
	"github.com/firmflow/firmflow/services/lifecycle/internal/domain"
)

// Server implements LifecycleService.
type Server struct {
	lifecyclev1.UnimplementedLifecycleServiceServer
	app *app.App
}

// Register adds lifecycle's service to srv.
func Register(srv grpc.ServiceRegistrar, a *app.App) {
	lifecyclev1.RegisterLifecycleServiceServer(srv, &Server{app: a})
}

func caller(ctx context.Context) principal.Principal {
	p, _ := principal.FromContext(ctx)
	return p
}

func firmOf(field, name string) (string, error) {
	ids, err := resource.Parse(field, name, "firms/{firm}")
	if err != nil {
		return "", err
	}
	return ids[0], nil
}

func operationID(name string) (string, error) {
	ids, err := resource.Parse("name", name, "operations/{operation}")
	if err != nil {
		return "", err
	}
	return ids[0], nil
}

func (s *Server) RequestFirmDeletion(ctx context.Context, req *lifecyclev1.RequestFirmDeletionRequest) (*lifecyclev1.RequestFirmDeletionResponse, error) {
	firm, err := firmOf("firm", req.GetFirm())
	if err != nil {
		return nil, err
	}
	var grace *int
	if req.GraceDays != nil {
		g := int(req.GetGraceDays())
		grace = &g
	}
	d, token, err := s.app.RequestDeletion(ctx, caller(ctx), firm, req.GetPassword(), req.GetTotpCode(), grace)
	if err != nil {
		return nil, err
	}
	return &lifecyclev1.RequestFirmDeletionResponse{Operation: toOperation(domain.Operation{Kind: domain.KindDeletion, Deletion: &d}), CertificateToken: token}, nil
}

func (s *Server) CancelFirmDeletion(ctx context.Context, req *lifecyclev1.CancelFirmDeletionRequest) (*lifecyclev1.Operation, error) {
	firm, err := firmOf("firm", req.GetFirm())
	if err != nil {
		return nil, err
	}
	d, err := s.app.CancelDeletion(ctx, caller(ctx), firm)
	if err != nil {
		return nil, err
	}
	return toOperation(domain.Operation{Kind: domain.KindDeletion, Deletion: &d}), nil
}

func (s *Server) GetOperation(ctx context.Context, req *lifecyclev1.GetOperationRequest) (*lifecyclev1.Operation, error) {
	id, err := operationID(req.GetName())
	if err != nil {
		return nil, err
	}
	op, err := s.app.Operation(ctx, caller(ctx), id)
	if err != nil {
		return nil, err
	}
	return toOperation(op), nil
}

func (s *Server) ListOperations(ctx context.Context, req *lifecyclev1.ListOperationsRequest) (*lifecyclev1.ListOperationsResponse, error) {
	firm, err := firmOf("parent", req.GetParent())
	if err != nil {
		return nil, err
	}
	ops, next, err := s.app.Operations(ctx, caller(ctx), firm, req.GetPageSize(), req.GetPageToken())
	if err != nil {
		return nil, err
	}
	out := &lifecyclev1.ListOperationsResponse{NextPageToken: next}
	for _, op := range ops {
		out.Operations = append(out.Operations, toOperation(op))
	}
	return out, nil
}

func (s *Server) CancelOperation(ctx context.Context, req *lifecyclev1.CancelOperationRequest) (*lifecyclev1.Operation, error) {
	id, err := operationID(req.GetName())
	if err != nil {
		return nil, err
	}
	op, err := s.app.CancelOperation(ctx, caller(ctx), id)
	if err != nil {
		return nil, err
	}
	return toOperation(op), nil
}

func (s *Server) CreateExport(ctx context.Context, req *lifecyclev1.CreateExportRequest) (*lifecyclev1.Operation, error) {
	firm, err := firmOf("parent", req.GetParent())
	if err != nil {
		return nil, err
	}
	e, err := s.app.CreateExport(ctx, caller(ctx), firm)
	if err != nil {
		return nil, err
	}
	return toOperation(domain.Operation{Kind: domain.KindExport, Export: &e}), nil
}

func (s *Server) ReadExportArchive(req *lifecyclev1.ReadExportArchiveRequest, stream grpc.ServerStreamingServer[lifecyclev1.ExportArchiveChunk]) error {
	ctx := stream.Context()
	ids, err := resource.Parse("name", req.GetName(), "firms/{firm}/exports/{export}")
	if err != nil {
		return err
	}
	x, err := s.app.OpenExport(ctx, caller(ctx), ids[0], ids[1])
	if err != nil {
		return err
	}
	defer x.Close()
	offset, length := req.GetOffset(), req.GetLength()
	if offset > x.Size() || (offset == x.Size() && x.Size() > 0) {
		return apierr.New(codes.OutOfRange, "RANGE_NOT_SATISFIABLE", "offset is past the end of the archive")
	}
	if length == 0 || offset+length > x.Size() {
		length = x.Size() - offset
	}
	w := &chunkWriter{stream: stream, total: x.Size()}
	if err := x.WriteRange(w, offset, length); err != nil {
		return err
	}
	return w.flush()
}

// chunkWriter sends what it is given as ExportArchiveChunk messages of at most
// chunkBytes, the first one carrying the archive's size.
type chunkWriter struct {
	stream grpc.ServerStreamingServer[lifecyclev1.ExportArchiveChunk]
	total  int64
	buf    []byte
	sent   bool
}

const chunkBytes = 256 << 10

func (c *chunkWriter) Write(p []byte) (int, error) {
	n := len(p)
	for len(p) > 0 {
		take := min(chunkBytes-len(c.buf), len(p))
		c.buf = append(c.buf, p[:take]...)
		p = p[take:]
		if len(c.buf) == chunkBytes {
			if err := c.flush(); err != nil {
				return 0, err
			}
		}
	}
	return n, nil
}

func (c *chunkWriter) flush() error {
	if len(c.buf) == 0 && c.sent {
		return nil
	}
	msg := &lifecyclev1.ExportArchiveChunk{Data: c.buf}
	if !c.sent {
		msg.TotalSize = c.total
	}
	c.sent = true
	// A sent message is not to be changed again: the next chunk gets a new buffer.
	c.buf = nil
	return c.stream.Send(msg)
}

func (s *Server) GetDeletionCertificate(ctx context.Context, req *lifecyclev1.GetDeletionCertificateRequest) (*httpbody.HttpBody, error) {
	cert, err := s.app.Certificate(ctx, req.GetToken())
	if err != nil {
		return nil, err
	}
	return &httpbody.HttpBody{ContentType: "application/json", Data: cert}, nil
}

func ts(t time.Time) *timestamppb.Timestamp {
	if t.IsZero() {
		return nil
	}
	return timestamppb.New(t)
}

var states = map[domain.State]lifecyclev1.OperationState{
	domain.StateScheduled: lifecyclev1.OperationState_OPERATION_STATE_SCHEDULED,
	domain.StateRunning:   lifecyclev1.OperationState_OPERATION_STATE_RUNNING,
	domain.StateSucceeded: lifecyclev1.OperationState_OPERATION_STATE_SUCCEEDED,
	domain.StateCancelled: lifecyclev1.OperationState_OPERATION_STATE_CANCELLED,
	domain.StateFailed:    lifecyclev1.OperationState_OPERATION_STATE_FAILED,
}

func toOperation(op domain.Operation) *lifecyclev1.Operation {
	if d := op.Deletion; d != nil {
		out := &lifecyclev1.Operation{
			Name: "operations/" + d.ID, Firm: "firms/" + d.FirmID, Done: d.State.Done(),
			Metadata: &lifecyclev1.OperationMetadata{
				Kind: lifecyclev1.OperationKind_OPERATION_KIND_DELETION, State: states[d.State],
				ProgressPercent: int32(d.Progress()), Step: string(d.Step()), Attempts: int32(d.Attempts),
				LastError: d.LastError, CreateTime: ts(d.RequestTime), GraceEndTime: ts(d.GraceEnd),
				NextAttemptTime: ts(d.NextAttempt), EndTime: ts(d.EndTime), Requester: d.RequestedBy,
			},
		}
		switch d.State {
		case domain.StateCancelled:
			out.Error = &lifecyclev1.OperationError{Status: "CANCELLED", Reason: "DELETION_CANCELLED", Message: "the deletion was cancelled during its grace period"}
		case domain.StateSucceeded:
			out.Response = &lifecyclev1.OperationResponse{CertificateIssued: true}
		}
		return out
	}
	e := op.Export
	out := &lifecyclev1.Operation{
		Name: "operations/" + e.ID, Firm: "firms/" + e.FirmID, Done: e.State.Done(),
		Metadata: &lifecyclev1.OperationMetadata{
			Kind: lifecyclev1.OperationKind_OPERATION_KIND_EXPORT, State: states[e.State],
			Attempts: int32(e.Attempts), LastError: e.LastError, CreateTime: ts(e.CreateTime),
			NextAttemptTime: ts(e.NextAttempt), EndTime: ts(e.EndTime), Requester: e.RequestedBy,
		},
	}
	switch e.State {
	case domain.StateSucceeded:
		out.Metadata.ProgressPercent = 100
		out.Response = &lifecyclev1.OperationResponse{
			Export: "firms/" + e.FirmID + "/exports/" + e.ID, ExpireTime: ts(e.ExpireTime), SizeBytes: e.Size,
		}
	case domain.StateCancelled:
		out.Error = &lifecyclev1.OperationError{Status: "CANCELLED", Reason: "EXPORT_CANCELLED", Message: "the export was cancelled"}
	}
	return out
}
