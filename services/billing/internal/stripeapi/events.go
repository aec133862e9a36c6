package stripeapi

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/stripe/stripe-go/v76"
	"github.com/stripe/stripe-go/v76/webhook"

	"github.com/firmflow/firmflow/services/billing/internal/domain"
)

// WebhookTolerance is how old a webhook's signed timestamp may be; older deliveries
// are refused as possible replays.
const WebhookTolerance = 300 * time.Second

// Reasons a webhook is refused.
var (
	ErrSignature = errors.New("webhook signature missing or invalid")
	ErrTooOld    = errors.New("webhook timestamp outside the tolerance")
	ErrPayload   = errors.New("webhook payload is not a Stripe event")
)

// EventTypes are the events billing applies; the reconciler asks Stripe for these.
var EventTypes = []string{
	"customer.subscription.created", "customer.subscription.updated", "customer.subscription.deleted",
	"customer.subscription.paused", "customer.subscription.resumed",
	"checkout.session.completed", "invoice.paid", "invoice.payment_failed",
}

// Event is a Stripe event reduced to what billing needs.
type Event struct {
	ID      string
	Type    string
	Created time.Time
	// CustomerID finds the firm; empty for events about no customer.
	CustomerID string
	// SubscriptionID is the subscription the event concerns, when it names one.
	SubscriptionID string
	// Subscription is the subscription the event carries, for
	// customer.subscription.* events. Other events only point at a subscription,
	// whose current state must be fetched.
	Subscription *domain.Observation
}

// Verify checks a webhook's Stripe-Signature against the endpoint's secret and the
// tolerance, then decodes the event. It trusts nothing in the payload before the
// signature matched.
func Verify(payload []byte, signature, secret string) (Event, error) {
	e, err := webhook.ConstructEventWithOptions(payload, signature, secret, webhook.ConstructEventOptions{
		Tolerance: WebhookTolerance,
		// The endpoint's API version may differ from stripe-go's; the few fields
		// billing reads are the same in each, and the period end is looked for
		// where newer versions put it.
		IgnoreAPIVersionMismatch: true,
	})
	switch {
	case errors.Is(err, webhook.ErrTooOld):
		return Event{}, ErrTooOld
	case errors.Is(err, webhook.ErrNotSigned), errors.Is(err, webhook.ErrInvalidHeader), errors.Is(err, webhook.ErrNoValidSignature):
		return Event{}, ErrSignature
	case err != nil:
		return Event{}, ErrPayload
	}
	return decode(e)
}

// Events calls fn with every event of the types billing applies created at or after
// since, newest first, reading every page.
func (c *Client) Events(ctx context.Context, since time.Time, fn func(Event) error) error {
	params := &stripe.EventListParams{
		CreatedRange: &stripe.RangeQueryParams{GreaterThanOrEqual: since.Unix()},
		Types:        stripe.StringSlice(EventTypes),
	}
	params.Context = ctx
	params.Limit = stripe.Int64(100)
	it := c.api.Events.List(params)
	for it.Next() {
		e, err := decode(*it.Event())
		if err != nil {
			return fmt.Errorf("event %s: %w", it.Event().ID, err)
		}
		if err := fn(e); err != nil {
			return err
		}
	}
	if err := it.Err(); err != nil {
		return failed("list events", err)
	}
	return nil
}

// decode reads the customer and subscription an event concerns from its object.
func decode(e stripe.Event) (Event, error) {
	out := Event{ID: e.ID, Type: string(e.Type), Created: unix(e.Created)}
	if e.ID == "" || e.Data == nil {
		return Event{}, ErrPayload
	}
	raw := []byte(e.Data.Raw)
	switch {
	case strings.HasPrefix(out.Type, "customer.subscription."):
		var s stripe.Subscription
		if err := json.Unmarshal(raw, &s); err != nil {
			return Event{}, fmt.Errorf("%w: subscription: %v", ErrPayload, err)
		}
		out.CustomerID, out.SubscriptionID = customerID(s.Customer), s.ID
		out.Subscription = &domain.Observation{Snapshot: snapshot(&s, raw), At: out.Created}
	case strings.HasPrefix(out.Type, "checkout.session."):
		var s stripe.CheckoutSession
		if err := json.Unmarshal(raw, &s); err != nil {
			return Event{}, fmt.Errorf("%w: checkout session: %v", ErrPayload, err)
		}
		out.CustomerID = customerID(s.Customer)
		if s.Subscription != nil {
			out.SubscriptionID = s.Subscription.ID
		}
	case strings.HasPrefix(out.Type, "invoice."):
		var in stripe.Invoice
		if err := json.Unmarshal(raw, &in); err != nil {
			return Event{}, fmt.Errorf("%w: invoice: %v", ErrPayload, err)
		}
		out.CustomerID = customerID(in.Customer)
		if in.Subscription != nil {
			out.SubscriptionID = in.Subscription.ID
		}
	}
	return out, nil
}

func customerID(c *stripe.Customer) string {
	if c == nil {
		return ""
	}
	return c.ID
}

// snapshot reads a subscription's state. A per-seat plan has one item: its quantity
// is the seats.
func snapshot(s *stripe.Subscription, raw []byte) domain.Snapshot {
	out := domain.Snapshot{
		ID: s.ID, Status: domain.Status(s.Status),
		CurrentPeriodEnd: unix(s.CurrentPeriodEnd), CancelAtPeriodEnd: s.CancelAtPeriodEnd,
		CanceledAt: unix(s.CanceledAt), Created: unix(s.Created),
	}
	if s.Items != nil && len(s.Items.Data) > 0 {
		item := s.Items.Data[0]
		out.ItemID, out.Quantity = item.ID, item.Quantity
		if item.Price != nil {
			out.PriceID = item.Price.ID
		}
	}
	if out.CurrentPeriodEnd.IsZero() {
		out.CurrentPeriodEnd = itemPeriodEnd(raw)
	}
	return out
}

// itemPeriodEnd reads the period end from the first item, where API versions from
// 2025 keep it instead of on the subscription.
func itemPeriodEnd(raw []byte) time.Time {
	var v struct {
		Items struct {
			Data []struct {
				CurrentPeriodEnd int64 `json:"current_period_end"`
			} `json:"data"`
		} `json:"items"`
	}
	if len(raw) == 0 || json.Unmarshal(raw, &v) != nil || len(v.Items.Data) == 0 {
		return time.Time{}
	}
	return unix(v.Items.Data[0].CurrentPeriodEnd)
}
