// Package app is lifecycle's use cases: requesting and cancelling a firm's deletion,
// reading operations, the deletion runner that drives the saga one step per claim,
// exports, and the public certificate lookup. Each owns its transaction.
package app

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"log/slog"
	"time"

	"github.com/google/uuid"
	"google.golang.org/grpc/codes"

	"github.com/firmflow/firmflow/pkg/apierr"
	"github.com/firmflow/firmflow/pkg/paging"
	"github.com/firmflow/firmflow/pkg/principal"
	"github.com/firmflow/firmflow/services/lifecycle/internal/domain"
	"github.com/firmflow/firmflow/services/lifecycle/internal/store"
)

// FirmData is one service's FirmDataService as lifecycle uses it.
type FirmData interface {
	// Export streams the firm's rows, entity by entity, to emit.
	Export(ctx context.Context, firmID string, emit func(Batch) error) error
	// Delete removes the firm's rows; repeated after success it removes nothing more.
	Delete(ctx context.Context, firmID, deletionID string) (Deleted, error)
	// Count counts the firm's rows in every table with a firm column.
	Count(ctx context.Context, firmID string) ([]domain.TableCount, error)
	// Prune removes, across every firm, what has served its purpose as of now.
	Prune(ctx context.Context, now time.Time, run string) ([]domain.TableCount, error)
}

// Batch is a run of rows of one entity, each a JSON object.
type Batch struct {
	Entity        string
	SchemaVersion uint32
	Rows          [][]byte
}

// Deleted is a service's answer to a deletion.
type Deleted struct {
	Tables []domain.TableCount
	Facts  map[string]string
}

// Identity is what lifecycle asks of identity.
type Identity interface {
	// VerifyOwnerCredentials checks the owner's password and TOTP code.
	VerifyOwnerCredentials(ctx context.Context, firmID, userID, password, totpCode string) error
	// SetDeletionScheduled marks the firm read-only for its grace period, or clears it.
	SetDeletionScheduled(ctx context.Context, firmID string, scheduled bool) error
}

// KeyShredder destroys the firm's data keys and answers their ids.
type KeyShredder interface {
	DestroyFirm(ctx context.Context, firmID string) ([]string, error)
}

// Streams purges the firm's messages from every JetStream stream and tells, per
// stream, what it purged, what it had to leave and by when that is gone.
type Streams interface {
	Purge(ctx context.Context, firmID string, now time.Time) ([]domain.StreamHorizon, error)
}

// Config is the part of lifecycle's configuration the use cases take.
type Config struct {
	// Retry paces the retries of a failed step.
	Retry domain.Retry
	// Lease is how long a runner holds an operation it claimed; another runner takes
	// it over afterwards. It must outlast one step's calls.
	Lease time.Duration
	// StepTimeout bounds one step's calls to a service.
	StepTimeout time.Duration
	// BackupRetention is how long backups are kept: no backup holds a deleted firm's
	// data after the deletion plus this.
	BackupRetention time.Duration
	// KeyBackupRetention is how long the key store's backups are kept: no copy of a
	// destroyed key exists after the deletion plus this.
	KeyBackupRetention time.Duration
	// ExportDir is where export archives are written.
	ExportDir string
	// ExportKey encrypts export archives at rest (AES-256: 32 bytes).
	ExportKey []byte
	// RetentionInterval is how often a retention run starts, across all runners.
	RetentionInterval time.Duration
	// RetentionLease is how long a runner holds the retention run; another runner
	// may start one afterwards if it crashed. It must outlast every service's Prune.
	RetentionLease time.Duration
}

// App is lifecycle's use cases.
type App struct {
	store    *store.Store
	services map[string]FirmData // by domain.DataServices name
	identity Identity
	keys     KeyShredder
	streams  Streams
	signer   ed25519.PrivateKey
	cfg      Config
	logger   *slog.Logger
	runner   string
	now      func() time.Time
}

// Deps are the collaborators New wires.
type Deps struct {
	Store    *store.Store
	Services map[string]FirmData
	Identity Identity
	Keys     KeyShredder
	Streams  Streams
	// Signer signs deletion certificates.
	Signer ed25519.PrivateKey
	Logger *slog.Logger
}

