// Package app is billing's use cases: one method each, each owning its transaction.
// Changes to a firm's billing run one at a time per firm (the account row is locked
// first), and a change that calls Stripe does so inside that transaction with an
// idempotency key, so a retry after any failure repeats the same Stripe request and
// the effect happens once.
package app

import (
	"context"
	"errors"
	"log/slog"
	"net/url"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/protobuf/proto"

	"github.com/firmflow/firmflow/pkg/apierr"
	"github.com/firmflow/firmflow/pkg/outbox"
	"github.com/firmflow/firmflow/pkg/principal"
	"github.com/firmflow/firmflow/pkg/resource"
	"github.com/firmflow/firmflow/pkg/rpc"
	"github.com/firmflow/firmflow/services/billing/internal/domain"
	"github.com/firmflow/firmflow/services/billing/internal/store"
	"github.com/firmflow/firmflow/services/billing/internal/stripeapi"
)

// Config holds the rules that vary by deployment.
type Config struct {
	Plans domain.Plans
	// Grace is how long a firm keeps full access after its subscription lapsed (or,
	// without one, after sign-up).
	Grace time.Duration
	// ReturnURL is the app page Stripe's Checkout and Billing Portal send the browser
	// back to; clients cannot choose it, so it cannot become an open redirect.
	ReturnURL string
	// TrialDays gives new subscriptions a trial when positive.
	TrialDays int64
	// WebhookSecret is the signing secret of Stripe's webhook endpoint.
	WebhookSecret string
	// ReconcileLookback is how far back the reconciler looks on its first pass.
	ReconcileLookback time.Duration
}

// App is billing's use cases.
type App struct {
	store  *store.Store
	stripe *stripeapi.Client
	cfg    Config
	logger *slog.Logger
	now    func() time.Time
}

// New returns the use cases over a store and a Stripe client.
func New(s *store.Store, stripe *stripeapi.Client, cfg Config, logger *slog.Logger) *App {
	if logger == nil {
		logger = slog.Default()
	}
	return &App{store: s, stripe: stripe, cfg: cfg, logger: logger, now: time.Now}
}

// inFirm runs fn scoped to firmID after checking that the caller belongs to it.
// Another firm's id gets NOT_FOUND, exactly as an id that does not exist.
func (a *App) inFirm(ctx context.Context, p principal.Principal, firmID string, fn func(*store.Queries) error) error {
	if p.FirmID != firmID {
		return apierr.NotFound("subscription")
	}
	return a.store.InFirm(ctx, firmID, fn)
}

func firmName(firmID string) string { return resource.Name("firms", firmID) }

func subscriptionName(firmID string) string { return firmName(firmID) + "/subscription" }

// emit queues one billing event in the use case's transaction.
func emit(ctx context.Context, q *store.Queries, firmID, actor, event string, payload proto.Message) error {
	return q.Emit(ctx, outbox.Event{FirmID: firmID, Subject: "firmflow.billing." + event, Actor: actor, Payload: payload})
}

// Errors a client sees.
var (
	errNotReady = apierr.FailedPrecondition("BILLING_NOT_READY",
		"the firm's billing account is still being set up; try again in a minute")
	errNoSubscription = apierr.FailedPrecondition("NO_SUBSCRIPTION", "the firm has no running subscription")
)

// clientError turns a Stripe failure into what the client sees; other errors pass.
func clientError(err error) error {
	switch {
	case errors.Is(err, stripeapi.ErrUnavailable):
		return &apierr.Error{Code: codes.Unavailable, Reason: "PAYMENT_PROVIDER_UNAVAILABLE",
			Message: "the payment provider could not be reached; try again", RetryAfter: 5 * time.Second}
	case errors.Is(err, stripeapi.ErrKeyReused):
		// Stripe keeps the parameters an idempotency key was first sent with.
		return rpc.RequestIDReused()
	}
	return err
}

// returnURL is the configured return page with a query parameter telling the app
// how the visit to Stripe ended.
func (a *App) returnURL(key, value string) string {
	u, err := url.Parse(a.cfg.ReturnURL)
	if err != nil {
		return a.cfg.ReturnURL // validated at start; unreachable
	}
	q := u.Query()
	q.Set(key, value)
	u.RawQuery = q.Encode()
	return u.String()
}
