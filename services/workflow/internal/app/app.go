// Package app is workflow's use cases: one method each, each owning its transaction.
// Callers pass the verified principal; a resource of another firm is NOT_FOUND.
// Files split by resource; this one holds what they share.
package app

import (
	"context"
	"strconv"
	"time"

	"github.com/google/uuid"
	"google.golang.org/protobuf/proto"

	"github.com/firmflow/firmflow/pkg/apierr"
	"github.com/firmflow/firmflow/pkg/fieldcrypt"
	"github.com/firmflow/firmflow/pkg/keystore"
	"github.com/firmflow/firmflow/pkg/outbox"
	"github.com/firmflow/firmflow/pkg/principal"
	"github.com/firmflow/firmflow/services/workflow/internal/domain"
	"github.com/firmflow/firmflow/services/workflow/internal/store"
)

// App is workflow's use cases.
type App struct {
	store *store.Store
	keys  keystore.Store
	now   func() time.Time
	// memberWait is how long a reference to a member not known yet waits for
	// identity's event (see members.go).
	memberWait time.Duration
	// webhooks sends deliveries (webhooks_deliver.go).
	webhooks *webhookSender
}

// New returns the use cases over a store; keys holds each firm's data key, apart
// from the data, so that destroying it shreds the firm's sealed values everywhere.
func New(s *store.Store, keys keystore.Store) *App {
	return &App{store: s, keys: keys, now: time.Now, memberWait: defaultMemberWait, webhooks: newWebhookSender(WebhookConfig{})}
}

// stamp is the current time as PostgreSQL stores it (microseconds), so what a
// create returns equals what a later read returns (and page cursors match rows).
func (a *App) stamp() time.Time { return a.now().UTC().Truncate(time.Microsecond) }

// inFirm runs fn scoped to firmID after checking that the caller belongs to it.
// Another firm's id gets NOT_FOUND, exactly as an id that does not exist. fn may run
// twice when it names a member workflow has not heard of yet (requireMembers).
func (a *App) inFirm(ctx context.Context, p principal.Principal, firmID string, fn func(*store.Queries) error) error {
	if p.FirmID != firmID {
		return apierr.NotFound("firm")
	}
	return a.runAwaitingMembers(ctx, firmID, fn)
}

// require refuses what the caller's scope does not reach, reading the firm's
// permissions when they decide it; see domain.Permissions.Require for
// assignedToCaller.
func require(ctx context.Context, q *store.Queries, p principal.Principal, c domain.Category, act domain.Action, assignedToCaller bool) error {
	perms, err := permissionsFor(ctx, q, p)
	if err != nil {
		return err
	}
	return perms.Require(p, c, act, assignedToCaller)
}

// scopeOf returns how far the caller reaches, for list filters ("assigned" lists
// only the caller's work).
func scopeOf(ctx context.Context, q *store.Queries, p principal.Principal, c domain.Category, act domain.Action) (domain.Scope, error) {
	perms, err := permissionsFor(ctx, q, p)
	if err != nil {
		return domain.ScopeNone, err
	}
	return perms.ScopeFor(p, c, act), nil
}

// permissionsFor is the firm's permission matrix when it decides the caller's scope
// (domain.MatrixDecides), and nil otherwise, which spares the requests of API keys,
// staff on a grant and owners a query in every transaction.
func permissionsFor(ctx context.Context, q *store.Queries, p principal.Principal) (domain.Permissions, error) {
	if !domain.MatrixDecides(p) {
		return nil, nil
	}
	return q.Permissions(ctx)
}

// dataKey opens the firm's data key from the key store, creating it on first use.
func (a *App) dataKey(ctx context.Context, q *store.Queries) (*fieldcrypt.DataKey, error) {
	return a.keys.DataKey(ctx, q.FirmID())
}

// eventBatch collects the workflow events of one use case, queued together in its
// transaction with one statement however many there are (an import of thousands
// stays one round trip). Payloads name resources and changed fields, never
// sensitive values.
type eventBatch struct {
	firmID, actor string
	events        []outbox.Event
}

func newEventBatch(q *store.Queries, actor string) *eventBatch {
	return &eventBatch{firmID: q.FirmID(), actor: actor}
}

func (b *eventBatch) add(event string, payload proto.Message) {
	b.events = append(b.events, outbox.Event{FirmID: b.firmID, Subject: "firmflow.workflow." + event, Actor: b.actor, Payload: payload})
}

func (b *eventBatch) write(ctx context.Context, q *store.Queries) error {
	return q.Emit(ctx, b.events...)
}

// emit queues the one event of a use case that makes one change.
func emit(ctx context.Context, q *store.Queries, p principal.Principal, event string, payload proto.Message) error {
	b := newEventBatch(q, p.Actor())
	b.add(event, payload)
	return b.write(ctx, q)
}

func newID() string { return uuid.Must(uuid.NewV7()).String() }

// Etag is a resource version as the API shows it.
func Etag(version int64) string { return strconv.Quote(strconv.FormatInt(version, 10)) }

// checkEtag compares a client's etag with the current version; an empty etag means
// the client does not ask for the check.
func checkEtag(etag string, version int64, resource string) error {
	if etag != "" && etag != Etag(version) {
		return apierr.StaleEtag(resource)
	}
	return nil
}