// New returns the use cases. Every name in domain.DataServices needs a FirmData.
func New(d Deps, cfg Config) (*App, error) {
	for _, name := range domain.DataServices {
		if d.Services[name] == nil {
			return nil, errors.New("lifecycle: no FirmDataService client for " + name)
		}
	}
	if cfg.Retry.Base <= 0 {
		cfg.Retry = domain.DefaultRetry
	}
	if cfg.Lease <= 0 {
		cfg.Lease = 2 * time.Minute
	}
	if cfg.RetentionInterval <= 0 {
		cfg.RetentionInterval = time.Hour
	}
	if cfg.RetentionLease <= 0 {
		cfg.RetentionLease = 15 * time.Minute
	}
	if cfg.StepTimeout <= 0 || cfg.StepTimeout >= cfg.Lease {
		cfg.StepTimeout = cfg.Lease / 2
	}
	return &App{
		store: d.Store, services: d.Services, identity: d.Identity, keys: d.Keys, streams: d.Streams,
		signer: d.Signer, cfg: cfg, logger: d.Logger, runner: uuid.NewString(), now: time.Now,
	}, nil
}

// UseClock replaces the clock, for tests of grace periods and retries.
func (a *App) UseClock(now func() time.Time) { a.now = now }

// callerFirm checks that the caller is a user of firmID; another firm is NOT_FOUND.
func callerFirm(p principal.Principal, firmID string) error {
	if p.Kind != principal.KindUser || p.FirmID != firmID {
		return apierr.NotFound("firm")
	}
	return nil
}

// newToken makes a certificate token and its stored hash.
func newToken() (plain string, hash []byte) {
	b := make([]byte, 32)
	_, _ = rand.Read(b)
	plain = "ffdc_" + base64.RawURLEncoding.EncodeToString(b)
	return plain, tokenHash(plain)
}

func tokenHash(token string) []byte {
	sum := sha256.Sum256([]byte(token))
	return sum[:]
}

// RequestDeletion schedules the firm's deletion after the owner confirmed with their
// credentials, marks the firm read-only, and returns the certificate token once.
// graceDays nil means the default.
func (a *App) RequestDeletion(ctx context.Context, p principal.Principal, firmID, password, totpCode string, graceDays *int) (domain.Deletion, string, error) {
	if err := callerFirm(p, firmID); err != nil {
		return domain.Deletion{}, "", err
	}
	days := domain.DefaultGraceDays
	if graceDays != nil {
		days = *graceDays
	}
	d, err := domain.NewDeletion(uuid.NewString(), firmID, p.Actor(), days, a.now().UTC())
	if err != nil {
		return domain.Deletion{}, "", err
	}
	if _, err := a.store.PendingDeletion(ctx, firmID); err == nil {
		return domain.Deletion{}, "", apierr.AlreadyExists("DELETION_PENDING", "a deletion of this firm is already scheduled; cancel it or wait for it")
	} else if !apierr.HasCode(err, codes.NotFound) {
		return domain.Deletion{}, "", err
	}
	if err := a.identity.VerifyOwnerCredentials(ctx, firmID, p.UserID, password, totpCode); err != nil {
		return domain.Deletion{}, "", err
	}
	token, hash := newToken()
	if err := a.store.CreateDeletion(ctx, d, hash); err != nil {
		return domain.Deletion{}, "", err
	}
	if err := a.identity.SetDeletionScheduled(ctx, firmID, true); err != nil {
		// Without the read-only mark the grace period would not be what it says:
		// withdraw the request rather than run it half-announced.
		before := d
		if cerr := d.Cancel(d.RequestTime); cerr == nil {
			if serr := a.store.SaveDeletion(context.WithoutCancel(ctx), before, d, ""); serr != nil {
				a.logger.ErrorContext(ctx, "deletion request could not be withdrawn", "operation", d.ID, "error", serr)
			}
		}
		return domain.Deletion{}, "", unavailable("identity", err)
	}
	a.logger.InfoContext(ctx, "firm deletion scheduled", "firm", firmID, "operation", d.ID, "grace_end", d.GraceEnd)
	return d, token, nil
}

