package grpcapi_test

import (
	"context"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/firmflow/firmflow/pkg/firmdata/firmdatatest"
	lifecyclev1 "github.com/firmflow/firmflow/pkg/gen/firmflow/lifecycle/v1"
)

// TestPruneRemovesWhatServedItsPurposeAsOfTheRunsClock drives Prune with a clock
// moved forward: nothing fresh goes; a session goes once idle-expired, published
// outbox rows once past their day, the invitation after 30 days, the ended support
// grant 30 days after its end together with its notification, a password reset a day
// after it expired or was used; an unpublished event,
// the firm and its members stay however late it is. Every answer counts what went.
func TestPruneRemovesWhatServedItsPurposeAsOfTheRunsClock(t *testing.T) {
	f := newFirmDataFixture(t)
	s := f.seed(t, "firm")
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, f.db.AdminURL)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	// The relay published every event but the first.
	tag, err := conn.Exec(ctx, `update outbox set published_at = now() where id <> (select id from outbox order by seq limit 1)`)
	if err != nil || tag.RowsAffected() == 0 {
		t.Fatalf("publish outbox rows: %v %v", tag, err)
	}
	published := tag.RowsAffected()
	start := time.Now()
	// Besides the seeded reset (unused, expiring 30 minutes from now), one asked for
	// in 3 hours and used 10 minutes later.
	if _, err := conn.Exec(ctx, `insert into password_resets (id, firm_id, member_id, token_hash, create_time, expire_time, used_time)
		select gen_random_uuid(), firm_id, member_id, sha256(gen_random_uuid()::text::bytea), $1::timestamptz, $1::timestamptz + interval '30 minutes', $1::timestamptz + interval '10 minutes'
		from password_resets limit 1`, start.Add(3*time.Hour)); err != nil {
		t.Fatal(err)
	}
	lc := f.callers.Lifecycle
	prune := func(after time.Duration) map[string]int64 {
		t.Helper()
		res, err := lc.Prune(ctx, &lifecyclev1.PruneRequest{Now: timestamppb.New(start.Add(after)), Run: "test"})
		if err != nil {
			t.Fatalf("prune at +%v: %v", after, err)
		}
		out := map[string]int64{}
		for _, c := range res.GetPruned() {
			out[c.GetTable()] = c.GetRows()
		}
		return out
	}
	check := func(after time.Duration, got, want map[string]int64) {
		t.Helper()
		for table, n := range want {
			if got[table] != n {
				t.Errorf("prune at +%v removed %d %s, want %d (all: %v)", after, got[table], table, n, got)
			}
		}
	}
	zero := map[string]int64{"sessions": 0, "invitations": 0, "support_grants": 0, "notifications": 0, "outbox": 0, "password_resets": 0}
	check(0, prune(0), zero)
	check(2*time.Hour, prune(2*time.Hour), map[string]int64{"sessions": 1, "invitations": 0, "support_grants": 0, "outbox": 0, "password_resets": 0})
	check(25*time.Hour, prune(25*time.Hour), map[string]int64{"sessions": 0, "invitations": 0, "outbox": published, "password_resets": 1})
	check(28*time.Hour, prune(28*time.Hour), map[string]int64{"password_resets": 1})
	check(31*24*time.Hour, prune(31*24*time.Hour), map[string]int64{"invitations": 1, "support_grants": 1, "notifications": 1, "outbox": 0, "password_resets": 0})
	check(32*24*time.Hour, prune(32*24*time.Hour), zero)

	left := firmdatatest.Counts(t, lc, "firms/"+s.firmID)
	for table, want := range map[string]int64{"firms": 1, "members": 1, "api_keys": 1, "outbox": 1, "sessions": 0, "invitations": 0, "support_grants": 0, "notifications": 0, "password_resets": 0} {
		if left[table] != want {
			t.Errorf("after pruning the firm has %d %s, want %d", left[table], table, want)
		}
	}

	if _, err := f.callers.Other.Prune(ctx, &lifecyclev1.PruneRequest{Now: timestamppb.Now()}); status.Code(err) != codes.PermissionDenied {
		t.Errorf("Prune as gateway: %v, want PermissionDenied", err)
	}
	if _, err := lc.Prune(ctx, &lifecyclev1.PruneRequest{}); status.Code(err) != codes.InvalidArgument {
		t.Errorf("Prune without a clock: %v, want InvalidArgument", err)
	}
}
