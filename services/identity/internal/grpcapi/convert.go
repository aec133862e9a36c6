package grpcapi

import (
	"time"

	"google.golang.org/protobuf/types/known/timestamppb"

	identityv1 "github.com/firmflow/firmflow/pkg/gen/firmflow/identity/v1"
	"github.com/firmflow/firmflow/pkg/resource"
	"github.com/firmflow/firmflow/services/identity/internal/app"
	"github.com/firmflow/firmflow/services/identity/internal/domain"
)

func firmName(id string) string { return resource.Name("firms", id) }

func toFirm(f domain.Firm) *identityv1.Firm {
	return &identityv1.Firm{
		Name: firmName(f.ID), DisplayName: f.DisplayName, RequireTotp: f.RequireTOTP,
		CreateTime: ts(f.CreateTime), UpdateTime: ts(f.UpdateTime), Etag: app.Etag(f.Version),
	}
}

func toMember(m domain.Member) *identityv1.Member {
	return &identityv1.Member{
		Name:  resource.Name("firms", m.FirmID, "members", m.ID),
		Email: m.Email, DisplayName: m.DisplayName, Role: toRole(m.Role),
		TotpEnabled: m.TOTPEnabled(), CreateTime: ts(m.CreateTime), Etag: app.Etag(m.Version),
	}
}

func toSession(s domain.Session, current string) *identityv1.Session {
	return &identityv1.Session{
		Name: resource.Name("sessions", s.ID), CreateTime: ts(s.CreateTime), LastSeenTime: ts(s.LastSeenTime),
		ExpireTime: ts(s.ExpireTime), IdleExpireTime: ts(s.IdleExpireTime),
		UserAgent: s.UserAgent, ClientIp: s.ClientIP, Current: s.ID == current,
	}
}

func toInvitation(i domain.Invitation, token string) *identityv1.Invitation {
	return &identityv1.Invitation{
		Name:  resource.Name("firms", i.FirmID, "invitations", i.ID),
		Email: i.Email, Role: toRole(i.Role), CreateTime: ts(i.CreateTime), ExpireTime: ts(i.ExpireTime), Token: token,
	}
}

func toAPIKey(k domain.APIKey, secret string, now time.Time) *identityv1.ApiKey {
	out := &identityv1.ApiKey{
		Name:        resource.Name("firms", k.FirmID, "apiKeys", k.ID),
		DisplayName: k.DisplayName, Scopes: k.Scopes, CreateTime: ts(k.CreateTime),
		ExpireTime: ts(k.ExpireTime), LastUsedTime: ts(k.LastUsedTime), RevokeTime: ts(k.RevokeTime),
		Prefix: k.Prefix, Secret: secret,
	}
	if k.RotatedFrom != "" {
		out.RotatedFrom = resource.Name("firms", k.FirmID, "apiKeys", k.RotatedFrom)
	}
	switch k.State(now) {
	case domain.KeyActive:
		out.State = identityv1.ApiKeyState_API_KEY_STATE_ACTIVE
	case domain.KeyExpired:
		out.State = identityv1.ApiKeyState_API_KEY_STATE_EXPIRED
	case domain.KeyRevoked:
		out.State = identityv1.ApiKeyState_API_KEY_STATE_REVOKED
	}
	return out
}

var roles = map[domain.Role]identityv1.Role{
	domain.RoleOwner:  identityv1.Role_ROLE_OWNER,
	domain.RoleAdmin:  identityv1.Role_ROLE_ADMIN,
	domain.RoleMember: identityv1.Role_ROLE_MEMBER,
}

func toRole(r domain.Role) identityv1.Role { return roles[r] }

func fromRole(r identityv1.Role) domain.Role {
	for d, p := range roles {
		if p == r {
			return d
		}
	}
	return ""
}

func ts(t time.Time) *timestamppb.Timestamp {
	if t.IsZero() {
		return nil
	}
	return timestamppb.New(t)
}
