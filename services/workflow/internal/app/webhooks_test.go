package app_test

// Outside the package so the tests feed deliveries through eventapi, which imports
// app: the events the use cases write to the outbox are handed to the change
// consumer's handler as JetStream would hand them over.

import (
	"context"
	"crypto/x509"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	standardwebhooks "github.com/standard-webhooks/standard-webhooks/libraries/go"
	"google.golang.org/grpc/codes"

	"github.com/firmflow/firmflow/pkg/apierr"
	"github.com/firmflow/firmflow/pkg/inbox"
	"github.com/firmflow/firmflow/pkg/keystore/keystoretest"
	"github.com/firmflow/firmflow/pkg/paging"
	"github.com/firmflow/firmflow/pkg/pg/pgtest"
	"github.com/firmflow/firmflow/pkg/principal"
	"github.com/firmflow/firmflow/services/workflow/internal/app"
	"github.com/firmflow/firmflow/services/workflow/internal/domain"
	"github.com/firmflow/firmflow/services/workflow/internal/eventapi"
	"github.com/firmflow/firmflow/services/workflow/internal/store"
	"github.com/firmflow/firmflow/services/workflow/migrations"
)

// receiver is an integration's HTTPS endpoint that can be told to misbehave.
type receiver struct {
	srv      *httptest.Server
	mu       sync.Mutex
	mode     string // ok, fail, hang, slow, redirect
	got      []received
	attempts int
}

type received struct {
	header http.Header
	body   []byte
	msg    struct {
		Type      string    `json:"type"`
		Timestamp time.Time `json:"timestamp"`
		Data      struct {
			Object        string   `json:"object"`
			ChangedFields []string `json:"changed_fields"`
			Sequence      int64    `json:"sequence"`
			ChangeCount   int      `json:"change_count"`
			Delivery      string   `json:"delivery"`
		} `json:"data"`
	}
}

func newReceiver(t *testing.T) *receiver {
	r := &receiver{mode: "ok"}
	r.srv = httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		body, _ := io.ReadAll(req.Body)
		r.mu.Lock()
		mode := r.mode
		r.attempts++
		r.mu.Unlock()
		switch mode {
		case "fail":
			http.Error(w, "down for maintenance", http.StatusInternalServerError)
			return
		case "hang":
			select {
			case <-req.Context().Done():
			case <-time.After(10 * time.Second):
			}
			return
		case "redirect":
			http.Redirect(w, req, "https://10.0.0.1/hook", http.StatusFound)
			return
		case "slow":
			time.Sleep(50 * time.Millisecond)
		}
		got := received{header: req.Header.Clone(), body: body}
		if err := json.Unmarshal(body, &got.msg); err != nil {
			http.Error(w, "bad json", http.StatusBadRequest)
			return
		}
		r.mu.Lock()
		r.got = append(r.got, got)
		r.mu.Unlock()
		w.WriteHeader(http.StatusNoContent)
	}))
	t.Cleanup(r.srv.Close)
	return r
}

func (r *receiver) set(mode string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.mode = mode
}

func (r *receiver) received() []received {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Clone(r.got)
}

// webhookEnv is workflow on a fresh database with a stopped clock, one firm's owner,
// another firm's owner, and a receiver.
type webhookEnv struct {
	app     *app.App
	db      *pgtest.Database
	clock   *time.Time
	firm    string
	owner   principal.Principal
	other   principal.Principal
	recv    *receiver
	handler inbox.Handler
	lastSeq int64
}

