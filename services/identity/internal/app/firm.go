package app

import (
	"context"
	"time"

	"github.com/firmflow/firmflow/pkg/apierr"
	eventsv1 "github.com/firmflow/firmflow/pkg/gen/firmflow/events/v1"
	"github.com/firmflow/firmflow/pkg/paging"
	"github.com/firmflow/firmflow/pkg/principal"
	"github.com/firmflow/firmflow/pkg/resource"
	"github.com/firmflow/firmflow/services/identity/internal/domain"
	"github.com/firmflow/firmflow/services/identity/internal/store"
)

// Firm returns the caller's firm.
func (a *App) Firm(ctx context.Context, p principal.Principal, firmID string) (domain.Firm, error) {
	var f domain.Firm
	err := a.inFirm(ctx, p, firmID, func(q *store.Queries) error {
		var err error
		f, err = q.Firm(ctx, firmID)
		return err
	})
	return f, err
}

// FirmPatch is an UpdateFirm: nil fields stay as they are.
type FirmPatch struct {
	DisplayName *string
	RequireTOTP *bool
	Etag        string
}

// UpdateFirm changes the firm's settings.
func (a *App) UpdateFirm(ctx context.Context, p principal.Principal, firmID string, patch FirmPatch) (domain.Firm, error) {
	var f domain.Firm
	err := a.inFirm(ctx, p, firmID, func(q *store.Queries) error {
		var err error
		if f, err = q.Firm(ctx, firmID); err != nil {
			return err
		}
		if err := checkEtag(patch.Etag, f.Version, "firm"); err != nil {
			return err
		}
		expected := f.Version
		var changed []string
		if patch.DisplayName != nil && *patch.DisplayName != f.DisplayName {
			f.DisplayName, changed = *patch.DisplayName, append(changed, "display_name")
		}
		if patch.RequireTOTP != nil && *patch.RequireTOTP != f.RequireTOTP {
			f.RequireTOTP, changed = *patch.RequireTOTP, append(changed, "require_totp")
		}
		if len(changed) == 0 {
			return nil
		}
		if f, err = q.UpdateFirm(ctx, f, expected); err != nil {
			return err
		}
		return emit(ctx, q, firmID, p.Actor(), "firm_updated",
			&eventsv1.FirmUpdated{Firm: resource.Name("firms", firmID), ChangedFields: changed})
	})
	return f, err
}

// Members lists a page of the firm's members.
func (a *App) Members(ctx context.Context, p principal.Principal, firmID string, page paging.Page) ([]domain.Member, bool, error) {
	var members []domain.Member
	var more bool
	err := a.inFirm(ctx, p, firmID, func(q *store.Queries) error {
		var err error
		members, more, err = q.Members(ctx, page)
		return err
	})
	return members, more, err
}

// Member returns one member of the caller's firm.
func (a *App) Member(ctx context.Context, p principal.Principal, firmID, memberID string) (domain.Member, error) {
	var m domain.Member
	err := a.inFirm(ctx, p, firmID, func(q *store.Queries) error {
		var err error
		m, err = q.Member(ctx, memberID)
		return err
	})
	return m, err
}

// ChangeRole gives a member another role.
func (a *App) ChangeRole(ctx context.Context, p principal.Principal, firmID, memberID string, role domain.Role, etag string) (domain.Member, error) {
	var m domain.Member
	err := a.inFirm(ctx, p, firmID, func(q *store.Queries) error {
		owners, err := q.CountOwners(ctx)
		if err != nil {
			return err
		}
		if m, err = q.MemberForUpdate(ctx, memberID); err != nil {
			return err
		}
		if err := checkEtag(etag, m.Version, "member"); err != nil {
			return err
		}
		if err := domain.CheckRoleChange(p.Role, m.Role, role, owners); err != nil {
			return err
		}
		if m.Role == role {
			return nil
		}
		if err := q.UpdateMemberRole(ctx, m.ID, role, m.Version); err != nil {
			return err
		}
		old := m.Role
		m.Role, m.Version = role, m.Version+1
		return emit(ctx, q, firmID, p.Actor(), "member_role_changed",
			&eventsv1.MemberRoleChanged{Member: memberName(m), OldRole: string(old), NewRole: string(role)})
	})
	return m, err
}

