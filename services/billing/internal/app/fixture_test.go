package app_test

import (
	"bytes"
	"context"
	"log/slog"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"google.golang.org/grpc/codes"

	"github.com/firmflow/firmflow/pkg/apierr"
	"github.com/firmflow/firmflow/pkg/inbox"
	"github.com/firmflow/firmflow/pkg/pg/pgtest"
	"github.com/firmflow/firmflow/pkg/principal"
	"github.com/firmflow/firmflow/services/billing/internal/app"
	"github.com/firmflow/firmflow/services/billing/internal/cardscan"
	"github.com/firmflow/firmflow/services/billing/internal/domain"
	"github.com/firmflow/firmflow/services/billing/internal/store"
	"github.com/firmflow/firmflow/services/billing/internal/stripeapi"
	"github.com/firmflow/firmflow/services/billing/migrations"
	"github.com/firmflow/firmflow/services/billing/stripetest"
)

func TestMain(m *testing.M) { stripetest.Main(m) }

const (
	secret = "whsec_test_secret"
	grace  = 14 * 24 * time.Hour
)

// logBuffer collects a fixture's log lines for the card-number scan.
type logBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *logBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *logBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

type fixture struct {
	app    *app.App
	stripe *stripetest.Stripe
	db     *pgtest.Database
	logs   *logBuffer
}

// newFixture is billing's use cases on a fresh database, talking to stripe-mock
// through a recording proxy, logging at debug level into a buffer that is scanned for
// card numbers when the test ends.
func newFixture(t *testing.T, stripeTimeout time.Duration) fixture {
	t.Helper()
	st := stripetest.New(t)
	d := pgtest.New(t, "billing", migrations.FS)
	logs := &logBuffer{}
	logger := slog.New(slog.NewJSONHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	client := stripeapi.New(stripeapi.Config{APIKey: "sk_test_123", URL: st.URL, Timeout: stripeTimeout, MaxRetries: 2, Logger: logger})
	a := app.New(store.New(d.Open(t)), client, app.Config{
		Plans: domain.Plans{"standard": "price_standard", "pro": "price_pro"}, Grace: grace,
		ReturnURL: "https://app.firmflow.test/settings/billing", WebhookSecret: secret, ReconcileLookback: 72 * time.Hour,
	}, logger)
	t.Cleanup(func() {
		if found := cardscan.Find(logs.String()); len(found) > 0 {
			t.Errorf("card-like numbers in the logs: %q", found)
		}
	})
	return fixture{app: a, stripe: st, db: d, logs: logs}
}

// firm creates a firm's billing account as identity's firm_created event does, with
// members active members, and returns the firm and its Stripe customer.
func (f fixture) firm(t *testing.T, members int) (firmID, customerID string) {
	t.Helper()
	ctx := context.Background()
	firmID = uuid.NewString()
	created := time.Now().Add(-time.Hour)
	if err := f.app.CreateCustomer(ctx, message(firmID, "firmflow.identity.firm_created", created)); err != nil {
		t.Fatalf("create customer: %v", err)
	}
	if err := f.app.CountMembers(ctx, message(firmID, "firmflow.identity.member_joined", created), members); err != nil {
		t.Fatalf("count members: %v", err)
	}
	f.admin(t, "select stripe_customer_id from accounts where firm_id = $1", []any{firmID}, &customerID)
	return firmID, customerID
}

func message(firmID, subject string, occurred time.Time) inbox.Message {
	return inbox.Message{EventID: uuid.NewString(), FirmID: firmID, Subject: subject, Actor: "users/" + uuid.NewString(),
		OccurredAt: occurred.UTC().Truncate(time.Microsecond), Delivery: 1}
}

// webhook delivers a Stripe event signed as Stripe signs it.
func (f fixture) webhook(t *testing.T, payload []byte) app.Delivery {
	t.Helper()
	_, d, err := f.app.ReceiveWebhook(context.Background(), payload, stripetest.Sign(payload, secret, time.Now()))
	if err != nil {
		t.Fatalf("webhook: %v", err)
	}
	return d
}

// subscribe delivers the event of a subscription created for the customer in state
// status with quantity seats, and returns its id.
func (f fixture) subscribe(t *testing.T, customerID, status string, quantity int64, at time.Time) stripetest.Subscription {
	t.Helper()
	s := stripetest.Subscription{
		ID: "sub_" + uuid.NewString()[:8], Customer: customerID, Status: status, PriceID: "price_standard",
		ItemID: "si_" + uuid.NewString()[:8], Quantity: quantity, Created: at, CurrentPeriodEnd: at.Add(30 * 24 * time.Hour),
	}
	f.webhook(t, stripetest.Event(eventID(), "customer.subscription.created", at, s.Object()))
	return s
}

func eventID() string { return "evt_" + uuid.NewString()[:12] }

// admin runs a query as the administrator, bypassing row-level security, to check
// what is stored.
func (f fixture) admin(t *testing.T, sql string, args []any, dest ...any) {
	t.Helper()
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, f.db.AdminURL)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	if err := conn.QueryRow(ctx, sql, args...).Scan(dest...); err != nil {
		t.Fatalf("%s: %v", sql, err)
	}
}

func (f fixture) count(t *testing.T, sql string, args ...any) int {
	t.Helper()
	var n int
	f.admin(t, sql, args, &n)
	return n
}

func (f fixture) outbox(t *testing.T, firmID, event string) int {
	t.Helper()
	return f.count(t, "select count(*) from outbox where firm_id = $1 and subject = $2", firmID, "firmflow.billing."+event)
}

func owner(firmID string) principal.Principal {
	return principal.Principal{Kind: principal.KindUser, FirmID: firmID, UserID: uuid.NewString(), Role: principal.RoleOwner}
}

func wantReason(t *testing.T, err error, code codes.Code, reason string) {
	t.Helper()
	if !apierr.HasCode(err, code) || apierr.Reason(apierr.Status(context.Background(), slog.New(slog.DiscardHandler), err).Err()) != reason {
		t.Fatalf("err = %v, want %s %s", err, code, reason)
	}
}

func ago(d time.Duration) time.Time { return time.Now().Add(-d).Truncate(time.Second) }
