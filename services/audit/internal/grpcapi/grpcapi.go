// Package grpcapi is audit's gRPC surface: each handler turns the request into
// arguments, calls one use case and turns the result into the response.
package grpcapi

import (
	"context"
	"github.com/firmflow/firmflow/pkg/firmdata"

	"google.golang.org/genproto/googleapis/api/httpbody"
	"google.golang.org/grpc"

	"github.com/firmflow/firmflow/pkg/apierr"
	auditv1 "github.com/firmflow/firmflow/pkg/gen/firmflow/audit/v1"
	"github.com/firmflow/firmflow/pkg/principal"
	"github.com/firmflow/firmflow/pkg/resource"
	"github.com/firmflow/firmflow/services/audit/internal/app"
	"github.com/firmflow/firmflow/services/audit/internal/domain"
)

// Server implements AuditService.
type Server struct {
	auditv1.UnimplementedAuditServiceServer
	app *app.App
}

// Register adds audit's service to srv.
func Register(srv grpc.ServiceRegistrar, a *app.App) {
	auditv1.RegisterAuditServiceServer(srv, &Server{app: a})
	// lifecycle exports and deletes the firm's audit chain through FirmDataService.
	firmdata.Register(srv, a)
	// lifecycle's incident impact analysis reads access events across firms.
	auditv1.RegisterIncidentEvidenceServiceServer(srv, &Evidence{app: a})
}

// caller is the verified principal; the declared policies guarantee one on every method.
func caller(ctx context.Context) principal.Principal {
	p, _ := principal.FromContext(ctx)
	return p
}

// firmOf reads the firm id of a name that pattern describes, e.g. firms/{firm}.
func firmOf(field, name, pattern string) (string, error) {
	ids, err := resource.Parse(field, name, pattern)
	if err != nil {
		return "", err
	}
	return ids[0], nil
}

func (s *Server) ListAuditEvents(ctx context.Context, req *auditv1.ListAuditEventsRequest) (*auditv1.ListAuditEventsResponse, error) {
	firm, err := firmOf("parent", req.GetParent(), "firms/{firm}")
	if err != nil {
		return nil, err
	}
	events, next, err := s.app.Events(ctx, caller(ctx), firm, toFilter(req), req.GetPageSize(), req.GetPageToken())
	if err != nil {
		return nil, err
	}
	out := &auditv1.ListAuditEventsResponse{NextPageToken: next}
	for i := range events {
		out.AuditEvents = append(out.AuditEvents, toAuditEvent(&events[i]))
	}
	return out, nil
}

func (s *Server) ExportAuditEvents(ctx context.Context, req *auditv1.ExportAuditEventsRequest) (*httpbody.HttpBody, error) {
	firm, err := firmOf("parent", req.GetParent(), "firms/{firm}")
	if err != nil {
		return nil, err
	}
	lines, err := s.app.Export(ctx, caller(ctx), firm, req.GetPageToken())
	if err != nil {
		return nil, err
	}
	return &httpbody.HttpBody{ContentType: "application/jsonl", Data: lines}, nil
}

func (s *Server) VerifyAuditChain(ctx context.Context, req *auditv1.VerifyAuditChainRequest) (*auditv1.VerifyAuditChainResponse, error) {
	firm, err := firmOf("parent", req.GetParent(), "firms/{firm}")
	if err != nil {
		return nil, err
	}
	report, err := s.app.Verify(ctx, caller(ctx), firm)
	if err != nil {
		return nil, err
	}
	return toVerifyResponse(report), nil
}

func (s *Server) CreateAuditCheckpoint(ctx context.Context, req *auditv1.CreateAuditCheckpointRequest) (*auditv1.AuditCheckpoint, error) {
	firm, err := firmOf("parent", req.GetParent(), "firms/{firm}")
	if err != nil {
		return nil, err
	}
	cp, signed, err := s.app.Checkpoint(ctx, caller(ctx), firm)
	if err != nil {
		return nil, err
	}
	return toCheckpoint(cp, signed), nil
}

func (s *Server) GetAuditSettings(ctx context.Context, req *auditv1.GetAuditSettingsRequest) (*auditv1.AuditSettings, error) {
	firm, err := firmOf("name", req.GetName(), "firms/{firm}/auditSettings")
	if err != nil {
		return nil, err
	}
	settings, err := s.app.Settings(ctx, caller(ctx), firm)
	if err != nil {
		return nil, err
	}
	return toSettings(settings), nil
}

func (s *Server) UpdateAuditSettings(ctx context.Context, req *auditv1.UpdateAuditSettingsRequest) (*auditv1.AuditSettings, error) {
	firm, err := firmOf("settings.name", req.GetSettings().GetName(), "firms/{firm}/auditSettings")
	if err != nil {
		return nil, err
	}
	paths := req.GetUpdateMask().GetPaths()
	for _, path := range paths {
		if path != "retention_days" && path != "*" {
			return nil, apierr.InvalidArgument("update_mask", "field_mask.known", "only retention_days can be updated")
		}
	}
	var settings domain.Settings
	if len(paths) == 0 {
		settings, err = s.app.Settings(ctx, caller(ctx), firm)
	} else {
		settings, err = s.app.LengthenRetention(ctx, caller(ctx), firm, int(req.GetSettings().GetRetentionDays()))
	}
	if err != nil {
		return nil, err
	}
	return toSettings(settings), nil
}
