package app

import (
	"context"
	"fmt"

	"google.golang.org/grpc/codes"

	"github.com/firmflow/firmflow/pkg/apierr"
	"github.com/firmflow/firmflow/pkg/fieldcrypt"
	"github.com/firmflow/firmflow/pkg/principal"
	"github.com/firmflow/firmflow/pkg/resource"
	"github.com/firmflow/firmflow/services/identity/internal/domain"
	"github.com/firmflow/firmflow/services/identity/internal/store"
)

// CreateStaff opens a staff account. Staff always sign in with TOTP, so the account
// is created with its secret, returned here once with its otpauth URI.
func (a *App) CreateStaff(ctx context.Context, email, name, password string) (s domain.Staff, secret, uri string, err error) {
	hash, err := domain.HashPassword(password)
	if err != nil {
		return domain.Staff{}, "", "", err
	}
	if secret, uri, err = domain.NewTOTPSecret(email); err != nil {
		return domain.Staff{}, "", "", err
	}
	s = domain.Staff{ID: newID(), Email: email, DisplayName: name, PasswordHash: hash, CreateTime: a.now()}
	err = a.store.InRealm(ctx, func(q *store.Queries) error {
		key, err := a.realmKey(ctx, q)
		if err != nil {
			return err
		}
		defer key.Destroy()
		if s.TOTPSecret, err = key.Seal([]byte(secret), staffTOTPBinding(s)); err != nil {
			return err
		}
		return q.CreateStaff(ctx, s)
	})
	if err != nil {
		return domain.Staff{}, "", "", err
	}
	return s, secret, uri, nil
}

// StaffLoginResult is a new staff session and its token, handed out once.
type StaffLoginResult struct {
	Staff   domain.Staff
	Session domain.StaffSession
	Token   string
}

// StaffLogin checks email, password and TOTP code (always required) and starts a
// staff session. An unknown email, a wrong password or code and an offboarded account
// all get the same answer; failures lock the account for a while, as for members.
func (a *App) StaffLogin(ctx context.Context, email, password, code string) (StaffLoginResult, error) {
	var result StaffLoginResult
	// refusal is returned after the transaction commits, so that the failure count
	// it recorded is kept.
	var refusal error
	err := a.store.InRealm(ctx, func(q *store.Queries) error {
		now := a.now()
		s, err := q.StaffByEmailForUpdate(ctx, email)
		if apierr.HasCode(err, codes.NotFound) {
			domain.CheckPassword(password, "") // same cost as a wrong password
			refusal = domain.ErrBadCredentials()
			return nil
		}
		if err != nil {
			return err
		}
		if err := a.lockout.Check(s.LoginAttempts, now); err != nil {
			refusal = err
			return nil
		}
		if !domain.CheckPassword(password, s.PasswordHash) {
			refusal = domain.ErrBadCredentials()
			a.lockout.Failed(&s.LoginAttempts, now)
			return q.SaveStaffLoginState(ctx, s)
		}
		secret, err := a.openStaffTOTP(ctx, q, s)
		if err != nil {
			return err
		}
		step, ok := domain.MatchTOTP(secret, code, s.TOTPLastStep, now)
		if !ok {
			refusal = domain.ErrBadCredentials()
			a.lockout.Failed(&s.LoginAttempts, now)
			return q.SaveStaffLoginState(ctx, s)
		}
		if !s.Active() {
			refusal = domain.ErrBadCredentials()
			return nil
		}
		s.TOTPLastStep = step
		a.lockout.Succeeded(&s.LoginAttempts)
		if err := q.SaveStaffLoginState(ctx, s); err != nil {
			return err
		}
		token := domain.NewSecret(domain.StaffTokenPrefix)
		sess := a.sessions.NewStaffSession(newID(), s, now)
		if err := q.CreateStaffSession(ctx, sess, token.Hash); err != nil {
			return err
		}
		result = StaffLoginResult{Staff: s, Session: sess, Token: token.Plain}
		return nil
	})
	if err != nil {
		return StaffLoginResult{}, err
	}
	if refusal != nil {
		return StaffLoginResult{}, refusal
	}
	return result, nil
}

// StaffLogout ends the caller's staff session.
func (a *App) StaffLogout(ctx context.Context, p principal.Principal) error {
	return a.store.InRealm(ctx, func(q *store.Queries) error {
		return q.DeleteStaffSession(ctx, p.StaffID, p.SessionID)
	})
}

// StaffRef names a staff member by id or, when ID is empty, by email.
type StaffRef struct {
	ID    string
	Email string
}

