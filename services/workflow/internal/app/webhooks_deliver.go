package app

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"sync"
	"time"

	"google.golang.org/grpc/codes"

	"github.com/firmflow/firmflow/pkg/apierr"
	eventsv1 "github.com/firmflow/firmflow/pkg/gen/firmflow/events/v1"
	"github.com/firmflow/firmflow/services/workflow/internal/domain"
	"github.com/firmflow/firmflow/services/workflow/internal/store"
)

// deliveryPool keeps up to the configured number of attempts in flight, each in its
// own goroutine, so a slow endpoint holds one slot, not the other firms' deliveries.
// A delivery's object has at most one delivery waiting, so attempts at once never
// reorder one object's changes.
type deliveryPool struct {
	a        *App
	slots    chan struct{}
	freed    chan struct{} // an attempt ended: there may be room and work
	mu       sync.Mutex
	inFlight map[string]bool
	errs     []error
	wg       sync.WaitGroup
}

func (a *App) newDeliveryPool() *deliveryPool {
	return &deliveryPool{
		a: a, slots: make(chan struct{}, a.webhooks.concurrency), freed: make(chan struct{}, 1), inFlight: map[string]bool{},
	}
}

// dispatch starts an attempt at each delivery due now that is not in flight, while
// slots are free, and answers how many it started.
func (p *deliveryPool) dispatch(ctx context.Context) (int, error) {
	refs, err := p.a.store.DueWebhookDeliveries(ctx, p.a.stamp(), cap(p.slots))
	if err != nil {
		return 0, err
	}
	started := 0
	for _, ref := range refs {
		p.mu.Lock()
		busy := p.inFlight[ref.DeliveryID]
		p.mu.Unlock()
		if busy {
			continue
		}
		select {
		case p.slots <- struct{}{}:
		default:
			return started, nil // full: the next freed slot dispatches again
		}
		p.mu.Lock()
		p.inFlight[ref.DeliveryID] = true
		p.mu.Unlock()
		started++
		p.wg.Add(1)
		go func() {
			defer p.wg.Done()
			err := p.a.attemptDelivery(ctx, ref)
			p.mu.Lock()
			delete(p.inFlight, ref.DeliveryID)
			if err != nil {
				p.errs = append(p.errs, fmt.Errorf("delivery %s of firm %s: %w", ref.DeliveryID, ref.FirmID, err))
			}
			p.mu.Unlock()
			<-p.slots
			select {
			case p.freed <- struct{}{}:
			default:
			}
		}()
	}
	return started, nil
}

// takeErrs answers the errors of the attempts ended since the last call.
func (p *deliveryPool) takeErrs() error {
	p.mu.Lock()
	defer p.mu.Unlock()
	err := errors.Join(p.errs...)
	p.errs = nil
	return err
}

// DeliverDueWebhooks makes one attempt at every delivery due by now, across firms,
// several at once, and returns when they have all ended (the tests' round).
func (a *App) DeliverDueWebhooks(ctx context.Context) error {
	p := a.newDeliveryPool()
	for {
		started, err := p.dispatch(ctx)
		if err != nil || started == 0 {
			p.wg.Wait()
			return errors.Join(err, p.takeErrs())
		}
		select {
		case <-ctx.Done():
			p.wg.Wait()
			return p.takeErrs()
		case <-p.freed:
		}
		if err := p.takeErrs(); err != nil {
			p.wg.Wait()
			return errors.Join(err, p.takeErrs()) // after a failure, the next round tries again
		}
	}
}

// attemptDelivery claims a due delivery, sends it outside any transaction, and
// records the outcome.
func (a *App) attemptDelivery(ctx context.Context, ref store.DeliveryRef) error {
	var sub domain.WebhookSubscription
	var claimed domain.WebhookDelivery
	ok := false
	err := a.store.InFirm(ctx, ref.FirmID, func(q *store.Queries) error {
		// Only the delivery is locked here; settling locks the subscription first,
		// as queueing does, so neither waits on the other in a cycle.
		d, err := q.WebhookDeliveryForUpdate(ctx, ref.DeliveryID)
		if err != nil {
			return err
		}
		r, err := q.WebhookSubscription(ctx, d.SubscriptionID)
		if err != nil {
			return err
		}
		now := a.stamp()
		if d.State != domain.DeliveryPending || d.NextAttempt.After(now) || r.State != domain.WebhookActive {
			return nil // another worker has it, or it was settled meanwhile
		}
		if err := a.openSubscription(ctx, q, &r); err != nil {
			return err
		}
		d.Attempts++
		d.LastAttempt = now
		d.NextAttempt = now.Add(a.webhooks.timeout + 30*time.Second) // the lease while it is in flight
		if err := q.SaveWebhookDelivery(ctx, d); err != nil {
			return err
		}
		sub, claimed, ok = r.WebhookSubscription, d, true
		return nil
	})
	if err != nil || !ok {
		return ignoreGone(err)
	}
	outcome := a.webhooks.send(ctx, sub, claimed, a.now())
	if ctx.Err() != nil {
		return nil // the lease runs out and the attempt is made again
	}
	return ignoreGone(a.store.InFirm(ctx, ref.FirmID, func(q *store.Queries) error {
		return a.settleDelivery(ctx, q, claimed, outcome)
	}))
}

