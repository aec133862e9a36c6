package store

import (
	"context"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/firmflow/firmflow/pkg/paging"
	"github.com/firmflow/firmflow/pkg/pg"
	"github.com/firmflow/firmflow/pkg/principal"
	"github.com/firmflow/firmflow/services/identity/internal/domain"
)

// ---- support grants (firm-scoped) ----

const grantColumns = `id::text, firm_id::text, staff_id::text, staff_email, staff_name, reason, ticket, state,
	coalesce(scope, ''), request_time, coalesce(decided_by, ''), coalesce(decide_time, 'epoch'), expire_time,
	coalesce(first_use_time, 'epoch'), coalesce(revoke_time, 'epoch'), coalesce(revoked_by, '')`

func scanGrant(row pgx.Row) (domain.SupportGrant, error) {
	var g domain.SupportGrant
	var state, scope string
	err := row.Scan(&g.ID, &g.FirmID, &g.StaffID, &g.StaffEmail, &g.StaffName, &g.Reason, &g.Ticket, &state,
		&scope, &g.RequestTime, &g.DecidedBy, &g.DecideTime, &g.ExpireTime,
		&g.FirstUseTime, &g.RevokeTime, &g.RevokedBy)
	g.Status, g.Scope = domain.GrantState(state), principal.GrantScope(scope)
	g.DecideTime, g.FirstUseTime, g.RevokeTime = unepoch(g.DecideTime), unepoch(g.FirstUseTime), unepoch(g.RevokeTime)
	return g, err
}

// CreateSupportGrant inserts a request for support access.
func (q *Queries) CreateSupportGrant(ctx context.Context, g domain.SupportGrant) error {
	_, err := q.tx.Exec(ctx, `insert into support_grants (id, firm_id, staff_id, staff_email, staff_name, reason, ticket,
		state, request_time, expire_time) values ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)`,
		g.ID, g.FirmID, g.StaffID, g.StaffEmail, g.StaffName, g.Reason, g.Ticket, string(g.Status), g.RequestTime, g.ExpireTime)
	return err
}

// SupportGrant reads one grant of the transaction's firm.
func (q *Queries) SupportGrant(ctx context.Context, id string) (domain.SupportGrant, error) {
	g, err := scanGrant(q.tx.QueryRow(ctx, "select "+grantColumns+" from support_grants where id = $1", id))
	return g, pg.NotFound(err, "support grant")
}

// SupportGrantForUpdate reads one grant and locks it until the transaction ends.
func (q *Queries) SupportGrantForUpdate(ctx context.Context, id string) (domain.SupportGrant, error) {
	g, err := scanGrant(q.tx.QueryRow(ctx, "select "+grantColumns+" from support_grants where id = $1 for update", id))
	return g, pg.NotFound(err, "support grant")
}

// SupportGrants lists a page of the firm's grants, newest first.
func (q *Queries) SupportGrants(ctx context.Context, page paging.Page) ([]domain.SupportGrant, bool, error) {
	after := paging.Cursor{}
	if page.After != nil {
		after = *page.After
	}
	rows, err := q.tx.Query(ctx, "select "+grantColumns+` from support_grants
		where $1::boolean or (request_time, id) < ($2, $3::uuid)
		order by request_time desc, id desc limit $4`, page.After == nil, after.Time, pg.NullString(after.ID), page.Size+1)
	if err != nil {
		return nil, false, err
	}
	grants, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (domain.SupportGrant, error) { return scanGrant(r) })
	if err != nil {
		return nil, false, err
	}
	more := len(grants) > page.Size
	return grants[:min(len(grants), page.Size)], more, nil
}

