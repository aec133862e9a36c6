package app_test

import (
	"context"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/firmflow/firmflow/pkg/firmdata/firmdatatest"
	lifecyclev1 "github.com/firmflow/firmflow/pkg/gen/firmflow/lifecycle/v1"
	"github.com/firmflow/firmflow/services/billing/internal/app"
	"github.com/firmflow/firmflow/services/billing/internal/grpcapi"
	"github.com/firmflow/firmflow/services/billing/internal/store"
)

func (f fixture) serveFirmData(t *testing.T) firmdatatest.Callers {
	t.Helper()
	return firmdatatest.Serve(t, "billing", func(srv *grpc.Server) { grpcapi.Register(srv, f.app) })
}

func TestFirmDataRefusesCallersOtherThanLifecycle(t *testing.T) {
	f := newFixture(t, 5*time.Second)
	callers := f.serveFirmData(t)
	firm := "firms/" + uuid.NewString()
	ctx := context.Background()
	stream, err := callers.Other.ExportFirmData(ctx, &lifecyclev1.ExportFirmDataRequest{Firm: firm})
	if err == nil {
		_, err = stream.Recv()
	}
	if status.Code(err) != codes.PermissionDenied {
		t.Errorf("ExportFirmData as gateway: %v, want PermissionDenied", err)
	}
	if _, err := callers.Other.DeleteFirmData(ctx, &lifecyclev1.DeleteFirmDataRequest{Firm: firm}); status.Code(err) != codes.PermissionDenied {
		t.Errorf("DeleteFirmData as gateway: %v, want PermissionDenied", err)
	}
	if _, err := callers.Other.CountFirmRows(ctx, &lifecyclev1.CountFirmRowsRequest{Firm: firm}); status.Code(err) != codes.PermissionDenied {
		t.Errorf("CountFirmRows as gateway: %v, want PermissionDenied", err)
	}
	if n := len(f.stripe.Requests(http.MethodDelete, "")); n != 0 {
		t.Errorf("refused calls reached Stripe %d times", n)
	}
}

// TestFirmDataDeletionCancelsAtStripeAndForgetsTheFirm: the firm's subscription is
// canceled at once and its Stripe customer deleted; then no row of the firm is left,
// the control firm's are as they were, and a second deletion does nothing.
func TestFirmDataDeletionCancelsAtStripeAndForgetsTheFirm(t *testing.T) {
	f := newFixture(t, 5*time.Second)
	lc := f.serveFirmData(t).Lifecycle
	firmID, customer := f.firm(t, 3)
	controlID, controlCustomer := f.firm(t, 2)
	sub := f.subscribe(t, customer, "active", 3, ago(time.Hour))
	f.subscribe(t, controlCustomer, "active", 2, ago(time.Hour))
	firm, control := "firms/"+firmID, "firms/"+controlID

	export := firmdatatest.ExportFirm(t, lc, firm)
	for _, entity := range store.ExportEntities() {
		if len(export.Rows[entity]) == 0 {
			t.Errorf("export has no %s", entity)
		}
	}
	if a := export.Rows["account"]; len(a) != 1 || a[0]["stripe_customer_id"] != customer {
		t.Errorf("exported account %v, want customer %s", a, customer)
	}
	if s := export.Rows["subscription"]; len(s) != 1 || s[0]["stripe_subscription_id"] != sub.ID {
		t.Errorf("exported subscription %v, want %s", s, sub.ID)
	}
	for _, leak := range []string{controlID, controlCustomer} {
		if strings.Contains(string(export.Raw), leak) {
			t.Errorf("export of the firm holds %q of the control firm", leak)
		}
	}

	before, controlBefore := firmdatatest.Counts(t, lc, firm), firmdatatest.Counts(t, lc, control)
	for _, table := range []string{"accounts", "subscriptions", "stripe_events", "inbox", "outbox"} {
		if before[table] == 0 {
			t.Errorf("before deletion, %s has no row of the firm: %v", table, before)
		}
	}
	deleted, facts := firmdatatest.Delete(t, lc, firm)
	if facts[app.FactStripeCustomerDeleted] != customer || facts[app.FactStripeSubscriptionCanceled] != sub.ID {
		t.Errorf("facts %v, want customer %s deleted and subscription %s canceled", facts, customer, sub.ID)
	}
	if n := len(f.stripe.Requests(http.MethodDelete, "/v1/subscriptions/"+sub.ID)); n != 1 {
		t.Errorf("subscription canceled %d times at Stripe, want once", n)
	}
	if n := len(f.stripe.Requests(http.MethodDelete, "/v1/customers/"+customer)); n != 1 {
		t.Errorf("customer deleted %d times at Stripe, want once", n)
	}
	if firmdatatest.Total(deleted) != firmdatatest.Total(before) {
		t.Errorf("deleted %v, the firm had %v", deleted, before)
	}
	if n := firmdatatest.Total(firmdatatest.Counts(t, lc, firm)); n != 0 {
		t.Errorf("after deletion the firm still has %d rows", n)
	}
	if controlAfter := firmdatatest.Counts(t, lc, control); !firmdatatest.EqualCounts(controlBefore, controlAfter) {
		t.Errorf("control firm changed: %v, then %v", controlBefore, controlAfter)
	}
	if n := len(f.stripe.Requests(http.MethodDelete, "/v1/customers/"+controlCustomer)); n != 0 {
		t.Error("the control firm's customer was deleted")
	}
	again, facts := firmdatatest.Delete(t, lc, firm)
	if n := firmdatatest.Total(again); n != 0 || len(facts) != 0 {
		t.Errorf("second deletion removed %d rows, facts %v", n, facts)
	}
	if n := len(f.stripe.Requests(http.MethodDelete, "")); n != 2 {
		t.Errorf("%d deletions reached Stripe in all, want the first deletion's 2", n)
	}
}