// settleDelivery records an attempt's outcome. A change that replaced the payload
// while it was in flight is not lost: on success the sent payload is logged as
// delivered and the newer one waits as a delivery of its own.
func (a *App) settleDelivery(ctx context.Context, q *store.Queries, claimed domain.WebhookDelivery, o domain.AttemptOutcome) error {
	r, err := q.WebhookSubscriptionForUpdate(ctx, claimed.SubscriptionID)
	if err != nil {
		return err
	}
	cur, err := q.WebhookDeliveryForUpdate(ctx, claimed.ID)
	if err != nil {
		return err
	}
	now := a.stamp()
	wasFailing := !r.FailingSince.IsZero()
	disabled := false
	if o.Succeeded() {
		sent := claimed
		sent.Succeeded(&r.WebhookSubscription, o, now)
		if err := q.SaveWebhookDelivery(ctx, sent); err != nil {
			return err
		}
		if cur.Revision != claimed.Revision {
			newer := cur
			newer.ID, newer.Revision, newer.Attempts = newID(), 1, 0
			newer.ChangeCount = cur.ChangeCount - claimed.ChangeCount
			newer.CreateTime, newer.ExpireTime, newer.NextAttempt = now, now.Add(domain.WebhookRetryHorizon), now
			if _, err := q.QueueWebhookDelivery(ctx, newer); err != nil {
				return err
			}
			a.webhooks.wake()
		}
	} else {
		disabled = cur.Failed(&r.WebhookSubscription, o, now)
		if err := q.SaveWebhookDelivery(ctx, cur); err != nil {
			return err
		}
	}
	if wasFailing != !r.FailingSince.IsZero() || disabled {
		if err := q.SaveWebhookHealth(ctx, r.WebhookSubscription, now); err != nil {
			return err
		}
	}
	if !disabled {
		return nil
	}
	host := ""
	if u, err := url.Parse(r.URL); err == nil {
		host = u.Hostname()
	}
	b := newEventBatch(q, WebhookActor)
	b.add("webhook_subscription_disabled", &eventsv1.WebhookSubscriptionDisabled{
		WebhookSubscription: WebhookSubscriptionName(q.FirmID(), r.ID), Reason: r.DisableReason, Host: host,
	})
	return b.write(ctx, q)
}

// WebhookActor is the actor of the events the delivery worker causes.
const WebhookActor = "system:webhooks"

// ignoreGone drops the error of a delivery or subscription deleted meanwhile.
func ignoreGone(err error) error {
	if apierr.HasCode(err, codes.NotFound) {
		return nil
	}
	return err
}

// WebhookWorker delivers due webhooks until ctx ends: at once when a change is
// queued or an attempt ends, else every poll. Failures are logged and retried on the
// next round.
func (a *App) WebhookWorker(logger *slog.Logger, poll time.Duration) func(context.Context) error {
	return func(ctx context.Context) error {
		p := a.newDeliveryPool()
		defer p.wg.Wait()
		ticker := time.NewTicker(poll)
		defer ticker.Stop()
		for {
			_, err := p.dispatch(ctx)
			if err = errors.Join(err, p.takeErrs()); err != nil && ctx.Err() == nil {
				logger.ErrorContext(ctx, "webhook deliveries failed", slog.String("error", err.Error()))
				// Something is away (the database, the key store): wait for the
				// next tick rather than trying again at once.
				select {
				case <-ctx.Done():
					return nil
				case <-ticker.C:
				}
				continue
			}
			select {
			case <-ctx.Done():
				return nil
			case <-ticker.C:
			case <-a.webhooks.due:
			case <-p.freed:
			}
		}
	}
}
