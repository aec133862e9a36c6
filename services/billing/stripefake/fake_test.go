package stripefake_test

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/firmflow/firmflow/services/billing/internal/stripeapi"
	"github.com/firmflow/firmflow/services/billing/stripefake"
)

// TestFakeRemembersWhatBillingDid drives the Fake with billing's own Stripe client:
// a customer, a Checkout page a person opens, the signed events that follow, and the
// subscription read back as it is (active, paid into the future), then seats, the
// invoice list and a cancellation, each read back as it happened.
func TestFakeRemembersWhatBillingDid(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	fake := stripefake.NewFake("")
	srv := httptest.NewServer(fake)
	t.Cleanup(srv.Close)
	fake.SetPagesURL(srv.URL)

	const secret = "whsec_fake_test"
	var mu sync.Mutex
	var received []stripeapi.Event
	hook := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		e, err := stripeapi.Verify(body, r.Header.Get("Stripe-Signature"), secret)
		if err != nil {
			t.Errorf("webhook does not verify: %v", err)
		}
		mu.Lock()
		received = append(received, e)
		mu.Unlock()
	}))
	t.Cleanup(hook.Close)
	fake.DeliverTo(hook.URL, secret, func() (*http.Client, error) { return hook.Client(), nil })

	client := stripeapi.New(stripeapi.Config{APIKey: "sk_test_fake", URL: srv.URL, Timeout: 5 * time.Second})
	customer, err := client.CreateCustomer(ctx, "firm-1")
	if err != nil {
		t.Fatal(err)
	}
	if again, err := client.CreateCustomer(ctx, "firm-1"); err != nil || again != customer {
		t.Errorf("a retried creation made %q (%v), want the first customer %q", again, err, customer)
	}
	page, expires, err := client.CreateCheckoutSession(ctx, stripeapi.Checkout{
		FirmID: "firm-1", CustomerID: customer, PriceID: "price_standard", Seats: 3,
		SuccessURL: "http://localhost/ok", CancelURL: "http://localhost/no", Key: "checkout-1",
	})
	if err != nil || !expires.After(time.Now()) {
		t.Fatalf("checkout: %v, expires %s", err, expires)
	}
	for range 2 { // the person opens the page twice: one payment
		resp, err := http.Get(page)
		if err != nil || resp.StatusCode != http.StatusOK {
			t.Fatalf("open %s: %v %v", page, resp, err)
		}
		resp.Body.Close()
	}
	var types []string
	var subID string
	for _, e := range received {
		types = append(types, e.Type)
		if e.CustomerID != customer {
			t.Errorf("%s names customer %q", e.Type, e.CustomerID)
		}
		subID = e.SubscriptionID
	}
	if !slices.Equal(types, []string{"customer.subscription.created", "checkout.session.completed", "invoice.paid"}) || subID == "" {
		t.Fatalf("events delivered: %v (subscription %q)", types, subID)
	}

	sub, err := client.Subscription(ctx, subID)
	if err != nil {
		t.Fatal(err)
	}
	if sub.Status != "active" || sub.Quantity != 3 || sub.PriceID != "price_standard" || !sub.CurrentPeriodEnd.After(time.Now().AddDate(0, 0, 27)) {
		t.Fatalf("subscription read back: %+v", sub.Snapshot)
	}
	if err := client.SetSeats(ctx, sub.ItemID, 4, "seats-1"); err != nil {
		t.Fatal(err)
	}
	if sub, err = client.Subscription(ctx, subID); err != nil || sub.Quantity != 4 {
		t.Errorf("seats read back: %d, %v", sub.Quantity, err)
	}
	invoices, more, err := client.Invoices(ctx, customer, "", 10)
	if err != nil || more || len(invoices) != 1 || invoices[0].Status != "paid" {
		t.Errorf("invoices: %+v more %v, %v", invoices, more, err)
	}
	canceled, err := client.Cancel(ctx, subID, true)
	if err != nil || canceled.Status != "canceled" || canceled.CanceledAt.IsZero() {
		t.Errorf("cancel: %+v, %v", canceled.Snapshot, err)
	}
	if _, err := client.Subscription(ctx, "sub_unknown"); err == nil {
		t.Error("an unknown subscription was found")
	}
	var listed []string
	if err := client.Events(ctx, time.Now().Add(-time.Hour), func(e stripeapi.Event) error {
		listed = append(listed, e.Type)
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	if len(listed) != 5 || listed[0] != "customer.subscription.deleted" {
		t.Errorf("event list, newest first: %v", listed)
	}
}
