package grpcapi

import (
	"context"
	"time"

	"google.golang.org/protobuf/types/known/emptypb"

	identityv1 "github.com/firmflow/firmflow/pkg/gen/firmflow/identity/v1"
	"github.com/firmflow/firmflow/pkg/paging"
	"github.com/firmflow/firmflow/pkg/principal"
	"github.com/firmflow/firmflow/pkg/resource"
	"github.com/firmflow/firmflow/services/identity/internal/app"
	"github.com/firmflow/firmflow/services/identity/internal/domain"
)

func (s *Server) StaffLogin(ctx context.Context, req *identityv1.StaffLoginRequest) (*identityv1.StaffLoginResponse, error) {
	res, err := s.app.StaffLogin(ctx, req.GetEmail(), req.GetPassword(), req.GetTotpCode())
	if err != nil {
		return nil, err
	}
	return &identityv1.StaffLoginResponse{
		Staff: toStaff(res.Staff), SessionToken: res.Token, ExpireTime: ts(res.Session.ExpireTime),
	}, nil
}

func (s *Server) StaffLogout(ctx context.Context, _ *identityv1.StaffLogoutRequest) (*emptypb.Empty, error) {
	return &emptypb.Empty{}, s.app.StaffLogout(ctx, caller(ctx))
}

func (s *Server) RequestSupportAccess(ctx context.Context, req *identityv1.RequestSupportAccessRequest) (*identityv1.SupportGrant, error) {
	ids, err := resource.Parse("parent", req.GetParent(), "firms/{firm}")
	if err != nil {
		return nil, err
	}
	g, err := s.app.RequestSupportAccess(ctx, caller(ctx), ids[0], req.GetReason(), req.GetTicket())
	if err != nil {
		return nil, err
	}
	return toSupportGrant(g, time.Now()), nil
}

func (s *Server) ListMySupportGrants(ctx context.Context, req *identityv1.ListMySupportGrantsRequest) (*identityv1.ListMySupportGrantsResponse, error) {
	p := caller(ctx)
	filter := "staff/" + p.StaffID
	page, err := paging.Request(req.GetPageSize(), req.GetPageToken(), filter)
	if err != nil {
		return nil, err
	}
	grants, more, err := s.app.MySupportGrants(ctx, p, page)
	if err != nil {
		return nil, err
	}
	out := &identityv1.ListMySupportGrantsResponse{SupportGrants: toSupportGrants(grants)}
	if len(grants) > 0 {
		last := grants[len(grants)-1]
		out.NextPageToken = paging.Next(paging.Cursor{Time: last.RequestTime, ID: last.ID}, more, filter)
	}
	return out, nil
}

func (s *Server) ListSupportGrants(ctx context.Context, req *identityv1.ListSupportGrantsRequest) (*identityv1.ListSupportGrantsResponse, error) {
	ids, err := resource.Parse("parent", req.GetParent(), "firms/{firm}")
	if err != nil {
		return nil, err
	}
	page, err := paging.Request(req.GetPageSize(), req.GetPageToken(), req.GetParent())
	if err != nil {
		return nil, err
	}
	grants, more, err := s.app.SupportGrants(ctx, caller(ctx), ids[0], page)
	if err != nil {
		return nil, err
	}
	out := &identityv1.ListSupportGrantsResponse{SupportGrants: toSupportGrants(grants)}
	if len(grants) > 0 {
		last := grants[len(grants)-1]
		out.NextPageToken = paging.Next(paging.Cursor{Time: last.RequestTime, ID: last.ID}, more, req.GetParent())
	}
	return out, nil
}

func (s *Server) GetSupportGrant(ctx context.Context, req *identityv1.GetSupportGrantRequest) (*identityv1.SupportGrant, error) {
	ids, err := resource.Parse("name", req.GetName(), "firms/{firm}/supportGrants/{grant}")
	if err != nil {
		return nil, err
	}
	g, err := s.app.SupportGrant(ctx, caller(ctx), ids[0], ids[1])
	if err != nil {
		return nil, err
	}
	return toSupportGrant(g, time.Now()), nil
}

