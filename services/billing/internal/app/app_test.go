package app_test

import (
	"context"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"
	"google.golang.org/grpc/codes"

	"github.com/firmflow/firmflow/services/billing/internal/app"
	"github.com/firmflow/firmflow/services/billing/internal/domain"
	"github.com/firmflow/firmflow/services/billing/internal/stripeapi"
	"github.com/firmflow/firmflow/services/billing/stripetest"
)

func TestFirmGetsOneCustomerHoweverOftenItsCreationArrives(t *testing.T) {
	t.Parallel()
	f := newFixture(t, 10*time.Second)
	ctx := context.Background()
	firmID := uuid.NewString()
	created := message(firmID, "firmflow.identity.firm_created", time.Now())

	f.stripe.Fail(http.MethodPost, "/v1/customers", 1)
	if err := f.app.CreateCustomer(ctx, created); err == nil {
		t.Fatal("Stripe failing: CreateCustomer succeeded")
	}
	if n := f.count(t, "select count(*) from inbox where firm_id = $1", firmID); n != 0 {
		t.Fatal("a failed event was recorded as applied")
	}
	for range 2 { // the retry, then a redelivery
		if err := f.app.CreateCustomer(ctx, created); err != nil {
			t.Fatal(err)
		}
	}
	// Another creation event for the same firm (say, replayed by an operator).
	if err := f.app.CreateCustomer(ctx, message(firmID, "firmflow.identity.firm_created", time.Now())); err != nil {
		t.Fatal(err)
	}

	requests := f.stripe.Requests(http.MethodPost, "/v1/customers")
	if len(requests) != 2 {
		t.Fatalf("%d customer requests, want 2 (the failed one and its retry)", len(requests))
	}
	for _, r := range requests {
		if r.IdempotencyKey != stripeapi.CustomerKey(firmID) || r.Form.Get("metadata[firm_id]") != firmID {
			t.Errorf("customer request key %q metadata %q", r.IdempotencyKey, r.Form.Get("metadata[firm_id]"))
		}
	}
	if n := f.count(t, "select count(*) from accounts where firm_id = $1", firmID); n != 1 {
		t.Errorf("%d accounts, want 1", n)
	}
	if n := f.outbox(t, firmID, "customer_created"); n != 1 {
		t.Errorf("%d customer_created events, want 1", n)
	}
}

func TestSeatsFollowMembersWithKeysFromTheirEvents(t *testing.T) {
	t.Parallel()
	f := newFixture(t, 10*time.Second)
	ctx := context.Background()
	firmID, customerID := f.firm(t, 1)
	sub := f.subscribe(t, customerID, "active", 1, ago(time.Hour))
	itemPath := "/v1/subscription_items/" + sub.ItemID

	now := time.Now()
	joined := message(firmID, "firmflow.identity.member_joined", now)
	check := func(step string, wantRequests int, wantSeats, wantKey string) {
		t.Helper()
		rs := f.stripe.Requests(http.MethodPost, itemPath)
		if len(rs) != wantRequests {
			t.Fatalf("%s: %d seat requests, want %d", step, len(rs), wantRequests)
		}
		if wantSeats == "" {
			return
		}
		last := rs[len(rs)-1]
		if last.Form.Get("quantity") != wantSeats || last.IdempotencyKey != wantKey {
			t.Errorf("%s: quantity %s key %q, want %s %q", step, last.Form.Get("quantity"), last.IdempotencyKey, wantSeats, wantKey)
		}
	}

	if err := f.app.CountMembers(ctx, joined, 3); err != nil {
		t.Fatal(err)
	}
	check("member joined", 1, "3", stripeapi.SeatsKey(joined.EventID))

	if err := f.app.CountMembers(ctx, joined, 3); err != nil {
		t.Fatal(err)
	}
	check("same event again", 1, "", "")

	late := message(firmID, "firmflow.identity.member_removed", now.Add(-time.Minute))
	if err := f.app.CountMembers(ctx, late, 2); err != nil {
		t.Fatal(err)
	}
	check("older count arriving late", 1, "", "")

	removed := message(firmID, "firmflow.identity.member_removed", now.Add(time.Second))
	if err := f.app.CountMembers(ctx, removed, 2); err != nil {
		t.Fatal(err)
	}
	check("member removed", 2, "2", stripeapi.SeatsKey(removed.EventID))

	if n := f.outbox(t, firmID, "seats_changed"); n != 2 {
		t.Errorf("%d seats_changed events, want 2", n)
	}
	var seats int64
	f.admin(t, "select quantity from subscriptions where firm_id = $1", []any{firmID}, &seats)
	if seats != 2 {
		t.Errorf("stored seats %d, want 2", seats)
	}
}

