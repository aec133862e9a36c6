package app

import (
	"context"
	"errors"
	"strings"
	"time"

	"github.com/firmflow/firmflow/pkg/apierr"
	"github.com/firmflow/firmflow/pkg/fieldcrypt"
	eventsv1 "github.com/firmflow/firmflow/pkg/gen/firmflow/events/v1"
	"github.com/firmflow/firmflow/pkg/principal"
	"github.com/firmflow/firmflow/pkg/resource"
	"github.com/firmflow/firmflow/services/identity/internal/domain"
	"github.com/firmflow/firmflow/services/identity/internal/store"
)

// SignUp creates a firm and its owner; the firm's data key is created in the key
// store when first needed.
func (a *App) SignUp(ctx context.Context, firmName, email, name, password string) (domain.Firm, domain.Member, error) {
	hash, err := domain.HashPassword(password)
	if err != nil {
		return domain.Firm{}, domain.Member{}, err
	}
	now := a.now()
	firm := domain.Firm{ID: newID(), DisplayName: firmName, Version: 1, CreateTime: now, UpdateTime: now}
	owner := domain.Member{
		ID: newID(), FirmID: firm.ID, Email: email, DisplayName: name, Role: domain.RoleOwner,
		PasswordHash: hash, Version: 1, CreateTime: now,
	}
	err = a.store.InFirm(ctx, firm.ID, func(q *store.Queries) error {
		if err := q.CreateFirm(ctx, firm); err != nil {
			return err
		}
		if err := q.CreateMember(ctx, owner); err != nil {
			return err
		}
		actor := "users/" + owner.ID
		if err := emit(ctx, q, firm.ID, actor, "firm_created",
			&eventsv1.FirmCreated{Firm: resource.Name("firms", firm.ID), Owner: memberName(owner)}); err != nil {
			return err
		}
		return memberJoined(ctx, q, owner, actor)
	})
	return firm, owner, err
}

// LoginResult is a new session and the credentials handed to the browser once.
type LoginResult struct {
	Session      domain.Session
	Member       domain.Member
	SessionToken string
	CSRFToken    string
}

