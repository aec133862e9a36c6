package app

import (
	"context"
	"log/slog"
	"time"

	"github.com/firmflow/firmflow/pkg/firmdata"
)

// The firm-data use cases serve lifecycle only (the policy admits its certificate
// alone); they take the firm from the request, not from a principal. The verifiable
// export file lifecycle hands the firm comes from ExportAuditEvents (package export);
// ExportFirmData is the raw chain beside the firm's other data.

// FactChainHead names the fact holding the hex hash of the firm's chain head as it
// was when the chain was deleted: the deletion certificate quotes it, so the firm's
// own export can be shown complete up to the end.
const FactChainHead = "audit_chain_head"

// ExportFirmData streams the firm's events, checkpoints, chain starts, head and
// settings.
func (a *App) ExportFirmData(ctx context.Context, firmID string, send func(firmdata.Batch) error) error {
	return a.store.ExportFirm(ctx, firmID, send)
}

// DeleteFirmData records the chain's final head, then deletes the firm's chain and
// everything else audit holds for it, in one transaction.
func (a *App) DeleteFirmData(ctx context.Context, firmID, deletion string) (firmdata.Deleted, error) {
	counts, head, err := a.store.DeleteFirm(ctx, firmID)
	if err != nil {
		return firmdata.Deleted{}, err
	}
	slog.InfoContext(ctx, "firm audit chain deleted", slog.String("firm_id", firmID),
		slog.String("deletion", deletion), slog.String("chain_head", head))
	d := firmdata.Deleted{Tables: counts, Facts: map[string]string{}}
	if head != "" {
		d.Facts[FactChainHead] = head
	}
	return d, nil
}

// CountFirmRows counts what audit still holds for the firm, table by table.
func (a *App) CountFirmRows(ctx context.Context, firmID string) ([]firmdata.Count, error) {
	return a.store.CountFirmRows(ctx, firmID)
}

// Prune is the retention run's step in audit: the queues, then the log's monthly
// partitions every firm has kept long enough (what `audit retention` drops), counted
// as one row per partition dropped under "audit_events partitions".
func (a *App) Prune(ctx context.Context, now time.Time) ([]firmdata.Count, error) {
	counts, err := a.store.Prune(ctx, now)
	if err != nil || a.dropPartitions == nil {
		return counts, err
	}
	dropped, err := a.dropPartitions(ctx, now)
	if err != nil {
		return counts, err
	}
	return append(counts, firmdata.Count{Table: "audit_events partitions", Rows: int64(len(dropped))}), nil
}

// UsePartitionRetention sets how Prune drops expired partitions: through the
// retention role's connection, which the runtime role may not use.
func (a *App) UsePartitionRetention(drop func(ctx context.Context, now time.Time) ([]string, error)) {
	a.dropPartitions = drop
}