func TestTimedOutStripeCallIsRetriedWithTheSameKey(t *testing.T) {
	t.Parallel()
	f := newFixture(t, time.Second)
	ctx := context.Background()
	firmID, customerID := f.firm(t, 1)
	sub := f.subscribe(t, customerID, "active", 1, ago(time.Hour))
	itemPath := "/v1/subscription_items/" + sub.ItemID

	// Stripe does not answer in time once; the client retries at once.
	f.stripe.Hang(http.MethodPost, itemPath, 1)
	joined := message(firmID, "firmflow.identity.member_joined", time.Now())
	if err := f.app.CountMembers(ctx, joined, 2); err != nil {
		t.Fatalf("after one timeout: %v", err)
	}
	// Stripe fails outright; the event fails and is delivered again later.
	f.stripe.Fail(http.MethodPost, itemPath, 1)
	again := message(firmID, "firmflow.identity.member_joined", time.Now().Add(time.Second))
	if err := f.app.CountMembers(ctx, again, 3); err == nil {
		t.Fatal("Stripe failing: the seat change succeeded")
	}
	if err := f.app.CountMembers(ctx, again, 3); err != nil {
		t.Fatalf("redelivery: %v", err)
	}

	keys := map[string]int{}
	for _, r := range f.stripe.Requests(http.MethodPost, itemPath) {
		keys[r.IdempotencyKey]++
	}
	first, second := stripeapi.SeatsKey(joined.EventID), stripeapi.SeatsKey(again.EventID)
	if len(keys) != 2 || keys[first] < 2 || keys[second] < 2 {
		t.Errorf("idempotency keys used %v, want only %q and %q, each on every attempt (two or more)", keys, first, second)
	}
}

func TestCheckoutStartsWithTheFirmsSeatsOnStripesPage(t *testing.T) {
	t.Parallel()
	f := newFixture(t, 10*time.Second)
	ctx := context.Background()
	firmID, customerID := f.firm(t, 4)

	url, _, err := f.app.Checkout(ctx, owner(firmID), firmID, "pro", "req-1")
	if err != nil || !strings.HasPrefix(url, "https://") {
		t.Fatalf("Checkout = %q, %v", url, err)
	}
	r := f.stripe.Requests(http.MethodPost, "/v1/checkout/sessions")[0]
	for field, want := range map[string]string{
		"customer": customerID, "mode": "subscription", "line_items[0][price]": "price_pro", "line_items[0][quantity]": "4",
		"success_url": "https://app.firmflow.test/settings/billing?checkout=success", "client_reference_id": firmID,
	} {
		if got := r.Form.Get(field); got != want {
			t.Errorf("checkout %s = %q, want %q", field, got, want)
		}
	}
	if r.IdempotencyKey != stripeapi.CheckoutKey(firmID, "req-1") {
		t.Errorf("checkout key %q", r.IdempotencyKey)
	}

	_, _, err = f.app.Checkout(ctx, owner(firmID), firmID, "platinum", "")
	wantReason(t, err, codes.InvalidArgument, "UNKNOWN_PLAN")
	newFirm := uuid.NewString()
	_, _, err = f.app.Checkout(ctx, owner(newFirm), newFirm, "standard", "")
	wantReason(t, err, codes.FailedPrecondition, "BILLING_NOT_READY")
	_, _, err = f.app.Checkout(ctx, owner(newFirm), firmID, "standard", "")
	wantReason(t, err, codes.NotFound, "NOT_FOUND")

	f.subscribe(t, customerID, "active", 4, ago(time.Minute))
	_, _, err = f.app.Checkout(ctx, owner(firmID), firmID, "standard", "")
	wantReason(t, err, codes.FailedPrecondition, "SUBSCRIPTION_EXISTS")

	if url, err := f.app.BillingPortal(ctx, owner(firmID), firmID); err != nil || url == "" {
		t.Errorf("BillingPortal = %q, %v", url, err)
	}
	if rs := f.stripe.Requests(http.MethodPost, "/v1/billing_portal/sessions"); len(rs) != 1 || rs[0].Form.Get("customer") != customerID {
		t.Errorf("portal requests %+v", rs)
	}
}

