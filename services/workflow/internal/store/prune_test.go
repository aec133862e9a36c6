package store_test

import (
	"context"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"github.com/firmflow/firmflow/pkg/pg/pgtest"
	"github.com/firmflow/firmflow/services/workflow/internal/store"
	"github.com/firmflow/firmflow/services/workflow/migrations"
)

// TestPruneKeepsQueuesWithinTheirWindows: as of the run's clock, published outbox
// rows older than a day and inbox ids older than a week go, of every firm; younger
// ones stay, and an unpublished event stays however old it is.
func TestPruneKeepsQueuesWithinTheirWindows(t *testing.T) {
	d := pgtest.New(t, "workflow", migrations.FS)
	s := store.New(d.Open(t))
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, d.AdminURL)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	now := time.Date(2027, 3, 1, 12, 0, 0, 0, time.UTC)
	firms := []string{uuid.NewString(), uuid.NewString()}
	for _, firm := range firms {
		for _, published := range []any{now.Add(-25 * time.Hour), now.Add(-23 * time.Hour), nil} {
			if _, err := conn.Exec(ctx, `insert into outbox (id, firm_id, subject, payload, created_at, published_at)
				values ($1, $2, 'firmflow.workflow.test', '\x00', $3, $4)`, uuid.NewString(), firm, now.Add(-30*24*time.Hour), published); err != nil {
				t.Fatal(err)
			}
		}
		for _, processed := range []time.Time{now.Add(-8 * 24 * time.Hour), now.Add(-6 * 24 * time.Hour)} {
			if _, err := conn.Exec(ctx, `insert into inbox (event_id, firm_id, subject, occurred_at, processed_at)
				values ($1, $2, 'firmflow.identity.test', $3, $3)`, uuid.NewString(), firm, processed); err != nil {
				t.Fatal(err)
			}
		}
	}
	// The webhook delivery log: settled deliveries older than 30 days go, waiting ones stay.
	hook := uuid.NewString()
	if _, err := conn.Exec(ctx, `insert into webhook_subscriptions (id, firm_id, url, event_types, state, secret, create_time, update_time)
		values ($1, $2, 'https://hooks.example.com', '{*}', 'active', '\x00', $3, $3)`, hook, firms[0], now.Add(-90*24*time.Hour)); err != nil {
		t.Fatal(err)
	}
	for _, d := range []struct {
		state string
		age   time.Duration
	}{{"succeeded", 31 * 24 * time.Hour}, {"failed", 31 * 24 * time.Hour}, {"succeeded", 29 * 24 * time.Hour}, {"pending", 40 * 24 * time.Hour}} {
		var next any
		if d.state == "pending" {
			next = now
		}
		if _, err := conn.Exec(ctx, `insert into webhook_deliveries (id, firm_id, subscription_id, object, event_type, sequence, state,
			occur_time, create_time, expire_time, next_attempt_time) values ($1, $2, $3, $4, 'client.updated', 1, $5, $6, $6, $6, $7)`,
			uuid.NewString(), firms[0], hook, uuid.NewString(), d.state, now.Add(-d.age), next); err != nil {
			t.Fatal(err)
		}
	}
	counts, err := s.Prune(ctx, now)
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]int64{}
	for _, c := range counts {
		got[c.Table] = c.Rows
	}
	if got["outbox"] != 2 || got["inbox"] != 2 || got["webhook_deliveries"] != 2 {
		t.Errorf("pruned %v, want 2 outbox rows and 2 inbox ids (one of each per firm), 2 webhook deliveries", got)
	}
	var outbox, unpublished, inbox int
	if err := conn.QueryRow(ctx, `select count(*), count(*) filter (where published_at is null) from outbox`).Scan(&outbox, &unpublished); err != nil {
		t.Fatal(err)
	}
	if err := conn.QueryRow(ctx, `select count(*) from inbox where processed_at > $1`, now.Add(-7*24*time.Hour)).Scan(&inbox); err != nil {
		t.Fatal(err)
	}
	if outbox != 4 || unpublished != 2 || inbox != 2 {
		t.Errorf("left %d outbox rows (%d unpublished) and %d recent inbox ids, want 4 (2) and 2", outbox, unpublished, inbox)
	}
	again, err := s.Prune(ctx, now)
	if err != nil {
		t.Fatalf("second prune: %v", err)
	}
	for _, c := range again {
		if c.Rows != 0 {
			t.Errorf("second prune removed %d %s rows, want nothing more", c.Rows, c.Table)
		}
	}
}
