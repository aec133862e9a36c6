package domain

import (
	"time"

	"github.com/firmflow/firmflow/pkg/apierr"
)

// PasswordResetLifetime is how long a password reset token works.
const PasswordResetLifetime = 30 * time.Minute

// PasswordResetTokenPrefix begins every reset token, so a leaked one is recognisable.
const PasswordResetTokenPrefix = "ffr_"

// PasswordReset is a single-use token, sent by email, that sets a member's password.
type PasswordReset struct {
	ID         string
	FirmID     string
	MemberID   string
	TokenHash  []byte
	CreateTime time.Time
	ExpireTime time.Time
	UsedTime   time.Time
}

// NewPasswordReset makes a reset for m at now and its token, to be emailed once.
func NewPasswordReset(id string, m Member, now time.Time) (PasswordReset, Secret) {
	token := NewSecret(PasswordResetTokenPrefix)
	return PasswordReset{
		ID: id, FirmID: m.FirmID, MemberID: m.ID, TokenHash: token.Hash,
		CreateTime: now, ExpireTime: now.Add(PasswordResetLifetime),
	}, token
}

// Use spends the token at now; a used or expired token is refused exactly as a wrong
// one, so the answer tells nothing about a token someone else holds.
func (r *PasswordReset) Use(now time.Time) error {
	if !r.UsedTime.IsZero() || !now.Before(r.ExpireTime) {
		return ErrResetTokenInvalid()
	}
	r.UsedTime = now
	return nil
}

// ErrResetTokenInvalid is the one answer to a reset token that is wrong, used or expired.
func ErrResetTokenInvalid() error {
	return apierr.FailedPrecondition("RESET_TOKEN_INVALID", "this reset link is wrong, used or expired; ask for a new one")
}

// ResetLimits bound password reset requests per email and per client address, so
// that nobody floods a mailbox or probes many addresses. They count requests, not
// accounts, so a refusal says nothing about whether an account exists.
type ResetLimits struct {
	PerEmail   int
	PerAddress int
	Window     time.Duration
}

// DefaultResetLimits allow 5 requests an hour for one email and 30 from one address.
var DefaultResetLimits = ResetLimits{PerEmail: 5, PerAddress: 30, Window: time.Hour}

// RecentRequests are the requests within a window for the email and the address of a
// new one: how many, and when the oldest of each was made.
type RecentRequests struct {
	ByEmail, ByAddress         int
	OldestEmail, OldestAddress time.Time
}

// Check refuses a request over either limit, saying when one will be allowed again.
func (l ResetLimits) Check(r RecentRequests, now time.Time) error {
	switch {
	case r.ByEmail >= l.PerEmail:
		return apierr.TooMany("RATE_LIMITED", "too many password resets asked for this email; try again later",
			r.OldestEmail.Add(l.Window).Sub(now).Round(time.Second))
	case l.PerAddress > 0 && r.ByAddress >= l.PerAddress:
		return apierr.TooMany("RATE_LIMITED", "too many password resets asked from this address; try again later",
			r.OldestAddress.Add(l.Window).Sub(now).Round(time.Second))
	}
	return nil
}

// ErrWrongCurrentPassword refuses a password change whose current password is wrong.
func ErrWrongCurrentPassword() error {
	return apierr.InvalidArgument("current_password", "password.match", "the current password is wrong")
}
