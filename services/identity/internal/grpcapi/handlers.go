// Package grpcapi is identity's gRPC surface: each handler turns the request into
// arguments, calls one use case and turns the result into the response.
package grpcapi

import (
	"context"
	"github.com/firmflow/firmflow/pkg/firmdata"
	"slices"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/metadata"
	"google.golang.org/protobuf/types/known/emptypb"

	"github.com/firmflow/firmflow/pkg/apierr"
	identityv1 "github.com/firmflow/firmflow/pkg/gen/firmflow/identity/v1"
	"github.com/firmflow/firmflow/pkg/paging"
	"github.com/firmflow/firmflow/pkg/principal"
	"github.com/firmflow/firmflow/pkg/resource"
	"github.com/firmflow/firmflow/services/identity/internal/app"
	"github.com/firmflow/firmflow/services/identity/internal/domain"
)

// Server implements identity's gRPC services.
type Server struct {
	identityv1.UnimplementedIdentityServiceServer
	identityv1.UnimplementedAuthServiceServer
	identityv1.UnimplementedStaffServiceServer
	identityv1.UnimplementedSupportServiceServer
	identityv1.UnimplementedStaffAdminServiceServer
	app *app.App
}

// Register adds identity's services to srv.
func Register(srv *grpc.Server, a *app.App) {
	s := &Server{app: a}
	identityv1.RegisterIdentityServiceServer(srv, s)
	identityv1.RegisterAuthServiceServer(srv, s)
	identityv1.RegisterStaffServiceServer(srv, s)
	identityv1.RegisterSupportServiceServer(srv, s)
	identityv1.RegisterStaffAdminServiceServer(srv, s)
	identityv1.RegisterClosureServiceServer(srv, closureServer{s: s})
	// lifecycle exports and deletes the firm's data through FirmDataService.
	firmdata.Register(srv, a)
}

// caller is the verified principal; the declared policies guarantee one on every
// non-public method.
func caller(ctx context.Context) principal.Principal {
	p, _ := principal.FromContext(ctx)
	return p
}

// clientInfo reads what the gateway forwarded about the browser.
func clientInfo(ctx context.Context) (userAgent, clientIP string) {
	md, _ := metadata.FromIncomingContext(ctx)
	if v := md.Get("x-forwarded-user-agent"); len(v) > 0 {
		userAgent = v[0]
	}
	if v := md.Get("x-forwarded-client-ip"); len(v) > 0 {
		clientIP = v[0]
	}
	return truncate(userAgent, 512), truncate(clientIP, 64)
}

func truncate(s string, n int) string {
	if len(s) > n {
		return s[:n]
	}
	return s
}

func (s *Server) SignUp(ctx context.Context, req *identityv1.SignUpRequest) (*identityv1.SignUpResponse, error) {
	firm, owner, err := s.app.SignUp(ctx, req.GetFirmDisplayName(), req.GetEmail(), req.GetDisplayName(), req.GetPassword())
	if err != nil {
		return nil, err
	}
	return &identityv1.SignUpResponse{Firm: toFirm(firm), Owner: toMember(owner)}, nil
}

func (s *Server) Login(ctx context.Context, req *identityv1.LoginRequest) (*identityv1.LoginResponse, error) {
	ua, ip := clientInfo(ctx)
	res, err := s.app.Login(ctx, req.GetEmail(), req.GetPassword(), req.GetTotpCode(), ua, ip)
	if err != nil {
		return nil, err
	}
	return &identityv1.LoginResponse{
		Session: toSession(res.Session, res.Session.ID), Member: toMember(res.Member),
		CsrfToken: res.CSRFToken, SessionToken: res.SessionToken,
	}, nil
}

func (s *Server) Logout(ctx context.Context, _ *identityv1.LogoutRequest) (*emptypb.Empty, error) {
	return &emptypb.Empty{}, s.app.Logout(ctx, caller(ctx))
}

