package app

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/firmflow/firmflow/pkg/apierr"
	eventsv1 "github.com/firmflow/firmflow/pkg/gen/firmflow/events/v1"
	"github.com/firmflow/firmflow/services/billing/internal/domain"
	"github.com/firmflow/firmflow/services/billing/internal/store"
	"github.com/firmflow/firmflow/services/billing/internal/stripeapi"
)

// stripeActor names Stripe as the actor of changes it reported.
const stripeActor = "stripe"

// reconcileOverlap is how far before its last complete pass the reconciler starts
// the next: Stripe's event list may show an event a little after its creation time.
const reconcileOverlap = 10 * time.Minute

// Delivery is what became of a Stripe event.
type Delivery int

const (
	// Applied: the event was recorded and its effect made (possibly none, if it
	// was older than what billing holds).
	Applied Delivery = iota + 1
	// Duplicate: the event had been applied before; nothing changed.
	Duplicate
	// Ignored: the event concerns no firm's customer.
	Ignored
)

// ReceiveWebhook verifies one webhook delivery and applies its event once. A
// missing, forged, stale or unreadable one is refused with INVALID_ARGUMENT and
// changes nothing; any other error means Stripe should deliver it again.
func (a *App) ReceiveWebhook(ctx context.Context, payload []byte, signature string) (eventID string, d Delivery, err error) {
	e, err := stripeapi.Verify(payload, signature, a.cfg.WebhookSecret)
	if err != nil {
		a.logger.WarnContext(ctx, "refused a Stripe webhook", slog.String("reason", err.Error()))
		return "", 0, webhookError(err)
	}
	d, err = a.applyStripeEvent(ctx, e, "webhook")
	return e.ID, d, err
}

func webhookError(err error) error {
	switch {
	case errors.Is(err, stripeapi.ErrTooOld):
		return apierr.New(codes.InvalidArgument, "WEBHOOK_TOO_OLD", "the signed timestamp is more than 300 seconds old")
	case errors.Is(err, stripeapi.ErrSignature):
		return apierr.New(codes.InvalidArgument, "WEBHOOK_SIGNATURE_INVALID", "the Stripe-Signature header does not sign this payload")
	}
	return apierr.New(codes.InvalidArgument, "WEBHOOK_PAYLOAD_INVALID", "the payload is not a Stripe event")
}

// Reconcile applies the events of the kinds billing handles that Stripe created since
// the last complete pass (at first, within the lookback) and the webhook did not
// deliver; events already applied are recognised by id and change nothing. It
// returns how many it applied. One event failing does not stop the others; the pass
// then counts as incomplete and the next one looks again from the same place.
func (a *App) Reconcile(ctx context.Context) (int, error) {
	start := a.now()
	since := start.Add(-a.cfg.ReconcileLookback)
	err := a.store.Unscoped(ctx, func(q *store.Queries) error {
		position, ok, err := q.ReconcilerPosition(ctx)
		if ok && position.Add(-reconcileOverlap).After(since) {
			since = position.Add(-reconcileOverlap)
		}
		return err
	})
	if err != nil {
		return 0, fmt.Errorf("reconcile: %w", err)
	}
	applied := 0
	var failures []error
	err = a.stripe.Events(ctx, since, func(e stripeapi.Event) error {
		d, err := a.applyStripeEvent(ctx, e, "reconciler")
		switch {
		case err != nil:
			failures = append(failures, fmt.Errorf("event %s: %w", e.ID, err))
		case d == Applied:
			applied++
			a.logger.InfoContext(ctx, "reconciler applied a Stripe event the webhook had not delivered",
				slog.String("event_id", e.ID), slog.String("type", e.Type))
		}
		return ctx.Err()
	})
	if err = errors.Join(append(failures, err)...); err != nil {
		return applied, fmt.Errorf("reconcile: %w", err)
	}
	err = a.store.Unscoped(ctx, func(q *store.Queries) error { return q.SaveReconcilerPosition(ctx, start) })
	return applied, err
}

