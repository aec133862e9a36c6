package app

import (
	"context"
	"slices"
	"time"

	"github.com/firmflow/firmflow/pkg/apierr"
	"github.com/firmflow/firmflow/pkg/fieldcrypt"
	eventsv1 "github.com/firmflow/firmflow/pkg/gen/firmflow/events/v1"
	"github.com/firmflow/firmflow/pkg/inbox"
	"github.com/firmflow/firmflow/pkg/paging"
	"github.com/firmflow/firmflow/pkg/principal"
	"github.com/firmflow/firmflow/pkg/resource"
	"github.com/firmflow/firmflow/services/workflow/internal/domain"
	"github.com/firmflow/firmflow/services/workflow/internal/store"
)

// WebhookSubscriptionName is a subscription's resource name.
func WebhookSubscriptionName(firmID, id string) string {
	return resource.Name("firms", firmID, "webhookSubscriptions", id)
}

// WebhookDeliveryName is a delivery's resource name.
func WebhookDeliveryName(firmID, subscriptionID, id string) string {
	return resource.Name("firms", firmID, "webhookSubscriptions", subscriptionID, "deliveries", id)
}

// Where a subscription's secrets are stored; the ciphertext is bound to it.
const (
	webhookTable          = "webhook_subscriptions"
	columnSecret          = "secret"
	columnPreviousSecret  = "previous_secret"
	maxSecretOverlap      = 7 * 24 * time.Hour
	webhookSubscriptionRN = "firms/{firm}/webhookSubscriptions/{webhookSubscription}"
)

func sealSecret(key *fieldcrypt.DataKey, s domain.WebhookSubscription, column, secret string) ([]byte, error) {
	if secret == "" {
		return nil, nil
	}
	return key.Seal([]byte(secret), fieldcrypt.Binding{FirmID: s.FirmID, Table: webhookTable, Column: column, RowID: s.ID})
}

func openSecret(key *fieldcrypt.DataKey, s domain.WebhookSubscription, column string, sealed []byte) (string, error) {
	if len(sealed) == 0 {
		return "", nil
	}
	b, err := key.Open(sealed, fieldcrypt.Binding{FirmID: s.FirmID, Table: webhookTable, Column: column, RowID: s.ID})
	return string(b), err
}

// sealSubscription seals r's secrets from their clear values.
func (a *App) sealSubscription(ctx context.Context, q *store.Queries, r *store.WebhookSubscriptionRecord) error {
	key, err := a.dataKey(ctx, q)
	if err != nil {
		return err
	}
	defer key.Destroy()
	if r.SealedSecret, err = sealSecret(key, r.WebhookSubscription, columnSecret, r.Secret); err != nil {
		return err
	}
	r.SealedPreviousSecret, err = sealSecret(key, r.WebhookSubscription, columnPreviousSecret, r.PreviousSecret)
	return err
}

// openSubscription opens r's secrets into its clear fields.
func (a *App) openSubscription(ctx context.Context, q *store.Queries, r *store.WebhookSubscriptionRecord) error {
	key, err := a.dataKey(ctx, q)
	if err != nil {
		return err
	}
	defer key.Destroy()
	if r.Secret, err = openSecret(key, r.WebhookSubscription, columnSecret, r.SealedSecret); err != nil {
		return err
	}
	r.PreviousSecret, err = openSecret(key, r.WebhookSubscription, columnPreviousSecret, r.SealedPreviousSecret)
	return err
}

// withoutSecrets is a subscription as reads show it.
func withoutSecrets(r store.WebhookSubscriptionRecord) domain.WebhookSubscription {
	s := r.WebhookSubscription
	s.Secret, s.PreviousSecret = "", ""
	return s
}

func emitSubscription(ctx context.Context, q *store.Queries, p principal.Principal, event, id string, changed []string) error {
	return emit(ctx, q, p, event, &eventsv1.WebhookSubscriptionChanged{
		WebhookSubscription: WebhookSubscriptionName(q.FirmID(), id), ChangedFields: changed,
	})
}

// CreateWebhookSubscription creates a subscription with a new signing secret, which
// only this answer shows. A retry with the same request id returns the first
// subscription, without its secret.
func (a *App) CreateWebhookSubscription(ctx context.Context, p principal.Principal, firmID string, s domain.WebhookSubscription, requestID string) (domain.WebhookSubscription, error) {
	s.ID, s.FirmID, s.Version, s.State = newID(), firmID, 1, domain.WebhookActive
	s.CreateTime = a.stamp()
	s.UpdateTime = s.CreateTime
	if err := domain.InvalidFields("webhook_subscription.", s.Problems(a.webhooks.rules)); err != nil {
		return domain.WebhookSubscription{}, err
	}
	s.Secret = domain.NewWebhookSecret()
	out := s
	err := a.inFirm(ctx, p, firmID, func(q *store.Queries) error {
		earlier, claimed, err := q.ClaimRequest(ctx, requestID, WebhookSubscriptionName(firmID, s.ID))
		if err != nil {
			return err
		}
		if !claimed {
			ids, err := earlierCreate(earlier, firmID, webhookSubscriptionRN)
			if err != nil {
				return err
			}
			r, err := q.WebhookSubscription(ctx, ids[1])
			out = withoutSecrets(r)
			return err
		}
		r := store.WebhookSubscriptionRecord{WebhookSubscription: s}
		if err := a.sealSubscription(ctx, q, &r); err != nil {
			return err
		}
		if err := q.CreateWebhookSubscription(ctx, r); err != nil {
			return err
		}
		return emitSubscription(ctx, q, p, "webhook_subscription_created", s.ID, nil)
	})
	return out, err
}