// Login checks email, password and (when enrolled) a TOTP code, and starts a session.
// Failures are counted per account and lock it for a while.
func (a *App) Login(ctx context.Context, email, password, code, userAgent, clientIP string) (LoginResult, error) {
	var firmID, memberID string
	var found bool
	err := a.store.Lookups(ctx, func(q *store.Queries) error {
		var err error
		firmID, memberID, found, err = q.LoginTarget(ctx, email)
		return err
	})
	if err != nil {
		return LoginResult{}, err
	}
	if !found {
		domain.CheckPassword(password, "") // same cost as a wrong password
		return LoginResult{}, domain.ErrBadCredentials()
	}

	var result LoginResult
	// refusal is returned after the transaction commits, so that the failure count
	// it recorded is kept.
	var refusal error
	err = a.store.InFirm(ctx, firmID, func(q *store.Queries) error {
		now := a.now()
		m, err := q.MemberForUpdate(ctx, memberID)
		if err != nil {
			return err
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
				refusal = apierr.FailedPrecondition("TOTP_REQUIRED", "enter the code from your authenticator app")
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
		firm, err := q.Firm(ctx, firmID)
		if err != nil {
			return err
		}
		a.lockout.Succeeded(&m.LoginAttempts)
		if err := q.SaveLoginState(ctx, m); err != nil {
			return err
		}
		token := domain.NewSecret("ffs_")
		// Derived from the session token, so the gateway can give it again to a
		// reloaded page (GET /v1/caller); only its hash is stored, as before.
		csrf := principal.CSRFToken(token.Plain)
		s := a.sessions.NewSession(newID(), m, now)
		s.CSRFHash, s.UserAgent, s.ClientIP = domain.HashSecret(csrf), userAgent, clientIP
		s.Enrolling = firm.RequireTOTP && !m.TOTPEnabled()
		if err := q.CreateSession(ctx, s, token.Hash); err != nil {
			return err
		}
		result = LoginResult{Session: s, Member: m, SessionToken: token.Plain, CSRFToken: csrf}
		return nil
	})
	if err != nil {
		return LoginResult{}, err
	}
	if refusal != nil {
		return LoginResult{}, refusal
	}
	return result, nil
}

// Logout ends the caller's current session.
func (a *App) Logout(ctx context.Context, p principal.Principal) error {
	if p.SessionID == "" {
		return apierr.FailedPrecondition("NOT_A_SESSION", "only a browser session can log out")
	}
	return a.store.InFirm(ctx, p.FirmID, func(q *store.Queries) error {
		_, err := q.RevokeSession(ctx, p.UserID, p.SessionID, a.now())
		return err
	})
}

// Sessions lists the caller's live sessions.
func (a *App) Sessions(ctx context.Context, p principal.Principal) ([]domain.Session, error) {
	var sessions []domain.Session
	err := a.store.InFirm(ctx, p.FirmID, func(q *store.Queries) error {
		var err error
		sessions, err = q.LiveSessions(ctx, p.UserID, a.now())
		return err
	})
	return sessions, err
}

// RevokeSession ends one of the caller's own sessions.
func (a *App) RevokeSession(ctx context.Context, p principal.Principal, sessionID string) error {
	return a.store.InFirm(ctx, p.FirmID, func(q *store.Queries) error {
		ok, err := q.RevokeSession(ctx, p.UserID, sessionID, a.now())
		if err == nil && !ok {
			return apierr.NotFound("session")
		}
		return err
	})
}

// Caller is who is calling: the firm, and the member or the API key.
type Caller struct {
	Firm   domain.Firm
	Member *domain.Member
	APIKey *domain.APIKey
}

// WhoAmI returns the caller.
func (a *App) WhoAmI(ctx context.Context, p principal.Principal) (Caller, error) {
	var c Caller
	err := a.store.InFirm(ctx, p.FirmID, func(q *store.Queries) error {
		var err error
		if c.Firm, err = q.Firm(ctx, p.FirmID); err != nil {
			return err
		}
		switch p.Kind {
		case principal.KindUser:
			m, err := q.Member(ctx, p.UserID)
			c.Member = &m
			return err
		case principal.KindAPIKey:
			k, err := q.APIKey(ctx, p.APIKeyID)
			c.APIKey = &k
			return err
		}
		return nil
	})
	return c, err
}

// BeginTOTP creates a pending TOTP secret for the caller and returns it once.
func (a *App) BeginTOTP(ctx context.Context, p principal.Principal) (secret, uri string, err error) {
	err = a.store.InFirm(ctx, p.FirmID, func(q *store.Queries) error {
		m, err := q.MemberForUpdate(ctx, p.UserID)
		if err != nil {
			return err
		}
		if m.TOTPEnabled() {
			return apierr.FailedPrecondition("TOTP_ALREADY_ENABLED", "two-factor sign-in is already on")
		}
		secret, uri, err = domain.NewTOTPSecret(m.Email)
		if err != nil {
			return err
		}
		key, err := a.dataKey(ctx, q, p.FirmID)
		if err != nil {
			return err
		}
		defer key.Destroy()
		m.TOTPPending, err = key.Seal([]byte(secret), totpBinding(m, "totp_pending"))
		if err != nil {
			return err
		}
		return q.SaveTOTP(ctx, m)
	})
	return secret, uri, err
}

// ConfirmTOTP turns the pending secret on after checking a current code from it.
func (a *App) ConfirmTOTP(ctx context.Context, p principal.Principal, code string) (domain.Member, error) {
	var m domain.Member
	err := a.store.InFirm(ctx, p.FirmID, func(q *store.Queries) error {
		var err error
		if m, err = q.MemberForUpdate(ctx, p.UserID); err != nil {
			return err
		}
		if len(m.TOTPPending) == 0 {
			return apierr.FailedPrecondition("TOTP_NOT_STARTED", "begin TOTP enrollment first")
		}
		key, err := a.dataKey(ctx, q, p.FirmID)
		if err != nil {
			return err
		}
		defer key.Destroy()
		secret, err := key.Open(m.TOTPPending, totpBinding(m, "totp_pending"))
		if err != nil {
			return err
		}
		step, ok := domain.MatchTOTP(string(secret), code, 0, a.now())
		if !ok {
			return apierr.InvalidArgument("code", "totp.match", "the code does not match; check the device clock and try the next code")
		}
		if m.TOTPSecret, err = key.Seal(secret, totpBinding(m, "totp_secret")); err != nil {
			return err
		}
		m.TOTPPending, m.TOTPLastStep = nil, step
		if err := q.SaveTOTP(ctx, m); err != nil {
			return err
		}
		if err := q.ClearEnrolling(ctx, m.ID); err != nil {
			return err
		}
		return emit(ctx, q, m.FirmID, p.Actor(), "totp_enabled", &eventsv1.TotpEnabled{Member: memberName(m)})
	})
	return m, err
}

func (a *App) openTOTPSecret(ctx context.Context, q *store.Queries, m domain.Member, sealed []byte) (string, error) {
	key, err := a.dataKey(ctx, q, m.FirmID)
	if err != nil {
		return "", err
	}
	defer key.Destroy()
	secret, err := key.Open(sealed, totpBinding(m, "totp_secret"))
	if err != nil {
		return "", errors.New("open totp secret: " + err.Error())
	}
	return string(secret), nil
}

func totpBinding(m domain.Member, column string) fieldcrypt.Binding {
	return fieldcrypt.Binding{FirmID: m.FirmID, Table: "members", Column: column, RowID: m.ID}
}

// Authenticated is a credential's principal and the token identity signed for it.
type Authenticated struct {
	Principal principal.Principal
	Token     string
	Expires   time.Time
}

// Authenticate turns a session token, API key or staff session token into a signed
// principal. Bearer tokens come in APIKey; a staff token is told by its prefix.
func (a *App) Authenticate(ctx context.Context, c Credential) (Authenticated, error) {
	var p principal.Principal
	var err error
	switch {
	case c.SessionToken != "":
		p, err = a.authenticateSession(ctx, c)
	case strings.HasPrefix(c.APIKey, domain.StaffTokenPrefix):
		p, err = a.authenticateStaff(ctx, c.APIKey, c.SupportGrant)
	case c.APIKey != "":
		p, err = a.authenticateAPIKey(ctx, c.APIKey)
	default:
		err = errUnauthenticated
	}
	if err != nil {
		return Authenticated{}, err
	}
	token, expires, err := a.signer.Sign(p)
	if err != nil {
		return Authenticated{}, err
	}
	return Authenticated{Principal: p, Token: token, Expires: expires}, nil
}

// Credential is what a client presented to the gateway.
type Credential struct {
	SessionToken string
	APIKey       string // or a staff session token
	CSRFToken    string
	RequireCSRF  bool
	// SupportGrant is the grant a staff member acts under (firms/{firm}/supportGrants/{id}).
	SupportGrant string
}

var errUnauthenticated = apierr.Unauthenticated("UNAUTHENTICATED", "sign in again")

// authenticateSession resolves a session token in one statement; the session's
// last use is written in a second only when it is worth writing (once a minute).
// Nothing is cached: a session revoked, or a member removed, before the statement
// runs is refused.
func (a *App) authenticateSession(ctx context.Context, c Credential) (principal.Principal, error) {
	cred, found, err := a.store.AuthenticateSession(ctx, domain.HashSecret(c.SessionToken))
	if err != nil {
		return principal.Principal{}, err
	}
	now := a.now()
	s := cred.Session
	if !found || !s.Live(now) {
		return principal.Principal{}, errUnauthenticated
	}
	if c.RequireCSRF && (c.CSRFToken == "" || !domain.SameSecret(c.CSRFToken, s.CSRFHash)) {
		return principal.Principal{}, apierr.PermissionDenied("CSRF_TOKEN_INVALID", "send the X-CSRF-Token header given at login")
	}
	if a.sessions.Touch(&s.SessionTimes, now) {
		if err := a.store.InFirm(ctx, s.FirmID, func(q *store.Queries) error { return q.TouchSession(ctx, s) }); err != nil {
			return principal.Principal{}, err
		}
	}
	return principal.Principal{
		Kind: principal.KindUser, FirmID: s.FirmID, UserID: s.MemberID, SessionID: s.ID,
		Role: cred.Role, Enrolling: s.Enrolling, DeletionScheduled: cred.DeletionScheduled,
	}, nil
}

// authenticateAPIKey resolves an API key in one statement, which also records its
// use. Nothing is cached: a key revoked before the statement runs is refused.
func (a *App) authenticateAPIKey(ctx context.Context, secret string) (principal.Principal, error) {
	now := a.now()
	cred, found, err := a.store.AuthenticateAPIKey(ctx, domain.HashSecret(secret), now)
	if err != nil {
		return principal.Principal{}, err
	}
	if !found {
		return principal.Principal{}, errUnauthenticated
	}
	k := cred.Key
	if k.State(now) != domain.KeyActive {
		return principal.Principal{}, apierr.Unauthenticated("API_KEY_INACTIVE", "this API key is revoked or expired")
	}
	return principal.Principal{Kind: principal.KindAPIKey, FirmID: k.FirmID, APIKeyID: k.ID, Scopes: k.Scopes,
		DeletionScheduled: cred.DeletionScheduled}, nil
}
