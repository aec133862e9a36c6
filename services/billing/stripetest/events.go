package stripetest

import "github.com/firmflow/firmflow/services/billing/stripefake"

// Stripe's objects and events as tests write them; stripefake renders them for the
// development Stripe too.
type Subscription = stripefake.Subscription

var (
	// Event renders a Stripe event of type typ about object.
	Event = stripefake.Event
	// Sign returns the Stripe-Signature header Stripe would send with a payload.
	Sign = stripefake.Sign
)
