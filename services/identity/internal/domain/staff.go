package domain

import "time"

// StaffRealm is what the staff realm's data key is bound to in place of a firm id:
// staff TOTP secrets are sealed under a key of their own, never a firm's.
const StaffRealm = "staff-realm"

// Staff is a firmflow support employee. Staff belong to no firm; they enter one only
// on a support grant the firm approved.
type Staff struct {
	ID           string
	Email        string
	DisplayName  string
	PasswordHash string
	TOTPSecret   []byte // ciphertext under the staff realm's data key; always set
	TOTPLastStep int64
	LoginAttempts
	CreateTime   time.Time
	OffboardTime time.Time
}

// Active reports whether the staff member still works here.
func (s Staff) Active() bool { return s.OffboardTime.IsZero() }

// Offboard records the staff member's leaving; offboarding twice keeps the first time.
func (s *Staff) Offboard(now time.Time) {
	if s.OffboardTime.IsZero() {
		s.OffboardTime = now
	}
}

// StaffSession is a signed-in staff member. Its token travels as a bearer token
// ("ffst_..."), never a cookie.
type StaffSession struct {
	ID      string
	StaffID string
	SessionTimes
}

// StaffTokenPrefix marks staff session tokens, so identity tells them from API keys.
const StaffTokenPrefix = "ffst_"

// NewStaffSession starts a session for s at now.
func (p SessionPolicy) NewStaffSession(id string, s Staff, now time.Time) StaffSession {
	return StaffSession{ID: id, StaffID: s.ID, SessionTimes: p.Start(now)}
}
