package eventapi_test

import (
	"bytes"
	"context"
	"log/slog"
	"net/http"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"google.golang.org/protobuf/proto"

	eventsv1 "github.com/firmflow/firmflow/pkg/gen/firmflow/events/v1"
	"github.com/firmflow/firmflow/pkg/inbox"
	"github.com/firmflow/firmflow/pkg/natsx"
	"github.com/firmflow/firmflow/pkg/natsx/natstest"
	"github.com/firmflow/firmflow/pkg/outbox"
	"github.com/firmflow/firmflow/pkg/pg/pgtest"
	"github.com/firmflow/firmflow/services/billing/internal/app"
	"github.com/firmflow/firmflow/services/billing/internal/cardscan"
	"github.com/firmflow/firmflow/services/billing/internal/domain"
	"github.com/firmflow/firmflow/services/billing/internal/eventapi"
	"github.com/firmflow/firmflow/services/billing/internal/store"
	"github.com/firmflow/firmflow/services/billing/internal/stripeapi"
	"github.com/firmflow/firmflow/services/billing/migrations"
	"github.com/firmflow/firmflow/services/billing/stripetest"
)

func TestMain(m *testing.M) { stripetest.Main(m) }

const secret = "whsec_eventapi"

type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// identity publishes events on identity's stream exactly as its outbox relay does.
type identity struct {
	t      *testing.T
	js     jetstream.JetStream
	firmID string
}

func (id identity) publish(subject string, payload proto.Message, eventID, msgID string, occurred time.Time) {
	id.t.Helper()
	data, err := proto.Marshal(payload)
	if err != nil {
		id.t.Fatal(err)
	}
	msg := nats.NewMsg(subject)
	msg.Data = data
	msg.Header.Set(outbox.HeaderEventID, eventID)
	msg.Header.Set(outbox.HeaderFirmID, id.firmID)
	msg.Header.Set(outbox.HeaderActor, "users/owner")
	msg.Header.Set(outbox.HeaderOccurredAt, occurred.UTC().Format(time.RFC3339Nano))
	if _, err := id.js.PublishMsg(context.Background(), msg, jetstream.WithMsgID(msgID)); err != nil {
		id.t.Fatal(err)
	}
}

func (id identity) member(subject string, active int32, occurred time.Time) string {
	eventID := uuid.NewString()
	member := "firms/" + id.firmID + "/members/" + uuid.NewString()
	var payload proto.Message = &eventsv1.MemberJoined{Member: member, Role: "member", ActiveMembers: active}
	if subject == eventapi.MemberRemoved {
		payload = &eventsv1.MemberRemoved{Member: member, ActiveMembers: active}
	}
	id.publish(subject, payload, eventID, eventID, occurred)
	return eventID
}