// CancelDeletion cancels the firm's scheduled deletion during its grace period and
// makes the firm writable again.
func (a *App) CancelDeletion(ctx context.Context, p principal.Principal, firmID string) (domain.Deletion, error) {
	if err := callerFirm(p, firmID); err != nil {
		return domain.Deletion{}, err
	}
	d, err := a.store.PendingDeletion(ctx, firmID)
	if err != nil {
		return domain.Deletion{}, err
	}
	return a.cancelDeletion(ctx, d)
}

func (a *App) cancelDeletion(ctx context.Context, d domain.Deletion) (domain.Deletion, error) {
	before := d
	if err := d.Cancel(a.now().UTC()); err != nil {
		return domain.Deletion{}, err
	}
	// The mark goes first: if identity cannot clear it, nothing has changed and the
	// owner can cancel again, rather than a cancelled deletion leaving the firm
	// read-only with nothing left to cancel.
	if err := a.identity.SetDeletionScheduled(ctx, d.FirmID, false); err != nil {
		return domain.Deletion{}, unavailable("identity", err)
	}
	if err := a.store.SaveDeletion(ctx, before, d, ""); err != nil {
		// The grace period ended meanwhile (or the save failed): the deletion goes
		// on, read-only again.
		if merr := a.identity.SetDeletionScheduled(context.WithoutCancel(ctx), d.FirmID, true); merr != nil {
			a.logger.ErrorContext(ctx, "read-only mark not restored after a failed cancellation", "operation", d.ID, "error", merr)
		}
		if errors.Is(err, store.ErrClaimLost) {
			return domain.Deletion{}, domain.ErrDeletionStarted()
		}
		return domain.Deletion{}, err
	}
	return d, nil
}

// Operation reads one of the caller's firm's operations by id.
func (a *App) Operation(ctx context.Context, p principal.Principal, id string) (domain.Operation, error) {
	firmID, err := a.store.OperationFirm(ctx, id)
	if err != nil {
		return domain.Operation{}, err
	}
	if firmID == "" || callerFirm(p, firmID) != nil {
		return domain.Operation{}, apierr.NotFound("operation")
	}
	return a.store.Operation(ctx, firmID, id)
}

// Operations lists the firm's operations, newest first.
func (a *App) Operations(ctx context.Context, p principal.Principal, firmID string, size int32, token string) ([]domain.Operation, string, error) {
	if err := callerFirm(p, firmID); err != nil {
		return nil, "", err
	}
	page, err := paging.Request(size, token, firmID)
	if err != nil {
		return nil, "", err
	}
	ops, more, err := a.store.Operations(ctx, firmID, page)
	if err != nil || len(ops) == 0 {
		return ops, "", err
	}
	last := ops[len(ops)-1]
	cursor := paging.Cursor{}
	if last.Deletion != nil {
		cursor = paging.Cursor{Time: last.Deletion.RequestTime, ID: last.Deletion.ID}
	} else {
		cursor = paging.Cursor{Time: last.Export.CreateTime, ID: last.Export.ID}
	}
	return ops, paging.Next(cursor, more, firmID), nil
}

// CancelOperation cancels a deletion in its grace period or an export not yet done.
func (a *App) CancelOperation(ctx context.Context, p principal.Principal, id string) (domain.Operation, error) {
	op, err := a.Operation(ctx, p, id)
	if err != nil {
		return domain.Operation{}, err
	}
	if op.Deletion != nil {
		d, err := a.cancelDeletion(ctx, *op.Deletion)
		return domain.Operation{Kind: domain.KindDeletion, Deletion: &d}, err
	}
	before, e := *op.Export, *op.Export
	if err := e.Cancel(a.now().UTC()); err != nil {
		return domain.Operation{}, err
	}
	if err := a.store.SaveExport(ctx, before, e, ""); err != nil {
		if errors.Is(err, store.ErrClaimLost) {
			return domain.Operation{}, apierr.New(codes.Aborted, "OPERATION_CHANGED", "the operation changed meanwhile; read it again")
		}
		return domain.Operation{}, err
	}
	return domain.Operation{Kind: domain.KindExport, Export: &e}, nil
}

// Certificate returns the signed certificate for a token; only after completion.
func (a *App) Certificate(ctx context.Context, token string) ([]byte, error) {
	return a.store.Certificate(ctx, tokenHash(token))
}
