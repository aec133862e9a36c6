package server_test

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"

	"github.com/firmflow/firmflow/pkg/config"
	"github.com/firmflow/firmflow/pkg/fieldcrypt"
	billingv1 "github.com/firmflow/firmflow/pkg/gen/firmflow/billing/v1"
	eventsv1 "github.com/firmflow/firmflow/pkg/gen/firmflow/events/v1"
	"github.com/firmflow/firmflow/pkg/natsx"
	"github.com/firmflow/firmflow/pkg/natsx/natstest"
	"github.com/firmflow/firmflow/pkg/outbox"
	"github.com/firmflow/firmflow/pkg/pg/pgtest"
	"github.com/firmflow/firmflow/pkg/principal"
	"github.com/firmflow/firmflow/pkg/rpc"
	"github.com/firmflow/firmflow/pkg/tlsconf"
	"github.com/firmflow/firmflow/services/billing/internal/cardscan"
	"github.com/firmflow/firmflow/services/billing/server"
	"github.com/firmflow/firmflow/services/billing/stripetest"
)

func TestMain(m *testing.M) { stripetest.Main(m) }

func TestDefaultConfigurationIsValid(t *testing.T) {
	var cfg server.Config
	if err := config.LoadFrom(&cfg, map[string]string{}); err != nil {
		t.Fatalf("defaults: %v", err)
	}
	if cfg.Plans["standard"] == "" || cfg.GracePeriod != 14*24*time.Hour {
		t.Errorf("defaults %+v", cfg)
	}
	bad := map[string]string{
		"FIRMFLOW_BILLING_PLANS":        "Standard=price_1",
		"FIRMFLOW_BILLING_GRACE_PERIOD": "0s",
		"FIRMFLOW_BILLING_RETURN_URL":   "javascript:alert(1)",
		"FIRMFLOW_STRIPE_API_URL":       "ftp://stripe",
	}
	for name, value := range bad {
		var cfg server.Config
		err := config.LoadFrom(&cfg, map[string]string{name: value})
		if err == nil || !strings.Contains(err.Error(), name) {
			t.Errorf("%s=%q: err = %v, want one naming the variable", name, value, err)
		}
	}
}

// env is a running billing server and what a test needs to call it.
type env struct {
	addr   string
	pki    *tlsconf.DevPKI
	signer *principal.Signer
	js     jetstream.JetStream
	db     *pgtest.Database
	logs   *syncBuffer
}

// start runs billing as `firmflow dev` would: mTLS with a development PKI, its own
// database migrated as the owner, JetStream, and stripe-mock.
func start(t *testing.T) env {
	t.Helper()
	ctx := context.Background()
	dir := t.TempDir()
	pki, err := tlsconf.EnsureDevPKI(filepath.Join(dir, "tls"), []string{"billing", "gateway", "identity"})
	if err != nil {
		t.Fatal(err)
	}
	privPath, pubPath, err := principal.EnsureKeyPair(filepath.Join(dir, "keys"))
	if err != nil {
		t.Fatal(err)
	}
	priv, err := principal.LoadPrivateKey(privPath)
	if err != nil {
		t.Fatal(err)
	}
	d := pgtest.New(t, "billing", nil)
	natsURL := natstest.Start(t)
	nc, js, err := natsx.Connect(natsURL, "identity-test")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(nc.Close)
	if _, err := natsx.EnsureStream(ctx, js, natsx.ServiceStream("identity", false, natsx.DefaultStreamMaxAge)); err != nil {
		t.Fatal(err)
	}

	var cfg server.Config
	if err := config.LoadFrom(&cfg, map[string]string{}); err != nil {
		t.Fatal(err)
	}
	cfg.GRPCAddr, cfg.AdminAddr = "127.0.0.1:0", ""
	cfg.DatabaseURL, cfg.MigrateURL = d.RuntimeURL, d.OwnerURL
	cfg.TLSCA, cfg.TLSCert, cfg.TLSKey = pki.CAFile, pki.CertFile("billing"), pki.KeyFile("billing")
	cfg.PublicKeyFile, cfg.NATSURL = pubPath, natsURL
	cfg.PageTokenKeyFile = filepath.Join(dir, "keys", "page-token")
	if err := os.WriteFile(cfg.PageTokenKeyFile, []byte(fieldcrypt.GenerateKEK()), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg.StripeAPIURL, cfg.StripeWebhookSecret = stripetest.New(t).URL, "whsec_server_test"
	if err := server.Migrate(ctx, cfg); err != nil {
		t.Fatal(err)
	}
	logs := &syncBuffer{}
	srv, err := server.New(ctx, cfg, slog.New(slog.NewJSONHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug})))
	if err != nil {
		t.Fatal(err)
	}
	runCtx, stop := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- srv.Run(runCtx) }()
	t.Cleanup(func() {
		stop()
		if err := <-done; err != nil && !errors.Is(err, context.Canceled) {
			t.Errorf("billing stopped with %v", err)
		}
		if found := cardscan.Find(logs.String()); len(found) > 0 {
			t.Errorf("card-like numbers in the logs: %q", found)
		}
	})
	return env{addr: srv.Addr(), pki: pki, signer: principal.NewSigner(priv), js: js, db: d, logs: logs}
}