// RemoveMember takes a member out of the firm; their sessions end with them.
func (a *App) RemoveMember(ctx context.Context, p principal.Principal, firmID, memberID string) error {
	return a.inFirm(ctx, p, firmID, func(q *store.Queries) error {
		owners, err := q.CountOwners(ctx)
		if err != nil {
			return err
		}
		m, err := q.MemberForUpdate(ctx, memberID)
		if err != nil {
			return err
		}
		if err := domain.CheckRemoval(p.Role, m.Role, owners); err != nil {
			return err
		}
		if err := q.DeleteMember(ctx, m.ID); err != nil {
			return err
		}
		n, err := q.CountMembers(ctx)
		if err != nil {
			return err
		}
		return emit(ctx, q, firmID, p.Actor(), "member_removed",
			&eventsv1.MemberRemoved{Member: memberName(m), ActiveMembers: int32(n)})
	})
}

// Invite creates an invitation and emails its token to the invitee, in the same
// transaction. Only when no mail server is configured is the token returned instead,
// once, for the inviter to pass on. A retry with the same request id returns the
// first invitation without a token and sends nothing more.
func (a *App) Invite(ctx context.Context, p principal.Principal, firmID, email string, role domain.Role, requestID string) (domain.Invitation, string, error) {
	if err := domain.CheckInvitation(p.Kind, p.Role, role); err != nil {
		return domain.Invitation{}, "", err
	}
	now := a.now()
	token := domain.NewSecret("ffi_")
	inv := domain.Invitation{
		ID: newID(), FirmID: firmID, Email: email, Role: role, TokenHash: token.Hash, InvitedBy: p.Actor(),
		RequestID: requestID, CreateTime: now, ExpireTime: now.Add(domain.InvitationLifetime),
	}
	var existing bool
	err := a.inFirm(ctx, p, firmID, func(q *store.Queries) error {
		taken, err := q.EmailRegistered(ctx, email)
		if err != nil {
			return err
		}
		if taken {
			return store.ErrEmailTaken
		}
		if inv, existing, err = q.CreateInvitation(ctx, inv); err != nil || existing || !a.mail.On() {
			return err
		}
		return a.sendInvitation(ctx, q, p, inv, token.Plain)
	})
	if err != nil || existing || a.mail.On() {
		return inv, "", err
	}
	return inv, token.Plain, nil
}

func (a *App) sendInvitation(ctx context.Context, q *store.Queries, p principal.Principal, inv domain.Invitation, token string) error {
	firm, err := q.Firm(ctx, inv.FirmID)
	if err != nil {
		return err
	}
	inviter, err := q.Member(ctx, p.UserID)
	if err != nil {
		return err
	}
	return a.sendMail(ctx, q, inv.FirmID, inv.Email, "invitation", inv.ID, "invitation", map[string]any{
		"Inviter": inviter.DisplayName, "Firm": firm.DisplayName, "Role": string(inv.Role), "Token": token,
		"Expires":   mailTime(inv.ExpireTime),
		"AcceptURL": a.mail.PublicURL + "/invitations/accept#token=" + token,
	})
}

// Invitations lists the firm's pending invitations.
func (a *App) Invitations(ctx context.Context, p principal.Principal, firmID string) ([]domain.Invitation, error) {
	var invs []domain.Invitation
	err := a.inFirm(ctx, p, firmID, func(q *store.Queries) error {
		var err error
		invs, err = q.PendingInvitations(ctx, a.now())
		return err
	})
	return invs, err
}

// AcceptInvitation creates the invited member.
func (a *App) AcceptInvitation(ctx context.Context, token, name, password string) (domain.Member, error) {
	var firmID, invitationID string
	var found bool
	err := a.store.Lookups(ctx, func(q *store.Queries) error {
		var err error
		firmID, invitationID, found, err = q.InvitationTarget(ctx, domain.HashSecret(token))
		return err
	})
	if err != nil {
		return domain.Member{}, err
	}
	if !found {
		return domain.Member{}, apierr.NotFound("invitation")
	}
	hash, err := domain.HashPassword(password)
	if err != nil {
		return domain.Member{}, err
	}
	var m domain.Member
	err = a.store.InFirm(ctx, firmID, func(q *store.Queries) error {
		now := a.now()
		inv, err := q.InvitationForUpdate(ctx, invitationID)
		if err != nil {
			return err
		}
		if !inv.Acceptable(now) {
			return apierr.FailedPrecondition("INVITATION_USED_OR_EXPIRED", "ask for a new invitation")
		}
		m = domain.Member{
			ID: newID(), FirmID: firmID, Email: inv.Email, DisplayName: name, Role: inv.Role,
			PasswordHash: hash, Version: 1, CreateTime: now,
		}
		if err := q.CreateMember(ctx, m); err != nil {
			return err
		}
		if err := q.AcceptInvitation(ctx, inv.ID, now); err != nil {
			return err
		}
		return memberJoined(ctx, q, m, "users/"+m.ID)
	})
	return m, err
}

