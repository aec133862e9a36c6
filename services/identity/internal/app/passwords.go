package app

import (
	"context"
	"fmt"
	"log/slog"
	"time"

	"github.com/firmflow/firmflow/pkg/principal"
	"github.com/firmflow/firmflow/services/identity/internal/domain"
	"github.com/firmflow/firmflow/services/identity/internal/store"
)

// RequestPasswordReset records a request for a password reset email and answers
// before anything depends on the email: whether an account has it or not, the work
// is the same (rate limits checked, one row stored), so neither the answer nor its
// time tells. HandlePasswordResets does the rest afterwards.
func (a *App) RequestPasswordReset(ctx context.Context, email, clientIP string) error {
	now := a.now()
	return a.store.InRealm(ctx, func(q *store.Queries) error {
		recent, err := q.RecentResetRequests(ctx, email, clientIP, now.Add(-a.resets.Window))
		if err != nil {
			return err
		}
		if clientIP == "" {
			recent.ByAddress = 0 // a direct gRPC call has no client address to limit
		}
		if err := a.resets.Check(recent, now); err != nil {
			return err
		}
		return q.CreateResetRequest(ctx, newID(), email, clientIP, now)
	})
}

// resetBatch is how many requests one transaction handles.
const resetBatch = 20

// resetRequestRetention is how long handled requests are kept for the rate limits.
const resetRequestRetention = 24 * time.Hour

// HandlePasswordResets turns pending reset requests into resets and their emails,
// and answers how many requests it handled. A request for an email no account has is
// just marked handled. A request handled twice (a crash before it was marked) makes
// one reset and one email: both are keyed by the request's id.
func (a *App) HandlePasswordResets(ctx context.Context) (int, error) {
	total := 0
	for {
		var n int
		err := a.store.InRealm(ctx, func(q *store.Queries) error {
			requests, err := q.PendingResetRequests(ctx, resetBatch)
			if err != nil {
				return err
			}
			n = len(requests)
			for _, r := range requests {
				if err := a.handleResetRequest(ctx, q, r); err != nil {
					return err
				}
				if err := q.HandleResetRequest(ctx, r.ID, a.now()); err != nil {
					return err
				}
			}
			return q.PurgeResetRequests(ctx, a.now().Add(-resetRequestRetention))
		})
		total += n
		if err != nil || n < resetBatch {
			return total, err
		}
	}
}

func (a *App) handleResetRequest(ctx context.Context, realm *store.Queries, r store.ResetRequest) error {
	firmID, memberID, found, err := realm.LoginTarget(ctx, r.Email)
	if err != nil || !found {
		return err
	}
	if !a.mail.On() {
		slog.WarnContext(ctx, "a password reset was asked for an account, but no mail server is configured to send it",
			slog.String("firm_id", firmID), slog.String("member_id", memberID))
		return nil
	}
	return a.store.InFirm(ctx, firmID, func(q *store.Queries) error {
		m, err := q.Member(ctx, memberID)
		if err != nil {
			return err
		}
		reset, token := domain.NewPasswordReset(r.ID, m, a.now())
		created, err := q.CreatePasswordReset(ctx, reset)
		if err != nil || !created {
			return err
		}
		return a.sendMail(ctx, q, m.FirmID, m.Email, "password-reset", reset.ID, "password_reset", map[string]any{
			"Name": m.DisplayName, "Email": m.Email, "Token": token.Plain, "Expires": mailTime(reset.ExpireTime),
			"ResetURL": a.mail.PublicURL + "/password-reset#token=" + token.Plain,
		})
	})
}

// CompletePasswordReset sets a new password with a reset token. The token works once
// and within its 30 minutes; every session of the member ends, every other reset of
// theirs stops working, and they are told by email.
func (a *App) CompletePasswordReset(ctx context.Context, token, password string) error {
	var firmID, resetID string
	var found bool
	err := a.store.Lookups(ctx, func(q *store.Queries) error {
		var err error
		firmID, resetID, found, err = q.PasswordResetTarget(ctx, domain.HashSecret(token))
		return err
	})
	if err != nil {
		return err
	}
	if !found {
		return domain.ErrResetTokenInvalid()
	}
	hash, err := domain.HashPassword(password)
	if err != nil {
		return err
	}
	return a.store.InFirm(ctx, firmID, func(q *store.Queries) error {
		now := a.now()
		reset, err := q.PasswordResetForUpdate(ctx, resetID)
		if err != nil {
			return err
		}
		if err := reset.Use(now); err != nil {
			return err
		}
		m, err := q.MemberForUpdate(ctx, reset.MemberID)
		if err != nil {
			return err
		}
		// Proving control of the mailbox also lifts a lock from failed sign-ins.
		a.lockout.Succeeded(&m.LoginAttempts)
		return a.setPassword(ctx, q, m, hash, "", reset.ID, now)
	})
}

// ChangePassword sets a signed-in member's password after checking the current one;
// wrong guesses count towards the account's lockout like failed sign-ins. The
// member's other sessions end, and they are told by email.
func (a *App) ChangePassword(ctx context.Context, p principal.Principal, current, next string) error {
	hash, err := domain.HashPassword(next)
	if err != nil {
		return err
	}
	// refusal is returned after the transaction commits, keeping the failure count.
	var refusal error
	err = a.store.InFirm(ctx, p.FirmID, func(q *store.Queries) error {
		now := a.now()
		m, err := q.MemberForUpdate(ctx, p.UserID)
		if err != nil {
			return err
		}
		if err := a.lockout.Check(m.LoginAttempts, now); err != nil {
			refusal = err
			return nil
		}
		if !domain.CheckPassword(current, m.PasswordHash) {
			refusal = domain.ErrWrongCurrentPassword()
			a.lockout.Failed(&m.LoginAttempts, now)
			return q.SaveLoginState(ctx, m)
		}
		a.lockout.Succeeded(&m.LoginAttempts)
		return a.setPassword(ctx, q, m, hash, p.SessionID, newID(), now)
	})
	if err != nil {
		return err
	}
	return refusal
}

// setPassword saves m's new password hash, ends its sessions but keep, spends its
// open resets and queues the notice (keyed by changeID).
func (a *App) setPassword(ctx context.Context, q *store.Queries, m domain.Member, hash, keep, changeID string, now time.Time) error {
	m.PasswordHash = hash
	if err := q.SavePassword(ctx, m); err != nil {
		return err
	}
	if _, err := q.RevokeMemberSessions(ctx, m.ID, keep, now); err != nil {
		return fmt.Errorf("end sessions: %w", err)
	}
	if err := q.UseMemberPasswordResets(ctx, m.ID, now); err != nil {
		return err
	}
	if !a.mail.On() {
		return nil
	}
	return a.sendMail(ctx, q, m.FirmID, m.Email, "password-changed", changeID, "password_changed", map[string]any{
		"Name": m.DisplayName, "Email": m.Email, "When": mailTime(now), "ByReset": keep == "",
		"ForgotURL": a.mail.PublicURL + "/password-reset",
	})
}
