package domain

import "time"

// Access is what a firm may do with its data.
type Access string

const (
	AccessFull     Access = "full"
	AccessReadOnly Access = "read_only"
)

// Entitlement is a firm's access as billing decides it.
type Entitlement struct {
	FirmID string
	Access Access
	// Status is the subscription's, "" when the firm has none.
	Status Status
	// ReadOnlyTime is when the firm becomes (or became) read-only if nothing
	// changes; zero while that is not in view.
	ReadOnlyTime     time.Time
	CurrentPeriodEnd time.Time
}

// Entitle decides a firm's access at now. A subscription in good standing gives full
// access. One that lapsed (payment failed, unpaid, paused, canceled) keeps it for the
// grace period after the lapse. A firm that never completed a subscription has the
// grace period after its billing account was created (its sign-up) to start one. A
// firm billing has not heard of yet (its creation event is on its way) has full access.
func Entitle(firmID string, account *Account, s Subscription, now time.Time, grace time.Duration) Entitlement {
	e := Entitlement{FirmID: firmID, Access: AccessFull, Status: s.Status, CurrentPeriodEnd: s.CurrentPeriodEnd}
	switch {
	case s.Exists() && s.Status.InGoodStanding():
		if s.CancelAtPeriodEnd && !s.CurrentPeriodEnd.IsZero() {
			e.ReadOnlyTime = s.CurrentPeriodEnd.Add(grace)
		}
	case s.Exists() && s.Status.Lapsed():
		e.ReadOnlyTime = s.LapsedAt.Add(grace)
	case account != nil:
		e.ReadOnlyTime = account.CreateTime.Add(grace)
	}
	if !e.ReadOnlyTime.IsZero() && !now.Before(e.ReadOnlyTime) {
		e.Access = AccessReadOnly
	}
	return e
}