func TestWebhookRefusesWhatStripeDidNotSignJustNow(t *testing.T) {
	t.Parallel()
	f := newFixture(t, 10*time.Second)
	ctx := context.Background()
	firmID, customerID := f.firm(t, 1)
	sub := stripetest.Subscription{ID: "sub_x", Customer: customerID, Status: "active", PriceID: "price_standard",
		ItemID: "si_x", Quantity: 1, Created: ago(time.Hour), CurrentPeriodEnd: time.Now().Add(time.Hour)}
	payload := stripetest.Event(eventID(), "customer.subscription.created", ago(time.Minute), sub.Object())
	tampered := []byte(strings.Replace(string(payload), `"active"`, `"canceled"`, 1))
	now := time.Now()

	cases := []struct {
		name      string
		payload   []byte
		signature string
		reason    string
	}{
		{"unsigned", payload, "", "WEBHOOK_SIGNATURE_INVALID"},
		{"malformed header", payload, "v1=nothex,t=soon", "WEBHOOK_SIGNATURE_INVALID"},
		{"wrong secret", payload, stripetest.Sign(payload, "whsec_someone_else", now), "WEBHOOK_SIGNATURE_INVALID"},
		{"signature of another payload", payload, stripetest.Sign([]byte(`{"id":"evt_other"}`), secret, now), "WEBHOOK_SIGNATURE_INVALID"},
		{"payload changed after signing", tampered, stripetest.Sign(payload, secret, now), "WEBHOOK_SIGNATURE_INVALID"},
		{"stale timestamp", payload, stripetest.Sign(payload, secret, now.Add(-301*time.Second)), "WEBHOOK_TOO_OLD"},
		{"signed nonsense", []byte("not json"), stripetest.Sign([]byte("not json"), secret, now), "WEBHOOK_PAYLOAD_INVALID"},
	}
	for _, tc := range cases {
		_, _, err := f.app.ReceiveWebhook(ctx, tc.payload, tc.signature)
		if err == nil {
			t.Errorf("%s: accepted", tc.name)
			continue
		}
		wantReason(t, err, codes.InvalidArgument, tc.reason)
	}
	if n := f.count(t, "select count(*) from stripe_events"); n != 0 {
		t.Errorf("%d refused events recorded", n)
	}
	if n := f.count(t, "select count(*) from subscriptions"); n != 0 {
		t.Errorf("a refused event changed the subscription")
	}

	// Within the tolerance the same delivery is taken (a few seconds spare for a
	// slow machine: Stripe's timestamps count whole seconds).
	if _, _, err := f.app.ReceiveWebhook(ctx, payload, stripetest.Sign(payload, secret, time.Now().Add(-290*time.Second))); err != nil {
		t.Errorf("signed 290 s ago: %v", err)
	}
	if n := f.outbox(t, firmID, "subscription_changed"); n != 1 {
		t.Errorf("%d subscription_changed events, want 1", n)
	}
}

func TestTheSameEventTwiceHasOneEffect(t *testing.T) {
	t.Parallel()
	f := newFixture(t, 10*time.Second)
	firmID, customerID := f.firm(t, 1)
	sub := stripetest.Subscription{ID: "sub_twice", Customer: customerID, Status: "active", PriceID: "price_standard",
		ItemID: "si_twice", Quantity: 1, Created: ago(time.Hour), CurrentPeriodEnd: time.Now().Add(time.Hour)}
	payload := stripetest.Event(eventID(), "customer.subscription.created", ago(time.Minute), sub.Object())

	if d := f.webhook(t, payload); d != app.Applied {
		t.Errorf("first delivery: %v", d)
	}
	if d := f.webhook(t, payload); d != app.Duplicate {
		t.Errorf("second delivery: %v, want Duplicate", d)
	}
	if n := f.count(t, "select count(*) from stripe_events where firm_id = $1", firmID); n != 1 {
		t.Errorf("%d events recorded, want 1", n)
	}
	if n := f.outbox(t, firmID, "subscription_changed"); n != 1 {
		t.Errorf("%d subscription_changed events, want 1", n)
	}
}

func TestAnOlderEventNeverUndoesANewerOne(t *testing.T) {
	t.Parallel()
	f := newFixture(t, 10*time.Second)
	firmID, customerID := f.firm(t, 1)
	sub := stripetest.Subscription{ID: "sub_order", Customer: customerID, Status: "active", PriceID: "price_standard",
		ItemID: "si_order", Quantity: 1, Created: ago(2 * time.Hour), CurrentPeriodEnd: time.Now().Add(time.Hour)}
	created := stripetest.Event(eventID(), "customer.subscription.created", ago(2*time.Hour), sub.Object())
	sub.Status = "past_due"
	updated := stripetest.Event(eventID(), "customer.subscription.updated", ago(time.Hour), sub.Object())

	f.webhook(t, updated)
	f.webhook(t, created)

	var status string
	f.admin(t, "select status from subscriptions where firm_id = $1", []any{firmID}, &status)
	if status != "past_due" {
		t.Errorf("status %s after the older event arrived last, want past_due", status)
	}
	if n := f.outbox(t, firmID, "subscription_changed"); n != 1 {
		t.Errorf("%d subscription_changed events, want 1 (the stale event changes nothing)", n)
	}
}

