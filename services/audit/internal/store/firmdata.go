package store

import (
	"context"
	"encoding/hex"
	"errors"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/firmflow/firmflow/pkg/firmdata"
)

// firmTables are audit's firm data: the chain's events, checkpoints, chain starts
// and head, and the firm's settings. Hashes are hex; payloads are base64 of the
// event's protobuf bytes, as the chain hashed them. Deletion goes through
// audit_delete_firm (DeleteFirm), the only way past the append-only triggers.
var firmTables = firmdata.Tables{
	Export: []firmdata.Entity{
		{Name: "audit_events", SchemaVersion: 1, Query: `select seq, event_id, record_time, time, kind, category, actor,
			action, resources, code, subject, payload, encode(prev_hash, 'hex') as prev_hash, encode(hash, 'hex') as hash
			from audit_events where firm_id = current_firm_id() order by seq`},
		{Name: "audit_checkpoints", SchemaVersion: 1, Query: `select seq, encode(hash, 'hex') as hash, time, signed_note
			from audit_checkpoints where firm_id = current_firm_id() order by seq, time`},
		{Name: "audit_chain_starts", SchemaVersion: 1, Query: `select first_seq, encode(prev_hash, 'hex') as prev_hash, cut_time
			from audit_chain_starts where firm_id = current_firm_id() order by first_seq`},
		{Name: "audit_chain_head", SchemaVersion: 1, Query: `select seq, encode(hash, 'hex') as hash, record_time
			from audit_chain_heads where firm_id = current_firm_id()`},
		{Name: "audit_settings", SchemaVersion: 1, Query: `select retention_days, update_time
			from audit_settings where firm_id = current_firm_id()`},
	},
}

// ExportEntities names what an export holds.
func ExportEntities() []string { return firmTables.EntityNames() }

// ExportFirm streams every exported entity of the firm from one snapshot.
func (s *Store) ExportFirm(ctx context.Context, firmID string, send func(firmdata.Batch) error) error {
	return firmTables.ExportFirm(ctx, s.db, firmID, nil, send)
}

// DeleteFirm reads the firm's chain head, then removes its chain, settings and
// queued events in the same transaction. head is "" when the firm has no chain
// (never had one, or already deleted).
func (s *Store) DeleteFirm(ctx context.Context, firmID string) (counts []firmdata.Count, head string, err error) {
	err = s.db.InFirm(ctx, firmID, func(tx pgx.Tx) error {
		var hash []byte
		err := tx.QueryRow(ctx, "select hash from audit_chain_heads where firm_id = $1", firmID).Scan(&hash)
		if err != nil && !errors.Is(err, pgx.ErrNoRows) {
			return err
		}
		head = hex.EncodeToString(hash)
		rows, err := tx.Query(ctx, "select table_name, n_rows from audit_delete_firm($1)", firmID)
		if err != nil {
			return err
		}
		counts, err = pgx.CollectRows(rows, func(r pgx.CollectableRow) (firmdata.Count, error) {
			var c firmdata.Count
			err := r.Scan(&c.Table, &c.Rows)
			return c, err
		})
		if err != nil {
			return err
		}
		queues, err := firmdata.DeleteQueues(ctx, tx, firmID)
		counts = append(counts, queues...)
		return err
	})
	return counts, head, err
}

// CountFirmRows counts the firm's rows in every table that has a firm_id column.
func (s *Store) CountFirmRows(ctx context.Context, firmID string) ([]firmdata.Count, error) {
	return firmdata.CountFirm(ctx, s.db, firmID)
}

// Prune removes, across every firm, what has served its purpose as of now, and
// answers the rows removed per table.
func (s *Store) Prune(ctx context.Context, now time.Time) ([]firmdata.Count, error) {
	return firmTables.PruneAll(ctx, s.db, now)
}