func newWebhookEnv(t *testing.T) *webhookEnv {
	t.Helper()
	d := pgtest.New(t, "workflow", migrations.FS)
	a := app.New(store.New(d.Open(t)), keystoretest.New(t, "workflow"))
	recv := newReceiver(t)
	roots := x509.NewCertPool()
	roots.AddCert(recv.srv.Certificate())
	a.ConfigureWebhooks(app.WebhookConfig{AllowLoopback: true, RootCAs: roots, Timeout: 300 * time.Millisecond})
	clock := time.Now().UTC().Truncate(time.Second)
	app.SetClock(a, func() time.Time { return clock })
	firm := uuid.NewString()
	return &webhookEnv{
		app: a, db: d, clock: &clock, firm: firm, recv: recv, handler: eventapi.WebhookHandler(a),
		owner: principal.Principal{Kind: principal.KindUser, FirmID: firm, UserID: uuid.NewString(), Role: principal.RoleOwner},
		other: principal.Principal{Kind: principal.KindUser, FirmID: uuid.NewString(), UserID: uuid.NewString(), Role: principal.RoleOwner},
	}
}

func (e *webhookEnv) advance(d time.Duration) { *e.clock = e.clock.Add(d) }

// subscribe creates a subscription to the receiver for the event types.
func (e *webhookEnv) subscribe(t *testing.T, types ...string) domain.WebhookSubscription {
	t.Helper()
	s, err := e.app.CreateWebhookSubscription(context.Background(), e.owner, e.firm,
		domain.WebhookSubscription{URL: e.recv.srv.URL + "/hook", EventTypes: types}, "")
	if err != nil {
		t.Fatalf("create subscription: %v", err)
	}
	if !strings.HasPrefix(s.Secret, "whsec_") {
		t.Fatalf("secret %q does not start with whsec_", s.Secret)
	}
	return s
}

// pump hands the events written since the last pump to the change consumer's
// handler, each twice, as a redelivery by JetStream would.
func (e *webhookEnv) pump(t *testing.T) int {
	t.Helper()
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, e.db.AdminURL)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	rows, err := conn.Query(ctx, `select id::text, firm_id::text, subject, actor, payload, created_at, seq from outbox
		where seq > $1 order by seq`, e.lastSeq)
	if err != nil {
		t.Fatal(err)
	}
	var msgs []inbox.Message
	for rows.Next() {
		var m inbox.Message
		if err := rows.Scan(&m.EventID, &m.FirmID, &m.Subject, &m.Actor, &m.Data, &m.OccurredAt, &e.lastSeq); err != nil {
			t.Fatal(err)
		}
		msgs = append(msgs, m)
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	for _, m := range msgs {
		for range 2 {
			if err := e.handler(ctx, m); err != nil {
				t.Fatalf("event %s: %v", m.Subject, err)
			}
		}
	}
	return len(msgs)
}

func (e *webhookEnv) deliver(t *testing.T) {
	t.Helper()
	if err := e.app.DeliverDueWebhooks(context.Background()); err != nil {
		t.Fatalf("deliver: %v", err)
	}
}

func (e *webhookEnv) deliveries(t *testing.T, sub domain.WebhookSubscription) []domain.WebhookDelivery {
	t.Helper()
	list, _, err := e.app.WebhookDeliveries(context.Background(), e.owner, e.firm, sub.ID, paging.Page{Size: 1000})
	if err != nil {
		t.Fatal(err)
	}
	return list
}

