package app

import (
	"context"
	"log/slog"
	"time"

	"github.com/firmflow/firmflow/pkg/firmdata"
	"github.com/firmflow/firmflow/services/billing/internal/store"
)

// The firm-data use cases serve lifecycle only (the policy admits its certificate
// alone); they take the firm from the request, not from a principal.

// Facts billing records about a firm's deletion.
const (
	FactStripeCustomerDeleted      = "stripe_customer_deleted"
	FactStripeSubscriptionCanceled = "stripe_subscription_canceled"
)

// ExportFirmData streams the firm's billing account, subscription and the Stripe
// events billing applied to it.
func (a *App) ExportFirmData(ctx context.Context, firmID string, send func(firmdata.Batch) error) error {
	return a.store.ExportFirm(ctx, firmID, send)
}

// DeleteFirmData ends the firm's relation with Stripe, then forgets it: a live
// subscription is canceled at once (no further charge, whatever the deletion's
// reason), the Stripe customer is deleted, and billing's rows go in the same
// transaction, which holds the account's lock throughout. Stripe calls carry
// idempotency keys or tolerate repetition, so a retry after any failure completes
// the deletion; after success a repeat finds no account and deletes nothing.
func (a *App) DeleteFirmData(ctx context.Context, firmID, deletion string) (firmdata.Deleted, error) {
	d := firmdata.Deleted{Facts: map[string]string{}}
	err := a.store.InFirm(ctx, firmID, func(q *store.Queries) error {
		account, exists, err := q.AccountForUpdate(ctx, firmID)
		if err != nil {
			return err
		}
		if exists {
			sub, err := q.Subscription(ctx, firmID)
			if err != nil {
				return err
			}
			if sub.Exists() && !sub.Status.Ended() {
				if _, err := a.stripe.Cancel(ctx, sub.ID, true); err != nil {
					return clientError(err)
				}
				d.Facts[FactStripeSubscriptionCanceled] = sub.ID
			}
			if err := a.stripe.DeleteCustomer(ctx, account.CustomerID); err != nil {
				return clientError(err)
			}
			d.Facts[FactStripeCustomerDeleted] = account.CustomerID
		}
		d.Tables, err = q.DeleteFirmRows(ctx, firmID)
		return err
	})
	if err != nil {
		return firmdata.Deleted{}, err
	}
	a.logger.InfoContext(ctx, "firm billing deleted", slog.String("firm_id", firmID), slog.String("deletion", deletion))
	return d, nil
}

// CountFirmRows counts what billing still holds for the firm, table by table.
func (a *App) CountFirmRows(ctx context.Context, firmID string) ([]firmdata.Count, error) {
	return a.store.CountFirmRows(ctx, firmID)
}

// Prune is the retention run's step in this service: see firmdata.UseCases.
func (a *App) Prune(ctx context.Context, now time.Time) ([]firmdata.Count, error) {
	return a.store.Prune(ctx, now)
}