// CreateAPIKey issues a key; the secret is returned only here. A retry with the same
// request id returns the first key without its secret.
func (a *App) CreateAPIKey(ctx context.Context, p principal.Principal, firmID, name string, scopes []string, expire time.Time, requestID string) (domain.APIKey, string, error) {
	key, secret, err := domain.NewAPIKey(newID(), firmID, name, scopes, expire, p.Actor(), a.now())
	if err != nil {
		return domain.APIKey{}, "", err
	}
	key.RequestID = requestID
	var existing bool
	err = a.inFirm(ctx, p, firmID, func(q *store.Queries) error {
		if key, existing, err = q.CreateAPIKey(ctx, key); err != nil || existing {
			return err
		}
		return emit(ctx, q, firmID, p.Actor(), "api_key_created", &eventsv1.ApiKeyChanged{ApiKey: apiKeyName(key), Scopes: key.Scopes})
	})
	if err != nil || existing {
		return key, "", err
	}
	return key, secret.Plain, nil
}

// APIKeys lists a page of the firm's keys.
func (a *App) APIKeys(ctx context.Context, p principal.Principal, firmID string, page paging.Page) ([]domain.APIKey, bool, error) {
	var keys []domain.APIKey
	var more bool
	err := a.inFirm(ctx, p, firmID, func(q *store.Queries) error {
		var err error
		keys, more, err = q.APIKeys(ctx, page)
		return err
	})
	return keys, more, err
}

// APIKey returns one key.
func (a *App) APIKey(ctx context.Context, p principal.Principal, firmID, keyID string) (domain.APIKey, error) {
	var k domain.APIKey
	err := a.inFirm(ctx, p, firmID, func(q *store.Queries) error {
		var err error
		k, err = q.APIKey(ctx, keyID)
		return err
	})
	return k, err
}

// RotateAPIKey issues a successor and lets the old key live for the overlap.
func (a *App) RotateAPIKey(ctx context.Context, p principal.Principal, firmID, keyID string, overlap time.Duration) (domain.APIKey, string, error) {
	var next domain.APIKey
	var secret domain.Secret
	err := a.inFirm(ctx, p, firmID, func(q *store.Queries) error {
		old, err := q.APIKeyForUpdate(ctx, keyID)
		if err != nil {
			return err
		}
		next, secret, err = old.Rotate(newID(), overlap, p.Actor(), a.now())
		if err != nil {
			return err
		}
		if err := q.SaveAPIKeyLife(ctx, old); err != nil {
			return err
		}
		if next, _, err = q.CreateAPIKey(ctx, next); err != nil {
			return err
		}
		return emit(ctx, q, firmID, p.Actor(), "api_key_rotated",
			&eventsv1.ApiKeyChanged{ApiKey: apiKeyName(next), Scopes: next.Scopes, RotatedFrom: apiKeyName(old)})
	})
	return next, secret.Plain, err
}

// RevokeAPIKey ends a key; the next request with it fails.
func (a *App) RevokeAPIKey(ctx context.Context, p principal.Principal, firmID, keyID string) (domain.APIKey, error) {
	var k domain.APIKey
	err := a.inFirm(ctx, p, firmID, func(q *store.Queries) error {
		var err error
		if k, err = q.APIKeyForUpdate(ctx, keyID); err != nil {
			return err
		}
		if !k.RevokeTime.IsZero() {
			return nil
		}
		k.Revoke(a.now())
		if err := q.SaveAPIKeyLife(ctx, k); err != nil {
			return err
		}
		return emit(ctx, q, firmID, p.Actor(), "api_key_revoked", &eventsv1.ApiKeyChanged{ApiKey: apiKeyName(k), Scopes: k.Scopes})
	})
	return k, err
}
