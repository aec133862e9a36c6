package app

import (
	"context"

	"github.com/google/uuid"

	"github.com/firmflow/firmflow/pkg/apierr"
	"github.com/firmflow/firmflow/pkg/principal"
	"github.com/firmflow/firmflow/services/identity/internal/domain"
	"github.com/firmflow/firmflow/services/identity/internal/store"
)

// VerifyOwnerCredentials checks, for lifecycle, that memberID is an owner of firmID
// and that the password (and TOTP code, when enrolled) are theirs. Failures count
// toward the login lockout exactly as a failed login does, so the check cannot be
// used to guess a password faster than logging in.
func (a *App) VerifyOwnerCredentials(ctx context.Context, firmID, memberID, password, code string) error {
	var refusal error
	err := a.store.InFirm(ctx, firmID, func(q *store.Queries) error {
		now := a.now()
		m, err := q.MemberForUpdate(ctx, memberID)
		if err != nil {
			return err
		}
		if m.Role != principal.RoleOwner {
			refusal = apierr.PermissionDenied("ROLE_NOT_ALLOWED", "only an owner may do this")
			return nil
		}
		if err := a.lockout.Check(m.LoginAttempts, now); err != nil {
			refusal = err
			return nil
		}
		if !domain.CheckPassword(password, m.PasswordHash) {
			refusal = domain.ErrBadCredentials()
			a.lockout.Failed(&m.LoginAttempts, now)
			return q.SaveLoginState(ctx, m)
		}
		if m.TOTPEnabled() {
			if code == "" {
				refusal = apierr.InvalidArgument("totp_code", "TOTP_REQUIRED", "enter the code from your authenticator app")
				return nil
			}
			secret, err := a.openTOTPSecret(ctx, q, m, m.TOTPSecret)
			if err != nil {
				return err
			}
			step, ok := domain.MatchTOTP(secret, code, m.TOTPLastStep, now)
			if !ok {
				refusal = domain.ErrBadCredentials()
				a.lockout.Failed(&m.LoginAttempts, now)
				return q.SaveLoginState(ctx, m)
			}
			m.TOTPLastStep = step
		}
		a.lockout.Succeeded(&m.LoginAttempts)
		return q.SaveLoginState(ctx, m)
	})
	if err != nil {
		return err
	}
	return refusal
}

// SetFirmDeletionScheduled sets or clears the firm's read-only mark for its deletion's
// grace period. Sessions and API keys carry it from their next request on.
func (a *App) SetFirmDeletionScheduled(ctx context.Context, firmID string, scheduled bool) error {
	return a.store.InFirm(ctx, firmID, func(q *store.Queries) error {
		return q.SetDeletionScheduled(ctx, firmID, scheduled)
	})
}

// PostIncidentNotification adds a security incident's notice to the firm's
// notifications; again for the same incident, it changes nothing.
func (a *App) PostIncidentNotification(ctx context.Context, firmID, incidentID, text string) error {
	return a.store.InFirm(ctx, firmID, func(q *store.Queries) error {
		return q.AddIncidentNotification(ctx, domain.Notification{
			ID: uuid.NewString(), FirmID: firmID, Kind: domain.NoticeIncident, IncidentID: incidentID, Text: text, CreateTime: a.now(),
		})
	})
}