func (s *Server) ListSessions(ctx context.Context, _ *identityv1.ListSessionsRequest) (*identityv1.ListSessionsResponse, error) {
	p := caller(ctx)
	sessions, err := s.app.Sessions(ctx, p)
	if err != nil {
		return nil, err
	}
	out := &identityv1.ListSessionsResponse{}
	for _, sess := range sessions {
		out.Sessions = append(out.Sessions, toSession(sess, p.SessionID))
	}
	return out, nil
}

func (s *Server) RevokeSession(ctx context.Context, req *identityv1.RevokeSessionRequest) (*emptypb.Empty, error) {
	ids, err := resource.Parse("name", req.GetName(), "sessions/{session}")
	if err != nil {
		return nil, err
	}
	return &emptypb.Empty{}, s.app.RevokeSession(ctx, caller(ctx), ids[0])
}

func (s *Server) GetCaller(ctx context.Context, _ *identityv1.GetCallerRequest) (*identityv1.Caller, error) {
	c, err := s.app.WhoAmI(ctx, caller(ctx))
	if err != nil {
		return nil, err
	}
	out := &identityv1.Caller{Firm: toFirm(c.Firm)}
	switch {
	case c.Member != nil:
		out.Principal = &identityv1.Caller_Member{Member: toMember(*c.Member)}
	case c.APIKey != nil:
		out.Principal = &identityv1.Caller_ApiKey{ApiKey: toAPIKey(*c.APIKey, "", time.Now())}
	}
	return out, nil
}

func (s *Server) BeginTotpEnrollment(ctx context.Context, _ *identityv1.BeginTotpEnrollmentRequest) (*identityv1.BeginTotpEnrollmentResponse, error) {
	secret, uri, err := s.app.BeginTOTP(ctx, caller(ctx))
	if err != nil {
		return nil, err
	}
	return &identityv1.BeginTotpEnrollmentResponse{Secret: secret, OtpauthUri: uri}, nil
}

func (s *Server) ConfirmTotpEnrollment(ctx context.Context, req *identityv1.ConfirmTotpEnrollmentRequest) (*identityv1.Member, error) {
	m, err := s.app.ConfirmTOTP(ctx, caller(ctx), req.GetCode())
	if err != nil {
		return nil, err
	}
	return toMember(m), nil
}

func (s *Server) GetFirm(ctx context.Context, req *identityv1.GetFirmRequest) (*identityv1.Firm, error) {
	ids, err := resource.Parse("name", req.GetName(), "firms/{firm}")
	if err != nil {
		return nil, err
	}
	f, err := s.app.Firm(ctx, caller(ctx), ids[0])
	if err != nil {
		return nil, err
	}
	return toFirm(f), nil
}

func (s *Server) UpdateFirm(ctx context.Context, req *identityv1.UpdateFirmRequest) (*identityv1.Firm, error) {
	ids, err := resource.Parse("firm.name", req.GetFirm().GetName(), "firms/{firm}")
	if err != nil {
		return nil, err
	}
	patch := app.FirmPatch{Etag: req.GetFirm().GetEtag()}
	for _, path := range req.GetUpdateMask().GetPaths() {
		switch path {
		case "display_name":
			if req.GetFirm().GetDisplayName() == "" {
				return nil, apierr.InvalidArgument("firm.display_name", "required", "must not be empty")
			}
			patch.DisplayName = &req.Firm.DisplayName
		case "require_totp":
			patch.RequireTOTP = &req.Firm.RequireTotp
		default:
			return nil, apierr.InvalidArgument("update_mask", "update_mask.paths", "can only change display_name and require_totp")
		}
	}
	f, err := s.app.UpdateFirm(ctx, caller(ctx), ids[0], patch)
	if err != nil {
		return nil, err
	}
	return toFirm(f), nil
}