// When Stripe cannot be reached, the deletion fails as unavailable and keeps every
// row, so that the retry still knows which customer to delete.
func TestFirmDataDeletionKeepsRowsWhileStripeIsDown(t *testing.T) {
	f := newFixture(t, 5*time.Second)
	lc := f.serveFirmData(t).Lifecycle
	firmID, customer := f.firm(t, 1)
	firm := "firms/" + firmID
	before := firmdatatest.Counts(t, lc, firm)
	f.stripe.Fail(http.MethodDelete, "/v1/customers/", 1)
	_, err := lc.DeleteFirmData(context.Background(), &lifecyclev1.DeleteFirmDataRequest{Firm: firm})
	if status.Code(err) != codes.Unavailable {
		t.Fatalf("deletion with Stripe down: %v, want Unavailable", err)
	}
	if after := firmdatatest.Counts(t, lc, firm); !firmdatatest.EqualCounts(before, after) {
		t.Errorf("rows changed by the failed deletion: %v, then %v", before, after)
	}
	_, facts := firmdatatest.Delete(t, lc, firm)
	if facts[app.FactStripeCustomerDeleted] != customer {
		t.Errorf("retry facts %v", facts)
	}
}

// TestPruneForgetsStripeEventIDsPastTheirWindow drives Prune with a clock moved
// forward: the ids of applied Stripe events (kept to refuse a second delivery) stay
// for 35 days after they were received, then go, of every firm; the accounts and
// subscriptions stay however late it is. Every answer counts what went.
func TestPruneForgetsStripeEventIDsPastTheirWindow(t *testing.T) {
	f := newFixture(t, 5*time.Second)
	lc := f.serveFirmData(t).Lifecycle
	ctx := context.Background()
	firmID, customer := f.firm(t, 3)
	controlID, controlCustomer := f.firm(t, 2)
	f.subscribe(t, customer, "active", 3, ago(time.Hour))
	f.subscribe(t, controlCustomer, "active", 2, ago(time.Hour))
	firm, control := "firms/"+firmID, "firms/"+controlID
	events := firmdatatest.Counts(t, lc, firm)["stripe_events"] + firmdatatest.Counts(t, lc, control)["stripe_events"]
	if events == 0 {
		t.Fatal("no Stripe event recorded")
	}
	start := time.Now()
	prune := func(after time.Duration) int64 {
		t.Helper()
		res, err := lc.Prune(ctx, &lifecyclev1.PruneRequest{Now: timestamppb.New(start.Add(after)), Run: "test"})
		if err != nil {
			t.Fatalf("prune at +%v: %v", after, err)
		}
		for _, c := range res.GetPruned() {
			if c.GetTable() == "stripe_events" {
				return c.GetRows()
			}
		}
		t.Fatalf("prune at +%v does not answer for stripe_events: %v", after, res.GetPruned())
		return 0
	}
	day := 24 * time.Hour
	for _, step := range []struct {
		after time.Duration
		want  int64
	}{{0, 0}, {4 * day, 0}, {34 * day, 0}, {36 * day, events}, {37 * day, 0}} {
		if got := prune(step.after); got != step.want {
			t.Errorf("prune at +%v removed %d stripe_events, want %d", step.after, got, step.want)
		}
	}
	for _, name := range []string{firm, control} {
		left := firmdatatest.Counts(t, lc, name)
		if left["stripe_events"] != 0 || left["accounts"] != 1 || left["subscriptions"] != 1 {
			t.Errorf("%s after pruning: %v, want its account and subscription and no event id", name, left)
		}
	}
}
