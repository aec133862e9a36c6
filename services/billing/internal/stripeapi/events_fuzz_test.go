package stripeapi_test

import (
	"errors"
	"testing"
	"time"

	"github.com/stripe/stripe-go/v76/webhook"

	"github.com/firmflow/firmflow/services/billing/internal/stripeapi"
)

// FuzzVerify feeds arbitrary webhook bodies, signed with the endpoint's secret and
// not: nothing panics, an unsigned or mis-signed body is refused for its signature
// before anything in it is read, and a signed one is an event or ErrPayload.
func FuzzVerify(f *testing.F) {
	const secret = "whsec_fuzz"
	f.Add([]byte(`{"id":"evt_1","type":"customer.subscription.updated","created":1,"data":{"object":{"id":"sub_1","customer":"cus_1","status":"active"}}}`), "")
	f.Add([]byte(`{"id":"evt_2","type":"invoice.paid","data":{"object":{"customer":{"id":"cus_1"},"subscription":"sub_1"}}}`), "t=1,v1=00")
	f.Add([]byte(`{"id":"evt_3","type":"checkout.session.completed","data":{"object":[]}}`), "")
	f.Add([]byte(`{"type":"invoice.paid","data":null}`), "v1=")
	f.Add([]byte("\xed\xa0\x80"), "t=\xff")
	f.Fuzz(func(t *testing.T, payload []byte, forged string) {
		if _, err := stripeapi.Verify(payload, forged, secret); !errors.Is(err, stripeapi.ErrSignature) && !errors.Is(err, stripeapi.ErrTooOld) {
			t.Fatalf("signature %q opened a body: %v", forged, err)
		}
		signed := webhook.GenerateTestSignedPayload(&webhook.UnsignedPayload{Payload: payload, Secret: secret, Timestamp: time.Now()})
		e, err := stripeapi.Verify(payload, signed.Header, secret)
		switch {
		case errors.Is(err, stripeapi.ErrPayload):
		case err != nil:
			t.Fatalf("signed body refused with %v", err)
		case e.ID == "":
			t.Fatalf("signed body decoded to an event without an id: %+v", e)
		}
	})
}
