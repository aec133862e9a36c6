// Package store is billing's SQL: every query it runs, each inside a transaction the
// app opened, firm-scoped unless it is the customer lookup or the reconciler's
// position.
package store

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/firmflow/firmflow/pkg/inbox"
	"github.com/firmflow/firmflow/pkg/outbox"
	"github.com/firmflow/firmflow/pkg/pg"
	"github.com/firmflow/firmflow/services/billing/internal/domain"
)

// Store runs billing's queries on a pool.
type Store struct {
	db *pg.DB
}

// New returns a store on db.
func New(db *pg.DB) *Store { return &Store{db: db} }

// Queries are the statements available inside one transaction.
type Queries struct {
	tx pgx.Tx
}

// InFirm runs fn in a transaction scoped to firmID.
func (s *Store) InFirm(ctx context.Context, firmID string, fn func(*Queries) error) error {
	return s.db.InFirm(ctx, firmID, func(tx pgx.Tx) error { return fn(&Queries{tx: tx}) })
}

// Unscoped runs fn outside any firm: the customer lookup and the reconciler's
// position are all it can reach.
func (s *Store) Unscoped(ctx context.Context, fn func(*Queries) error) error {
	return s.db.InTx(ctx, func(tx pgx.Tx) error { return fn(&Queries{tx: tx}) })
}

// ---- events in and out ----

// RecordEvent notes an identity event as applied; false means it was before.
func (q *Queries) RecordEvent(ctx context.Context, m inbox.Message) (bool, error) {
	return inbox.Record(ctx, q.tx, m)
}

// StripeEvent is a Stripe event as the inbox of applied Stripe events keeps it.
type StripeEvent struct {
	ID      string
	FirmID  string
	Type    string
	Created time.Time
	Source  string // "webhook" or "reconciler"
}

// RecordStripeEvent notes a Stripe event as applied; false means it was before. Call
// it first in the transaction, like inbox.Record, so that two deliveries of one event
// at the same time apply it once.
func (q *Queries) RecordStripeEvent(ctx context.Context, e StripeEvent) (bool, error) {
	tag, err := q.tx.Exec(ctx, `insert into stripe_events (id, firm_id, type, created, source) values ($1, $2, $3, $4, $5)
		on conflict (id) do nothing`, e.ID, e.FirmID, e.Type, e.Created, e.Source)
	if err != nil {
		return false, fmt.Errorf("record stripe event: %w", err)
	}
	return tag.RowsAffected() == 1, nil
}

// Emit queues billing events in the transaction.
func (q *Queries) Emit(ctx context.Context, events ...outbox.Event) error {
	return outbox.Write(ctx, q.tx, events...)
}

// ---- accounts ----

const accountColumns = `firm_id::text, stripe_customer_id, active_members, members_as_of, create_time`

func scanAccount(row pgx.Row) (domain.Account, bool, error) {
	var a domain.Account
	err := row.Scan(&a.FirmID, &a.CustomerID, &a.ActiveMembers, &a.MembersAsOf, &a.CreateTime)
	if errors.Is(err, pgx.ErrNoRows) {
		return domain.Account{}, false, nil
	}
	if err != nil {
		return domain.Account{}, false, fmt.Errorf("read account: %w", err)
	}
	return a, true, nil
}

// CreateAccount inserts a firm's billing account.
func (q *Queries) CreateAccount(ctx context.Context, a domain.Account) error {
	_, err := q.tx.Exec(ctx, `insert into accounts (firm_id, stripe_customer_id, create_time) values ($1, $2, $3)`,
		a.FirmID, a.CustomerID, a.CreateTime)
	if err != nil {
		return fmt.Errorf("insert account: %w", err)
	}
	return nil
}

// Account reads the firm's billing account; ok is false when it has none yet.
func (q *Queries) Account(ctx context.Context, firmID string) (a domain.Account, ok bool, err error) {
	return scanAccount(q.tx.QueryRow(ctx, "select "+accountColumns+" from accounts where firm_id = $1", firmID))
}

// AccountForUpdate reads the firm's billing account and locks it until the
// transaction ends: every change to a firm's billing takes this lock first, so they
// happen one at a time.
func (q *Queries) AccountForUpdate(ctx context.Context, firmID string) (a domain.Account, ok bool, err error) {
	return scanAccount(q.tx.QueryRow(ctx, "select "+accountColumns+" from accounts where firm_id = $1 for update", firmID))
}

// SaveMembers writes the account's member count.
func (q *Queries) SaveMembers(ctx context.Context, a domain.Account) error {
	_, err := q.tx.Exec(ctx, "update accounts set active_members = $2, members_as_of = $3 where firm_id = $1",
		a.FirmID, a.ActiveMembers, a.MembersAsOf)
	return err
}

