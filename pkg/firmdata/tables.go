package firmdata

import (
	"context"

	"github.com/jackc/pgx/v5"

	"github.com/firmflow/firmflow/pkg/pg"
)

// Tables is a service's firm data as lifecycle reaches it: the entities an export
// holds and the statements that delete the firm's rows, children first.
type Tables struct {
	Export []Entity
	Delete []TableDelete
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
