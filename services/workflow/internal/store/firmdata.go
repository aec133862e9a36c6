package store

import (
	"context"
	"time"

	"github.com/firmflow/firmflow/pkg/firmdata"
)

// Sealed client columns are bound to the clients table (see app/clients_crypto.go).
var exportEntities = []firmdata.Entity{
	{Name: "permissions", SchemaVersion: 1, Query: `select role, category, action, scope
		from permissions where firm_id = current_firm_id() order by role, category, action`},
	{Name: "clients", SchemaVersion: 1, Query: `select id, display_name, kind, description, priority, assignees,
		services, tags, external_id, tax_id, bank_account, bank_routing, notes, import_id, version, create_time, update_time
		from clients where firm_id = current_firm_id() and delete_time is null order by id`,
		Sealed: []string{"tax_id", "bank_account", "bank_routing", "notes"}},
	{Name: "custom_field_definitions", SchemaVersion: 1, Query: `select id, key, display_name, type, options, version,
		create_time, update_time from custom_field_definitions where firm_id = current_firm_id() and delete_time is null order by id`},
	{Name: "client_field_values", SchemaVersion: 1, Query: `select client_id, field_id, value
		from client_field_values where firm_id = current_firm_id() order by client_id, field_id`},
	{Name: "contacts", SchemaVersion: 1, Query: `select id, display_name, given_name, family_name, job_title, emails,
		phones, addresses, external_id, version, create_time, update_time from contacts where firm_id = current_firm_id() and delete_time is null order by id`},
	{Name: "client_contacts", SchemaVersion: 1, Query: `select client_id, contact_id, is_primary, relationship, version,
		create_time from client_contacts where firm_id = current_firm_id() order by client_id, contact_id`},
	{Name: "templates", SchemaVersion: 1, Query: `select id, display_name, description, budget_minutes, tasks, revision,
		create_time, update_time from templates where firm_id = current_firm_id() and delete_time is null order by id`},
	{Name: "template_revisions", SchemaVersion: 1, Query: `select template_id, revision, display_name, description,
		budget_minutes, tasks, create_time from template_revisions where firm_id = current_firm_id() order by template_id, revision`},
	{Name: "series", SchemaVersion: 1, Query: `select id, client_id, template_id, display_name, assignee_id, budget_minutes,
		frequency, interval_count, start_date, end_date, due_kind, due_day, due_nth, due_weekday, due_lag_days,
		weekend_shift, create_ahead_days, paused, next_run_date, version, create_time, update_time
		from series where firm_id = current_firm_id() and delete_time is null order by id`},
	{Name: "series_periods", SchemaVersion: 1, Query: `select series_id, period_start, project_id, create_time
		from series_periods where firm_id = current_firm_id() order by series_id, period_start`},
	{Name: "projects", SchemaVersion: 1, Query: `select id, client_id, display_name, description, status, start_date,
		due_date, deadline_date, assignee_id, budget_minutes, tags, template_id, template_revision, series_id, period_start,
		task_count, completed_task_count, version, create_time, update_time
		from projects where firm_id = current_firm_id() and delete_time is null order by id`},
	{Name: "tasks", SchemaVersion: 1, Query: `select id, project_id, client_id, position, title, description, role, status,
		assignee_id, due_date, estimate_minutes, checklist, from_template, complete_time, version, create_time, update_time
		from tasks where firm_id = current_firm_id() and delete_time is null order by id`},
	{Name: "member_capacities", SchemaVersion: 1, Query: `select member_id, weekly_minutes, version, update_time
		from member_capacities where firm_id = current_firm_id() order by member_id`},
	{Name: "webhook_subscriptions", SchemaVersion: 1, Query: `select id, url, event_types, state, disable_reason, disable_time,
		version, create_time, update_time from webhook_subscriptions where firm_id = current_firm_id() order by id`},
}

// firmTables: not exported are tombstones (deleted clients, contacts, projects,
// tasks, templates, series and custom fields kept for syncs), client_tags and client_assignees (copies of
// clients.tags and clients.assignees kept by a trigger for filtering), members (a
// copy of identity's, which its own export holds), the blind
// index of tax ids (a keyed digest, not data), create_requests (retry bookkeeping),
// webhook secrets and deliveries (sealed secrets, and a log of messages naming
// objects the export holds), and queued events; every table is deleted.
var firmTables = firmdata.Tables{
	Export: exportEntities, Delete: firmDeletes,
	// Tombstones past domain.TombstoneRetention (migrations 009 and 012), the webhook delivery
	// log after 30 days (migration 011).
	Prune: []string{"select table_name, n_rows from prune_workflow($1)", "select table_name, n_rows from prune_webhook_deliveries($1)"},
}

// ExportEntities names what an export holds.
func ExportEntities() []string { return firmTables.EntityNames() }

// ExportFirm streams every exported entity of the firm from one snapshot.
func (s *Store) ExportFirm(ctx context.Context, firmID string, key func() (firmdata.Opener, error), send func(firmdata.Batch) error) error {
	return firmTables.ExportFirm(ctx, s.db, firmID, key, send)
}

// DeleteFirm removes every row of the firm, its queued events included, in one
// transaction, and answers the rows removed per table.
func (s *Store) DeleteFirm(ctx context.Context, firmID string) ([]firmdata.Count, error) {
	return firmTables.DeleteFirm(ctx, s.db, firmID)
}

// CountFirmRows counts the firm's rows in every table that has a firm_id column.
func (s *Store) CountFirmRows(ctx context.Context, firmID string) ([]firmdata.Count, error) {
	return firmdata.CountFirm(ctx, s.db, firmID)
}

// firmDeletes remove the firm's rows child tables first, so no foreign key refuses.
var firmDeletes = []firmdata.TableDelete{
	{Table: "webhook_deliveries", SQL: "delete from webhook_deliveries where firm_id = $1"},
	{Table: "webhook_subscriptions", SQL: "delete from webhook_subscriptions where firm_id = $1"},
	{Table: "tasks", SQL: "delete from tasks where firm_id = $1"},
	{Table: "series_periods", SQL: "delete from series_periods where firm_id = $1"},
	{Table: "projects", SQL: "delete from projects where firm_id = $1"},
	{Table: "series", SQL: "delete from series where firm_id = $1"},
	{Table: "template_revisions", SQL: "delete from template_revisions where firm_id = $1"},
	{Table: "templates", SQL: "delete from templates where firm_id = $1"},
	{Table: "client_field_values", SQL: "delete from client_field_values where firm_id = $1"},
	{Table: "client_contacts", SQL: "delete from client_contacts where firm_id = $1"},
	{Table: "contacts", SQL: "delete from contacts where firm_id = $1"},
	{Table: "custom_field_definitions", SQL: "delete from custom_field_definitions where firm_id = $1"},
	{Table: "client_tags", SQL: "delete from client_tags where firm_id = $1"},
	{Table: "client_assignees", SQL: "delete from client_assignees where firm_id = $1"},
	{Table: "clients", SQL: "delete from clients where firm_id = $1"},
	{Table: "member_capacities", SQL: "delete from member_capacities where firm_id = $1"},
	{Table: "members", SQL: "delete from members where firm_id = $1"},
	{Table: "permissions", SQL: "delete from permissions where firm_id = $1"},
	{Table: "create_requests", SQL: "delete from create_requests where firm_id = $1"},
}

// Prune removes, across every firm, what has served its purpose as of now, and
// answers the rows removed per table.
func (s *Store) Prune(ctx context.Context, now time.Time) ([]firmdata.Count, error) {
	return firmTables.PruneAll(ctx, s.db, now)
}
