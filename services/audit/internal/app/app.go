// Package app is audit's use cases: appending batches to the chains, the firm's
// queries, exports and verification, checkpoints and settings. Each owns its
// transaction. Callers of the firm's methods pass the verified principal; another
// firm is NOT_FOUND.
package app

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"time"

	"github.com/google/uuid"
	"golang.org/x/mod/sumdb/note"

	"github.com/firmflow/firmflow/pkg/apierr"
	"github.com/firmflow/firmflow/pkg/principal"
	"github.com/firmflow/firmflow/services/audit/chain"
	"github.com/firmflow/firmflow/services/audit/internal/store"
)

// App is audit's use cases.
type App struct {
	store    *store.Store
	signer   note.Signer
	verifier note.Verifier
	now      func() time.Time
	// dropPartitions is audit retention's step of Prune; nil skips it.
	dropPartitions func(ctx context.Context, now time.Time) ([]string, error)

	mu     sync.Mutex
	months map[string]bool // partitions known to exist, "2006-01"
}

// New returns the use cases over a store; signer signs checkpoints and verifier
// checks them.
func New(s *store.Store, signer note.Signer, verifier note.Verifier) *App {
	return &App{store: s, signer: signer, verifier: verifier, now: time.Now, months: map[string]bool{}}
}

// UseClock replaces the clock that stamps record times and checkpoints, for tests of
// what happens months later.
func (a *App) UseClock(now func() time.Time) { a.now = now }

// inFirm runs fn scoped to the firm named by firmID after checking that the caller
// belongs to it. Another firm's id gets NOT_FOUND, exactly as an id that does not
// exist; so does the system chain, which is no firm's.
func (a *App) inFirm(ctx context.Context, p principal.Principal, firmID string, fn func(*store.Queries) error) error {
	firm, err := callerFirm(p, firmID)
	if err != nil {
		return err
	}
	return a.store.InFirm(ctx, firm, fn)
}

// callerFirm is firmID as a UUID when it is the caller's firm.
func callerFirm(p principal.Principal, firmID string) (uuid.UUID, error) {
	firm, err := uuid.Parse(firmID)
	if err != nil || p.FirmID != firmID || firm == chain.SystemFirm {
		return uuid.UUID{}, apierr.NotFound("firm")
	}
	return firm, nil
}

// errPartitionMissing asks Append to create a month's partition and try again.
type errPartitionMissing struct{ at time.Time }

func (e errPartitionMissing) Error() string { return "no audit partition for " + monthOf(e.at) }

// Append appends events, in the order given, to their firms' chains in one
// transaction and returns how many were new: an event whose id the log already
// holds (a redelivery) is skipped. Nothing is appended when it fails.
func (a *App) Append(ctx context.Context, events []chain.Event) (int, error) {
	firms, byFirm := groupByFirm(events)
	if len(firms) == 0 {
		return 0, nil
	}
	now := a.now()
	if err := a.ensureMonth(ctx, now); err != nil {
		return 0, err
	}
	n, err := a.appendOnce(ctx, firms, byFirm, now)
	var missing errPartitionMissing
	if errors.As(err, &missing) {
		// A chain's record time ran ahead of this clock into another month.
		if err := a.ensureMonth(ctx, missing.at); err != nil {
			return 0, err
		}
		n, err = a.appendOnce(ctx, firms, byFirm, now)
	}
	return n, err
}

// copyIDsFrom is the batch size from which event ids are recorded with COPY
// (store.ClaimNew): COPY costs two round trips more than claiming the ids together
// with the heads' lock, and less per id.
const copyIDsFrom = 128

// appendOnce appends the batch in one transaction. A large batch is taken to hold
// only new events, as nearly every batch does; when one was already appended (a
// redelivery), the batch is appended again by claiming its ids, skipping those the
// log holds.
func (a *App) appendOnce(ctx context.Context, firms []uuid.UUID, byFirm map[uuid.UUID][]chain.Event, now time.Time) (int, error) {
	var ids, idFirms []uuid.UUID
	for _, f := range firms {
		for _, e := range byFirm[f] {
			ids, idFirms = append(ids, e.ID), append(idFirms, f)
		}
	}
	if len(ids) >= copyIDsFrom {
		n, err := a.appendTx(ctx, firms, byFirm, ids, idFirms, now, true)
		if !errors.Is(err, store.ErrEventSeen) {
			return n, err
		}
	}
	return a.appendTx(ctx, firms, byFirm, ids, idFirms, now, false)
}