func TestEventsThatCannotBeOrderedAskStripe(t *testing.T) {
	t.Parallel()
	f := newFixture(t, 10*time.Second)
	_, customerID := f.firm(t, 1)
	at := ago(time.Hour)
	sub := stripetest.Subscription{ID: "sub_tie", Customer: customerID, Status: "active", PriceID: "price_standard",
		ItemID: "si_tie", Quantity: 1, Created: at, CurrentPeriodEnd: time.Now().Add(time.Hour)}
	f.webhook(t, stripetest.Event(eventID(), "customer.subscription.created", at, sub.Object()))
	sub.Quantity = 2 // changed within the same second
	f.webhook(t, stripetest.Event(eventID(), "customer.subscription.updated", at, sub.Object()))
	if rs := f.stripe.Requests(http.MethodGet, "/v1/subscriptions/sub_tie"); len(rs) != 1 {
		t.Errorf("%d fetches of the subscription after a tie, want 1", len(rs))
	}

	// An invoice event only points at the subscription: its state is fetched.
	invoice := map[string]any{"id": "in_1", "object": "invoice", "customer": customerID, "subscription": "sub_tie", "status": "paid"}
	f.webhook(t, stripetest.Event(eventID(), "invoice.paid", time.Now(), invoice))
	if rs := f.stripe.Requests(http.MethodGet, "/v1/subscriptions/sub_tie"); len(rs) != 2 {
		t.Errorf("%d fetches after invoice.paid, want 2", len(rs))
	}
}

func TestReconcilerAppliesWhatTheWebhookMissed(t *testing.T) {
	t.Parallel()
	f := newFixture(t, 10*time.Second)
	ctx := context.Background()
	firmID, customerID := f.firm(t, 1)
	sub := stripetest.Subscription{ID: "sub_rec", Customer: customerID, Status: "active", PriceID: "price_standard",
		ItemID: "si_rec", Quantity: 1, Created: ago(3 * time.Hour), CurrentPeriodEnd: time.Now().Add(time.Hour)}
	delivered := stripetest.Event(eventID(), "customer.subscription.created", ago(3*time.Hour), sub.Object())
	f.webhook(t, delivered)
	sub.Status = "past_due"
	missed := stripetest.Event(eventID(), "customer.subscription.updated", ago(time.Hour), sub.Object())
	other := stripetest.Event(eventID(), "customer.subscription.created", ago(time.Hour),
		stripetest.Subscription{ID: "sub_foreign", Customer: "cus_not_a_firm", Status: "active", Created: ago(time.Hour)}.Object())
	f.stripe.SetEvents(other, missed, delivered)

	n, err := f.app.Reconcile(ctx)
	if err != nil || n != 1 {
		t.Fatalf("Reconcile = %d, %v; want the one missed event", n, err)
	}
	var status string
	f.admin(t, "select status from subscriptions where firm_id = $1", []any{firmID}, &status)
	if status != "past_due" {
		t.Errorf("status %s, want past_due", status)
	}
	if n, err := f.app.Reconcile(ctx); err != nil || n != 0 {
		t.Errorf("second pass = %d, %v; want nothing new", n, err)
	}
	list := f.stripe.Requests(http.MethodGet, "/v1/events")
	if len(list) != 2 || list[0].Form.Get("types[0]") == "" || list[0].Form.Get("created[gte]") == "" {
		t.Errorf("event list requests %+v", list)
	}
}

func TestOwnerCancelsAndClosureIsAnnounced(t *testing.T) {
	t.Parallel()
	f := newFixture(t, 10*time.Second)
	ctx := context.Background()
	firmID, customerID := f.firm(t, 1)

	_, err := f.app.Cancel(ctx, owner(firmID), firmID, false)
	wantReason(t, err, codes.FailedPrecondition, "NO_SUBSCRIPTION")

	sub := f.subscribe(t, customerID, "active", 1, ago(time.Hour))
	if _, err := f.app.Cancel(ctx, owner(firmID), firmID, false); err != nil {
		t.Fatal(err)
	}
	rs := f.stripe.Requests(http.MethodPost, "/v1/subscriptions/"+sub.ID)
	if len(rs) != 1 || rs[0].Form.Get("cancel_at_period_end") != "true" || rs[0].IdempotencyKey != stripeapi.CancelKey(sub.ID, false) {
		t.Errorf("cancel at period end requests %+v", rs)
	}
	if _, err := f.app.Cancel(ctx, owner(firmID), firmID, true); err != nil {
		t.Fatal(err)
	}
	if rs := f.stripe.Requests(http.MethodDelete, "/v1/subscriptions/"+sub.ID); len(rs) != 1 || rs[0].IdempotencyKey != stripeapi.CancelKey(sub.ID, true) {
		t.Errorf("immediate cancel requests %+v", rs)
	}
	if n := f.outbox(t, firmID, "subscription_canceled"); n != 2 {
		t.Errorf("%d subscription_canceled events, want 2", n)
	}
}