// applyStripeEvent records a Stripe event and makes its effect in one transaction of
// the customer's firm.
func (a *App) applyStripeEvent(ctx context.Context, e stripeapi.Event, source string) (Delivery, error) {
	if e.CustomerID == "" {
		return Ignored, nil
	}
	var firmID string
	var known bool
	err := a.store.Unscoped(ctx, func(q *store.Queries) error {
		var err error
		firmID, known, err = q.FirmOfCustomer(ctx, e.CustomerID)
		return err
	})
	if err != nil {
		return 0, err
	}
	if !known {
		a.logger.InfoContext(ctx, "ignored a Stripe event about a customer that is no firm's",
			slog.String("event_id", e.ID), slog.String("type", e.Type))
		return Ignored, nil
	}
	d := Duplicate
	err = a.store.InFirm(ctx, firmID, func(q *store.Queries) error {
		first, err := q.RecordStripeEvent(ctx, store.StripeEvent{ID: e.ID, FirmID: firmID, Type: e.Type, Created: e.Created, Source: source})
		if err != nil || !first {
			return err
		}
		d = Applied
		return a.applyEffect(ctx, q, firmID, e)
	})
	if err != nil {
		return 0, err
	}
	return d, nil
}

// applyEffect folds the subscription the event carries (or, for events that only
// point at one, its current state fetched from Stripe) into the firm's, and then
// makes the seats follow the members again, in case the subscription was started or
// changed with another count.
func (a *App) applyEffect(ctx context.Context, q *store.Queries, firmID string, e stripeapi.Event) error {
	account, _, err := q.AccountForUpdate(ctx, firmID)
	if err != nil {
		return err
	}
	sub, err := q.Subscription(ctx, firmID)
	if err != nil {
		return err
	}
	o, err := a.observationOf(ctx, e, sub)
	if err != nil || o == nil {
		return err
	}
	sub.FirmID = firmID
	if err := a.applyObservation(ctx, q, account, &sub, *o, stripeActor); err != nil {
		return err
	}
	err = a.followMembers(ctx, q, account, e.ID, stripeActor)
	if err != nil && !errors.Is(err, stripeapi.ErrUnavailable) {
		// Stripe refused the change itself; retrying the event would not help, and
		// the next member change tries again.
		a.logger.ErrorContext(ctx, "could not make the seats follow the members", slog.String("firm_id", firmID),
			slog.String("event_id", e.ID), slog.String("error", err.Error()))
		return nil
	}
	return err
}

// observationOf is the subscription state an event tells of.
func (a *App) observationOf(ctx context.Context, e stripeapi.Event, held domain.Subscription) (*domain.Observation, error) {
	if e.Subscription != nil {
		return e.Subscription, nil
	}
	id := e.SubscriptionID
	if id == "" {
		// Invoices of newer API versions name their subscription elsewhere; the
		// firm's own is the one to refresh.
		id = held.ID
	}
	if id == "" {
		return nil, nil
	}
	current, err := a.stripe.Subscription(ctx, id)
	if err != nil {
		return nil, err
	}
	return &current, nil
}

// applyObservation folds o into sub, fetching the current object when the order of
// events cannot tell, saves the result and announces a changed state.
func (a *App) applyObservation(ctx context.Context, q *store.Queries, account domain.Account, sub *domain.Subscription, o domain.Observation, actor string) error {
	before := *sub
	outcome := sub.Apply(o)
	if outcome == domain.Ambiguous {
		current, err := a.stripe.Subscription(ctx, o.ID)
		if err != nil {
			return err
		}
		outcome = sub.Settle(o, current)
	}
	if outcome != domain.Applied {
		return nil
	}
	if err := q.SaveSubscription(ctx, *sub); err != nil {
		return err
	}
	if before.Exists() && before.Snapshot.Equal(sub.Snapshot) {
		return nil
	}
	e := domain.Entitle(sub.FirmID, &account, *sub, a.now(), a.cfg.Grace)
	return emit(ctx, q, sub.FirmID, actor, "subscription_changed", &eventsv1.SubscriptionChanged{
		Subscription: subscriptionName(sub.FirmID), State: string(sub.Status), PreviousState: string(before.Status),
		Plan: a.cfg.Plans.Name(sub.PriceID), Seats: sub.Quantity, CurrentPeriodEnd: timestamp(sub.CurrentPeriodEnd),
		CancelAtPeriodEnd: sub.CancelAtPeriodEnd, ReadOnlyTime: timestamp(e.ReadOnlyTime),
	})
}

func timestamp(t time.Time) *timestamppb.Timestamp {
	if t.IsZero() {
		return nil
	}
	return timestamppb.New(t)
}