func (s *Server) ApproveSupportGrant(ctx context.Context, req *identityv1.ApproveSupportGrantRequest) (*identityv1.SupportGrant, error) {
	ids, err := resource.Parse("name", req.GetName(), "firms/{firm}/supportGrants/{grant}")
	if err != nil {
		return nil, err
	}
	var ttl time.Duration
	if req.GetTtl() != nil {
		ttl = req.GetTtl().AsDuration()
	}
	g, err := s.app.ApproveSupportGrant(ctx, caller(ctx), ids[0], ids[1], fromSupportScope(req.GetScope()), ttl)
	if err != nil {
		return nil, err
	}
	return toSupportGrant(g, time.Now()), nil
}

func (s *Server) DenySupportGrant(ctx context.Context, req *identityv1.DenySupportGrantRequest) (*identityv1.SupportGrant, error) {
	ids, err := resource.Parse("name", req.GetName(), "firms/{firm}/supportGrants/{grant}")
	if err != nil {
		return nil, err
	}
	g, err := s.app.DenySupportGrant(ctx, caller(ctx), ids[0], ids[1])
	if err != nil {
		return nil, err
	}
	return toSupportGrant(g, time.Now()), nil
}

func (s *Server) RevokeSupportGrant(ctx context.Context, req *identityv1.RevokeSupportGrantRequest) (*identityv1.SupportGrant, error) {
	ids, err := resource.Parse("name", req.GetName(), "firms/{firm}/supportGrants/{grant}")
	if err != nil {
		return nil, err
	}
	g, err := s.app.RevokeSupportGrant(ctx, caller(ctx), ids[0], ids[1])
	if err != nil {
		return nil, err
	}
	return toSupportGrant(g, time.Now()), nil
}

func (s *Server) ListNotifications(ctx context.Context, req *identityv1.ListNotificationsRequest) (*identityv1.ListNotificationsResponse, error) {
	ids, err := resource.Parse("parent", req.GetParent(), "firms/{firm}")
	if err != nil {
		return nil, err
	}
	page, err := paging.Request(req.GetPageSize(), req.GetPageToken(), req.GetParent())
	if err != nil {
		return nil, err
	}
	notes, more, err := s.app.Notifications(ctx, caller(ctx), ids[0], page)
	if err != nil {
		return nil, err
	}
	out := &identityv1.ListNotificationsResponse{}
	for _, n := range notes {
		out.Notifications = append(out.Notifications, toNotification(n))
	}
	if len(notes) > 0 {
		last := notes[len(notes)-1]
		out.NextPageToken = paging.Next(paging.Cursor{Time: last.CreateTime, ID: last.ID}, more, req.GetParent())
	}
	return out, nil
}

func (s *Server) CreateStaff(ctx context.Context, req *identityv1.CreateStaffRequest) (*identityv1.CreateStaffResponse, error) {
	staff, secret, uri, err := s.app.CreateStaff(ctx, req.GetEmail(), req.GetDisplayName(), req.GetPassword())
	if err != nil {
		return nil, err
	}
	return &identityv1.CreateStaffResponse{Staff: toStaff(staff), TotpSecret: secret, OtpauthUri: uri}, nil
}

func (s *Server) OffboardStaff(ctx context.Context, req *identityv1.OffboardStaffRequest) (*identityv1.OffboardStaffResponse, error) {
	ref := app.StaffRef{Email: req.GetEmail()}
	if req.GetName() != "" {
		ids, err := resource.Parse("name", req.GetName(), "staff/{staff}")
		if err != nil {
			return nil, err
		}
		ref = app.StaffRef{ID: ids[0]}
	}
	staff, revoked, err := s.app.OffboardStaff(ctx, ref)
	if err != nil {
		return nil, err
	}
	return &identityv1.OffboardStaffResponse{Staff: toStaff(staff), RevokedGrants: int32(revoked)}, nil
}

func toStaff(s domain.Staff) *identityv1.Staff {
	return &identityv1.Staff{
		Name: resource.Name("staff", s.ID), Email: s.Email, DisplayName: s.DisplayName,
		CreateTime: ts(s.CreateTime), OffboardTime: ts(s.OffboardTime),
	}
}