// WebhookSubscription returns one subscription, without its secrets.
func (a *App) WebhookSubscription(ctx context.Context, p principal.Principal, firmID, id string) (domain.WebhookSubscription, error) {
	var out domain.WebhookSubscription
	err := a.inFirm(ctx, p, firmID, func(q *store.Queries) error {
		r, err := q.WebhookSubscription(ctx, id)
		out = withoutSecrets(r)
		return err
	})
	return out, err
}

// WebhookSubscriptions lists a page of the firm's subscriptions, oldest first.
func (a *App) WebhookSubscriptions(ctx context.Context, p principal.Principal, firmID string, page paging.Page) ([]domain.WebhookSubscription, *paging.Cursor, error) {
	var out []domain.WebhookSubscription
	var next *paging.Cursor
	err := a.inFirm(ctx, p, firmID, func(q *store.Queries) error {
		list, n, err := q.WebhookSubscriptions(ctx, page)
		for _, r := range list {
			out = append(out, withoutSecrets(r))
		}
		next = n
		return err
	})
	return out, next, err
}

// WebhookPatch is an UpdateWebhookSubscription.
type WebhookPatch struct {
	URL        *string
	EventTypes *[]string
	State      *domain.WebhookState
	Etag       string
}

func (patch WebhookPatch) apply(s *domain.WebhookSubscription) []string {
	var changed []string
	setField(&changed, "url", &s.URL, patch.URL)
	setList(&changed, "event_types", &s.EventTypes, patch.EventTypes)
	setField(&changed, "state", &s.State, patch.State)
	return changed
}

// UpdateWebhookSubscription changes the fields the patch sets. Enabling a disabled
// subscription gives its waiting deliveries a new horizon.
func (a *App) UpdateWebhookSubscription(ctx context.Context, p principal.Principal, firmID, id string, patch WebhookPatch) (domain.WebhookSubscription, error) {
	var out domain.WebhookSubscription
	err := a.inFirm(ctx, p, firmID, func(q *store.Queries) error {
		r, err := q.WebhookSubscriptionForUpdate(ctx, id)
		if err != nil {
			return err
		}
		if err := checkEtag(patch.Etag, r.Version, "webhook subscription"); err != nil {
			return err
		}
		wasDisabled := r.State == domain.WebhookDisabled
		changed := patch.apply(&r.WebhookSubscription)
		out = withoutSecrets(r)
		if len(changed) == 0 {
			return nil
		}
		if err := domain.InvalidFields("webhook_subscription.", r.Problems(a.webhooks.rules)); err != nil {
			return err
		}
		now := a.stamp()
		switch {
		case wasDisabled && r.State == domain.WebhookActive:
			r.Enable()
			if err := q.RenewPendingDeliveries(ctx, id, now, now.Add(domain.WebhookRetryHorizon)); err != nil {
				return err
			}
		case r.State == domain.WebhookDisabled:
			r.DisableTime, r.DisableReason = now, "disabled by the firm"
		}
		if slices.Contains(changed, "url") {
			r.FailingSince = time.Time{} // a new endpoint starts with a clean record
		}
		if r, err = q.UpdateWebhookSubscription(ctx, r, now); err != nil {
			return err
		}
		out = withoutSecrets(r)
		return emitSubscription(ctx, q, p, "webhook_subscription_updated", id, changed)
	})
	if err == nil {
		a.webhooks.wake()
	}
	return out, err
}

// DeleteWebhookSubscription deletes a subscription and its deliveries.
func (a *App) DeleteWebhookSubscription(ctx context.Context, p principal.Principal, firmID, id, etag string) error {
	return a.inFirm(ctx, p, firmID, func(q *store.Queries) error {
		r, err := q.WebhookSubscriptionForUpdate(ctx, id)
		if err != nil {
			return err
		}
		if err := checkEtag(etag, r.Version, "webhook subscription"); err != nil {
			return err
		}
		if err := q.DeleteWebhookSubscription(ctx, id); err != nil {
			return err
		}
		return emitSubscription(ctx, q, p, "webhook_subscription_deleted", id, nil)
	})
}