// SaveSupportGrant writes a grant's decision, expiry and revocation.
func (q *Queries) SaveSupportGrant(ctx context.Context, g domain.SupportGrant) error {
	_, err := q.tx.Exec(ctx, `update support_grants set state = $2, scope = nullif($3, ''), decided_by = nullif($4, ''),
		decide_time = $5, expire_time = $6, revoke_time = $7, revoked_by = nullif($8, '') where id = $1`,
		g.ID, string(g.Status), string(g.Scope), g.DecidedBy, pg.NullTime(g.DecideTime), g.ExpireTime,
		pg.NullTime(g.RevokeTime), g.RevokedBy)
	return err
}

// MarkGrantFirstUse records the first use of a grant; it reports false when it was
// used before, so that only one request announces it.
func (q *Queries) MarkGrantFirstUse(ctx context.Context, id string, now time.Time) (bool, error) {
	tag, err := q.tx.Exec(ctx, "update support_grants set first_use_time = $2 where id = $1 and first_use_time is null", id, now)
	return tag.RowsAffected() == 1, err
}

// ---- notifications (firm-scoped) ----

// AddNotification stores a notification; it reports false when the grant already has
// one of that kind, which is then left as it was.
func (q *Queries) AddNotification(ctx context.Context, n domain.Notification) (bool, error) {
	tag, err := q.tx.Exec(ctx, `insert into notifications (id, firm_id, kind, grant_id, text, create_time)
		values ($1, $2, $3, $4, $5, $6) on conflict (grant_id, kind) do nothing`,
		n.ID, n.FirmID, string(n.Kind), pg.NullString(n.GrantID), n.Text, n.CreateTime)
	return tag.RowsAffected() == 1, err
}

// AddIncidentNotification stores an incident's notice; posted again for the same
// incident, the first stays.
func (q *Queries) AddIncidentNotification(ctx context.Context, n domain.Notification) error {
	_, err := q.tx.Exec(ctx, `insert into notifications (id, firm_id, kind, incident_id, text, create_time)
		values ($1, $2, $3, $4, $5, $6) on conflict (firm_id, incident_id) where incident_id is not null do nothing`,
		n.ID, n.FirmID, string(n.Kind), n.IncidentID, n.Text, n.CreateTime)
	return err
}

// AddWebhookNotification stores a webhook subscription's notice; added again with
// the same id (a redelivered event), the first stays. It reports whether it was new.
func (q *Queries) AddWebhookNotification(ctx context.Context, n domain.Notification) (bool, error) {
	tag, err := q.tx.Exec(ctx, `insert into notifications (id, firm_id, kind, webhook_subscription, text, create_time)
		values ($1, $2, $3, $4, $5, $6) on conflict (id) do nothing`,
		n.ID, n.FirmID, string(n.Kind), n.WebhookSubscription, n.Text, n.CreateTime)
	return tag.RowsAffected() == 1, err
}

// Notifications lists a page of the firm's notifications, newest first.
func (q *Queries) Notifications(ctx context.Context, page paging.Page) ([]domain.Notification, bool, error) {
	after := paging.Cursor{}
	if page.After != nil {
		after = *page.After
	}
	rows, err := q.tx.Query(ctx, `select id::text, firm_id::text, kind, coalesce(grant_id::text, ''), coalesce(incident_id::text, ''),
		coalesce(webhook_subscription, ''), text, create_time
		from notifications where $1::boolean or (create_time, id) < ($2, $3::uuid)
		order by create_time desc, id desc limit $4`, page.After == nil, after.Time, pg.NullString(after.ID), page.Size+1)
	if err != nil {
		return nil, false, err
	}
	notes, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (domain.Notification, error) {
		var n domain.Notification
		var kind string
		err := r.Scan(&n.ID, &n.FirmID, &kind, &n.GrantID, &n.IncidentID, &n.WebhookSubscription, &n.Text, &n.CreateTime)
		n.Kind = domain.NotificationKind(kind)
		return n, err
	})
	if err != nil {
		return nil, false, err
	}
	more := len(notes) > page.Size
	return notes[:min(len(notes), page.Size)], more, nil
}
