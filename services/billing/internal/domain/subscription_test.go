package domain

import (
	"fmt"
	"math/rand/v2"
	"testing"
	"time"
)

var t0 = time.Date(2026, 3, 1, 9, 0, 0, 0, time.UTC)

func sec(n int) time.Time { return t0.Add(time.Duration(n) * time.Second) }

func snap(id string, status Status, quantity int64) Snapshot {
	return Snapshot{ID: id, Status: status, PriceID: "price_std", ItemID: "si_" + id, Quantity: quantity,
		CurrentPeriodEnd: sec(30 * 86400), Created: sec(0)}
}

func obs(s Snapshot, at int) Observation { return Observation{Snapshot: s, At: sec(at)} }

func TestApplyDecidesByAgeNotArrival(t *testing.T) {
	active := snap("sub_1", StatusActive, 3)
	pastDue := snap("sub_1", StatusPastDue, 3)
	canceled := snap("sub_1", StatusCanceled, 3)
	moreSeats := snap("sub_1", StatusActive, 4)
	newer := snap("sub_2", StatusActive, 3)
	newer.Created = sec(50)

	cases := []struct {
		name   string
		held   Observation
		next   Observation
		want   Outcome
		status Status
	}{
		{"newer observation wins", obs(active, 10), obs(pastDue, 11), Applied, StatusPastDue},
		{"older observation is stale", obs(pastDue, 11), obs(active, 10), Stale, StatusPastDue},
		{"duplicate is the same", obs(active, 10), obs(active, 10), Same, StatusActive},
		{"tie with different content is ambiguous", obs(active, 10), obs(moreSeats, 10), Ambiguous, StatusActive},
		{"current object settles a tie", obs(active, 10), Observation{Snapshot: moreSeats, At: sec(10), Current: true}, Applied, StatusActive},
		{"current object wins over a later clock", obs(active, 10), Observation{Snapshot: pastDue, At: sec(9), Current: true}, Applied, StatusPastDue},
		{"ending settles a tie", obs(active, 10), obs(canceled, 10), Applied, StatusCanceled},
		{"ended never comes back", obs(canceled, 10), obs(active, 20), Stale, StatusCanceled},
		{"ended never comes back even fetched", obs(canceled, 10), Observation{Snapshot: active, At: sec(20), Current: true}, Stale, StatusCanceled},
		{"newer subscription replaces", obs(canceled, 60), obs(newer, 55), Applied, StatusActive},
		{"older subscription is stale", obs(newer, 55), obs(pastDue, 70), Stale, StatusActive},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			var s Subscription
			s.Apply(tc.held)
			if got := s.Apply(tc.next); got != tc.want {
				t.Errorf("Apply = %s, want %s", got, tc.want)
			}
			if s.Status != tc.status {
				t.Errorf("status = %s, want %s", s.Status, tc.status)
			}
		})
	}
}

func TestSameContentLaterMovesTheClockSoOlderChangesStayOut(t *testing.T) {
	// Seats went 3 -> 4 -> 3; the 4 arrives last and must not win.
	var s Subscription
	s.Apply(obs(snap("sub_1", StatusActive, 3), 10))
	if got := s.Apply(obs(snap("sub_1", StatusActive, 3), 30)); got != Applied {
		t.Fatalf("later identical observation: %s, want applied (the clock moves)", got)
	}
	if got := s.Apply(obs(snap("sub_1", StatusActive, 4), 20)); got != Stale || s.Quantity != 3 {
		t.Errorf("older change: %s, quantity %d", got, s.Quantity)
	}
}

func TestLapseRunsFromTheFirstFailureOfARun(t *testing.T) {
	var s Subscription
	s.Apply(obs(snap("sub_1", StatusActive, 1), 10))
	s.Apply(obs(snap("sub_1", StatusPastDue, 1), 20))
	s.Apply(obs(snap("sub_1", StatusUnpaid, 1), 40))
	if !s.LapsedAt.Equal(sec(20)) {
		t.Errorf("lapsed at %v, want the first failure %v", s.LapsedAt, sec(20))
	}
	s.Apply(obs(snap("sub_1", StatusActive, 1), 50))
	if !s.LapsedAt.IsZero() {
		t.Errorf("paid again but still lapsed since %v", s.LapsedAt)
	}
}

