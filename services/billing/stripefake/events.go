package stripefake

import (
	"encoding/json"
	"time"

	"github.com/stripe/stripe-go/v76"
	"github.com/stripe/stripe-go/v76/webhook"
)

// Subscription describes a subscription object as Stripe renders it in events.
type Subscription struct {
	ID                string
	Customer          string
	Status            string
	PriceID           string
	ItemID            string
	Quantity          int64
	Created           time.Time
	CurrentPeriodEnd  time.Time
	CancelAtPeriodEnd bool
	CanceledAt        time.Time // zero while not canceled
}

// Object renders the subscription as Stripe's JSON object.
func (s Subscription) Object() map[string]any {
	return map[string]any{
		"id": s.ID, "object": "subscription", "customer": s.Customer, "status": s.Status,
		"created": s.Created.Unix(), "current_period_end": s.CurrentPeriodEnd.Unix(),
		"cancel_at_period_end": s.CancelAtPeriodEnd, "canceled_at": unixOrNil(s.CanceledAt), "livemode": false,
		"items": map[string]any{"object": "list", "data": []any{map[string]any{
			"id": s.ItemID, "object": "subscription_item", "quantity": s.Quantity,
			"price": map[string]any{"id": s.PriceID, "object": "price"},
		}}},
	}
}

// Event renders a Stripe event of type typ about object, created at created, with
// the API version stripe-go expects.
func Event(id, typ string, created time.Time, object map[string]any) []byte {
	b, err := json.Marshal(map[string]any{
		"id": id, "object": "event", "type": typ, "created": created.Unix(), "api_version": stripe.APIVersion,
		"livemode": false, "pending_webhooks": 1, "data": map[string]any{"object": object},
	})
	if err != nil {
		panic(err) // maps of plain values always marshal
	}
	return b
}

// Sign returns the Stripe-Signature header Stripe would send with payload, signed
// with secret at the given time.
func Sign(payload []byte, secret string, at time.Time) string {
	return webhook.GenerateTestSignedPayload(&webhook.UnsignedPayload{Payload: payload, Secret: secret, Timestamp: at}).Header
}

func unixOrNil(t time.Time) any {
	if t.IsZero() {
		return nil
	}
	return t.Unix()
}
