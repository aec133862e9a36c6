package firmdata

import (
	"context"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/firmflow/firmflow/pkg/pg"
)

// Tables is a service's firm data as lifecycle reaches it: the entities an export
// holds, the statements that delete the firm's rows, children first, and what the
// retention run prunes besides the queues.
type Tables struct {
	Export []Entity
	Delete []TableDelete
	// Prune are queries taking the run's clock as $1 and answering (table_name,
	// n_rows) per table they pruned. Pruning spans every firm, so each calls a
	// SECURITY DEFINER function of the service's migrations.
	Prune []string
}

// EntityNames are the entities an export holds, in order.
func (t Tables) EntityNames() []string {
	names := make([]string, len(t.Export))
	for i, e := range t.Export {
		names[i] = e.Name
	}
	return names
}

// ExportFirm streams every entity of the firm from one snapshot.
func (t Tables) ExportFirm(ctx context.Context, db *pg.DB, firmID string, key func() (Opener, error), send func(Batch) error) error {
	return db.InFirmSnapshot(ctx, firmID, func(tx pgx.Tx) error {
		return Export(ctx, tx, firmID, t.Export, key, send)
	})
}

// DeleteFirm removes the firm's rows of every table, then its queued events, in one
// transaction, and answers the rows removed per table.
func (t Tables) DeleteFirm(ctx context.Context, db *pg.DB, firmID string) ([]Count, error) {
	var out []Count
	err := db.InFirm(ctx, firmID, func(tx pgx.Tx) error {
		tables, err := Delete(ctx, tx, firmID, t.Delete)
		if err != nil {
			return err
		}
		queues, err := DeleteQueues(ctx, tx, firmID)
		out = append(tables, queues...)
		return err
	})
	return out, err
}

// CountFirm counts the firm's rows in every table that names a firm.
func CountFirm(ctx context.Context, db *pg.DB, firmID string) ([]Count, error) {
	var out []Count
	err := db.InFirm(ctx, firmID, func(tx pgx.Tx) (err error) {
		out, err = CountRows(ctx, tx, firmID)
		return err
	})
	return out, err
}

// PruneAll removes, in one transaction, the queues' rows past their windows
// (PruneQueues) and whatever the service's Prune queries remove as of now.
func (t Tables) PruneAll(ctx context.Context, db *pg.DB, now time.Time) ([]Count, error) {
	var out []Count
	err := db.InTx(ctx, func(tx pgx.Tx) error {
		var err error
		if out, err = PruneQueues(ctx, tx, now); err != nil {
			return err
		}
		for _, q := range t.Prune {
			more, err := counts(ctx, tx, q, now)
			if err != nil {
				return err
			}
			out = append(out, more...)
		}
		return nil
	})
	return out, err
}
