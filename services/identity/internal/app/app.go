// Package app is identity's use cases: one method each, each owning its transaction.
// Callers pass the verified principal; a resource of another firm is NOT_FOUND.
package app

import (
	"context"
	"strconv"
	"time"

	"github.com/google/uuid"

	"github.com/firmflow/firmflow/pkg/apierr"
	"github.com/firmflow/firmflow/pkg/fieldcrypt"
	"github.com/firmflow/firmflow/pkg/keystore"
	"github.com/firmflow/firmflow/pkg/principal"
	"github.com/firmflow/firmflow/services/identity/internal/domain"
	"github.com/firmflow/firmflow/services/identity/internal/store"
)

// TokenSigner issues principal tokens.
type TokenSigner interface {
	Sign(principal.Principal) (string, time.Time, error)
}

// App is identity's use cases.
type App struct {
	store    *store.Store
	keys     keystore.Store
	kek      fieldcrypt.KeyWrapper
	kekID    string
	signer   TokenSigner
	sessions domain.SessionPolicy
	lockout  domain.Lockout
	mail     Mail
	resets   domain.ResetLimits
	now      func() time.Time
}

// Config holds the rules that vary by deployment.
type Config struct {
	Sessions domain.SessionPolicy
	Lockout  domain.Lockout
	// Mail sends invitations and password emails; the zero value sends none.
	Mail Mail
	// ResetLimits bound password reset requests; zero means domain.DefaultResetLimits.
	ResetLimits domain.ResetLimits
	// Now is the clock; nil means time.Now. Tests move it to see grants expire.
	Now func() time.Time
}

// New returns the use cases over a store. keys holds each firm's data key, apart
// from identity's database; kek wraps the staff realm's key, which is no firm's.
func New(s *store.Store, kek *fieldcrypt.KEK, keys keystore.Store, signer TokenSigner, cfg Config) *App {
	now := cfg.Now
	if now == nil {
		now = time.Now
	}
	resets := cfg.ResetLimits
	if resets == (domain.ResetLimits{}) {
		resets = domain.DefaultResetLimits
	}
	return &App{
		store: s, keys: keys, kek: kek, kekID: kek.KEKID(), signer: signer,
		sessions: cfg.Sessions, lockout: cfg.Lockout, mail: cfg.Mail, resets: resets, now: now,
	}
}

// inFirm runs fn scoped to firmID after checking that the caller belongs to it.
// Another firm's id gets NOT_FOUND, exactly as an id that does not exist.
func (a *App) inFirm(ctx context.Context, p principal.Principal, firmID string, fn func(*store.Queries) error) error {
	if p.FirmID != firmID {
		return apierr.NotFound("firm")
	}
	return a.store.InFirm(ctx, firmID, fn)
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

// dataKey opens the firm's data key from the key store, creating it on first use.
func (a *App) dataKey(ctx context.Context, _ *store.Queries, firmID string) (*fieldcrypt.DataKey, error) {
	return a.keys.DataKey(ctx, firmID)
}