func (a *App) appendTx(ctx context.Context, firms []uuid.UUID, byFirm map[uuid.UUID][]chain.Event, ids, idFirms []uuid.UUID,
	now time.Time, allNew bool) (int, error) {
	appended := 0
	err := a.store.Append(ctx, func(ap *store.Appender) error {
		var heads []chain.Head
		var fresh map[uuid.UUID]bool // nil when every event is new
		var err error
		if allNew {
			heads, err = ap.ClaimNew(ctx, firms, ids, idFirms)
		} else {
			heads, fresh, err = ap.Claim(ctx, firms, ids, idFirms)
		}
		if err != nil {
			return err
		}
		// Sized for the whole batch: events are large, and growing the slice copied them
		// again and again while the transaction held the heads.
		out := make([]chain.Event, 0, len(ids))
		var moved []chain.Head
		for i := range heads {
			h := &heads[i]
			before := len(out)
			for _, e := range byFirm[h.FirmID] {
				if fresh == nil || fresh[e.ID] {
					h.Append(&e, now)
					out = append(out, e)
				}
			}
			if len(out) == before {
				continue
			}
			if !a.knownMonth(h.RecordTime) {
				return errPartitionMissing{at: h.RecordTime}
			}
			moved = append(moved, *h)
		}
		appended = len(out)
		return ap.Insert(ctx, moved, out)
	})
	if err != nil {
		return 0, err
	}
	return appended, nil
}

// groupByFirm splits events by firm, keeping their order and dropping repeated
// ids, and returns the firms in ascending id order: the order heads are locked in.
func groupByFirm(events []chain.Event) ([]uuid.UUID, map[uuid.UUID][]chain.Event) {
	byFirm := map[uuid.UUID][]chain.Event{}
	seen := make(map[uuid.UUID]bool, len(events))
	for _, e := range events {
		if seen[e.ID] {
			continue
		}
		seen[e.ID] = true
		byFirm[e.FirmID] = append(byFirm[e.FirmID], e)
	}
	firms := make([]uuid.UUID, 0, len(byFirm))
	for f := range byFirm {
		firms = append(firms, f)
	}
	slices.SortFunc(firms, func(x, y uuid.UUID) int { return bytes.Compare(x[:], y[:]) })
	return firms, byFirm
}

// EnsurePartitions creates this month's and next month's partitions when missing;
// the checkpointer calls it every minute so a new month never waits on DDL.
func (a *App) EnsurePartitions(ctx context.Context) error {
	now := a.now()
	return errors.Join(a.ensureMonth(ctx, now), a.ensureMonth(ctx, now.AddDate(0, 1, 0)))
}

func (a *App) ensureMonth(ctx context.Context, t time.Time) error {
	if a.knownMonth(t) {
		return nil
	}
	if err := a.store.EnsurePartition(ctx, t); err != nil {
		return err
	}
	a.mu.Lock()
	a.months[monthOf(t)] = true
	a.mu.Unlock()
	return nil
}

func (a *App) knownMonth(t time.Time) bool {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.months[monthOf(t)]
}

func monthOf(t time.Time) string { return t.UTC().Format("2006-01") }

// CheckpointAll signs a checkpoint for every firm whose chain head moved since its
// last one; the service runs it every interval and as it stops.
func (a *App) CheckpointAll(ctx context.Context) (int, error) {
	firms, err := a.store.FirmsToCheckpoint(ctx)
	if err != nil {
		return 0, err
	}
	return a.checkpointFirms(ctx, firms)
}

// CheckpointStale signs a checkpoint for every firm whose chain head moved since its
// last one and whose last one was signed before signedBefore: what the service runs
// as it starts, so that restarts more frequent than the interval still sign.
func (a *App) CheckpointStale(ctx context.Context, signedBefore time.Time) (int, error) {
	firms, err := a.store.FirmsCheckpointDue(ctx, signedBefore)
	if err != nil {
		return 0, err
	}
	return a.checkpointFirms(ctx, firms)
}

func (a *App) checkpointFirms(ctx context.Context, firms []uuid.UUID) (int, error) {
	var errs []error
	signed := 0
	for _, firm := range firms {
		if _, _, err := a.checkpoint(ctx, firm); err != nil {
			errs = append(errs, fmt.Errorf("checkpoint firm %s: %w", firm, err))
			continue
		}
		signed++
	}
	return signed, errors.Join(errs...)
}

// Checkpoint signs the caller's firm's chain head now.
func (a *App) Checkpoint(ctx context.Context, p principal.Principal, firmID string) (chain.Checkpoint, string, error) {
	firm, err := callerFirm(p, firmID)
	if err != nil {
		return chain.Checkpoint{}, "", err
	}
	return a.checkpoint(ctx, firm)
}

func (a *App) checkpoint(ctx context.Context, firm uuid.UUID) (chain.Checkpoint, string, error) {
	var cp chain.Checkpoint
	var signed string
	err := a.store.InFirm(ctx, firm, func(q *store.Queries) error {
		head, err := q.Head(ctx)
		if err != nil {
			return err
		}
		if head.Sequence == 0 {
			return apierr.FailedPrecondition("CHAIN_EMPTY", "the firm's audit log has no events yet")
		}
		cp = chain.Checkpoint{FirmID: firm, Sequence: head.Sequence, Hash: head.Hash, Time: a.now().UTC().Truncate(time.Second)}
		if signed, err = chain.Sign(cp, a.signer); err != nil {
			return err
		}
		return q.InsertCheckpoint(ctx, cp, signed)
	})
	return cp, signed, err
}
