package domain

import (
	"fmt"
	"regexp"
	"time"
)

// Account is a firm's billing account: its Stripe customer and the member count its
// seats follow.
type Account struct {
	FirmID     string
	CustomerID string
	// ActiveMembers is the count from the newest identity event seen, MembersAsOf
	// that event's time.
	ActiveMembers int
	MembersAsOf   time.Time
	CreateTime    time.Time
}

// CountMembers takes the member count identity reported at at. It reports false, and
// keeps the count it has, when the report is not newer than the one held: events can
// arrive out of order when one of them is retried.
func (a *Account) CountMembers(n int, at time.Time) bool {
	if !at.After(a.MembersAsOf) {
		return false
	}
	a.ActiveMembers, a.MembersAsOf = max(0, n), at
	return true
}

// Seats is what the subscription should bill: one per active member, never fewer, and
// at least one.
func (a Account) Seats() int64 { return max(1, int64(a.ActiveMembers)) }

// NeedsSeats reports whether the subscription bills a quantity other than seats and
// can be changed.
func (s Subscription) NeedsSeats(seats int64) bool {
	return s.Status.Live() && s.ItemID != "" && s.Quantity != seats
}

// Plans maps plan names to Stripe price ids, from configuration.
type Plans map[string]string

var planName = regexp.MustCompile(`^[a-z0-9][a-z0-9_-]{0,39}$`)

// Validate refuses plan names the API cannot carry and prices used twice.
func (p Plans) Validate() error {
	if len(p) == 0 {
		return fmt.Errorf("no plans configured")
	}
	prices := map[string]string{}
	for name, price := range p {
		if !planName.MatchString(name) {
			return fmt.Errorf("plan name %q must be lower-case letters, digits, _ or -", name)
		}
		if price == "" {
			return fmt.Errorf("plan %q has no price id", name)
		}
		if other, ok := prices[price]; ok {
			return fmt.Errorf("plans %q and %q share a price", other, name)
		}
		prices[price] = name
	}
	return nil
}

// Price returns the price id of a plan.
func (p Plans) Price(name string) (string, bool) {
	price, ok := p[name]
	return price, ok
}

// Name returns the plan a price belongs to, or "" for a price that is not a plan.
func (p Plans) Name(price string) string {
	for name, id := range p {
		if id == price {
			return name
		}
	}
	return ""
}

// Invoice is an invoice Stripe issued to a firm. Amounts are in the currency's
// smallest unit.
type Invoice struct {
	ID          string
	Number      string
	Status      string
	AmountDue   int64
	AmountPaid  int64
	Currency    string
	CreateTime  time.Time
	PeriodStart time.Time
	PeriodEnd   time.Time
	HostedURL   string
	PDFURL      string
}
