package app

import (
	"context"
	"log/slog"
	"strings"
	"time"

	"github.com/firmflow/firmflow/pkg/firmdata"
)

// The firm-data use cases serve lifecycle only (the policy admits its certificate
// alone); they take the firm from the request, not from a principal.

// ExportFirmData streams the firm, its members, sessions, API keys, invitations,
// support grants and notifications, without any secret.
func (a *App) ExportFirmData(ctx context.Context, firmID string, send func(firmdata.Batch) error) error {
	return a.store.ExportFirm(ctx, firmID, send)
}

// FactDestroyedKeys names the fact listing the ids of the firm's data keys destroyed
// in the key store, comma-separated.
const FactDestroyedKeys = "destroyed_data_keys"

// DeleteFirmData removes everything identity holds for the firm, then destroys the
// firm's data keys of every service in the key store, which shreds whatever sealed
// value of the firm survives anywhere, backups included. Identity is therefore the
// saga's last deletion. The two steps are each idempotent: a retry after a failure
// between them deletes no more rows and destroys the keys.
func (a *App) DeleteFirmData(ctx context.Context, firmID, deletion string) (firmdata.Deleted, error) {
	tables, err := a.store.DeleteFirm(ctx, firmID)
	if err != nil {
		return firmdata.Deleted{}, err
	}
	keyIDs, err := a.keys.DestroyFirm(ctx, firmID)
	if err != nil {
		return firmdata.Deleted{}, err
	}
	slog.InfoContext(ctx, "firm data deleted and keys destroyed", slog.String("firm_id", firmID),
		slog.String("deletion", deletion), slog.Int("keys", len(keyIDs)))
	d := firmdata.Deleted{Tables: tables, Facts: map[string]string{}}
	if len(keyIDs) > 0 {
		d.Facts[FactDestroyedKeys] = strings.Join(keyIDs, ",")
	}
	return d, nil
}

// CountFirmRows counts what identity still holds for the firm, table by table.
func (a *App) CountFirmRows(ctx context.Context, firmID string) ([]firmdata.Count, error) {
	return a.store.CountFirmRows(ctx, firmID)
}

// Prune is the retention run's step in this service: see firmdata.UseCases.
func (a *App) Prune(ctx context.Context, now time.Time) ([]firmdata.Count, error) {
	return a.store.Prune(ctx, now)
}
