package store

import (
	"context"
	"time"

	"github.com/firmflow/firmflow/pkg/firmdata"
)

// firmTables are identity's firm data. Secrets are not exported, they are not data:
// password hashes, TOTP secrets (members say only whether they enrolled), session
// token and CSRF hashes, API key secret hashes, invitation and password reset token
// hashes, email bodies (they may hold a token; they are cleared once sent). Nothing
// exported is sealed. The staff tables belong to no firm; a firm's support grants
// keep the staff member's name and email as the firm was shown them.
var firmTables = firmdata.Tables{
	Prune: []string{
		"select table_name, n_rows from prune_identity($1)",
		"select table_name, n_rows from prune_password_resets($1)",
	},
	Export: []firmdata.Entity{
		{Name: "firm", SchemaVersion: 1, Query: `select id, display_name, require_totp, version, create_time, update_time
			from firms where id = current_firm_id()`},
		{Name: "members", SchemaVersion: 1, Query: `select id, email, display_name, role,
			totp_secret is not null as totp_enrolled, failed_logins, locked_until, version, create_time
			from members where firm_id = current_firm_id() order by id`},
		{Name: "sessions", SchemaVersion: 1, Query: `select id, member_id, enrolling, user_agent, client_ip, create_time,
			last_seen_time, idle_expire_time, expire_time, revoke_time
			from sessions where firm_id = current_firm_id() order by id`},
		{Name: "api_keys", SchemaVersion: 1, Query: `select id, display_name, prefix, scopes, created_by, rotated_from,
			create_time, expire_time, last_used_time, revoke_time
			from api_keys where firm_id = current_firm_id() order by id`},
		{Name: "invitations", SchemaVersion: 1, Query: `select id, email, role, invited_by, create_time, expire_time, accept_time
			from invitations where firm_id = current_firm_id() order by id`},
		{Name: "support_grants", SchemaVersion: 1, Query: `select id, staff_id, staff_email, staff_name, reason, ticket,
			state, scope, request_time, decided_by, decide_time, expire_time, first_use_time, revoke_time, revoked_by
			from support_grants where firm_id = current_firm_id() order by id`},
		{Name: "notifications", SchemaVersion: 1, Query: `select id, kind, grant_id, text, create_time
			from notifications where firm_id = current_firm_id() order by id`},
		{Name: "password_resets", SchemaVersion: 1, Query: `select id, member_id, create_time, expire_time, used_time
			from password_resets where firm_id = current_firm_id() order by id`},
		{Name: "emails", SchemaVersion: 1, Query: `select message_id, recipient, subject, status, attempts, last_error,
			created_at, sent_at from mail_outbox where firm_id = current_firm_id() order by created_at, message_id`},
	},
	Delete: []firmdata.TableDelete{
		{Table: "mail_outbox", SQL: "delete from mail_outbox where firm_id = $1"},
		{Table: "password_resets", SQL: "delete from password_resets where firm_id = $1"},
		{Table: "notifications", SQL: "delete from notifications where firm_id = $1"},
		{Table: "support_grants", SQL: "delete from support_grants where firm_id = $1"},
		{Table: "invitations", SQL: "delete from invitations where firm_id = $1"},
		{Table: "api_keys", SQL: "delete from api_keys where firm_id = $1"},
		{Table: "sessions", SQL: "delete from sessions where firm_id = $1"},
		{Table: "members", SQL: "delete from members where firm_id = $1"},
		{Table: "firms", SQL: "delete from firms where id = $1"},
	},
}

// ExportEntities names what an export holds.
func ExportEntities() []string { return firmTables.EntityNames() }

// ExportFirm streams every exported entity of the firm from one snapshot.
func (s *Store) ExportFirm(ctx context.Context, firmID string, send func(firmdata.Batch) error) error {
	return firmTables.ExportFirm(ctx, s.db, firmID, nil, send)
}

// DeleteFirm removes every row of the firm, the firm and its queued events included,
// in one transaction, and answers the rows removed per table.
func (s *Store) DeleteFirm(ctx context.Context, firmID string) ([]firmdata.Count, error) {
	return firmTables.DeleteFirm(ctx, s.db, firmID)
}

// CountFirmRows counts the firm's rows in every table that names it.
func (s *Store) CountFirmRows(ctx context.Context, firmID string) ([]firmdata.Count, error) {
	return firmdata.CountFirm(ctx, s.db, firmID)
}

// Prune removes, across every firm, what has served its purpose as of now, and
// answers the rows removed per table.
func (s *Store) Prune(ctx context.Context, now time.Time) ([]firmdata.Count, error) {
	return firmTables.PruneAll(ctx, s.db, now)
}
