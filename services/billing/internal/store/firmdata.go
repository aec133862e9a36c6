package store

import (
	"context"
	"time"

	"github.com/firmflow/firmflow/pkg/firmdata"
)

// firmTables are billing's firm data. Nothing billing stores is a card or sealed:
// invoices and payment methods live at Stripe, and the firm reaches them through the
// Billing Portal until its customer is deleted.
var firmTables = firmdata.Tables{
	Prune: []string{"select table_name, n_rows from prune_stripe_events($1)"},
	Export: []firmdata.Entity{
		{Name: "account", SchemaVersion: 1, Query: `select stripe_customer_id, active_members, members_as_of, create_time
			from accounts where firm_id = current_firm_id()`},
		{Name: "subscription", SchemaVersion: 1, Query: `select stripe_subscription_id, status, price_id, item_id, quantity,
			current_period_end, cancel_at_period_end, canceled_at, subscription_created, observed_at, lapsed_at, update_time
			from subscriptions where firm_id = current_firm_id()`},
		{Name: "stripe_events", SchemaVersion: 1, Query: `select id, type, created, source, received_at
			from stripe_events where firm_id = current_firm_id() order by created, id`},
	},
	Delete: []firmdata.TableDelete{
		{Table: "stripe_events", SQL: "delete from stripe_events where firm_id = $1"},
		{Table: "subscriptions", SQL: "delete from subscriptions where firm_id = $1"},
		{Table: "accounts", SQL: "delete from accounts where firm_id = $1"},
	},
}

// ExportEntities names what an export holds.
func ExportEntities() []string { return firmTables.EntityNames() }

// ExportFirm streams every exported entity of the firm from one snapshot.
func (s *Store) ExportFirm(ctx context.Context, firmID string, send func(firmdata.Batch) error) error {
	return firmTables.ExportFirm(ctx, s.db, firmID, nil, send)
}

// DeleteFirmRows removes every row of the firm, its inbox and outbox included, in
// the transaction, and answers the rows removed per table.
func (q *Queries) DeleteFirmRows(ctx context.Context, firmID string) ([]firmdata.Count, error) {
	tables, err := firmdata.Delete(ctx, q.tx, firmID, firmTables.Delete)
	if err != nil {
		return nil, err
	}
	queues, err := firmdata.DeleteQueues(ctx, q.tx, firmID)
	return append(tables, queues...), err
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