// ---- subscriptions ----

const subscriptionColumns = `firm_id::text, stripe_subscription_id, status, price_id, item_id, quantity,
	current_period_end, cancel_at_period_end, canceled_at, subscription_created, observed_at, lapsed_at, update_time`

func scanSubscription(row pgx.Row) (domain.Subscription, error) {
	var s domain.Subscription
	var status string
	var periodEnd, canceledAt, lapsedAt *time.Time
	err := row.Scan(&s.FirmID, &s.ID, &status, &s.PriceID, &s.ItemID, &s.Quantity,
		&periodEnd, &s.CancelAtPeriodEnd, &canceledAt, &s.Created, &s.ObservedAt, &lapsedAt, &s.UpdateTime)
	if errors.Is(err, pgx.ErrNoRows) {
		return domain.Subscription{}, nil
	}
	if err != nil {
		return domain.Subscription{}, fmt.Errorf("read subscription: %w", err)
	}
	s.Status = domain.Status(status)
	s.CurrentPeriodEnd, s.CanceledAt, s.LapsedAt = deref(periodEnd), deref(canceledAt), deref(lapsedAt)
	return s, nil
}

// Subscription reads the firm's subscription; the zero value when it has none.
func (q *Queries) Subscription(ctx context.Context, firmID string) (domain.Subscription, error) {
	return scanSubscription(q.tx.QueryRow(ctx, "select "+subscriptionColumns+" from subscriptions where firm_id = $1", firmID))
}

// SaveSubscription writes the firm's subscription, replacing what was held.
func (q *Queries) SaveSubscription(ctx context.Context, s domain.Subscription) error {
	_, err := q.tx.Exec(ctx, `insert into subscriptions (firm_id, stripe_subscription_id, status, price_id, item_id, quantity,
			current_period_end, cancel_at_period_end, canceled_at, subscription_created, observed_at, lapsed_at, update_time)
		values ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, now())
		on conflict (firm_id) do update set stripe_subscription_id = excluded.stripe_subscription_id,
			status = excluded.status, price_id = excluded.price_id, item_id = excluded.item_id,
			quantity = excluded.quantity, current_period_end = excluded.current_period_end,
			cancel_at_period_end = excluded.cancel_at_period_end, canceled_at = excluded.canceled_at,
			subscription_created = excluded.subscription_created, observed_at = excluded.observed_at,
			lapsed_at = excluded.lapsed_at, update_time = now()`,
		s.FirmID, s.ID, string(s.Status), s.PriceID, s.ItemID, s.Quantity,
		pg.NullTime(s.CurrentPeriodEnd), s.CancelAtPeriodEnd, pg.NullTime(s.CanceledAt), s.Created, s.ObservedAt, pg.NullTime(s.LapsedAt))
	if err != nil {
		return fmt.Errorf("save subscription: %w", err)
	}
	return nil
}

// SaveQuantity records the seats billing set on the subscription.
func (q *Queries) SaveQuantity(ctx context.Context, firmID string, quantity int64) error {
	_, err := q.tx.Exec(ctx, "update subscriptions set quantity = $2, update_time = now() where firm_id = $1", firmID, quantity)
	return err
}

// ---- unscoped ----

// FirmOfCustomer finds the firm of a Stripe customer; ok is false for a customer
// that is not one of ours.
func (q *Queries) FirmOfCustomer(ctx context.Context, customerID string) (firmID string, ok bool, err error) {
	var id *string
	if err := q.tx.QueryRow(ctx, "select lookup_customer($1)::text", customerID).Scan(&id); err != nil {
		return "", false, fmt.Errorf("look up customer: %w", err)
	}
	if id == nil {
		return "", false, nil
	}
	return *id, true, nil
}

// ReconcilerPosition is the creation time through which the reconciler has applied
// Stripe's events; ok is false before its first complete pass.
func (q *Queries) ReconcilerPosition(ctx context.Context) (time.Time, bool, error) {
	var t time.Time
	err := q.tx.QueryRow(ctx, "select events_through from reconciler_position").Scan(&t)
	if errors.Is(err, pgx.ErrNoRows) {
		return time.Time{}, false, nil
	}
	return t, err == nil, err
}

// SaveReconcilerPosition records a complete pass through t; the position never
// moves back.
func (q *Queries) SaveReconcilerPosition(ctx context.Context, t time.Time) error {
	_, err := q.tx.Exec(ctx, `insert into reconciler_position (events_through) values ($1)
		on conflict (id) do update set events_through = greatest(reconciler_position.events_through, excluded.events_through)`, t)
	return err
}

func deref(t *time.Time) time.Time {
	if t == nil {
		return time.Time{}
	}
	return t.UTC()
}
