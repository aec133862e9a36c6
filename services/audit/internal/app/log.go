package app

import (
	"bytes"
	"context"
	"errors"
	"strconv"

	"github.com/google/uuid"

	"github.com/firmflow/firmflow/pkg/apierr"
	"github.com/firmflow/firmflow/pkg/paging"
	"github.com/firmflow/firmflow/pkg/principal"
	"github.com/firmflow/firmflow/services/audit/chain"
	"github.com/firmflow/firmflow/services/audit/export"
	"github.com/firmflow/firmflow/services/audit/internal/domain"
	"github.com/firmflow/firmflow/services/audit/internal/store"
)

// Events lists a page of the firm's events matching f, newest first, and the token
// of the next page ("" on the last).
func (a *App) Events(ctx context.Context, p principal.Principal, firmID string, f domain.Filter, pageSize int32, pageToken string) ([]chain.Event, string, error) {
	if err := f.Validate(); err != nil {
		return nil, "", err
	}
	page, err := paging.Request(pageSize, pageToken, f.Key())
	if err != nil {
		return nil, "", err
	}
	before, err := sequenceOf(page)
	if err != nil {
		return nil, "", err
	}
	var events []chain.Event
	var more bool
	err = a.inFirm(ctx, p, firmID, func(q *store.Queries) error {
		events, more, err = q.Events(ctx, f, before, page.Size)
		return err
	})
	if err != nil || len(events) == 0 {
		return events, "", err
	}
	last := events[len(events)-1]
	return events, paging.Next(paging.Cursor{ID: strconv.FormatInt(last.Sequence, 10)}, more, f.Key()), nil
}

// sequenceOf reads the sequence a page token carries; 0 for the first page.
func sequenceOf(page paging.Page) (int64, error) {
	if page.After == nil {
		return 0, nil
	}
	seq, err := strconv.ParseInt(page.After.ID, 10, 64)
	if err != nil || seq < 0 {
		return 0, apierr.InvalidArgument("page_token", "page_token.valid", "not a token from the previous page of this query")
	}
	return seq, nil
}

// exportPageBytes bounds an export page below the 4 MiB a gRPC message may have.
const exportPageBytes = 3 << 20

// exportChunk is how many events one query of an export reads.
const exportChunk = 1000

// exportFilter binds export page tokens to exports.
const exportFilter = "export"

// Export returns one page of the firm's chain as JSON Lines (see package export):
// the first page opens with where the chain starts; each page holds its events in
// chain order and the checkpoints signed over them; the last page also holds the
// checkpoints beyond its last event, so a chain whose tail was cut shows it; a page
// that more follow ends with the next page's token.
func (a *App) Export(ctx context.Context, p principal.Principal, firmID string, pageToken string) ([]byte, error) {
	page, err := paging.Request(1, pageToken, exportFilter)
	if err != nil {
		return nil, err
	}
	after, err := sequenceOf(page)
	if err != nil {
		return nil, err
	}
	firm, err := callerFirm(p, firmID)
	if err != nil {
		return nil, err
	}
	var buf bytes.Buffer
	w := export.NewWriter(&buf)
	// One snapshot: a checkpoint signed while the page is read would otherwise point
	// past the page's last event and look like a cut tail.
	err = a.store.InFirmSnapshot(ctx, firm, func(q *store.Queries) error {
		firstPage := page.After == nil
		from := after + 1
		if firstPage {
			start, err := q.Start(ctx)
			if err != nil {
				return err
			}
			if err := w.Chain(q.FirmID(), start); err != nil {
				return err
			}
			after, from = start.Sequence-1, start.Sequence-1
		}
		last, full, err := exportEvents(ctx, q, w, &buf, after)
		if err != nil {
			return err
		}
		to := int64(0) // the last page: every checkpoint from here on
		if full {
			to = last
		}
		checkpoints, err := q.Checkpoints(ctx, from, to)
		if err != nil {
			return err
		}
		for _, cp := range checkpoints {
			if err := w.Checkpoint(cp); err != nil {
				return err
			}
		}
		if full {
			return w.NextPage(paging.Next(paging.Cursor{ID: strconv.FormatInt(last, 10)}, true, exportFilter))
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

// exportEvents writes events after sequence after until the page is full or the
// chain ends; it returns the last sequence written and whether the page filled.
func exportEvents(ctx context.Context, q *store.Queries, w *export.Writer, buf *bytes.Buffer, after int64) (last int64, full bool, err error) {
	last = after
	for {
		n := 0
		var writeErr error
		err := q.ChainFrom(ctx, last, exportChunk, func(e *chain.Event) bool {
			if writeErr = w.Event(e); writeErr != nil {
				return false
			}
			n++
			last = e.Sequence
			full = buf.Len() >= exportPageBytes
			return !full
		})
		if err != nil || writeErr != nil {
			return 0, false, errors.Join(err, writeErr)
		}
		if full || n < exportChunk {
			return last, full, nil
		}
	}
}

// Verify checks the firm's stored chain: each event's hash, the sequence, the links,
// the signed checkpoints and the chain head, all read in one snapshot.
func (a *App) Verify(ctx context.Context, p principal.Principal, firmID string) (chain.Report, error) {
	firm, err := callerFirm(p, firmID)
	if err != nil {
		return chain.Report{}, err
	}
	return a.verify(ctx, firm)
}

// VerifyAll checks every firm's stored chain, as Verify does one; the store must be
// connected as an administrator to see every firm.
func (a *App) VerifyAll(ctx context.Context) ([]chain.Report, error) {
	firms, err := a.store.FirmsWithChains(ctx)
	if err != nil {
		return nil, err
	}
	reports := make([]chain.Report, 0, len(firms))
	for _, firm := range firms {
		r, err := a.verify(ctx, firm)
		if err != nil {
			return reports, err
		}
		reports = append(reports, r)
	}
	return reports, nil
}

func (a *App) verify(ctx context.Context, firm uuid.UUID) (chain.Report, error) {
	var report chain.Report
	err := a.store.InFirmSnapshot(ctx, firm, func(q *store.Queries) error {
		head, err := q.Head(ctx)
		if err != nil {
			return err
		}
		start, err := q.Start(ctx)
		if err != nil {
			return err
		}
		checkpoints, err := q.Checkpoints(ctx, 0, 0)
		if err != nil {
			return err
		}
		checker := chain.NewChecker(q.FirmID(), start, checkpoints, a.verifier)
		checker.ExpectHead(head)
		if err := q.ChainFrom(ctx, 0, 0, func(e *chain.Event) bool { checker.Add(e); return true }); err != nil {
			return err
		}
		report = checker.Finish()
		return nil
	})
	return report, err
}

// Settings returns how the firm's log is kept.
func (a *App) Settings(ctx context.Context, p principal.Principal, firmID string) (domain.Settings, error) {
	var s domain.Settings
	err := a.inFirm(ctx, p, firmID, func(q *store.Queries) error {
		var err error
		s, err = q.Settings(ctx)
		return err
	})
	return s, err
}

// LengthenRetention keeps the firm's events for days.
func (a *App) LengthenRetention(ctx context.Context, p principal.Principal, firmID string, days int) (domain.Settings, error) {
	var s domain.Settings
	err := a.inFirm(ctx, p, firmID, func(q *store.Queries) error {
		var err error
		if s, err = q.Settings(ctx); err != nil {
			return err
		}
		if err := s.Lengthen(days); err != nil {
			return err
		}
		return q.SaveSettings(ctx, s)
	})
	return s, err
}
