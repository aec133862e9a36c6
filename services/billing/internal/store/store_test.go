package store_test

import (
	"context"
	"testing"
	"time"

	"github.com/firmflow/firmflow/pkg/pg/pgtest"
	"github.com/firmflow/firmflow/services/billing/internal/domain"
	"github.com/firmflow/firmflow/services/billing/internal/store"
	"github.com/firmflow/firmflow/services/billing/migrations"
)

const (
	firmA = "7d3c1e52-8a41-4f0b-b6f7-2a9e5c4d1a01"
	firmB = "7d3c1e52-8a41-4f0b-b6f7-2a9e5c4d1a02"
)

func TestSchemaKeepsFirmsApart(t *testing.T) {
	t.Parallel()
	pgtest.CheckTenancy(t, pgtest.New(t, "billing", migrations.FS))
}

func TestStoreRoundTripsAndFindsFirmsOnlyByCustomer(t *testing.T) {
	t.Parallel()
	s := store.New(pgtest.New(t, "billing", migrations.FS).Open(t))
	ctx := context.Background()
	now := time.Now().UTC().Truncate(time.Second)
	for firm, customer := range map[string]string{firmA: "cus_A", firmB: "cus_B"} {
		err := s.InFirm(ctx, firm, func(q *store.Queries) error {
			return q.CreateAccount(ctx, domain.Account{FirmID: firm, CustomerID: customer, CreateTime: now})
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	sub := domain.Subscription{FirmID: firmA, Snapshot: domain.Snapshot{
		ID: "sub_1", Status: domain.StatusPastDue, PriceID: "price_1", ItemID: "si_1", Quantity: 3,
		CurrentPeriodEnd: now.Add(time.Hour), Created: now.Add(-time.Hour),
	}, ObservedAt: now, LapsedAt: now}
	err := s.InFirm(ctx, firmA, func(q *store.Queries) error {
		if err := q.SaveSubscription(ctx, sub); err != nil {
			return err
		}
		got, err := q.Subscription(ctx, firmA)
		if err != nil {
			return err
		}
		if !got.Snapshot.Equal(sub.Snapshot) || !got.ObservedAt.Equal(sub.ObservedAt) || !got.LapsedAt.Equal(sub.LapsedAt) {
			t.Errorf("read back %+v, wrote %+v", got, sub)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}

	err = s.InFirm(ctx, firmB, func(q *store.Queries) error {
		got, err := q.Subscription(ctx, firmA)
		if err == nil && got.Exists() {
			t.Error("firm B's transaction reads firm A's subscription")
		}
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	err = s.Unscoped(ctx, func(q *store.Queries) error {
		firm, ok, err := q.FirmOfCustomer(ctx, "cus_B")
		if err != nil || !ok || firm != firmB {
			t.Errorf("FirmOfCustomer(cus_B) = %q, %v, %v", firm, ok, err)
		}
		if _, ok, _ := q.FirmOfCustomer(ctx, "cus_unknown"); ok {
			t.Error("an unknown customer found a firm")
		}
		if _, err := q.Subscription(ctx, firmA); err != nil {
			return err
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

func TestStripeEventsAreRecordedOnce(t *testing.T) {
	t.Parallel()
	s := store.New(pgtest.New(t, "billing", migrations.FS).Open(t))
	ctx := context.Background()
	e := store.StripeEvent{ID: "evt_1", FirmID: firmA, Type: "invoice.paid", Created: time.Now(), Source: "webhook"}
	for i, want := range []bool{true, false} {
		err := s.InFirm(ctx, firmA, func(q *store.Queries) error {
			first, err := q.RecordStripeEvent(ctx, e)
			if err == nil && first != want {
				t.Errorf("record %d: first = %v, want %v", i+1, first, want)
			}
			return err
		})
		if err != nil {
			t.Fatal(err)
		}
	}
}

func TestReconcilerPositionNeverMovesBack(t *testing.T) {
	t.Parallel()
	s := store.New(pgtest.New(t, "billing", migrations.FS).Open(t))
	ctx := context.Background()
	later := time.Date(2026, 3, 2, 0, 0, 0, 0, time.UTC)
	err := s.Unscoped(ctx, func(q *store.Queries) error {
		if _, ok, err := q.ReconcilerPosition(ctx); ok || err != nil {
			t.Errorf("fresh position: ok %v err %v", ok, err)
		}
		if err := q.SaveReconcilerPosition(ctx, later); err != nil {
			return err
		}
		if err := q.SaveReconcilerPosition(ctx, later.Add(-time.Hour)); err != nil {
			return err
		}
		got, ok, err := q.ReconcilerPosition(ctx)
		if !ok || !got.Equal(later) {
			t.Errorf("position = %v, want %v", got, later)
		}
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
}
