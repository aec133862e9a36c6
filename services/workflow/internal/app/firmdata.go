package app

import (
	"context"
	"log/slog"
	"time"

	"github.com/firmflow/firmflow/pkg/firmdata"
)

// The firm-data use cases serve lifecycle only (the policy admits its certificate
// alone); they take the firm from the request, not from a principal.

// ExportFirmData streams every entity of the firm with its sensitive fields opened:
// the export is the firm's own data.
func (a *App) ExportFirmData(ctx context.Context, firmID string, send func(firmdata.Batch) error) error {
	var opened interface{ Destroy() }
	defer func() {
		if opened != nil {
			opened.Destroy()
		}
	}()
	key := func() (firmdata.Opener, error) {
		k, err := a.keys.DataKey(ctx, firmID)
		if err != nil {
			return nil, err
		}
		opened = k
		return k, nil
	}
	return a.store.ExportFirm(ctx, firmID, key, send)
}

// DeleteFirmData removes everything workflow holds for the firm. The firm's data key
// is destroyed by identity's deletion, which ends the saga.
func (a *App) DeleteFirmData(ctx context.Context, firmID, deletion string) (firmdata.Deleted, error) {
	tables, err := a.store.DeleteFirm(ctx, firmID)
	if err != nil {
		return firmdata.Deleted{}, err
	}
	slog.InfoContext(ctx, "firm data deleted", slog.String("firm_id", firmID), slog.String("deletion", deletion))
	return firmdata.Deleted{Tables: tables}, nil
}

// CountFirmRows counts what workflow still holds for the firm, table by table.
func (a *App) CountFirmRows(ctx context.Context, firmID string) ([]firmdata.Count, error) {
	return a.store.CountFirmRows(ctx, firmID)
}

// Prune is the retention run's step in this service: see firmdata.UseCases.
func (a *App) Prune(ctx context.Context, now time.Time) ([]firmdata.Count, error) {
	return a.store.Prune(ctx, now)
}
