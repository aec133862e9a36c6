package e2e

import (
	"context"
	"crypto/tls"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/nats-io/nats.go"
	standardwebhooks "github.com/standard-webhooks/standard-webhooks/libraries/go"
	"google.golang.org/protobuf/proto"

	eventsv1 "github.com/firmflow/firmflow/pkg/gen/firmflow/events/v1"
	identityv1 "github.com/firmflow/firmflow/pkg/gen/firmflow/identity/v1"
	workflowv1 "github.com/firmflow/firmflow/pkg/gen/firmflow/workflow/v1"
	"github.com/firmflow/firmflow/pkg/natsx"
	"github.com/firmflow/firmflow/pkg/outbox"
	"github.com/firmflow/firmflow/pkg/tlsconf"
)

// hookReceiver is an integration's HTTPS endpoint on loopback (the test stack allows
// loopback and trusts the development CA, whose certificate it serves); it answers
// 500 to its first failFirst requests.
type hookReceiver struct {
	srv       *httptest.Server
	mu        sync.Mutex
	failFirst int
	down      bool // answer 500 to everything
	requests  int
	got       []hookMessage
}

type hookMessage struct {
	header  http.Header
	body    []byte
	arrived time.Time
	Type    string    `json:"type"`
	Time    time.Time `json:"timestamp"`
	Data    struct {
		Object        string   `json:"object"`
		ChangedFields []string `json:"changed_fields"`
		Sequence      int64    `json:"sequence"`
		ChangeCount   int      `json:"change_count"`
		Delivery      string   `json:"delivery"`
	} `json:"data"`
}

func newHookReceiver(tb testing.TB, pki *tlsconf.DevPKI, failFirst int) *hookReceiver {
	tb.Helper()
	cert, err := tls.LoadX509KeyPair(pki.CertFile("gateway"), pki.KeyFile("gateway"))
	if err != nil {
		tb.Fatal(err)
	}
	r := &hookReceiver{failFirst: failFirst}
	r.srv = httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		body, _ := io.ReadAll(req.Body)
		arrived := time.Now()
		r.mu.Lock()
		defer r.mu.Unlock()
		r.requests++
		if r.requests <= r.failFirst || r.down {
			http.Error(w, "not yet", http.StatusInternalServerError)
			return
		}
		m := hookMessage{header: req.Header.Clone(), body: body, arrived: arrived}
		if json.Unmarshal(body, &m) != nil {
			http.Error(w, "bad json", http.StatusBadRequest)
			return
		}
		r.got = append(r.got, m)
	}))
	r.srv.TLS = &tls.Config{Certificates: []tls.Certificate{cert}}
	r.srv.StartTLS()
	tb.Cleanup(r.srv.Close)
	return r
}

func (r *hookReceiver) setDown(down bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.down = down
}

func (r *hookReceiver) messages() []hookMessage {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Clone(r.got)
}

// about lists the messages about the object.
func (r *hookReceiver) about(object string) []hookMessage {
	var out []hookMessage
	for _, m := range r.messages() {
		if m.Data.Object == object {
			out = append(out, m)
		}
	}
	return out
}