// OffboardStaff closes a staff account in one transaction: it is marked offboarded,
// its sessions are deleted, and every live grant and pending request it has in any
// firm is revoked, each firm notified. It returns the account and how many grants it
// revoked; offboarding again revokes nothing more.
func (a *App) OffboardStaff(ctx context.Context, ref StaffRef) (domain.Staff, int, error) {
	var s domain.Staff
	var revoked int
	err := a.store.InRealm(ctx, func(q *store.Queries) error {
		var err error
		if ref.ID != "" {
			if !resource.IsID(ref.ID) {
				return apierr.NotFound("staff member")
			}
			s, err = q.StaffForUpdate(ctx, ref.ID)
		} else {
			s, err = q.StaffByEmailForUpdate(ctx, ref.Email)
		}
		if err != nil {
			return err
		}
		now := a.now()
		s.Offboard(now)
		if err := q.OffboardStaff(ctx, s); err != nil {
			return err
		}
		refs, err := q.RevokeStaffGrants(ctx, s.ID, now)
		if err != nil {
			return err
		}
		for _, r := range refs {
			if err := q.EnterFirm(ctx, r.FirmID); err != nil {
				return err
			}
			g, err := q.SupportGrant(ctx, r.GrantID)
			if err != nil {
				return err
			}
			if err := a.announce(ctx, q, g, domain.NoticeSupportRevoked, domain.OffboardingActor, now); err != nil {
				return err
			}
		}
		revoked = len(refs)
		return nil
	})
	return s, revoked, err
}

// authenticateStaff turns a staff session token into a staff principal. The principal
// names a firm only when grantName is an approved, unexpired, unrevoked grant of this
// staff member (checked on every request); otherwise it names none, and firm methods
// answer NOT_FOUND. The first request on a grant tells the firm.
func (a *App) authenticateStaff(ctx context.Context, token, grantName string) (principal.Principal, error) {
	firmID, grantID := grantOf(grantName)
	run := a.store.InRealm
	if firmID != "" {
		run = func(ctx context.Context, fn func(*store.Queries) error) error { return a.store.InFirm(ctx, firmID, fn) }
	}
	var p principal.Principal
	err := run(ctx, func(q *store.Queries) error {
		now := a.now()
		sess, s, found, err := q.StaffSessionByToken(ctx, domain.HashSecret(token))
		if err != nil {
			return err
		}
		if !found || !sess.Live(now) || !s.Active() {
			return errUnauthenticated
		}
		if a.sessions.Touch(&sess.SessionTimes, now) {
			if err := q.TouchStaffSession(ctx, sess); err != nil {
				return err
			}
		}
		p = principal.Principal{Kind: principal.KindStaff, StaffID: s.ID, SessionID: sess.ID}
		if grantID == "" {
			return nil
		}
		g, err := q.SupportGrant(ctx, grantID)
		if apierr.HasCode(err, codes.NotFound) {
			return nil
		}
		if err != nil {
			return err
		}
		if !g.Opens(s.ID, now) {
			return nil
		}
		p.FirmID, p.GrantID, p.GrantScope = g.FirmID, g.ID, g.Scope
		// A write grant does not reach past a scheduled deletion's read-only period.
		if p.DeletionScheduled, err = q.DeletionScheduled(ctx, g.FirmID); err != nil {
			return err
		}
		if !g.FirstUseTime.IsZero() {
			return nil
		}
		first, err := q.MarkGrantFirstUse(ctx, g.ID, now)
		if err != nil || !first {
			return err
		}
		g.FirstUseTime = now
		return a.announce(ctx, q, g, domain.NoticeSupportFirstUsed, p.Actor(), now)
	})
	return p, err
}

// grantOf splits an X-Support-Grant value into its firm and grant ids; both are empty
// when it does not name a grant.
func grantOf(name string) (firmID, grantID string) {
	if name == "" {
		return "", ""
	}
	ids, err := resource.Parse("support_grant", name, "firms/{firm}/supportGrants/{grant}")
	if err != nil {
		return "", ""
	}
	return ids[0], ids[1]
}

// realmKey opens the staff realm's data key, creating it on first use.
func (a *App) realmKey(ctx context.Context, q *store.Queries) (*fieldcrypt.DataKey, error) {
	wrapped, err := q.RealmKey(ctx, domain.StaffRealm)
	if apierr.HasCode(err, codes.NotFound) {
		key, fresh, err := fieldcrypt.NewDataKey(a.kek, domain.StaffRealm)
		if err != nil {
			return nil, err
		}
		key.Destroy()
		wrapped, err = q.EnsureRealmKey(ctx, domain.StaffRealm, fresh, a.kekID)
		if err != nil {
			return nil, err
		}
	} else if err != nil {
		return nil, err
	}
	return fieldcrypt.OpenDataKey(a.kek, domain.StaffRealm, wrapped)
}

func (a *App) openStaffTOTP(ctx context.Context, q *store.Queries, s domain.Staff) (string, error) {
	key, err := a.realmKey(ctx, q)
	if err != nil {
		return "", err
	}
	defer key.Destroy()
	secret, err := key.Open(s.TOTPSecret, staffTOTPBinding(s))
	if err != nil {
		return "", fmt.Errorf("open staff totp secret: %w", err)
	}
	return string(secret), nil
}

func staffTOTPBinding(s domain.Staff) fieldcrypt.Binding {
	return fieldcrypt.Binding{FirmID: domain.StaffRealm, Table: "staff", Column: "totp_secret", RowID: s.ID}
}