var grantStates = map[domain.GrantState]identityv1.SupportGrantState{
	domain.GrantRequested: identityv1.SupportGrantState_SUPPORT_GRANT_STATE_REQUESTED,
	domain.GrantApproved:  identityv1.SupportGrantState_SUPPORT_GRANT_STATE_APPROVED,
	domain.GrantDenied:    identityv1.SupportGrantState_SUPPORT_GRANT_STATE_DENIED,
	domain.GrantRevoked:   identityv1.SupportGrantState_SUPPORT_GRANT_STATE_REVOKED,
	domain.GrantExpired:   identityv1.SupportGrantState_SUPPORT_GRANT_STATE_EXPIRED,
}

var supportScopes = map[principal.GrantScope]identityv1.SupportScope{
	principal.GrantRead:  identityv1.SupportScope_SUPPORT_SCOPE_READ,
	principal.GrantWrite: identityv1.SupportScope_SUPPORT_SCOPE_WRITE,
}

// fromSupportScope reads the scope a firm chose; unspecified is read-only.
func fromSupportScope(s identityv1.SupportScope) principal.GrantScope {
	if s == identityv1.SupportScope_SUPPORT_SCOPE_WRITE {
		return principal.GrantWrite
	}
	return principal.GrantRead
}

func toSupportGrant(g domain.SupportGrant, now time.Time) *identityv1.SupportGrant {
	return &identityv1.SupportGrant{
		Name:  resource.Name("firms", g.FirmID, "supportGrants", g.ID),
		Staff: resource.Name("staff", g.StaffID), StaffEmail: g.StaffEmail, StaffDisplayName: g.StaffName,
		Reason: g.Reason, Ticket: g.Ticket, State: grantStates[g.State(now)], Scope: supportScopes[g.Scope],
		RequestTime: ts(g.RequestTime), DecidedBy: g.DecidedBy, DecideTime: ts(g.DecideTime),
		ExpireTime: ts(g.ExpireTime), FirstUseTime: ts(g.FirstUseTime), RevokeTime: ts(g.RevokeTime),
		RevokedBy: g.RevokedBy,
	}
}

func toSupportGrants(grants []domain.SupportGrant) []*identityv1.SupportGrant {
	now := time.Now()
	out := make([]*identityv1.SupportGrant, 0, len(grants))
	for _, g := range grants {
		out = append(out, toSupportGrant(g, now))
	}
	return out
}

var notificationKinds = map[domain.NotificationKind]identityv1.NotificationKind{
	domain.NoticeSupportRequested: identityv1.NotificationKind_NOTIFICATION_KIND_SUPPORT_REQUESTED,
	domain.NoticeSupportApproved:  identityv1.NotificationKind_NOTIFICATION_KIND_SUPPORT_APPROVED,
	domain.NoticeSupportDenied:    identityv1.NotificationKind_NOTIFICATION_KIND_SUPPORT_DENIED,
	domain.NoticeSupportFirstUsed: identityv1.NotificationKind_NOTIFICATION_KIND_SUPPORT_FIRST_USED,
	domain.NoticeSupportExpired:   identityv1.NotificationKind_NOTIFICATION_KIND_SUPPORT_EXPIRED,
	domain.NoticeSupportRevoked:   identityv1.NotificationKind_NOTIFICATION_KIND_SUPPORT_REVOKED,
	domain.NoticeIncident:         identityv1.NotificationKind_NOTIFICATION_KIND_INCIDENT,
	domain.NoticeWebhookDisabled:  identityv1.NotificationKind_NOTIFICATION_KIND_WEBHOOK_DISABLED,
}

func toNotification(n domain.Notification) *identityv1.Notification {
	out := &identityv1.Notification{
		Name: resource.Name("firms", n.FirmID, "notifications", n.ID),
		Kind: notificationKinds[n.Kind], Text: n.Text, CreateTime: ts(n.CreateTime), WebhookSubscription: n.WebhookSubscription,
	}
	if n.GrantID != "" {
		out.SupportGrant = resource.Name("firms", n.FirmID, "supportGrants", n.GrantID)
	}
	if n.IncidentID != "" {
		out.Incident = resource.Name("firms", n.FirmID, "incidents", n.IncidentID)
	}
	return out
}