// dial connects as the service whose certificate is named peer.
func (e env) dial(t *testing.T, peer string) *grpc.ClientConn {
	t.Helper()
	tlsConfig, err := tlsconf.ClientConfig(e.pki.CAFile, e.pki.CertFile(peer), e.pki.KeyFile(peer))
	if err != nil {
		t.Fatal(err)
	}
	conn, err := rpc.Dial(e.addr, tlsConfig)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	return conn
}

// as is a context carrying p's principal token, as the gateway forwards it.
func (e env) as(t *testing.T, p principal.Principal) context.Context {
	t.Helper()
	token, _, err := e.signer.Sign(p)
	if err != nil {
		t.Fatal(err)
	}
	return metadata.AppendToOutgoingContext(context.Background(), principal.MetadataKey, token)
}

// newFirm announces a firm on identity's stream and waits for its billing account.
func (e env) newFirm(t *testing.T) string {
	t.Helper()
	firmID := uuid.NewString()
	data, _ := proto.Marshal(&eventsv1.FirmCreated{Firm: "firms/" + firmID, Owner: "firms/" + firmID + "/members/o"})
	msg := nats.NewMsg("firmflow.identity.firm_created")
	msg.Data = data
	eventID := uuid.NewString()
	msg.Header.Set(outbox.HeaderEventID, eventID)
	msg.Header.Set(outbox.HeaderFirmID, firmID)
	msg.Header.Set(outbox.HeaderActor, "users/o")
	msg.Header.Set(outbox.HeaderOccurredAt, time.Now().UTC().Format(time.RFC3339Nano))
	if _, err := e.js.PublishMsg(context.Background(), msg, jetstream.WithMsgID(eventID)); err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, e.db.AdminURL)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	deadline := time.Now().Add(20 * time.Second)
	for {
		var n int
		if err := conn.QueryRow(ctx, "select count(*) from accounts where firm_id = $1", firmID).Scan(&n); err != nil {
			t.Fatal(err)
		}
		if n == 1 {
			return firmID
		}
		if time.Now().After(deadline) {
			t.Fatal("billing never created the firm's account")
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func user(firmID string, role principal.Role) principal.Principal {
	return principal.Principal{Kind: principal.KindUser, FirmID: firmID, UserID: uuid.NewString(), SessionID: uuid.NewString(), Role: role}
}

func TestOnlyOwnersAndAdminsReachBillingAndOnlyOwnersChangeIt(t *testing.T) {
	t.Parallel()
	e := start(t)
	firmID := e.newFirm(t)
	otherFirm := e.newFirm(t)
	billing := billingv1.NewBillingServiceClient(e.dial(t, "gateway"))
	sub := "firms/" + firmID + "/subscription"
	apiKey := principal.Principal{Kind: principal.KindAPIKey, FirmID: firmID, APIKeyID: uuid.NewString(), Scopes: []string{"billing:write"}}

	calls := map[string]func(context.Context) error{
		"GetSubscription": func(ctx context.Context) error {
			_, err := billing.GetSubscription(ctx, &billingv1.GetSubscriptionRequest{Name: sub})
			return err
		},
		"ListInvoices": func(ctx context.Context) error {
			_, err := billing.ListInvoices(ctx, &billingv1.ListInvoicesRequest{Parent: "firms/" + firmID})
			return err
		},
		"CheckoutSubscription": func(ctx context.Context) error {
			_, err := billing.CheckoutSubscription(ctx, &billingv1.CheckoutSubscriptionRequest{Name: sub, Plan: "standard"})
			return err
		},
		"OpenBillingPortal": func(ctx context.Context) error {
			_, err := billing.OpenBillingPortal(ctx, &billingv1.OpenBillingPortalRequest{Name: sub})
			return err
		},
		"CancelSubscription": func(ctx context.Context) error {
			_, err := billing.CancelSubscription(ctx, &billingv1.CancelSubscriptionRequest{Name: sub})
			return err
		},
	}
	reads := map[string]bool{"GetSubscription": true, "ListInvoices": true}
	for method, call := range calls {
		for _, tc := range []struct {
			who  string
			p    principal.Principal
			want codes.Code
		}{
			{"member", user(firmID, principal.RoleMember), codes.PermissionDenied},
			{"API key", apiKey, codes.PermissionDenied},
			{"admin", user(firmID, principal.RoleAdmin), map[bool]codes.Code{true: codes.OK, false: codes.PermissionDenied}[reads[method]]},
			{"owner of another firm", user(otherFirm, principal.RoleOwner), codes.NotFound},
		} {
			if got := status.Code(call(e.as(t, tc.p))); got != tc.want {
				t.Errorf("%s as %s: %s, want %s", method, tc.who, got, tc.want)
			}
		}
		if got := status.Code(call(context.Background())); got != codes.Unauthenticated {
			t.Errorf("%s without a principal: %s, want Unauthenticated", method, got)
		}
	}

	owner := e.as(t, user(firmID, principal.RoleOwner))
	page, err := billing.CheckoutSubscription(owner, &billingv1.CheckoutSubscriptionRequest{Name: sub, Plan: "standard", RequestId: "r1"})
	if err != nil || !strings.HasPrefix(page.GetUrl(), "https://") {
		t.Errorf("owner's checkout: %v, %v", page, err)
	}
	got, err := billing.GetSubscription(owner, &billingv1.GetSubscriptionRequest{Name: sub})
	if err != nil || got.GetState() != billingv1.SubscriptionState_SUBSCRIPTION_STATE_NONE || got.GetAccess() != billingv1.Access_ACCESS_FULL {
		t.Errorf("new firm's subscription: %v, %v", got, err)
	}
	for _, name := range []string{"firms/x/subscription", "firms/" + strings.Repeat("-", 36) + "/subscription", "firms/" + firmID} {
		_, err = billing.GetSubscription(owner, &billingv1.GetSubscriptionRequest{Name: name})
		if status.Code(err) != codes.InvalidArgument {
			t.Errorf("name %q: %v, want InvalidArgument", name, err)
		}
	}
}

func TestOnlyTheGatewayPassesWebhooksAndAnyServiceAsksEntitlements(t *testing.T) {
	t.Parallel()
	e := start(t)
	firmID := e.newFirm(t)
	payload := stripetest.Event("evt_server", "invoice.paid", time.Now(), map[string]any{"id": "in_1", "object": "invoice", "customer": "cus_unknown"})
	req := &billingv1.HandleStripeWebhookRequest{Payload: payload, Signature: stripetest.Sign(payload, "whsec_server_test", time.Now())}

	fromGateway := billingv1.NewBillingWebhookServiceClient(e.dial(t, "gateway"))
	if _, err := fromGateway.HandleStripeWebhook(context.Background(), req); err != nil {
		t.Errorf("webhook from the gateway: %v", err)
	}
	forged := &billingv1.HandleStripeWebhookRequest{Payload: payload, Signature: stripetest.Sign(payload, "whsec_guess", time.Now())}
	if _, err := fromGateway.HandleStripeWebhook(context.Background(), forged); status.Code(err) != codes.InvalidArgument {
		t.Errorf("forged webhook: %v, want InvalidArgument", err)
	}
	fromIdentity := billingv1.NewBillingWebhookServiceClient(e.dial(t, "identity"))
	// A known service outside the method's peers is refused, not asked to sign in.
	if _, err := fromIdentity.HandleStripeWebhook(context.Background(), req); status.Code(err) != codes.PermissionDenied {
		t.Errorf("webhook from another service: %v, want PermissionDenied", err)
	}

	entitlements := billingv1.NewEntitlementServiceClient(e.dial(t, "identity"))
	got, err := entitlements.GetEntitlement(context.Background(), &billingv1.GetEntitlementRequest{Firm: "firms/" + firmID})
	if err != nil || got.GetAccess() != billingv1.Access_ACCESS_FULL {
		t.Errorf("entitlement of a new firm: %v, %v", got, err)
	}
}

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
