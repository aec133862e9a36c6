package store_test

import (
	"context"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/firmflow/firmflow/services/workflow/internal/domain"
	"github.com/firmflow/firmflow/services/workflow/internal/store"
)

// TestMembershipsAreThoseOfTheTransactionsFirm: a member of one firm is unknown in
// another, a removal is final, and releasing a member's work touches only the firm
// it happens in.
func TestMembershipsAreThoseOfTheTransactionsFirm(t *testing.T) {
	t.Parallel()
	w := newWorkDB(t)
	ctx := context.Background()
	now := time.Now().UTC()
	other := uuid.NewString()
	mine, theirs, gone := uuid.NewString(), uuid.NewString(), uuid.NewString()
	if err := w.store.InFirm(ctx, other, func(q *store.Queries) error { return q.JoinMember(ctx, theirs, now) }); err != nil {
		t.Fatal(err)
	}
	w.in(t, func(q *store.Queries) error {
		for _, step := range []func() error{
			func() error { return q.JoinMember(ctx, mine, now) },
			func() error { return q.JoinMember(ctx, gone, now) },
			func() error { return q.RemoveMember(ctx, gone, now) },
			func() error { return q.JoinMember(ctx, gone, now) }, // late: stays removed
		} {
			if err := step(); err != nil {
				return err
			}
		}
		return nil
	})
	w.in(t, func(q *store.Queries) error {
		known, err := q.Memberships(ctx, []string{mine, theirs, gone})
		if err != nil {
			return err
		}
		want := map[string]domain.Membership{mine: domain.MembershipActive, gone: domain.MembershipRemoved}
		if len(known) != len(want) || known[mine] != want[mine] || known[gone] != want[gone] {
			t.Errorf("memberships %v, want %v (another firm's member unknown)", known, want)
		}
		return nil
	})
	// The other firm's member in the other firm, assigned to a capacity there.
	if err := w.store.InFirm(ctx, other, func(q *store.Queries) error {
		_, err := q.SetCapacity(ctx, domain.Capacity{MemberID: theirs, WeeklyMinutes: 60}, 0)
		return err
	}); err != nil {
		t.Fatal(err)
	}
	w.in(t, func(q *store.Queries) error {
		released, err := q.ReleaseWork(ctx, theirs, now)
		if err != nil || released.Capacities != 0 {
			t.Errorf("release in the wrong firm: %+v, %v", released, err)
		}
		return nil
	})
	if err := w.store.InFirm(ctx, other, func(q *store.Queries) error {
		c, err := q.Capacity(ctx, theirs)
		if err == nil && c.Version != 1 {
			t.Errorf("the other firm's capacity changed: %+v", c)
		}
		return err
	}); err != nil {
		t.Fatal(err)
	}
}