func (s *Server) ListMembers(ctx context.Context, req *identityv1.ListMembersRequest) (*identityv1.ListMembersResponse, error) {
	ids, err := resource.Parse("parent", req.GetParent(), "firms/{firm}")
	if err != nil {
		return nil, err
	}
	page, err := paging.Request(req.GetPageSize(), req.GetPageToken(), req.GetParent())
	if err != nil {
		return nil, err
	}
	members, more, err := s.app.Members(ctx, caller(ctx), ids[0], page)
	if err != nil {
		return nil, err
	}
	out := &identityv1.ListMembersResponse{}
	for _, m := range members {
		out.Members = append(out.Members, toMember(m))
	}
	if len(members) > 0 {
		last := members[len(members)-1]
		out.NextPageToken = paging.Next(paging.Cursor{Time: last.CreateTime, ID: last.ID}, more, req.GetParent())
	}
	return out, nil
}

func (s *Server) GetMember(ctx context.Context, req *identityv1.GetMemberRequest) (*identityv1.Member, error) {
	ids, err := resource.Parse("name", req.GetName(), "firms/{firm}/members/{member}")
	if err != nil {
		return nil, err
	}
	m, err := s.app.Member(ctx, caller(ctx), ids[0], ids[1])
	if err != nil {
		return nil, err
	}
	return toMember(m), nil
}

func (s *Server) UpdateMember(ctx context.Context, req *identityv1.UpdateMemberRequest) (*identityv1.Member, error) {
	ids, err := resource.Parse("member.name", req.GetMember().GetName(), "firms/{firm}/members/{member}")
	if err != nil {
		return nil, err
	}
	if !slices.Equal(req.GetUpdateMask().GetPaths(), []string{"role"}) {
		return nil, apierr.InvalidArgument("update_mask", "update_mask.paths", "can only change role")
	}
	m, err := s.app.ChangeRole(ctx, caller(ctx), ids[0], ids[1], fromRole(req.GetMember().GetRole()), req.GetMember().GetEtag())
	if err != nil {
		return nil, err
	}
	return toMember(m), nil
}

func (s *Server) RemoveMember(ctx context.Context, req *identityv1.RemoveMemberRequest) (*emptypb.Empty, error) {
	ids, err := resource.Parse("name", req.GetName(), "firms/{firm}/members/{member}")
	if err != nil {
		return nil, err
	}
	return &emptypb.Empty{}, s.app.RemoveMember(ctx, caller(ctx), ids[0], ids[1])
}

func (s *Server) CreateInvitation(ctx context.Context, req *identityv1.CreateInvitationRequest) (*identityv1.Invitation, error) {
	ids, err := resource.Parse("parent", req.GetParent(), "firms/{firm}")
	if err != nil {
		return nil, err
	}
	inv := req.GetInvitation()
	created, token, err := s.app.Invite(ctx, caller(ctx), ids[0], inv.GetEmail(), fromRole(inv.GetRole()), req.GetRequestId())
	if err != nil {
		return nil, err
	}
	return toInvitation(created, token), nil
}

func (s *Server) ListInvitations(ctx context.Context, req *identityv1.ListInvitationsRequest) (*identityv1.ListInvitationsResponse, error) {
	ids, err := resource.Parse("parent", req.GetParent(), "firms/{firm}")
	if err != nil {
		return nil, err
	}
	invs, err := s.app.Invitations(ctx, caller(ctx), ids[0])
	if err != nil {
		return nil, err
	}
	out := &identityv1.ListInvitationsResponse{}
	for _, inv := range invs {
		out.Invitations = append(out.Invitations, toInvitation(inv, ""))
	}
	return out, nil
}

func (s *Server) AcceptInvitation(ctx context.Context, req *identityv1.AcceptInvitationRequest) (*identityv1.Member, error) {
	m, err := s.app.AcceptInvitation(ctx, req.GetToken(), req.GetDisplayName(), req.GetPassword())
	if err != nil {
		return nil, err
	}
	return toMember(m), nil
}

func (s *Server) CreateApiKey(ctx context.Context, req *identityv1.CreateApiKeyRequest) (*identityv1.ApiKey, error) {
	ids, err := resource.Parse("parent", req.GetParent(), "firms/{firm}")
	if err != nil {
		return nil, err
	}
	k := req.GetApiKey()
	var expire time.Time
	if k.GetExpireTime() != nil {
		expire = k.GetExpireTime().AsTime()
	}
	created, secret, err := s.app.CreateAPIKey(ctx, caller(ctx), ids[0], k.GetDisplayName(), k.GetScopes(), expire, req.GetRequestId())
	if err != nil {
		return nil, err
	}
	return toAPIKey(created, secret, time.Now()), nil
}

