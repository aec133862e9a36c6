package app

import (
	"context"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/firmflow/firmflow/pkg/apierr"
	eventsv1 "github.com/firmflow/firmflow/pkg/gen/firmflow/events/v1"
	"github.com/firmflow/firmflow/pkg/principal"
	"github.com/firmflow/firmflow/services/billing/internal/domain"
	"github.com/firmflow/firmflow/services/billing/internal/store"
	"github.com/firmflow/firmflow/services/billing/internal/stripeapi"
)

// SubscriptionView is a firm's subscription as the API shows it.
type SubscriptionView struct {
	FirmID        string
	Subscription  domain.Subscription // zero when the firm has none
	Plan          string
	ActiveMembers int
	Entitlement   domain.Entitlement
}

// Subscription returns the firm's subscription and entitlement.
func (a *App) Subscription(ctx context.Context, p principal.Principal, firmID string) (SubscriptionView, error) {
	var v SubscriptionView
	err := a.inFirm(ctx, p, firmID, func(q *store.Queries) error {
		var err error
		v, err = a.view(ctx, q, firmID)
		return err
	})
	return v, err
}

func (a *App) view(ctx context.Context, q *store.Queries, firmID string) (SubscriptionView, error) {
	account, exists, err := q.Account(ctx, firmID)
	if err != nil {
		return SubscriptionView{}, err
	}
	sub, err := q.Subscription(ctx, firmID)
	if err != nil {
		return SubscriptionView{}, err
	}
	v := SubscriptionView{FirmID: firmID, Subscription: sub, Plan: a.cfg.Plans.Name(sub.PriceID), ActiveMembers: account.ActiveMembers}
	var known *domain.Account
	if exists {
		known = &account
	}
	v.Entitlement = domain.Entitle(firmID, known, sub, a.now(), a.cfg.Grace)
	return v, nil
}

// Entitlement tells another service what the firm may do.
func (a *App) Entitlement(ctx context.Context, firmID string) (domain.Entitlement, error) {
	var v SubscriptionView
	err := a.store.InFirm(ctx, firmID, func(q *store.Queries) error {
		var err error
		v, err = a.view(ctx, q, firmID)
		return err
	})
	return v.Entitlement, err
}

// Checkout starts a subscription to plan: it returns the Stripe Checkout page where
// the owner pays, with as many seats as the firm has active members. The
// subscription itself arrives by webhook once Stripe has it. A repeated request id
// returns the same page.
func (a *App) Checkout(ctx context.Context, p principal.Principal, firmID, plan, requestID string) (string, time.Time, error) {
	price, ok := a.cfg.Plans.Price(plan)
	if !ok {
		return "", time.Time{}, &apierr.Error{Code: codes.InvalidArgument, Reason: "UNKNOWN_PLAN", Message: "plan: no such plan",
			Violations: []apierr.FieldViolation{{Field: "plan", Rule: "plan.configured", Description: "no such plan"}}}
	}
	var account domain.Account
	var sub domain.Subscription
	err := a.inFirm(ctx, p, firmID, func(q *store.Queries) error {
		var exists bool
		var err error
		if account, exists, err = q.Account(ctx, firmID); err != nil {
			return err
		}
		if !exists {
			return errNotReady
		}
		sub, err = q.Subscription(ctx, firmID)
		return err
	})
	if err != nil {
		return "", time.Time{}, err
	}
	if sub.Exists() && sub.Status.Live() {
		return "", time.Time{}, apierr.FailedPrecondition("SUBSCRIPTION_EXISTS", "the firm already has a subscription; change it in the billing portal")
	}
	in := stripeapi.Checkout{
		FirmID: firmID, CustomerID: account.CustomerID, PriceID: price, Seats: account.Seats(),
		SuccessURL: a.returnURL("checkout", "success"), CancelURL: a.returnURL("checkout", "canceled"),
		TrialDays: a.cfg.TrialDays,
	}
	if requestID != "" {
		in.Key = stripeapi.CheckoutKey(firmID, requestID)
	}
	pageURL, expire, err := a.stripe.CreateCheckoutSession(ctx, in)
	return pageURL, expire, clientError(err)
}

// BillingPortal returns a Stripe Billing Portal page for the firm, where the owner
// changes the card or the plan.
func (a *App) BillingPortal(ctx context.Context, p principal.Principal, firmID string) (string, error) {
	var account domain.Account
	err := a.inFirm(ctx, p, firmID, func(q *store.Queries) error {
		var exists bool
		var err error
		if account, exists, err = q.Account(ctx, firmID); err == nil && !exists {
			err = errNotReady
		}
		return err
	})
	var pageURL string
	if err == nil {
		pageURL, err = a.stripe.CreatePortalSession(ctx, account.CustomerID, a.returnURL("portal", "done"))
		err = clientError(err)
	}
	return pageURL, err
}

// Cancel cancels the firm's subscription at the end of the paid period, or at once,
// and announces it with subscription_canceled, from which account closure follows.
// Canceling again changes nothing and announces nothing.
func (a *App) Cancel(ctx context.Context, p principal.Principal, firmID string, immediately bool) (SubscriptionView, error) {
	var v SubscriptionView
	err := a.inFirm(ctx, p, firmID, func(q *store.Queries) error {
		account, exists, err := q.AccountForUpdate(ctx, firmID)
		if err != nil || !exists {
			return orNoSubscription(err)
		}
		sub, err := q.Subscription(ctx, firmID)
		if err != nil {
			return err
		}
		if !sub.Exists() || !sub.Status.Live() {
			return errNoSubscription
		}
		if immediately || !sub.CancelAtPeriodEnd {
			if err := a.cancel(ctx, q, p.Actor(), account, sub, immediately); err != nil {
				return err
			}
		}
		v, err = a.view(ctx, q, firmID)
		return err
	})
	return v, err
}

func (a *App) cancel(ctx context.Context, q *store.Queries, actor string, account domain.Account, sub domain.Subscription, immediately bool) error {
	current, err := a.stripe.Cancel(ctx, sub.ID, immediately)
	if err != nil {
		return clientError(err)
	}
	if err := a.applyObservation(ctx, q, account, &sub, current, actor); err != nil {
		return err
	}
	effective := sub.CurrentPeriodEnd
	if immediately {
		effective = current.At
	}
	return emit(ctx, q, sub.FirmID, actor, "subscription_canceled", &eventsv1.SubscriptionCanceled{
		Subscription: subscriptionName(sub.FirmID), AtPeriodEnd: !immediately, EffectiveTime: timestamppb.New(effective),
	})
}

func orNoSubscription(err error) error {
	if err != nil {
		return err
	}
	return errNoSubscription
}

// Invoices lists a page of the firm's invoices from Stripe, newest first, after the
// invoice with id after ("" for the first page).
func (a *App) Invoices(ctx context.Context, p principal.Principal, firmID, after string, size int) ([]domain.Invoice, bool, error) {
	var account domain.Account
	err := a.inFirm(ctx, p, firmID, func(q *store.Queries) error {
		var err error
		account, _, err = q.Account(ctx, firmID)
		return err
	})
	var invoices []domain.Invoice
	var more bool
	if err == nil && account.CustomerID != "" {
		invoices, more, err = a.stripe.Invoices(ctx, account.CustomerID, after, size)
		err = clientError(err)
	}
	return invoices, more, err
}
