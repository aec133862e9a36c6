package domain

import (
	"time"

	"github.com/firmflow/firmflow/pkg/apierr"
)

// Lockout slows password guessing per account: after FreeAttempts failures in a
// row each further failure locks the account for twice as long, up to MaxLock.
type Lockout struct {
	FreeAttempts int
	FirstLock    time.Duration
	MaxLock      time.Duration
}

// DefaultLockout allows five failures, then locks for 1, 2, 4 ... minutes up to a day.
var DefaultLockout = Lockout{FreeAttempts: 5, FirstLock: time.Minute, MaxLock: 24 * time.Hour}

// LoginAttempts is an account's record of failed sign-ins, kept for members and
// staff alike.
type LoginAttempts struct {
	FailedLogins int
	LockedUntil  time.Time
}

// Check refuses a login attempt on a locked account.
func (l Lockout) Check(a LoginAttempts, now time.Time) error {
	if now.Before(a.LockedUntil) {
		wait := a.LockedUntil.Sub(now).Round(time.Second)
		return apierr.TooMany("ACCOUNT_LOCKED", "too many failed sign-in attempts; try again later", wait)
	}
	return nil
}

// Failed records a failed attempt.
func (l Lockout) Failed(a *LoginAttempts, now time.Time) {
	a.FailedLogins++
	over := a.FailedLogins - l.FreeAttempts
	if over <= 0 {
		return
	}
	lock := l.FirstLock
	for i := 1; i < over && lock < l.MaxLock; i++ {
		lock *= 2
	}
	a.LockedUntil = now.Add(min(lock, l.MaxLock))
}

// Succeeded clears the failure count.
func (l Lockout) Succeeded(a *LoginAttempts) {
	a.FailedLogins = 0
	a.LockedUntil = time.Time{}
}

// ErrBadCredentials is the one answer to a wrong email, password or code, so the
// response does not tell which was wrong.
func ErrBadCredentials() error {
	return apierr.Unauthenticated("BAD_CREDENTIALS", "email, password or code is wrong")
}

// SessionTimes bound a session's life; member and staff sessions share them.
type SessionTimes struct {
	CreateTime     time.Time
	LastSeenTime   time.Time
	IdleExpireTime time.Time
	ExpireTime     time.Time
	RevokeTime     time.Time
}

// Live reports whether the session may still be used at now.
func (t SessionTimes) Live(now time.Time) bool {
	return t.RevokeTime.IsZero() && now.Before(t.IdleExpireTime) && now.Before(t.ExpireTime)
}

// Session is a signed-in browser.
type Session struct {
	ID        string
	FirmID    string
	MemberID  string
	CSRFHash  []byte
	Enrolling bool
	UserAgent string
	ClientIP  string
	SessionTimes
}

// SessionPolicy bounds a session's life: it ends after Idle without use, and after
// Absolute however active it is.
type SessionPolicy struct {
	Idle     time.Duration
	Absolute time.Duration
}

// Start returns the times of a session begun at now.
func (p SessionPolicy) Start(now time.Time) SessionTimes {
	return SessionTimes{CreateTime: now, LastSeenTime: now, IdleExpireTime: now.Add(p.Idle), ExpireTime: now.Add(p.Absolute)}
}

// NewSession starts a session for a member at now.
func (p SessionPolicy) NewSession(id string, m Member, now time.Time) Session {
	return Session{ID: id, FirmID: m.FirmID, MemberID: m.ID, SessionTimes: p.Start(now)}
}

// Touch extends the idle expiry on use, never past the absolute expiry. It reports
// whether the change is worth writing: at most once a minute per session.
func (p SessionPolicy) Touch(t *SessionTimes, now time.Time) bool {
	if now.Sub(t.LastSeenTime) < time.Minute {
		return false
	}
	t.LastSeenTime = now
	t.IdleExpireTime = now.Add(p.Idle)
	if t.IdleExpireTime.After(t.ExpireTime) {
		t.IdleExpireTime = t.ExpireTime
	}
	return true
}