// TestWebhooksOverTheGateway: an integration subscribes with an API key, its
// receiver fails at first and then recovers, and gets every change signed, in order
// per object, naming fields and never values; it reads the object with its key. The
// delivery log, redelivery, secret rotation and deletion work over REST; bad URLs are
// 400 naming the field; keys without the scope and other firms are refused.
func TestWebhooksOverTheGateway(t *testing.T) {
	t.Parallel()
	sys := start(t, nil)
	f := sys.signUp(t, "webhooks")
	other := sys.signUp(t, "webhooks-other")
	newKey := func(scopes ...string) *client {
		return sys.integration(message[*identityv1.ApiKey](t, want(t, f.client.do("POST", "/v1/"+f.name+"/apiKeys",
			map[string]any{"display_name": "crm", "scopes": scopes}), http.StatusCreated, "key")).GetSecret())
	}
	crm := newKey("webhooks:write", "clients:write")
	recv := newHookReceiver(t, sys.stack.Material.PKI, 2)
	subs := "/v1/" + f.name + "/webhookSubscriptions"

	for _, tc := range []struct{ url, rule string }{
		{"http://hooks.example.com/firmflow", "url.https"},
		{"https://10.1.2.3/firmflow", "url.public_address"},
		{"https://169.254.169.254/latest/meta-data", "url.public_address"},
	} {
		r := crm.do("POST", subs, map[string]any{"url": tc.url, "event_types": []string{"client.updated"}})
		if r.status != http.StatusBadRequest || !slices.Contains(r.fields(), "webhook_subscription.url") || !strings.Contains(string(r.raw), tc.rule) {
			t.Errorf("%s: %d %s, want 400 naming webhook_subscription.url and %s", tc.url, r.status, truncate(string(r.raw), 300), tc.rule)
		}
	}
	if r := newKey("clients:write").do("POST", subs, map[string]any{"url": recv.srv.URL, "event_types": []string{"*"}}); r.status != http.StatusForbidden {
		t.Errorf("a key without webhooks:write subscribes: %d", r.status)
	}

	created := message[*workflowv1.WebhookSubscription](t, want(t, crm.do("POST", subs, map[string]any{
		"url": recv.srv.URL + "/firmflow", "event_types": []string{"client.created", "client.updated"},
	}), http.StatusCreated, "subscribe"))
	sub, secret := created.GetName(), created.GetSecret()
	if !strings.HasPrefix(secret, "whsec_") {
		t.Fatalf("secret %q", secret)
	}
	if got := message[*workflowv1.WebhookSubscription](t, want(t, newKey("webhooks:read").do("GET", "/v1/"+sub, nil),
		http.StatusOK, "read with webhooks:read")); got.GetSecret() != "" {
		t.Error("a read shows the secret")
	}

	var clients []string
	for _, name := range []string{"Acme", "Globex", "Initech"} {
		clients = append(clients, message[*workflowv1.Client](t, want(t, crm.do("POST", "/v1/"+f.name+"/clients",
			map[string]any{"display_name": name}), http.StatusCreated, "client")).GetName())
	}
	eventually(t, "three creations delivered", func() bool { return len(recv.messages()) >= 3 })
	want(t, crm.do("PATCH", "/v1/"+clients[0]+"?update_mask=tax_id", map[string]any{"tax_id": "12-3456789"}), http.StatusOK, "set tax id")
	eventually(t, "the update delivered", func() bool { return len(recv.about(clients[0])) >= 2 })

	wh, err := standardwebhooks.NewWebhook(secret)
	if err != nil {
		t.Fatal(err)
	}
	for _, m := range recv.messages() {
		if err := wh.Verify(m.body, m.header); err != nil {
			t.Errorf("message %s: %v", m.header.Get("webhook-id"), err)
		}
		if strings.Contains(string(m.body), "12-3456789") {
			t.Errorf("payload carries the tax id: %s", m.body)
		}
	}
	for _, c := range clients {
		if n := len(recv.about(c)); n == 0 {
			t.Errorf("nothing delivered about %s", c)
		}
	}
	acme := recv.about(clients[0])
	if last := acme[len(acme)-1]; last.Type != "client.updated" || !slices.Equal(last.Data.ChangedFields, []string{"tax_id"}) ||
		last.Data.Sequence <= acme[0].Data.Sequence {
		t.Errorf("Acme's messages: %+v", acme)
	}
	// The receiver reads what changed with its key.
	want(t, crm.do("GET", "/v1/"+acme[len(acme)-1].Data.Object, nil), http.StatusOK, "read the object named")

	log := message[*workflowv1.ListWebhookDeliveriesResponse](t, want(t, crm.do("GET", "/v1/"+sub+"/deliveries", nil),
		http.StatusOK, "delivery log")).GetDeliveries()
	retried := false
	for _, d := range log {
		if d.GetState() != workflowv1.WebhookDeliveryState_WEBHOOK_DELIVERY_STATE_SUCCEEDED {
			t.Errorf("delivery %v not succeeded", d)
		}
		if d.GetAttempts() > 1 {
			retried = true
		}
	}
	if len(log) < 4 || !retried {
		t.Errorf("log of %d deliveries, retried=%v: want every change, some after a retry", len(log), retried)
	}

	before := len(recv.messages())
	again := message[*workflowv1.WebhookDelivery](t, want(t, crm.do("POST", "/v1/"+log[0].GetName()+":redeliver", map[string]any{}),
		http.StatusOK, "redeliver"))
	if again.GetRedeliveryOf() != log[0].GetName() {
		t.Errorf("redelivery: %v", again)
	}
	eventually(t, "the redelivery arrives", func() bool { return len(recv.messages()) > before })

	rotated := message[*workflowv1.WebhookSubscription](t, want(t, crm.do("POST", "/v1/"+sub+":rotateSecret", map[string]any{}),
		http.StatusCreated, "rotate")).GetSecret()
	want(t, crm.do("PATCH", "/v1/"+clients[1]+"?update_mask=display_name", map[string]any{"display_name": "Globex Corp"}), http.StatusOK, "rename")
	var renamed hookMessage
	eventually(t, "the rename delivered", func() bool {
		for _, m := range recv.about(clients[1]) {
			if m.Type == "client.updated" {
				renamed = m
				return true
			}
		}
		return false
	})
	whNew, _ := standardwebhooks.NewWebhook(rotated)
	if whNew.Verify(renamed.body, renamed.header) != nil || wh.Verify(renamed.body, renamed.header) != nil {
		t.Errorf("during the overlap a message verifies with both secrets: %s", renamed.header.Get("webhook-signature"))
	}

	for what, r := range map[string]response{
		"get":    other.client.do("GET", "/v1/"+sub, nil),
		"log":    other.client.do("GET", "/v1/"+sub+"/deliveries", nil),
		"delete": other.client.do("DELETE", "/v1/"+sub, nil),
	} {
		if r.status != http.StatusNotFound {
			t.Errorf("another firm's %s: %d", what, r.status)
		}
	}
	want(t, crm.do("DELETE", "/v1/"+sub, nil), http.StatusOK, "unsubscribe")
	want(t, crm.do("GET", "/v1/"+sub, nil), http.StatusNotFound, "gone")
}