// RotateWebhookSecret issues a new signing secret, returned in this answer only; the
// one it replaces keeps signing for overlap (nil: the default).
func (a *App) RotateWebhookSecret(ctx context.Context, p principal.Principal, firmID, id string, overlap *time.Duration) (domain.WebhookSubscription, error) {
	d := domain.DefaultSecretOverlap
	if overlap != nil {
		d = *overlap
	}
	if d < 0 || d > maxSecretOverlap {
		return domain.WebhookSubscription{}, apierr.InvalidArgument("overlap", "duration.range", "between 0s and 168h (7 days)")
	}
	var out domain.WebhookSubscription
	err := a.inFirm(ctx, p, firmID, func(q *store.Queries) error {
		r, err := q.WebhookSubscriptionForUpdate(ctx, id)
		if err != nil {
			return err
		}
		if err := a.openSubscription(ctx, q, &r); err != nil {
			return err
		}
		now := a.stamp()
		r.RotateSecret(domain.NewWebhookSecret(), now, d)
		if err := a.sealSubscription(ctx, q, &r); err != nil {
			return err
		}
		secret := r.Secret
		if r, err = q.UpdateWebhookSubscription(ctx, r, now); err != nil {
			return err
		}
		out = withoutSecrets(r)
		out.Secret = secret
		return emitSubscription(ctx, q, p, "webhook_subscription_updated", id, []string{"secret"})
	})
	return out, err
}

// WebhookDeliveries lists a page of a subscription's deliveries, newest first.
func (a *App) WebhookDeliveries(ctx context.Context, p principal.Principal, firmID, subscriptionID string, page paging.Page) ([]domain.WebhookDelivery, *paging.Cursor, error) {
	var out []domain.WebhookDelivery
	var next *paging.Cursor
	err := a.inFirm(ctx, p, firmID, func(q *store.Queries) error {
		if _, err := q.WebhookSubscription(ctx, subscriptionID); err != nil {
			return err
		}
		var err error
		out, next, err = q.WebhookDeliveries(ctx, subscriptionID, page)
		return err
	})
	return out, next, err
}

// RedeliverWebhook queues a delivery's payload again as a new delivery, due now.
func (a *App) RedeliverWebhook(ctx context.Context, p principal.Principal, firmID, subscriptionID, deliveryID string) (domain.WebhookDelivery, error) {
	var out domain.WebhookDelivery
	err := a.inFirm(ctx, p, firmID, func(q *store.Queries) error {
		s, err := q.WebhookSubscription(ctx, subscriptionID)
		if err != nil {
			return err
		}
		d, err := q.WebhookDelivery(ctx, subscriptionID, deliveryID)
		if err != nil {
			return err
		}
		if s.State != domain.WebhookActive {
			return apierr.FailedPrecondition("SUBSCRIPTION_DISABLED", "the subscription is disabled; enable it (state ACTIVE) first")
		}
		now := a.stamp()
		out = domain.WebhookDelivery{
			ID: newID(), FirmID: firmID, SubscriptionID: subscriptionID, Change: d.Change, Sequence: d.Sequence,
			ChangeCount: d.ChangeCount, Revision: 1, State: domain.DeliveryPending, CreateTime: now,
			ExpireTime: now.Add(domain.WebhookRetryHorizon), NextAttempt: now, RedeliveryOf: deliveryID,
		}
		return q.InsertWebhookDelivery(ctx, out)
	})
	if err == nil {
		a.webhooks.wake()
	}
	return out, err
}

// QueueWebhookChange queues a workflow change, from the firm's event, for each
// subscription that asked for its type; a change to an object that already waits
// replaces the waiting payload. A disabled subscription's changes wait too (one per
// object, so they stay bounded) and go out once it is enabled again. A redelivered
// event changes nothing.
func (a *App) QueueWebhookChange(ctx context.Context, m inbox.Message, c domain.WebhookChange) error {
	queued := false
	err := a.store.InFirm(ctx, m.FirmID, func(q *store.Queries) error {
		subs, err := q.WebhookSubscriptionTypes(ctx)
		if err != nil {
			return err
		}
		subs = slices.DeleteFunc(subs, func(s domain.WebhookSubscription) bool { return !s.Wants(c.Type) })
		if len(subs) == 0 {
			return nil // nothing to do, so nothing to remember: most firms have no subscription
		}
		if first, err := q.RecordEvent(ctx, m); err != nil || !first {
			return err
		}
		now := a.stamp()
		for _, s := range subs {
			seq, err := q.NextWebhookSequence(ctx, s.ID)
			if err != nil {
				return err
			}
			_, err = q.QueueWebhookDelivery(ctx, domain.WebhookDelivery{
				ID: newID(), SubscriptionID: s.ID, Change: c, Sequence: seq, CreateTime: now,
				ExpireTime: now.Add(domain.WebhookRetryHorizon), NextAttempt: now,
			})
			if err != nil {
				return err
			}
			queued = true
		}
		return nil
	})
	if err == nil && queued {
		a.webhooks.wake()
	}
	return err
}