func TestLateRecoveryNeverShortensTheGracePeriod(t *testing.T) {
	// Truth: past due at 20, paid at 30, past due again at 40. The payment arrives last.
	var s Subscription
	s.Apply(obs(snap("sub_1", StatusPastDue, 1), 20))
	s.Apply(obs(snap("sub_1", StatusPastDue, 2), 40))
	if got := s.Apply(obs(snap("sub_1", StatusActive, 1), 30)); got != Applied {
		t.Fatalf("late recovery: %s, want applied (the lapse time moves)", got)
	}
	if s.Status != StatusPastDue || s.LapsedAt.Before(sec(40)) {
		t.Errorf("status %s lapsed at %v; want past_due lapsed no earlier than %v", s.Status, s.LapsedAt, sec(40))
	}
}

// history is a firm's true subscription story as Stripe would tell it: every change
// as an event carrying the object after the change, in the order Stripe made them.
type history struct {
	events []Observation
	ids    []string // event ids, parallel to events
	final  map[string]Snapshot
	// current is the firm's subscription at the end and lapse when it lapsed (zero
	// when in good standing or never started).
	current string
	lapse   time.Time
}

// realisticHistory makes one of the stories a per-seat subscription lives through:
// checkout (incomplete then paid, often within one second), seat changes, renewals,
// failed payments and recoveries, cancellation at period end or at once, and
// sometimes a new subscription after the old one ended.
func realisticHistory(r *rand.Rand) history {
	h := history{final: map[string]Snapshot{}}
	clock := t0
	var cur Snapshot
	subs := 0
	emit := func(s Snapshot) {
		prev := h.final[s.ID]
		switch {
		case s.ID != h.current || !s.Status.Lapsed():
			h.lapse = time.Time{}
			if s.Status.Lapsed() {
				h.lapse = clock
			}
		case !prev.Status.Lapsed():
			h.lapse = clock
		}
		h.current = s.ID
		h.final[s.ID] = s
		h.events = append(h.events, Observation{Snapshot: s, At: clock})
		h.ids = append(h.ids, fmt.Sprintf("evt_%d", len(h.ids)))
		cur = s
	}
	tick := func() {
		// Stripe stamps events in whole seconds; a third of them share one.
		if r.IntN(3) > 0 {
			clock = clock.Add(time.Duration(1+r.IntN(3*86400)) * time.Second)
		}
	}
	start := func() {
		subs++
		s := Snapshot{
			ID: fmt.Sprintf("sub_%d", subs), Status: StatusIncomplete, PriceID: "price_std",
			ItemID: fmt.Sprintf("si_%d", subs), Quantity: int64(1 + r.IntN(5)),
			CurrentPeriodEnd: clock.Add(30 * 24 * time.Hour), Created: clock,
		}
		emit(s)
		tick()
		if r.IntN(8) == 0 {
			s.Status = StatusIncompleteExpired
		} else if r.IntN(4) == 0 {
			s.Status = StatusTrialing
		} else {
			s.Status = StatusActive
		}
		emit(s)
	}
	start()
	for steps := 3 + r.IntN(12); steps > 0; steps-- {
		tick()
		s := cur
		switch {
		case s.Status.Ended():
			if r.IntN(2) == 0 {
				return h
			}
			start()
			continue
		case s.Status.InGoodStanding():
			switch r.IntN(6) {
			case 0:
				s.Quantity = max(1, s.Quantity+int64(r.IntN(3)-1))
			case 1:
				s.CurrentPeriodEnd = s.CurrentPeriodEnd.Add(30 * 24 * time.Hour)
				s.Status = StatusActive
			case 2:
				s.Status = StatusPastDue
			case 3:
				s.CancelAtPeriodEnd = !s.CancelAtPeriodEnd
			case 4:
				s.Status, s.CanceledAt = StatusCanceled, clock
			default:
				s.Quantity++
			}
		case s.Status == StatusPastDue:
			s.Status = []Status{StatusActive, StatusUnpaid, StatusCanceled, StatusPastDue}[r.IntN(4)]
			if s.Status == StatusPastDue {
				s.Quantity++ // a seat change while a payment is retried
			}
		case s.Status == StatusUnpaid:
			s.Status = []Status{StatusActive, StatusCanceled}[r.IntN(2)]
		}
		if s.Status == StatusCanceled && s.CanceledAt.IsZero() {
			s.CanceledAt = clock
		}
		emit(s)
	}
	return h
}