func TestInvoicesComeFromStripeForTheFirmsCustomer(t *testing.T) {
	t.Parallel()
	f := newFixture(t, 10*time.Second)
	firmID, customerID := f.firm(t, 1)
	if _, _, err := f.app.Invoices(context.Background(), owner(firmID), firmID, "", 10); err != nil {
		t.Fatal(err)
	}
	rs := f.stripe.Requests(http.MethodGet, "/v1/invoices")
	if len(rs) != 1 || rs[0].Form.Get("customer") != customerID || rs[0].Form.Get("limit") != "10" {
		t.Errorf("invoice requests %+v", rs)
	}
}

func TestFirmTurnsReadOnlyOnlyAfterTheGracePeriod(t *testing.T) {
	t.Parallel()
	f := newFixture(t, 10*time.Second)
	ctx := context.Background()
	firmID, customerID := f.firm(t, 1)

	e, err := f.app.Entitlement(ctx, firmID)
	if err != nil || e.Access != domain.AccessFull || e.ReadOnlyTime.IsZero() {
		t.Fatalf("new firm without a subscription: %+v, %v; want full access with a deadline", e, err)
	}
	sub := stripetest.Subscription{ID: "sub_lapse", Customer: customerID, Status: "past_due", PriceID: "price_standard",
		ItemID: "si_lapse", Quantity: 1, Created: ago(60 * 24 * time.Hour), CurrentPeriodEnd: ago(20 * 24 * time.Hour)}
	f.webhook(t, stripetest.Event(eventID(), "customer.subscription.updated", ago(20*24*time.Hour), sub.Object()))
	if e, _ := f.app.Entitlement(ctx, firmID); e.Access != domain.AccessReadOnly {
		t.Errorf("past due for 20 days with 14 days' grace: %+v", e)
	}
	sub.Status, sub.CurrentPeriodEnd = "active", time.Now().Add(30*24*time.Hour)
	f.webhook(t, stripetest.Event(eventID(), "customer.subscription.updated", ago(time.Minute), sub.Object()))
	if e, _ := f.app.Entitlement(ctx, firmID); e.Access != domain.AccessFull {
		t.Errorf("paid again: %+v", e)
	}
	if e, _ := f.app.Entitlement(ctx, uuid.NewString()); e.Access != domain.AccessFull {
		t.Errorf("a firm billing has not heard of yet: %+v", e)
	}
}

// Who read or changed billing data is the gateway's access event and billing's
// change events, not a log line of billing's own; the logs must not hold what
// Stripe echoes back either.
func TestCardNumbersNeverReachTheLogs(t *testing.T) {
	t.Parallel()
	f := newFixture(t, 10*time.Second)
	ctx := context.Background()
	firmID, customerID := f.firm(t, 1)
	p := owner(firmID)
	if _, err := f.app.Subscription(ctx, p, firmID); err != nil {
		t.Fatal(err)
	}
	// Someone pastes a card number where Stripe echoes text back, and forges a copy.
	invoice := map[string]any{"id": "in_card", "object": "invoice", "customer": customerID,
		"description": "pay with 4242 4242 4242 4242 cvc 123", "status": "open"}
	payload := stripetest.Event(eventID(), "invoice.payment_failed", time.Now(), invoice)
	f.webhook(t, payload)
	_, _, _ = f.app.ReceiveWebhook(ctx, []byte(strings.Replace(string(payload), "open", "paid", 1)), stripetest.Sign(payload, secret, time.Now()))

	logs := f.logs.String()
	if logs == "" {
		t.Fatal("billing logged nothing; the check below would pass vacuously")
	}
	// The whole number, not "4242" alone: every log line's time has nine digits of
	// nanoseconds, and now and then they hold 4242 (a run of CI failed so).
	for _, echoed := range []string{"4242 4242", "4242424242424242", "cvc 123"} {
		if strings.Contains(logs, echoed) {
			t.Errorf("a webhook payload reached the logs (%q)", echoed)
		}
	}
}
