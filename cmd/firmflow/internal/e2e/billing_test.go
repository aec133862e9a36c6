package e2e

import (
	"bytes"
	"context"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"google.golang.org/protobuf/proto"

	"github.com/firmflow/firmflow/cmd/firmflow/internal/e2e/harness"
	billingv1 "github.com/firmflow/firmflow/pkg/gen/firmflow/billing/v1"
	"github.com/firmflow/firmflow/pkg/pg"
	"github.com/firmflow/firmflow/pkg/pg/pgtest"
	"github.com/firmflow/firmflow/services/billing/stripetest"
)

// stripeWebhookSecret is the webhook signing secret the stack's billing is given.
const stripeWebhookSecret = harness.StripeWebhookSecret

// TestBillingThroughTheGateway subscribes a firm the way the app and Stripe do: the
// owner gets a Checkout page, Stripe's signed webhook reports the subscription through
// the gateway, seats follow a new member, and members see no billing data.
func TestBillingThroughTheGateway(t *testing.T) {
	t.Parallel()
	sys := start(t, nil)
	alpha := sys.signUp(t, "billing-alpha")
	owner := alpha.client

	checkout := checkoutWhenReady(t, alpha, "first")
	if !strings.HasPrefix(checkout.GetUrl(), sys.stripe.URL+"/checkout/cs_") { // the development Stripe's page
		t.Fatalf("checkout = %v", checkout)
	}
	sub := want(t, owner.do("GET", "/v1/"+alpha.name+"/subscription", nil), http.StatusOK, "subscription")
	if s := message[*billingv1.Subscription](t, sub); s.GetState() != billingv1.SubscriptionState_SUBSCRIPTION_STATE_NONE || s.GetAccess() != billingv1.Access_ACCESS_FULL {
		t.Fatalf("new firm's subscription = %s", sub.raw)
	}

	customer := sys.billingCustomer(t, strings.TrimPrefix(alpha.name, "firms/"))
	object := stripetest.Subscription{ID: "sub_e2e", Customer: customer, Status: "active", PriceID: "price_standard",
		ItemID: "si_e2e", Quantity: 1, Created: time.Now().Add(-time.Minute), CurrentPeriodEnd: time.Now().Add(30 * 24 * time.Hour)}
	payload := stripetest.Event("evt_e2e_1", "customer.subscription.created", time.Now().Add(-time.Minute), object.Object())
	if status := sys.stripeWebhook(t, payload, ""); status != http.StatusBadRequest {
		t.Errorf("unsigned webhook: %d, want 400", status)
	}
	if status := sys.stripeWebhook(t, payload, stripetest.Sign(payload, "whsec_guess", time.Now())); status != http.StatusBadRequest {
		t.Errorf("forged webhook: %d, want 400", status)
	}
	for range 2 {
		if status := sys.stripeWebhook(t, payload, stripetest.Sign(payload, stripeWebhookSecret, time.Now())); status != http.StatusOK {
			t.Fatalf("signed webhook: %d", status)
		}
	}
	sub = want(t, owner.do("GET", "/v1/"+alpha.name+"/subscription", nil), http.StatusOK, "subscription")
	if s := message[*billingv1.Subscription](t, sub); s.GetState() != billingv1.SubscriptionState_SUBSCRIPTION_STATE_ACTIVE || s.GetPlan() != "standard" || s.GetSeats() != 1 {
		t.Errorf("subscription after the webhook = %s", sub.raw)
	}

	member, _ := alpha.member(t, sys, "sam@billing-alpha.example")
	want(t, member.do("GET", "/v1/"+alpha.name+"/subscription", nil), http.StatusForbidden, "member reads billing")
	want(t, member.do("GET", "/v1/"+alpha.name+"/invoices", nil), http.StatusForbidden, "member lists invoices")
	deadline := time.Now().Add(20 * time.Second)
	for len(sys.stripe.Requests(http.MethodPost, "/v1/subscription_items/si_e2e")) == 0 && time.Now().Before(deadline) {
		time.Sleep(50 * time.Millisecond)
	}
	seats := sys.stripe.Requests(http.MethodPost, "/v1/subscription_items/si_e2e")
	if len(seats) != 1 || seats[0].Form.Get("quantity") != "2" || !strings.HasPrefix(seats[0].IdempotencyKey, "firmflow-seats-") {
		t.Errorf("seat changes after a member joined: %+v", seats)
	}
	want(t, owner.do("GET", "/v1/"+alpha.name+"/invoices", nil), http.StatusOK, "owner lists invoices")
}