func (s *Server) ListApiKeys(ctx context.Context, req *identityv1.ListApiKeysRequest) (*identityv1.ListApiKeysResponse, error) {
	ids, err := resource.Parse("parent", req.GetParent(), "firms/{firm}")
	if err != nil {
		return nil, err
	}
	page, err := paging.Request(req.GetPageSize(), req.GetPageToken(), req.GetParent())
	if err != nil {
		return nil, err
	}
	keys, more, err := s.app.APIKeys(ctx, caller(ctx), ids[0], page)
	if err != nil {
		return nil, err
	}
	now := time.Now()
	out := &identityv1.ListApiKeysResponse{}
	for _, k := range keys {
		out.ApiKeys = append(out.ApiKeys, toAPIKey(k, "", now))
	}
	if len(keys) > 0 {
		last := keys[len(keys)-1]
		out.NextPageToken = paging.Next(paging.Cursor{Time: last.CreateTime, ID: last.ID}, more, req.GetParent())
	}
	return out, nil
}

func (s *Server) GetApiKey(ctx context.Context, req *identityv1.GetApiKeyRequest) (*identityv1.ApiKey, error) {
	ids, err := resource.Parse("name", req.GetName(), "firms/{firm}/apiKeys/{apiKey}")
	if err != nil {
		return nil, err
	}
	k, err := s.app.APIKey(ctx, caller(ctx), ids[0], ids[1])
	if err != nil {
		return nil, err
	}
	return toAPIKey(k, "", time.Now()), nil
}

func (s *Server) RotateApiKey(ctx context.Context, req *identityv1.RotateApiKeyRequest) (*identityv1.ApiKey, error) {
	ids, err := resource.Parse("name", req.GetName(), "firms/{firm}/apiKeys/{apiKey}")
	if err != nil {
		return nil, err
	}
	overlap := domain.DefaultRotationOverlap
	if req.GetOverlap() != nil {
		overlap = req.GetOverlap().AsDuration()
	}
	next, secret, err := s.app.RotateAPIKey(ctx, caller(ctx), ids[0], ids[1], overlap)
	if err != nil {
		return nil, err
	}
	return toAPIKey(next, secret, time.Now()), nil
}

func (s *Server) RevokeApiKey(ctx context.Context, req *identityv1.RevokeApiKeyRequest) (*identityv1.ApiKey, error) {
	ids, err := resource.Parse("name", req.GetName(), "firms/{firm}/apiKeys/{apiKey}")
	if err != nil {
		return nil, err
	}
	k, err := s.app.RevokeAPIKey(ctx, caller(ctx), ids[0], ids[1])
	if err != nil {
		return nil, err
	}
	return toAPIKey(k, "", time.Now()), nil
}

func (s *Server) Authenticate(ctx context.Context, req *identityv1.AuthenticateRequest) (*identityv1.AuthenticateResponse, error) {
	signed, err := s.app.Authenticate(ctx, app.Credential{
		SessionToken: req.GetSessionToken(), APIKey: req.GetApiKey(),
		CSRFToken: req.GetCsrfToken(), RequireCSRF: req.GetRequireCsrf(), SupportGrant: req.GetSupportGrant(),
	})
	if err != nil {
		return nil, err
	}
	p := signed.Principal
	resp := &identityv1.AuthenticateResponse{
		PrincipalToken: signed.Token, ExpireTime: ts(signed.Expires),
		Actor: p.Actor(), ActorKind: string(p.Kind),
	}
	if p.FirmID != "" {
		resp.Firm = "firms/" + p.FirmID
		if p.GrantID != "" {
			resp.SupportGrant = resp.Firm + "/supportGrants/" + p.GrantID
		}
	}
	return resp, nil
}
