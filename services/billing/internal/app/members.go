package app

import (
	"context"
	"errors"
	"time"

	eventsv1 "github.com/firmflow/firmflow/pkg/gen/firmflow/events/v1"
	"github.com/firmflow/firmflow/pkg/inbox"
	"github.com/firmflow/firmflow/services/billing/internal/domain"
	"github.com/firmflow/firmflow/services/billing/internal/store"
	"github.com/firmflow/firmflow/services/billing/internal/stripeapi"
)

// ErrAccountPending means a member event arrived before the firm's billing account
// exists (its firm_created event is being retried): the member event is retried too.
var ErrAccountPending = errors.New("the firm has no billing account yet")

// CreateCustomer gives a new firm its Stripe customer and billing account, from
// identity's firm_created event. The customer is created with the firm's
// idempotency key, so a redelivery or a crash between Stripe's answer and the commit
// never makes a second customer.
func (a *App) CreateCustomer(ctx context.Context, m inbox.Message) error {
	return a.store.InFirm(ctx, m.FirmID, func(q *store.Queries) error {
		if first, err := q.RecordEvent(ctx, m); err != nil || !first {
			return err
		}
		if _, exists, err := q.AccountForUpdate(ctx, m.FirmID); err != nil || exists {
			return err
		}
		customerID, err := a.stripe.CreateCustomer(ctx, m.FirmID)
		if err != nil {
			return err
		}
		account := domain.Account{FirmID: m.FirmID, CustomerID: customerID, CreateTime: m.OccurredAt}
		if err := q.CreateAccount(ctx, account); err != nil {
			return err
		}
		return emit(ctx, q, m.FirmID, m.Actor, "customer_created", &eventsv1.CustomerCreated{Firm: firmName(m.FirmID)})
	})
}

// CountMembers takes the firm's active member count from identity's member_joined
// or member_removed event and makes the subscription bill that many seats. The
// Stripe request's idempotency key is derived from the event, so retrying the event
// can never change the seats twice; a count older than the one held changes nothing.
func (a *App) CountMembers(ctx context.Context, m inbox.Message, activeMembers int) error {
	return a.store.InFirm(ctx, m.FirmID, func(q *store.Queries) error {
		if first, err := q.RecordEvent(ctx, m); err != nil || !first {
			return err
		}
		account, exists, err := q.AccountForUpdate(ctx, m.FirmID)
		if err != nil {
			return err
		}
		if !exists {
			return ErrAccountPending
		}
		// PostgreSQL keeps microseconds; comparing at that precision keeps a
		// stored count equal to the event that set it.
		if !account.CountMembers(activeMembers, m.OccurredAt.Truncate(time.Microsecond)) {
			return nil
		}
		if err := q.SaveMembers(ctx, account); err != nil {
			return err
		}
		return a.followMembers(ctx, q, account, m.EventID, m.Actor)
	})
}

// followMembers sets the subscription's seats to the account's when they differ,
// with the idempotency key of the event that made them differ.
func (a *App) followMembers(ctx context.Context, q *store.Queries, account domain.Account, eventID, actor string) error {
	sub, err := q.Subscription(ctx, account.FirmID)
	if err != nil {
		return err
	}
	seats := account.Seats()
	if !sub.NeedsSeats(seats) {
		return nil
	}
	if err := a.stripe.SetSeats(ctx, sub.ItemID, seats, stripeapi.SeatsKey(eventID)); err != nil {
		return err
	}
	if err := q.SaveQuantity(ctx, account.FirmID, seats); err != nil {
		return err
	}
	return emit(ctx, q, account.FirmID, actor, "seats_changed", &eventsv1.SeatsChanged{
		Subscription: subscriptionName(account.FirmID), Seats: seats, ActiveMembers: int32(account.ActiveMembers),
	})
}