func (e *webhookEnv) createClient(t *testing.T, name string) domain.Client {
	t.Helper()
	c, err := e.app.CreateClient(context.Background(), e.owner, e.firm, domain.Client{DisplayName: name}, "")
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func (e *webhookEnv) updateClient(t *testing.T, id string, patch app.ClientPatch) {
	t.Helper()
	if _, err := e.app.UpdateClient(context.Background(), e.owner, e.firm, id, patch); err != nil {
		t.Fatal(err)
	}
}

// verify checks every message's signature with the Standard Webhooks library and
// the secret.
func verify(t *testing.T, secret string, got []received) {
	t.Helper()
	wh, err := standardwebhooks.NewWebhook(secret)
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range got {
		if err := wh.VerifyIgnoringTimestamp(r.body, r.header); err != nil {
			t.Fatalf("message %s does not verify with the secret: %v", r.header.Get("webhook-id"), err)
		}
	}
}

func clientName(firmID, id string) string { return "firms/" + firmID + "/clients/" + id }

func ptr[T any](v T) *T { return &v }

func TestWebhookReceiverThatFailsTimesOutAndRecoversGetsEveryChangeInOrder(t *testing.T) {
	e := newWebhookEnv(t)
	sub := e.subscribe(t, "*")
	queued := map[string]int{} // changes per object

	e.recv.set("fail")
	var clients []domain.Client
	for _, name := range []string{"Acme", "Globex", "Initech"} {
		c := e.createClient(t, name)
		clients = append(clients, c)
		queued[clientName(e.firm, c.ID)]++
	}
	e.pump(t)
	e.deliver(t)
	for _, d := range e.deliveries(t, sub) {
		if d.State != domain.DeliveryPending || d.Attempts != 1 || d.LastError != "http 500" || d.LastStatusCode != 500 {
			t.Fatalf("after a 500, delivery = %+v, want pending after 1 attempt with http 500", d)
		}
	}

	// Changes while the receiver is down wait with the delivery of their object.
	for i, c := range clients {
		e.updateClient(t, c.ID, app.ClientPatch{DisplayName: ptr(c.DisplayName + " Ltd")})
		e.updateClient(t, c.ID, app.ClientPatch{Tags: ptr([]string{"tag" + string(rune('a'+i))})})
		queued[clientName(e.firm, c.ID)] += 2
	}
	e.pump(t)
	if n := len(e.deliveries(t, sub)); n != 3 {
		t.Fatalf("%d deliveries after updates to 3 waiting objects, want 3 (coalesced)", n)
	}

	e.recv.set("hang")
	e.advance(domain.RetryDelay(1))
	e.deliver(t)
	for _, d := range e.deliveries(t, sub) {
		if d.State != domain.DeliveryPending || d.Attempts != 2 || d.LastError != "timeout" {
			t.Fatalf("after a timeout, delivery = %+v, want pending after 2 attempts with timeout", d)
		}
	}

	e.recv.set("slow")
	late := e.createClient(t, "Umbrella")
	queued[clientName(e.firm, late.ID)]++
	e.pump(t)
	e.advance(domain.RetryDelay(2))
	e.deliver(t)

	e.recv.set("ok")
	for range 3 {
		e.updateClient(t, clients[0].ID, app.ClientPatch{Description: ptr("changed " + uuid.NewString())})
		queued[clientName(e.firm, clients[0].ID)]++
		e.pump(t)
		e.deliver(t)
	}

	for _, d := range e.deliveries(t, sub) {
		if d.State != domain.DeliverySucceeded {
			t.Fatalf("delivery %+v not delivered after the receiver recovered", d)
		}
	}
	got := e.recv.received()
	verify(t, sub.Secret, got)
	lastSeq := map[string]int64{}
	changes := map[string]int{}
	for _, r := range got {
		obj := r.msg.Data.Object
		if r.msg.Data.Sequence <= lastSeq[obj] {
			t.Fatalf("%s: sequence %d after %d", obj, r.msg.Data.Sequence, lastSeq[obj])
		}
		lastSeq[obj] = r.msg.Data.Sequence
		changes[obj] += r.msg.Data.ChangeCount
		if ts := r.header.Get("webhook-timestamp"); ts == "" {
			t.Fatal("no webhook-timestamp header")
		}
	}
	for obj, n := range queued {
		if changes[obj] != n {
			t.Errorf("%s: deliveries stand for %d changes, want %d (every change delivered once)", obj, changes[obj], n)
		}
	}
	// The first message about Acme is its creation, with the two updates folded in.
	first := got[slices.IndexFunc(got, func(r received) bool { return r.msg.Data.Object == clientName(e.firm, clients[0].ID) })]
	if first.msg.Type != "client.created" || first.msg.Data.ChangeCount != 3 ||
		!slices.Equal(first.msg.Data.ChangedFields, []string{"display_name", "tags"}) {
		t.Errorf("first Acme message = %+v, want client.created standing for 3 changes of display_name and tags", first.msg)
	}
}

func TestWebhookPayloadNamesChangedFieldsNeverTheirValues(t *testing.T) {
	e := newWebhookEnv(t)
	sub := e.subscribe(t, "client.updated")
	c := e.createClient(t, "Acme")
	e.updateClient(t, c.ID, app.ClientPatch{TaxID: ptr("123-45-6789"), BankAccount: ptr("DE89370400440532013000")})
	e.pump(t)
	e.deliver(t)
	got := e.recv.received()
	if len(got) != 1 {
		t.Fatalf("%d messages, want 1 (client.created was not asked for)", len(got))
	}
	verify(t, sub.Secret, got)
	if !slices.Equal(got[0].msg.Data.ChangedFields, []string{"bank_account_number", "tax_id"}) {
		t.Errorf("changed_fields = %v", got[0].msg.Data.ChangedFields)
	}
	for _, secret := range []string{"123-45-6789", "DE89370400440532013000", "Acme"} {
		if strings.Contains(string(got[0].body), secret) {
			t.Errorf("payload %s carries %q", got[0].body, secret)
		}
	}
}

func TestWebhookSubscriptionDisabledAfterADayOfFailuresAndTheFirmTold(t *testing.T) {
	e := newWebhookEnv(t)
	ctx := context.Background()
	sub := e.subscribe(t, "client.created", "client.updated")
	e.recv.set("fail")
	c := e.createClient(t, "Acme")
	e.pump(t)
	start := *e.clock
	for e.clock.Sub(start) < 25*time.Hour {
		e.deliver(t)
		e.updateClient(t, c.ID, app.ClientPatch{Description: ptr(e.clock.String())})
		e.pump(t)
		e.advance(30 * time.Minute)
	}
	got, err := e.app.WebhookSubscription(ctx, e.owner, e.firm, sub.ID)
	if err != nil {
		t.Fatal(err)
	}
	if got.State != domain.WebhookDisabled || got.DisableReason == "" || got.DisableTime.IsZero() {
		t.Fatalf("after 25h of failures subscription = %+v, want disabled with a reason", got)
	}
	if d := got.DisableTime.Sub(start); d < 23*time.Hour || d > 25*time.Hour {
		t.Errorf("disabled %v after the first failure, want about 24h", d)
	}
	// The firm is told: the event identity and audit read.
	var n int
	conn, err := pgx.Connect(ctx, e.db.AdminURL)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	if err := conn.QueryRow(ctx, "select count(*) from outbox where firm_id = $1 and subject = 'firmflow.workflow.webhook_subscription_disabled'",
		e.firm).Scan(&n); err != nil || n != 1 {
		t.Fatalf("%d webhook_subscription_disabled events (%v), want 1", n, err)
	}
	// Nothing is sent while disabled.
	attempts := e.recv.attempts
	e.advance(2 * time.Hour)
	e.deliver(t)
	if e.recv.attempts != attempts {
		t.Fatal("a disabled subscription was sent to")
	}
	// Enabled again, what waits goes out.
	e.recv.set("ok")
	if _, err := e.app.UpdateWebhookSubscription(ctx, e.owner, e.firm, sub.ID, app.WebhookPatch{State: ptr(domain.WebhookActive)}); err != nil {
		t.Fatal(err)
	}
	e.deliver(t)
	if len(e.recv.received()) == 0 {
		t.Fatal("nothing delivered after the subscription was enabled again")
	}
	if got, _ := e.app.WebhookSubscription(ctx, e.owner, e.firm, sub.ID); got.State != domain.WebhookActive || !got.FailingSince.IsZero() {
		t.Errorf("after a success subscription = %+v, want active and not failing", got)
	}
}

func TestWebhookSecretRotationSignsWithBothSecretsForTheOverlap(t *testing.T) {
	e := newWebhookEnv(t)
	ctx := context.Background()
	sub := e.subscribe(t, "client.created")
	rotated, err := e.app.RotateWebhookSecret(ctx, e.owner, e.firm, sub.ID, ptr(time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	if rotated.Secret == sub.Secret || !strings.HasPrefix(rotated.Secret, "whsec_") {
		t.Fatalf("rotated secret %q", rotated.Secret)
	}
	if again, _ := e.app.WebhookSubscription(ctx, e.owner, e.firm, sub.ID); again.Secret != "" {
		t.Fatal("a read shows the secret")
	}
	e.createClient(t, "Acme")
	e.pump(t)
	e.deliver(t)
	e.advance(2 * time.Hour)
	e.createClient(t, "Globex")
	e.pump(t)
	e.deliver(t)
	got := e.recv.received()
	if len(got) != 2 {
		t.Fatalf("%d messages, want 2", len(got))
	}
	verify(t, sub.Secret, got[:1])
	verify(t, rotated.Secret, got)
	if n := len(strings.Fields(got[0].header.Get("webhook-signature"))); n != 2 {
		t.Errorf("%d signatures during the overlap, want 2", n)
	}
	if n := len(strings.Fields(got[1].header.Get("webhook-signature"))); n != 1 {
		t.Errorf("%d signatures after the overlap, want 1", n)
	}
	// Sealed at rest: neither secret is in the database in clear.
	conn, err := pgx.Connect(ctx, e.db.AdminURL)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	var row string
	if err := conn.QueryRow(ctx, "select s::text from webhook_subscriptions s where id = $1", sub.ID).Scan(&row); err != nil {
		t.Fatal(err)
	}
	for _, s := range []string{sub.Secret, rotated.Secret, strings.TrimPrefix(rotated.Secret, "whsec_")} {
		if strings.Contains(row, s) {
			t.Fatal("a secret is stored in clear")
		}
	}
}

func TestWebhookEndpointRules(t *testing.T) {
	e := newWebhookEnv(t)
	strict := app.New(store.New(e.db.Open(t)), keystoretest.New(t, "workflow")) // no loopback
	for _, tc := range []struct {
		url, eventType, field, rule string
		app                         *app.App
	}{
		{"http://example.com/hook", "client.created", "webhook_subscription.url", "url.https", e.app},
		{"https://10.0.0.8/hook", "client.created", "webhook_subscription.url", "url.public_address", e.app},
		{"https://169.254.169.254/latest", "client.created", "webhook_subscription.url", "url.public_address", e.app},
		{"https://100.64.1.1/hook", "client.created", "webhook_subscription.url", "url.public_address", e.app},
		{"https://[fd00::1]/hook", "client.created", "webhook_subscription.url", "url.public_address", e.app},
		{"https://127.0.0.1/hook", "client.created", "webhook_subscription.url", "url.public_address", strict},
		{"https://localhost/hook", "client.created", "webhook_subscription.url", "url.public_address", strict},
		{"https://user:pw@example.com/hook", "client.created", "webhook_subscription.url", "url.no_credentials", e.app},
		{"hook", "client.created", "webhook_subscription.url", "url.absolute", e.app},
		{"https://example.com/hook", "client.exploded", "webhook_subscription.event_types", "event_type.known", e.app},
	} {
		_, err := tc.app.CreateWebhookSubscription(context.Background(), e.owner, e.firm,
			domain.WebhookSubscription{URL: tc.url, EventTypes: []string{tc.eventType}}, "")
		var ae *apierr.Error
		if !errors.As(err, &ae) || ae.Code != codes.InvalidArgument || len(ae.Violations) == 0 ||
			ae.Violations[0].Field != tc.field || ae.Violations[0].Rule != tc.rule {
			t.Errorf("%s %s: err = %v, want INVALID_ARGUMENT on %s (%s)", tc.url, tc.eventType, err, tc.field, tc.rule)
		}
	}
	if _, err := e.app.CreateWebhookSubscription(context.Background(), e.owner, e.firm,
		domain.WebhookSubscription{URL: "https://hooks.example.com/firmflow", EventTypes: []string{"*"}}, ""); err != nil {
		t.Errorf("a public https URL: %v", err)
	}

	// A receiver that redirects (here to a private address) is a failure; the
	// redirect is not followed.
	sub := e.subscribe(t, "client.created")
	e.recv.set("redirect")
	e.createClient(t, "Acme")
	e.pump(t)
	e.deliver(t)
	list := e.deliveries(t, sub)
	if len(list) != 1 || list[0].State != domain.DeliveryPending || list[0].LastStatusCode != http.StatusFound ||
		!strings.Contains(list[0].LastError, "redirects are not followed") {
		t.Fatalf("after a redirect, deliveries = %+v", list)
	}
	if e.recv.attempts != 1 {
		t.Fatalf("%d requests, want 1", e.recv.attempts)
	}

	// Should loopback stop being allowed, a subscription naming it is no longer sent to.
	e.app.ConfigureWebhooks(app.WebhookConfig{})
	e.advance(time.Minute)
	e.deliver(t)
	if list := e.deliveries(t, sub); list[0].LastError != "url not allowed: url.public_address" || e.recv.attempts != 1 {
		t.Fatalf("with loopback refused, delivery = %+v after %d requests", list[0], e.recv.attempts)
	}
}

func TestWebhookRedeliverAndAnotherFirm(t *testing.T) {
	e := newWebhookEnv(t)
	ctx := context.Background()
	sub := e.subscribe(t, "client.created")
	e.createClient(t, "Acme")
	e.pump(t)
	e.deliver(t)
	first := e.deliveries(t, sub)[0]
	again, err := e.app.RedeliverWebhook(ctx, e.owner, e.firm, sub.ID, first.ID)
	if err != nil {
		t.Fatal(err)
	}
	e.deliver(t)
	got := e.recv.received()
	if len(got) != 2 || got[0].msg.Data.Object != got[1].msg.Data.Object || got[0].header.Get("webhook-id") == got[1].header.Get("webhook-id") {
		t.Fatalf("redelivery: %d messages", len(got))
	}
	list := e.deliveries(t, sub)
	if list[0].ID != again.ID || list[0].RedeliveryOf != first.ID || list[0].State != domain.DeliverySucceeded {
		t.Fatalf("log after redelivery: %+v", list[0])
	}

	// Another firm's owner reaches nothing of it.
	for what, err := range map[string]error{
		"get":     func() error { _, err := e.app.WebhookSubscription(ctx, e.other, e.firm, sub.ID); return err }(),
		"get own": func() error { _, err := e.app.WebhookSubscription(ctx, e.other, e.other.FirmID, sub.ID); return err }(),
		"update": func() error {
			_, err := e.app.UpdateWebhookSubscription(ctx, e.other, e.other.FirmID, sub.ID, app.WebhookPatch{URL: ptr("https://evil.example.com")})
			return err
		}(),
		"rotate": func() error {
			_, err := e.app.RotateWebhookSecret(ctx, e.other, e.other.FirmID, sub.ID, nil)
			return err
		}(),
		"delete": e.app.DeleteWebhookSubscription(ctx, e.other, e.other.FirmID, sub.ID, ""),
		"redeliver": func() error {
			_, err := e.app.RedeliverWebhook(ctx, e.other, e.other.FirmID, sub.ID, first.ID)
			return err
		}(),
		"log": func() error {
			_, _, err := e.app.WebhookDeliveries(ctx, e.other, e.other.FirmID, sub.ID, paging.Page{Size: 10})
			return err
		}(),
	} {
		if !apierr.HasCode(err, codes.NotFound) {
			t.Errorf("%s from another firm: err = %v, want NOT_FOUND", what, err)
		}
	}
	if got, err := e.app.WebhookSubscription(ctx, e.owner, e.firm, sub.ID); err != nil || got.URL != sub.URL {
		t.Fatalf("subscription after another firm's attempts: %+v, %v", got, err)
	}
}
