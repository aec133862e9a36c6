// Package domain holds billing's rules: a firm's subscription as a state machine fed by
// Stripe's events in whatever order they arrive, seats that follow active members,
// plans, and the entitlement other services ask about. It knows nothing of Stripe's
// API, gRPC or SQL.
package domain

import "time"

// Status is a Stripe subscription status.
type Status string

const (
	StatusIncomplete        Status = "incomplete"
	StatusIncompleteExpired Status = "incomplete_expired"
	StatusTrialing          Status = "trialing"
	StatusActive            Status = "active"
	StatusPastDue           Status = "past_due"
	StatusUnpaid            Status = "unpaid"
	StatusCanceled          Status = "canceled"
	StatusPaused            Status = "paused"
)

// InGoodStanding reports a subscription that is paid for, or in its trial.
func (s Status) InGoodStanding() bool { return s == StatusTrialing || s == StatusActive }

// Lapsed reports a subscription that was running and no longer is paid for: the firm
// keeps full access for the grace period after it lapsed.
func (s Status) Lapsed() bool {
	return s == StatusPastDue || s == StatusUnpaid || s == StatusPaused || s == StatusCanceled
}

// Ended reports a subscription Stripe will never bring back; a new one replaces it.
func (s Status) Ended() bool { return s == StatusCanceled || s == StatusIncompleteExpired }

// Live reports a subscription Stripe bills: its seats follow the members, and a second
// one must not be started beside it.
func (s Status) Live() bool {
	return s.InGoodStanding() || s == StatusPastDue || s == StatusUnpaid || s == StatusPaused
}

// Snapshot is a subscription as one Stripe object showed it, whether in an event's
// payload or fetched from the API.
type Snapshot struct {
	ID                string
	Status            Status
	PriceID           string
	ItemID            string
	Quantity          int64
	CurrentPeriodEnd  time.Time
	CancelAtPeriodEnd bool
	CanceledAt        time.Time
	// Created is when Stripe created the subscription; it orders the subscriptions of
	// one firm, the newest being the firm's.
	Created time.Time
}

// Equal reports whether two snapshots describe the same state.
func (s Snapshot) Equal(o Snapshot) bool {
	return s.ID == o.ID && s.Status == o.Status && s.PriceID == o.PriceID && s.ItemID == o.ItemID &&
		s.Quantity == o.Quantity && s.CurrentPeriodEnd.Equal(o.CurrentPeriodEnd) &&
		s.CancelAtPeriodEnd == o.CancelAtPeriodEnd && s.CanceledAt.Equal(o.CanceledAt) && s.Created.Equal(o.Created)
}

// Observation is a snapshot and when Stripe took it.
type Observation struct {
	Snapshot
	// At is the creation time of the event that carried the snapshot, or Stripe's
	// clock when it was fetched. Stripe counts in whole seconds, so two observations
	// of one subscription can share a time.
	At time.Time
	// Current marks a snapshot fetched from the API: the object as it is now, newer
	// than any event already seen.
	Current bool
}

// Subscription is a firm's subscription as billing last saw it.
type Subscription struct {
	FirmID string
	Snapshot
	// ObservedAt is the time of the newest observation applied; older ones are stale.
	ObservedAt time.Time
	// LapsedAt is when the firm's subscription left good standing (zero while it is
	// in good standing, or never started); the grace period runs from it.
	LapsedAt   time.Time
	UpdateTime time.Time
}

// Exists reports whether the firm has had a subscription at all.
func (s Subscription) Exists() bool { return s.ID != "" }

// Outcome is what applying an observation did.
type Outcome int

const (
	// Applied: the subscription changed (possibly only its ObservedAt); save it.
	Applied Outcome = iota + 1
	// Same: the observation repeats what is held, e.g. a duplicate event.
	Same
	// Stale: the observation is older than what is held; ignore it.
	Stale
	// Ambiguous: the observation is as new as what is held but differs from it, so
	// which came last is unknown; fetch the current object and apply that.
	Ambiguous
)

func (o Outcome) String() string {
	return [...]string{"", "applied", "same", "stale", "ambiguous"}[o]
}

// Apply folds one observation into the subscription. The state it ends in depends
// only on which observations were applied, not on their order: the newest
// subscription of the firm wins over older ones, a newer observation over an older
// one, an ended subscription never comes back, and a tie the observations cannot
// settle is Ambiguous, for the caller to settle with the current object.
func (s *Subscription) Apply(o Observation) Outcome {
	switch {
	case !s.Exists():
		s.take(o, o.At)
		return Applied
	case o.ID != s.ID:
		if !newerSubscription(o.Snapshot, s.Snapshot) {
			return Stale
		}
		s.take(o, o.At)
		return Applied
	case s.Status.Ended() && !o.Status.Ended():
		return s.stale(o)
	}
	at := o.At
	if o.Current && at.Before(s.ObservedAt) {
		// Fetched now, so at least as new as anything seen, whatever the clocks say.
		at = s.ObservedAt
	}
	switch {
	case at.Before(s.ObservedAt):
		return s.stale(o)
	case o.Snapshot.Equal(s.Snapshot):
		if at.Equal(s.ObservedAt) {
			return Same
		}
		s.ObservedAt = at
		return Applied
	case at.Equal(s.ObservedAt) && !o.Current && !(o.Status.Ended() && !s.Status.Ended()):
		// Two different states in one second. Nothing follows an ending, so an
		// ending settles the tie by itself; anything else needs the current object.
		return Ambiguous
	}
	s.take(o, at)
	return Applied
}

// Settle applies current, the object fetched because o was Ambiguous, and then what
// o still tells: it is older than the current object, yet may show good standing
// after the lapse time held.
func (s *Subscription) Settle(o, current Observation) Outcome {
	outcome := s.Apply(current)
	if o.ID == s.ID && s.stale(o) == Applied {
		return Applied
	}
	return outcome
}

// take makes o the held state, observed at at. The lapse time survives moves between
// lapsed states of one subscription (past due, then unpaid, then canceled), so the
// grace period runs from the first of them.
func (s *Subscription) take(o Observation, at time.Time) {
	wasLapsed := s.ID == o.ID && s.Status.Lapsed()
	s.Snapshot = o.Snapshot
	s.ObservedAt = at
	switch {
	case !s.Status.Lapsed():
		s.LapsedAt = time.Time{}
	case !wasLapsed || s.LapsedAt.IsZero():
		s.LapsedAt = at
	}
}

// stale leaves the state as it is, with one thing to learn: an older observation of
// the subscription in good standing, made no earlier than the lapse time held, shows
// the lapse may have come later, since events arriving out of order can hide a
// recovery between two failures. The lapse time then moves to the newest observation, which was lapsed, so
// the grace period is never cut short.
func (s *Subscription) stale(o Observation) Outcome {
	if o.ID == s.ID && o.Status.InGoodStanding() && s.Status.Lapsed() &&
		!o.At.Before(s.LapsedAt) && s.LapsedAt.Before(s.ObservedAt) {
		s.LapsedAt = s.ObservedAt
		return Applied
	}
	return Stale
}

// newerSubscription reports whether a is a later subscription of the firm than b;
// Stripe's creation times order them, ids settle a tie so the choice is the same
// whatever the order of arrival.
func newerSubscription(a, b Snapshot) bool {
	if !a.Created.Equal(b.Created) {
		return a.Created.After(b.Created)
	}
	return a.ID > b.ID
}
