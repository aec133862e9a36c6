package domain

import (
	"testing"
	"time"
)

func TestFirmBecomesReadOnlyOnlyAfterTheGracePeriod(t *testing.T) {
	const grace = 14 * 24 * time.Hour
	day := func(n int) time.Time { return t0.Add(time.Duration(n) * 24 * time.Hour) }
	account := &Account{FirmID: "f", CreateTime: day(0)}
	sub := func(status Status, lapsed time.Time) Subscription {
		return Subscription{Snapshot: Snapshot{ID: "sub_1", Status: status, CurrentPeriodEnd: day(30)}, LapsedAt: lapsed}
	}
	cases := []struct {
		name     string
		account  *Account
		sub      Subscription
		now      time.Time
		want     Access
		readOnly time.Time
	}{
		{"active", account, sub(StatusActive, time.Time{}), day(100), AccessFull, time.Time{}},
		{"trialing", account, sub(StatusTrialing, time.Time{}), day(100), AccessFull, time.Time{}},
		{"past due within grace", account, sub(StatusPastDue, day(40)), day(53), AccessFull, day(54)},
		{"past due after grace", account, sub(StatusPastDue, day(40)), day(54), AccessReadOnly, day(54)},
		{"unpaid after grace", account, sub(StatusUnpaid, day(40)), day(60), AccessReadOnly, day(54)},
		{"canceled within grace", account, sub(StatusCanceled, day(40)), day(41), AccessFull, day(54)},
		{"canceled after grace", account, sub(StatusCanceled, day(40)), day(90), AccessReadOnly, day(54)},
		{"never subscribed, new firm", account, Subscription{}, day(3), AccessFull, day(14)},
		{"never subscribed, old firm", account, Subscription{}, day(15), AccessReadOnly, day(14)},
		{"checkout abandoned counts as never", account, sub(StatusIncompleteExpired, time.Time{}), day(20), AccessReadOnly, day(14)},
		{"firm billing has not heard of", nil, Subscription{}, day(400), AccessFull, time.Time{}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			e := Entitle("f", tc.account, tc.sub, tc.now, grace)
			if e.Access != tc.want || !e.ReadOnlyTime.Equal(tc.readOnly) {
				t.Errorf("access %s read-only at %v, want %s at %v", e.Access, e.ReadOnlyTime, tc.want, tc.readOnly)
			}
		})
	}
}

func TestCancelAtPeriodEndShowsWhenAccessWillEnd(t *testing.T) {
	s := Subscription{Snapshot: Snapshot{ID: "sub_1", Status: StatusActive, CancelAtPeriodEnd: true, CurrentPeriodEnd: t0}}
	e := Entitle("f", &Account{}, s, t0.Add(-time.Hour), 24*time.Hour)
	if e.Access != AccessFull || !e.ReadOnlyTime.Equal(t0.Add(24*time.Hour)) {
		t.Errorf("%+v", e)
	}
}

func TestMemberCountsArriveOutOfOrder(t *testing.T) {
	var a Account
	for _, step := range []struct {
		n    int
		at   int
		took bool
		want int64
	}{
		{1, 10, true, 1},
		{3, 30, true, 3},
		{2, 20, false, 3}, // older than what is held
		{3, 30, false, 3}, // the same event again
		{0, 40, true, 1},  // never below one seat
	} {
		if took := a.CountMembers(step.n, sec(step.at)); took != step.took || a.Seats() != step.want {
			t.Errorf("count %d at %d: took %v seats %d, want %v %d", step.n, step.at, took, a.Seats(), step.took, step.want)
		}
	}
}

func TestSeatsChangeOnlyOnALiveSubscription(t *testing.T) {
	cases := []struct {
		status Status
		item   string
		qty    int64
		want   bool
	}{
		{StatusActive, "si_1", 2, true},
		{StatusPastDue, "si_1", 2, true},
		{StatusActive, "si_1", 3, false},
		{StatusCanceled, "si_1", 2, false},
		{StatusIncomplete, "si_1", 2, false},
		{StatusActive, "", 2, false},
	}
	for _, tc := range cases {
		s := Subscription{Snapshot: Snapshot{ID: "sub_1", Status: tc.status, ItemID: tc.item, Quantity: tc.qty}}
		if got := s.NeedsSeats(3); got != tc.want {
			t.Errorf("%s item %q qty %d: NeedsSeats(3) = %v", tc.status, tc.item, tc.qty, got)
		}
	}
}

func TestPlansRefuseWhatTheAPICannotCarry(t *testing.T) {
	cases := []struct {
		plans Plans
		ok    bool
	}{
		{Plans{"standard": "price_1", "pro": "price_2"}, true},
		{Plans{}, false},
		{Plans{"Standard": "price_1"}, false},
		{Plans{"standard": ""}, false},
		{Plans{"a": "price_1", "b": "price_1"}, false},
	}
	for _, tc := range cases {
		if err := tc.plans.Validate(); (err == nil) != tc.ok {
			t.Errorf("%v: err = %v", tc.plans, err)
		}
	}
	p := Plans{"standard": "price_1"}
	if p.Name("price_1") != "standard" || p.Name("price_x") != "" {
		t.Error("Name does not map prices back to plans")
	}
}