// TestAnyDeliveryOrderEndsInTheTrueState replays each realistic history in random
// orders with random duplicates, settling ambiguous ties with the current object as
// the app does, and checks that the firm always ends with its true subscription, that
// nothing moved backwards on the way, and that the grace period is never cut short.
func TestAnyDeliveryOrderEndsInTheTrueState(t *testing.T) {
	r := rand.New(rand.NewPCG(20260301, 1))
	const histories, ordersEach = 150, 10 // 1,500 orderings
	fetches := 0
	for hi := range histories {
		h := realisticHistory(r)
		want := h.final[h.current]
		for oi := range ordersEach {
			deliveries := shuffledWithDuplicates(r, len(h.events))
			now := h.events[len(h.events)-1].At.Add(time.Second)
			var s Subscription
			seen := map[string]bool{}
			for _, i := range deliveries {
				if seen[h.ids[i]] {
					// The inbox turns a repeated event id away before the state machine.
					continue
				}
				seen[h.ids[i]] = true
				before := s
				outcome := s.Apply(h.events[i])
				if outcome == Ambiguous {
					fetches++
					outcome = s.Settle(h.events[i], Observation{Snapshot: h.final[h.events[i].ID], At: now, Current: true})
				}
				if before.Exists() && backwards(before, s) {
					t.Fatalf("history %d order %d: moved backwards from %+v to %+v on %+v", hi, oi, before, s, h.events[i])
				}
				if outcome == Ambiguous {
					t.Fatalf("history %d order %d: still ambiguous after fetching", hi, oi)
				}
			}
			if !s.Snapshot.Equal(want) {
				t.Fatalf("history %d order %d: ended in %+v, want %+v\nevents: %+v\norder: %v", hi, oi, s.Snapshot, want, h.events, deliveries)
			}
			if h.lapse.IsZero() != s.LapsedAt.IsZero() || s.LapsedAt.Before(h.lapse) {
				t.Fatalf("history %d order %d: lapsed at %v, truly at %v (status %s)\nevents: %+v\norder: %v",
					hi, oi, s.LapsedAt, h.lapse, s.Status, h.events, deliveries)
			}
		}
	}
	if fetches == 0 {
		t.Error("no ordering was ambiguous: the histories do not exercise fetching")
	}
}

// shuffledWithDuplicates is every index once, plus up to n/2 repeats, in random order.
func shuffledWithDuplicates(r *rand.Rand, n int) []int {
	out := make([]int, 0, n+n/2)
	for i := range n {
		out = append(out, i)
	}
	for range r.IntN(n/2 + 1) {
		out = append(out, r.IntN(n))
	}
	r.Shuffle(len(out), func(i, j int) { out[i], out[j] = out[j], out[i] })
	return out
}

// backwards reports a move to an older subscription, to an older observation of the
// same one, or out of an ended state.
func backwards(before, after Subscription) bool {
	if after.ID != before.ID {
		return newerSubscription(before.Snapshot, after.Snapshot)
	}
	return after.ObservedAt.Before(before.ObservedAt) || (before.Status.Ended() && !after.Status.Ended())
}
