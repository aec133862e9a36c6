package grpcapi

import (
	"context"

	identityv1 "github.com/firmflow/firmflow/pkg/gen/firmflow/identity/v1"
	"github.com/firmflow/firmflow/pkg/resource"
	"github.com/firmflow/firmflow/services/identity/internal/app"
)

// closureServer implements ClosureService, which only lifecycle calls.
type closureServer struct {
	identityv1.UnimplementedClosureServiceServer
	s *Server
}

func (c closureServer) VerifyOwnerCredentials(ctx context.Context, req *identityv1.VerifyOwnerCredentialsRequest) (*identityv1.VerifyOwnerCredentialsResponse, error) {
	firm, err := resource.Parse("firm", req.GetFirm(), "firms/{firm}")
	if err != nil {
		return nil, err
	}
	user, err := resource.Parse("user", req.GetUser(), "users/{user}")
	if err != nil {
		return nil, err
	}
	if err := c.s.app.VerifyOwnerCredentials(ctx, firm[0], user[0], req.GetPassword(), req.GetTotpCode()); err != nil {
		return nil, err
	}
	return &identityv1.VerifyOwnerCredentialsResponse{}, nil
}

func (c closureServer) SetFirmDeletionScheduled(ctx context.Context, req *identityv1.SetFirmDeletionScheduledRequest) (*identityv1.SetFirmDeletionScheduledResponse, error) {
	firm, err := resource.Parse("firm", req.GetFirm(), "firms/{firm}")
	if err != nil {
		return nil, err
	}
	if err := c.s.app.SetFirmDeletionScheduled(ctx, firm[0], req.GetScheduled()); err != nil {
		return nil, err
	}
	return &identityv1.SetFirmDeletionScheduledResponse{}, nil
}

func (c closureServer) PostIncidentNotification(ctx context.Context, req *identityv1.PostIncidentNotificationRequest) (*identityv1.PostIncidentNotificationResponse, error) {
	firm, err := resource.Parse("firm", req.GetFirm(), "firms/{firm}")
	if err != nil {
		return nil, err
	}
	incident, err := resource.Parse("incident", req.GetIncident(), "incidents/{incident}")
	if err != nil {
		return nil, err
	}
	queued, err := c.s.app.PostIncidentNotification(ctx, firm[0], incident[0], req.GetText())
	if err != nil {
		return nil, err
	}
	return &identityv1.PostIncidentNotificationResponse{EmailQueued: queued}, nil
}

func (c closureServer) ContainIncident(ctx context.Context, req *identityv1.ContainIncidentRequest) (*identityv1.ContainIncidentResponse, error) {
	incident, err := resource.Parse("incident", req.GetIncident(), "incidents/{incident}")
	if err != nil {
		return nil, err
	}
	targets := func(field string, names []string, pattern string) ([]app.Target, error) {
		out := make([]app.Target, 0, len(names))
		for _, n := range names {
			ids, err := resource.Parse(field, n, pattern)
			if err != nil {
				return nil, err
			}
			out = append(out, app.Target{FirmID: ids[0], ID: ids[1]})
		}
		return out, nil
	}
	keys, err := targets("api_keys", req.GetApiKeys(), "firms/{firm}/apiKeys/{api_key}")
	if err != nil {
		return nil, err
	}
	members, err := targets("members", req.GetMembers(), "firms/{firm}/members/{member}")
	if err != nil {
		return nil, err
	}
	revoked, ended, err := c.s.app.ContainIncident(ctx, incident[0], keys, members)
	if err != nil {
		return nil, err
	}
	return &identityv1.ContainIncidentResponse{RevokedApiKeys: int32(revoked), EndedSessions: int32(ended)}, nil
}
