package app

import (
	"context"

	"github.com/google/uuid"

	"github.com/firmflow/firmflow/pkg/apierr"
	eventsv1 "github.com/firmflow/firmflow/pkg/gen/firmflow/events/v1"
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
// notifications and, in the same transaction, queues its email to each owner and
// admin. Posted again for the same incident it changes nothing: the first notice
// stays, and each email's Message-ID (incident, firm, user) is already queued. It
// reports whether emails are queued; without a mail server none are.
func (a *App) PostIncidentNotification(ctx context.Context, firmID, incidentID, text string) (bool, error) {
	err := a.store.InFirm(ctx, firmID, func(q *store.Queries) error {
		err := q.AddIncidentNotification(ctx, domain.Notification{
			ID: uuid.NewString(), FirmID: firmID, Kind: domain.NoticeIncident, IncidentID: incidentID, Text: text, CreateTime: a.now(),
		})
		if err != nil || !a.mail.On() {
			return err
		}
		return a.mailIncidentNotice(ctx, q, firmID, incidentID, text)
	})
	return err == nil && a.mail.On(), err
}

func (a *App) mailIncidentNotice(ctx context.Context, q *store.Queries, firmID, incidentID, text string) error {
	firm, err := q.Firm(ctx, firmID)
	if err != nil {
		return err
	}
	managers, err := q.Managers(ctx)
	if err != nil {
		return err
	}
	for _, m := range managers {
		err := a.sendMail(ctx, q, firmID, m.Email, "incident-notice", incidentID+"."+firmID+"."+m.ID, "incident_notice", map[string]any{
			"Name": m.DisplayName, "Firm": firm.DisplayName, "Text": text,
			"IncidentsURL": a.mail.PublicURL + "/v1/firms/" + firmID + "/incidents",
		})
		if err != nil {
			return err
		}
	}
	return nil
}

// Target is one compromised principal in one firm: an API key or a member.
type Target struct {
	FirmID string
	ID     string
}

// ContainIncident revokes the API keys and ends the members' sessions, each in its
// firm's transaction; the key revocations' events name the incident as their actor.
// Run again, it finds nothing more to do.
func (a *App) ContainIncident(ctx context.Context, incidentID string, keys, members []Target) (revoked, ended int, err error) {
	actor := "incidents/" + incidentID
	for _, k := range keys {
		err := a.store.InFirm(ctx, k.FirmID, func(q *store.Queries) error {
			key, err := q.APIKeyForUpdate(ctx, k.ID)
			if err != nil || !key.RevokeTime.IsZero() {
				return err
			}
			key.Revoke(a.now())
			if err := q.SaveAPIKeyLife(ctx, key); err != nil {
				return err
			}
			revoked++
			return emit(ctx, q, k.FirmID, actor, "api_key_revoked", &eventsv1.ApiKeyChanged{ApiKey: apiKeyName(key), Scopes: key.Scopes})
		})
		if err != nil {
			return revoked, ended, err
		}
	}
	for _, m := range members {
		err := a.store.InFirm(ctx, m.FirmID, func(q *store.Queries) error {
			n, err := q.EndMemberSessions(ctx, m.ID, a.now())
			ended += int(n)
			return err
		})
		if err != nil {
			return revoked, ended, err
		}
	}
	return revoked, ended, nil
}