// TestCheckoutLeavesTheFirmPaidAndWritable pays on the Checkout page of the stack's
// Stripe as a person would: Stripe's signed events reach billing through the gateway,
// billing reads the subscription back, and the firm is ACTIVE with a period end in the
// future and keeps full access: it can write, and nothing drifts on a later read.
func TestCheckoutLeavesTheFirmPaidAndWritable(t *testing.T) {
	t.Parallel()
	sys := start(t, nil)
	f := sys.signUp(t, "billing-paid")
	owner := f.client
	checkout := checkoutWhenReady(t, f, "pay")
	page, err := http.Get(checkout.GetUrl()) // the person pays
	if err != nil {
		t.Fatal(err)
	}
	page.Body.Close()
	if page.StatusCode != http.StatusOK {
		t.Fatalf("checkout page: %d", page.StatusCode)
	}
	var s *billingv1.Subscription
	eventually(t, "subscription active", func() bool {
		s = message[*billingv1.Subscription](t, want(t, owner.do("GET", "/v1/"+f.name+"/subscription", nil), http.StatusOK, "subscription"))
		return s.GetState() == billingv1.SubscriptionState_SUBSCRIPTION_STATE_ACTIVE
	})
	if s.GetAccess() != billingv1.Access_ACCESS_FULL || s.GetPlan() != "standard" || s.GetSeats() != 1 || !s.GetCurrentPeriodEnd().AsTime().After(time.Now().AddDate(0, 0, 27)) {
		t.Fatalf("subscription after paying: %v", s)
	}
	// Billing re-read the subscription on checkout.session.completed and invoice.paid.
	if reads := sys.stripe.Requests(http.MethodGet, "/v1/subscriptions/"); len(reads) == 0 {
		t.Error("billing never read the subscription back")
	}
	want(t, owner.do("POST", "/v1/"+f.name+"/clients", map[string]any{"display_name": "Paid Ltd", "kind": "CLIENT_KIND_BUSINESS"}),
		http.StatusCreated, "write after paying")
	invoices := message[*billingv1.ListInvoicesResponse](t, want(t, owner.do("GET", "/v1/"+f.name+"/invoices", nil), http.StatusOK, "invoices")).GetInvoices()
	if len(invoices) != 1 || invoices[0].GetStatus() != "paid" {
		t.Errorf("invoices after paying: %v", invoices)
	}
	time.Sleep(time.Second) // any late event or re-read would show now
	again := message[*billingv1.Subscription](t, want(t, owner.do("GET", "/v1/"+f.name+"/subscription", nil), http.StatusOK, "subscription"))
	if again.GetState() != s.GetState() || again.GetAccess() != billingv1.Access_ACCESS_FULL || !proto.Equal(again.GetCurrentPeriodEnd(), s.GetCurrentPeriodEnd()) {
		t.Errorf("subscription drifted: %v, was %v", again, s)
	}
}

// checkoutWhenReady asks for the firm's Checkout page as its owner. Billing sets the
// firm up from identity's event; until then checkout answers BILLING_NOT_READY.
func checkoutWhenReady(t *testing.T, f firm, requestID string) *billingv1.CheckoutSession {
	t.Helper()
	var checkout response
	deadline := time.Now().Add(20 * time.Second)
	for {
		checkout = f.client.do("POST", "/v1/"+f.name+"/subscription:checkout", map[string]any{"plan": "standard", "request_id": requestID})
		if checkout.status != http.StatusBadRequest || checkout.reason() != "BILLING_NOT_READY" || time.Now().After(deadline) {
			break
		}
		time.Sleep(50 * time.Millisecond)
	}
	return message[*billingv1.CheckoutSession](t, want(t, checkout, http.StatusOK, "checkout"))
}

// stripeWebhook posts a webhook as Stripe does and returns the status.
func (s *system) stripeWebhook(t *testing.T, payload []byte, signature string) int {
	t.Helper()
	req, err := http.NewRequest("POST", s.url+"/v1/billing/stripe/webhook", bytes.NewReader(payload))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json; charset=utf-8")
	if signature != "" {
		req.Header.Set("Stripe-Signature", signature)
	}
	resp, err := s.httpClient(nil).Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	return resp.StatusCode
}

// billingCustomer is the Stripe customer billing created for the firm.
func (s *system) billingCustomer(t *testing.T, firmID string) string {
	t.Helper()
	ctx := context.Background()
	url, err := pg.WithUserAndDatabase(pgtest.AdminURL(), "", s.stack.Databases["billing"])
	if err != nil {
		t.Fatal(err)
	}
	conn, err := pgx.Connect(ctx, url)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	var customer string
	if err := conn.QueryRow(ctx, "select stripe_customer_id from accounts where firm_id = $1", firmID).Scan(&customer); err != nil {
		t.Fatal(err)
	}
	return customer
}
