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

// Check refuses a login attempt on a locked account.
func (l Lockout) Check(m Member, now time.Time) error {
	if now.Before(m.LockedUntil) {
		wait := m.LockedUntil.Sub(now).Round(time.Second)
		return apierr.TooMany("ACCOUNT_LOCKED", "too many failed sign-in attempts; try again later", wait)
	}
	return nil
}

// Failed records a failed attempt on m.
func (l Lockout) Failed(m *Member, now time.Time) {
	m.FailedLogins++
	over := m.FailedLogins - l.FreeAttempts
	if over <= 0 {
		return
	}
	lock := l.FirstLock
	for i := 1; i < over && lock < l.MaxLock; i++ {
		lock *= 2
	}
	m.LockedUntil = now.Add(min(lock, l.MaxLock))
}

// Succeeded clears the failure count.
func (l Lockout) Succeeded(m *Member) {
	m.FailedLogins = 0
	m.LockedUntil = time.Time{}
}

// ErrBadCredentials is the one answer to a wrong email, password or code, so the
// response does not tell which was wrong.
func ErrBadCredentials() error {
	return apierr.Unauthenticated("BAD_CREDENTIALS", "email, password or code is wrong")
}

// Session is a signed-in browser.
type Session struct {
	ID             string
	FirmID         string
	MemberID       string
	CSRFHash       []byte
	Enrolling      bool
	UserAgent      string
	ClientIP       string
	CreateTime     time.Time
	LastSeenTime   time.Time
	IdleExpireTime time.Time
	ExpireTime     time.Time
	RevokeTime     time.Time
}

// SessionPolicy bounds a session's life: it ends after Idle without use, and after
// Absolute however active it is.
type SessionPolicy struct {
	Idle     time.Duration
	Absolute time.Duration
}

// NewSession starts a session for a member at now.
func (p SessionPolicy) NewSession(id string, m Member, now time.Time) Session {
	return Session{
		ID: id, FirmID: m.FirmID, MemberID: m.ID,
		CreateTime: now, LastSeenTime: now,
		IdleExpireTime: now.Add(p.Idle), ExpireTime: now.Add(p.Absolute),
	}
}

// Live reports whether the session may still be used at now.
func (s Session) Live(now time.Time) bool {
	return s.RevokeTime.IsZero() && now.Before(s.IdleExpireTime) && now.Before(s.ExpireTime)
}

// Touch extends the idle expiry on use, never past the absolute expiry. It reports
// whether the change is worth writing: at most once a minute per session.
func (p SessionPolicy) Touch(s *Session, now time.Time) bool {
	if now.Sub(s.LastSeenTime) < time.Minute {
		return false
	}
	s.LastSeenTime = now
	s.IdleExpireTime = now.Add(p.Idle)
	if s.IdleExpireTime.After(s.ExpireTime) {
		s.IdleExpireTime = s.ExpireTime
	}
	return true
}