// TestIdentityEventsGiveOneCustomerAndSeatsThatFollowMembers runs billing's consumer
// against a real JetStream carrying identity's events, some of them delivered twice,
// one of them malformed, and checks what billing asked Stripe for.
func TestIdentityEventsGiveOneCustomerAndSeatsThatFollowMembers(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	st := stripetest.New(t)
	d := pgtest.New(t, "billing", migrations.FS)
	logs := &syncBuffer{}
	logger := slog.New(slog.NewJSONHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	t.Cleanup(func() {
		if found := cardscan.Find(logs.String()); len(found) > 0 {
			t.Errorf("card-like numbers in the logs: %q", found)
		}
	})
	a := app.New(store.New(d.Open(t)),
		stripeapi.New(stripeapi.Config{APIKey: "sk_test_123", URL: st.URL, Timeout: 5 * time.Second, MaxRetries: 1, Logger: logger}),
		app.Config{Plans: domain.Plans{"standard": "price_standard"}, Grace: time.Hour, ReturnURL: "https://app.test/billing",
			WebhookSecret: secret, ReconcileLookback: time.Hour}, logger)

	nc, js, err := natsx.Connect(natstest.Start(t), "billing-test")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(nc.Close)
	if _, err := natsx.EnsureStream(ctx, js, natsx.ServiceStream("identity", false, natsx.DefaultStreamMaxAge)); err != nil {
		t.Fatal(err)
	}
	cfg := eventapi.Consumer()
	cfg.RetryMin, cfg.RetryMax = 20*time.Millisecond, 100*time.Millisecond
	runCtx, stop := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- inbox.NewConsumer(js, cfg, eventapi.Handler(a), logger).Run(runCtx) }()
	t.Cleanup(func() { stop(); <-done })

	id := identity{t: t, js: js, firmID: uuid.NewString()}
	start := time.Now()
	created := uuid.NewString()
	firmCreated := &eventsv1.FirmCreated{Firm: "firms/" + id.firmID, Owner: "firms/" + id.firmID + "/members/x"}
	id.publish(eventapi.FirmCreated, firmCreated, created, created, start)
	id.publish(eventapi.FirmCreated, firmCreated, created, uuid.NewString(), start) // a copy JetStream does not catch
	id.member(eventapi.MemberJoined, 1, start)
	waitFor(t, "account with one member", func() bool {
		return count(t, d, "select count(*) from accounts where firm_id = $1 and active_members = 1", id.firmID) == 1
	})

	var customerID string
	query(t, d, "select stripe_customer_id from accounts where firm_id = $1", id.firmID, &customerID)
	sub := stripetest.Subscription{ID: "sub_events", Customer: customerID, Status: "active", PriceID: "price_standard",
		ItemID: "si_events", Quantity: 1, Created: start.Add(-time.Minute), CurrentPeriodEnd: start.Add(time.Hour)}
	payload := stripetest.Event("evt_sub_events", "customer.subscription.created", start.Add(-time.Minute), sub.Object())
	if _, _, err := a.ReceiveWebhook(ctx, payload, stripetest.Sign(payload, secret, time.Now())); err != nil {
		t.Fatal(err)
	}

	joined := id.member(eventapi.MemberJoined, 3, start.Add(time.Second))
	// A member event naming another firm's member is dropped, not retried.
	id.publish(eventapi.MemberJoined, &eventsv1.MemberJoined{Member: "firms/" + uuid.NewString() + "/members/y", ActiveMembers: 9},
		uuid.NewString(), uuid.NewString(), start.Add(2*time.Second))
	removed := id.member(eventapi.MemberRemoved, 2, start.Add(3*time.Second))
	// The joined event again, past JetStream's duplicate window, then a last one that
	// changes nothing, to know everything before it was handled.
	id.publish(eventapi.MemberJoined, &eventsv1.MemberJoined{Member: "firms/" + id.firmID + "/members/z", ActiveMembers: 3},
		joined, uuid.NewString(), start.Add(time.Second))
	last := id.member(eventapi.MemberJoined, 2, start.Add(4*time.Second))
	waitFor(t, "every member event applied", func() bool {
		return count(t, d, "select count(*) from inbox where event_id = $1", last) == 1
	})

	if rs := st.Requests(http.MethodPost, "/v1/customers"); len(rs) != 1 || rs[0].IdempotencyKey != stripeapi.CustomerKey(id.firmID) {
		t.Errorf("customer requests %+v, want one with the firm's key", rs)
	}
	seats := st.Requests(http.MethodPost, "/v1/subscription_items/si_events")
	want := []struct{ quantity, key string }{{"3", stripeapi.SeatsKey(joined)}, {"2", stripeapi.SeatsKey(removed)}}
	if len(seats) != len(want) {
		t.Fatalf("%d seat requests, want %d: %+v", len(seats), len(want), seats)
	}
	for i, w := range want {
		if seats[i].Form.Get("quantity") != w.quantity || seats[i].IdempotencyKey != w.key {
			t.Errorf("seat request %d: quantity %s key %q, want %s %q", i, seats[i].Form.Get("quantity"), seats[i].IdempotencyKey, w.quantity, w.key)
		}
	}
	if n := count(t, d, "select count(*) from accounts where firm_id = $1 and active_members = 2", id.firmID); n != 1 {
		t.Error("the account does not hold the newest member count")
	}
}

func waitFor(t *testing.T, what string, ok func() bool) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for !ok() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func query(t *testing.T, d *pgtest.Database, sql string, arg any, dest any) {
	t.Helper()
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, d.AdminURL)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	if err := conn.QueryRow(ctx, sql, arg).Scan(dest); err != nil {
		t.Fatal(err)
	}
}

func count(t *testing.T, d *pgtest.Database, sql string, arg any) int {
	t.Helper()
	var n int
	query(t, d, sql, arg, &n)
	return n
}