// TestDisabledWebhookNoticeReachesTheFirm: the event workflow publishes when it
// disables a subscription (a day of failures, too long for a test to wait, so it is
// published here as workflow's relay would) reaches identity over JetStream and
// becomes a notification the owner lists and an email to them; published twice, it
// tells them once.
func TestDisabledWebhookNoticeReachesTheFirm(t *testing.T) {
	t.Parallel()
	sys := start(t, nil)
	f := sys.signUp(t, "webhooknotice")
	nc, js, err := natsx.Connect(sys.nats, "e2e")
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	sub := f.name + "/webhookSubscriptions/" + uuid.NewString()
	payload, _ := proto.Marshal(&eventsv1.WebhookSubscriptionDisabled{
		WebhookSubscription: sub, Host: "hooks.example.com", Reason: "every delivery failed for a day; the last: http 503",
	})
	msg := nats.NewMsg("firmflow.workflow.webhook_subscription_disabled")
	msg.Data = payload
	eventID := uuid.NewString()
	msg.Header.Set(outbox.HeaderEventID, eventID)
	msg.Header.Set(outbox.HeaderFirmID, strings.TrimPrefix(f.name, "firms/"))
	msg.Header.Set(outbox.HeaderActor, "system:webhooks")
	msg.Header.Set(outbox.HeaderOccurredAt, time.Now().UTC().Format(time.RFC3339Nano))
	for range 2 {
		if _, err := js.PublishMsg(context.Background(), msg); err != nil {
			t.Fatal(err)
		}
	}
	var notice *identityv1.Notification
	eventually(t, "the notification", func() bool {
		list := message[*identityv1.ListNotificationsResponse](t, want(t, f.client.do("GET", "/v1/"+f.name+"/notifications", nil),
			http.StatusOK, "notifications")).GetNotifications()
		for _, n := range list {
			if n.GetKind() == identityv1.NotificationKind_NOTIFICATION_KIND_WEBHOOK_DISABLED {
				notice = n
				return true
			}
		}
		return false
	})
	if notice.GetWebhookSubscription() != sub || !strings.Contains(notice.GetText(), "hooks.example.com") {
		t.Errorf("notification %v", notice)
	}
	if _, err := sys.h.Mail.Wait(f.email, "Webhook deliveries", 10*time.Second); err != nil {
		t.Fatal(err)
	}
	time.Sleep(time.Second) // the second copy has had time to arrive
	n := 0
	for _, m := range sys.h.Mail.To(f.email) {
		if strings.Contains(m.Subject, "Webhook deliveries") {
			n++
		}
	}
	if n != 1 {
		t.Errorf("%d emails about the disabled subscription, want 1", n)
	}
}
