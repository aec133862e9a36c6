package store

import (
	"context"
	"errors"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/firmflow/firmflow/pkg/apierr"
	"github.com/firmflow/firmflow/pkg/paging"
	"github.com/firmflow/firmflow/pkg/pg"
	"github.com/firmflow/firmflow/services/workflow/internal/domain"
)

// WebhookSubscriptionRecord is a subscription as stored: its secrets sealed with the
// firm's data key (the domain value's secret fields stay empty).
type WebhookSubscriptionRecord struct {
	domain.WebhookSubscription
	SealedSecret         []byte
	SealedPreviousSecret []byte
}

const webhookSubscriptionColumns = `s.id::text, s.firm_id::text, s.url, s.event_types, s.state, s.secret, s.previous_secret,
	s.previous_secret_expire_time, s.disable_reason, s.disable_time, s.failing_since, s.version, s.create_time, s.update_time`

func scanWebhookSubscription(row pgx.Row) (WebhookSubscriptionRecord, error) {
	var r WebhookSubscriptionRecord
	var prevExpire, disableTime, failingSince *time.Time
	err := row.Scan(&r.ID, &r.FirmID, &r.URL, &r.EventTypes, &r.State, &r.SealedSecret, &r.SealedPreviousSecret,
		&prevExpire, &r.DisableReason, &disableTime, &failingSince, &r.Version, &r.CreateTime, &r.UpdateTime)
	r.PreviousSecretExpireTime, r.DisableTime, r.FailingSince = timeOrZero(prevExpire), timeOrZero(disableTime), timeOrZero(failingSince)
	return r, err
}

func timeOrZero(t *time.Time) time.Time {
	if t == nil {
		return time.Time{}
	}
	return *t
}

// CreateWebhookSubscription inserts a subscription.
func (q *Queries) CreateWebhookSubscription(ctx context.Context, r WebhookSubscriptionRecord) error {
	_, err := q.tx.Exec(ctx, `insert into webhook_subscriptions (id, firm_id, url, event_types, state, secret,
		create_time, update_time) values ($1, $2, $3, $4, $5, $6, $7, $7)`,
		r.ID, q.firmID, r.URL, r.EventTypes, string(r.State), r.SealedSecret, r.CreateTime)
	return err
}

// WebhookSubscription reads one subscription.
func (q *Queries) WebhookSubscription(ctx context.Context, id string) (WebhookSubscriptionRecord, error) {
	r, err := scanWebhookSubscription(q.tx.QueryRow(ctx, "select "+webhookSubscriptionColumns+" from webhook_subscriptions s where s.id = $1", id))
	return r, pg.NotFound(err, "webhook subscription")
}

// WebhookSubscriptionForUpdate reads one subscription and locks it.
func (q *Queries) WebhookSubscriptionForUpdate(ctx context.Context, id string) (WebhookSubscriptionRecord, error) {
	r, err := scanWebhookSubscription(q.tx.QueryRow(ctx, "select "+webhookSubscriptionColumns+" from webhook_subscriptions s where s.id = $1 for update", id))
	return r, pg.NotFound(err, "webhook subscription")
}

// WebhookSubscriptions lists a page of the firm's subscriptions, oldest first.
func (q *Queries) WebhookSubscriptions(ctx context.Context, page paging.Page) ([]WebhookSubscriptionRecord, *paging.Cursor, error) {
	after := paging.Cursor{}
	if page.After != nil {
		after = *page.After
	}
	id, _ := cursorParts(after.ID)
	rows, err := q.tx.Query(ctx, "select "+webhookSubscriptionColumns+` from webhook_subscriptions s
		where $1::boolean or (s.create_time, s.id) > ($2, $3::uuid) order by s.create_time, s.id limit $4`,
		page.After == nil, after.Time, id, page.Size+1)
	if err != nil {
		return nil, nil, err
	}
	list, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (WebhookSubscriptionRecord, error) { return scanWebhookSubscription(r) })
	if err != nil || len(list) <= page.Size {
		return list, nil, err
	}
	list = list[:page.Size]
	last := list[len(list)-1]
	return list, &paging.Cursor{Time: last.CreateTime, ID: last.ID}, nil
}

// UpdateWebhookSubscription writes r if its version is still r.Version, and returns
// it with its new version.
func (q *Queries) UpdateWebhookSubscription(ctx context.Context, r WebhookSubscriptionRecord, now time.Time) (WebhookSubscriptionRecord, error) {
	err := q.tx.QueryRow(ctx, `update webhook_subscriptions set url = $2, event_types = $3, state = $4, secret = $5,
		previous_secret = $6, previous_secret_expire_time = $7, disable_reason = $8, disable_time = $9, failing_since = $10,
		version = version + 1, update_time = $12
		where id = $1 and version = $11 returning version, update_time`,
		r.ID, r.URL, r.EventTypes, string(r.State), r.SealedSecret, r.SealedPreviousSecret, pg.NullTime(r.PreviousSecretExpireTime),
		r.DisableReason, pg.NullTime(r.DisableTime), pg.NullTime(r.FailingSince), r.Version, now).Scan(&r.Version, &r.UpdateTime)
	if errors.Is(err, pgx.ErrNoRows) {
		return r, apierr.StaleEtag("webhook subscription")
	}
	return r, err
}

// SaveWebhookHealth writes what the delivery worker learnt of a subscription:
// since when it fails, and whether it was disabled for it. Only disabling makes a
// new version, so a firm's update with an etag does not race the worker.
func (q *Queries) SaveWebhookHealth(ctx context.Context, s domain.WebhookSubscription, now time.Time) error {
	_, err := q.tx.Exec(ctx, `update webhook_subscriptions set failing_since = $2, state = $3, disable_reason = $4,
		disable_time = $5, version = version + (state <> $3)::int,
		update_time = case when state <> $3 then $6 else update_time end where id = $1`,
		s.ID, pg.NullTime(s.FailingSince), string(s.State), s.DisableReason, pg.NullTime(s.DisableTime), now)
	return err
}

// DeleteWebhookSubscription removes a subscription and its deliveries.
func (q *Queries) DeleteWebhookSubscription(ctx context.Context, id string) error {
	_, err := q.tx.Exec(ctx, "delete from webhook_subscriptions where id = $1", id)
	return err
}

// WebhookSubscriptionTypes lists the firm's subscriptions with their event types,
// disabled ones too: their changes wait, one per object, until they are enabled.
func (q *Queries) WebhookSubscriptionTypes(ctx context.Context) ([]domain.WebhookSubscription, error) {
	rows, err := q.tx.Query(ctx, "select id::text, event_types from webhook_subscriptions order by id")
	if err != nil {
		return nil, err
	}
	return pgx.CollectRows(rows, func(r pgx.CollectableRow) (domain.WebhookSubscription, error) {
		var s domain.WebhookSubscription
		return s, r.Scan(&s.ID, &s.EventTypes)
	})
}

// NextWebhookSequence takes the subscription's next sequence number.
func (q *Queries) NextWebhookSequence(ctx context.Context, subscriptionID string) (int64, error) {
	var seq int64
	err := q.tx.QueryRow(ctx, "update webhook_subscriptions set last_sequence = last_sequence + 1 where id = $1 returning last_sequence",
		subscriptionID).Scan(&seq)
	return seq, err
}

const webhookDeliveryColumns = `d.id::text, d.firm_id::text, d.subscription_id::text, d.object, d.event_type, d.changed_fields,
	d.occur_time, d.sequence, d.change_count, d.revision, d.state, d.attempts, d.last_status_code, d.last_error, d.create_time,
	d.expire_time, d.next_attempt_time, d.last_attempt_time, d.deliver_time, coalesce(d.redelivery_of::text, '')`

func scanWebhookDelivery(row pgx.Row) (domain.WebhookDelivery, error) {
	var d domain.WebhookDelivery
	var next, last, delivered *time.Time
	err := row.Scan(&d.ID, &d.FirmID, &d.SubscriptionID, &d.Change.Object, &d.Change.Type, &d.Change.ChangedFields,
		&d.Change.OccurredAt, &d.Sequence, &d.ChangeCount, &d.Revision, &d.State, &d.Attempts, &d.LastStatusCode, &d.LastError,
		&d.CreateTime, &d.ExpireTime, &next, &last, &delivered, &d.RedeliveryOf)
	d.NextAttempt, d.LastAttempt, d.DeliverTime = timeOrZero(next), timeOrZero(last), timeOrZero(delivered)
	return d, err
}

// QueueWebhookDelivery queues d, or, when a delivery about the same object waits
// already, gives that one d's payload (coalescing): the newer sequence, the
// changed fields of both, and the newer event type, except that a creation not
// yet delivered stays a creation. It answers the id of the delivery that waits.
func (q *Queries) QueueWebhookDelivery(ctx context.Context, d domain.WebhookDelivery) (string, error) {
	var id string
	err := q.tx.QueryRow(ctx, `insert into webhook_deliveries as d (id, firm_id, subscription_id, object, event_type,
		changed_fields, occur_time, sequence, state, create_time, expire_time, next_attempt_time)
		values ($1, $2, $3, $4, $5, $6, $7, $8, 'pending', $9, $10, $11)
		on conflict (firm_id, subscription_id, object) where state = 'pending' and redelivery_of is null do update set
		  event_type = case when d.event_type like '%.created' and excluded.event_type like '%.updated' then d.event_type
		                    else excluded.event_type end,
		  changed_fields = array(select distinct f from unnest(d.changed_fields || excluded.changed_fields) f order by f),
		  occur_time = excluded.occur_time, sequence = excluded.sequence,
		  change_count = d.change_count + 1, revision = d.revision + 1
		returning d.id::text`,
		d.ID, q.firmID, d.SubscriptionID, d.Change.Object, d.Change.Type, jsonList(d.Change.ChangedFields),
		d.Change.OccurredAt, d.Sequence, d.CreateTime, d.ExpireTime, d.NextAttempt).Scan(&id)
	return id, err
}

// InsertWebhookDelivery inserts d as it is, outside coalescing: a redelivery, or the
// newer payload split off a delivery that succeeded with the older one.
func (q *Queries) InsertWebhookDelivery(ctx context.Context, d domain.WebhookDelivery) error {
	_, err := q.tx.Exec(ctx, `insert into webhook_deliveries (id, firm_id, subscription_id, object, event_type,
		changed_fields, occur_time, sequence, change_count, state, create_time, expire_time, next_attempt_time, redelivery_of)
		values ($1, $2, $3, $4, $5, $6, $7, $8, $9, 'pending', $10, $11, $12, $13)`,
		d.ID, q.firmID, d.SubscriptionID, d.Change.Object, d.Change.Type, jsonList(d.Change.ChangedFields),
		d.Change.OccurredAt, d.Sequence, d.ChangeCount, d.CreateTime, d.ExpireTime, d.NextAttempt, pg.NullString(d.RedeliveryOf))
	return err
}

// WebhookDelivery reads one delivery of a subscription.
func (q *Queries) WebhookDelivery(ctx context.Context, subscriptionID, id string) (domain.WebhookDelivery, error) {
	d, err := scanWebhookDelivery(q.tx.QueryRow(ctx, "select "+webhookDeliveryColumns+
		" from webhook_deliveries d where d.id = $1 and d.subscription_id = $2", id, subscriptionID))
	return d, pg.NotFound(err, "webhook delivery")
}

// WebhookDeliveryForUpdate reads one delivery and locks it.
func (q *Queries) WebhookDeliveryForUpdate(ctx context.Context, id string) (domain.WebhookDelivery, error) {
	d, err := scanWebhookDelivery(q.tx.QueryRow(ctx, "select "+webhookDeliveryColumns+" from webhook_deliveries d where d.id = $1 for update", id))
	return d, pg.NotFound(err, "webhook delivery")
}

// SaveWebhookDelivery writes a delivery's payload, state and last attempt.
func (q *Queries) SaveWebhookDelivery(ctx context.Context, d domain.WebhookDelivery) error {
	_, err := q.tx.Exec(ctx, `update webhook_deliveries set event_type = $2, changed_fields = $3, occur_time = $4, sequence = $5,
		change_count = $6, revision = $7, state = $8, attempts = $9, last_status_code = $10, last_error = $11, expire_time = $12,
		next_attempt_time = $13, last_attempt_time = $14, deliver_time = $15 where id = $1`,
		d.ID, d.Change.Type, jsonList(d.Change.ChangedFields), d.Change.OccurredAt, d.Sequence, d.ChangeCount, d.Revision,
		string(d.State), d.Attempts, d.LastStatusCode, d.LastError, d.ExpireTime, pg.NullTime(d.NextAttempt),
		pg.NullTime(d.LastAttempt), pg.NullTime(d.DeliverTime))
	return err
}

// WebhookDeliveries lists a page of a subscription's deliveries, newest first.
func (q *Queries) WebhookDeliveries(ctx context.Context, subscriptionID string, page paging.Page) ([]domain.WebhookDelivery, *paging.Cursor, error) {
	after := paging.Cursor{}
	if page.After != nil {
		after = *page.After
	}
	id, _ := cursorParts(after.ID)
	rows, err := q.tx.Query(ctx, "select "+webhookDeliveryColumns+` from webhook_deliveries d
		where d.subscription_id = $1 and ($2::boolean or (d.create_time, d.id) < ($3, $4::uuid))
		order by d.create_time desc, d.id desc limit $5`, subscriptionID, page.After == nil, after.Time, id, page.Size+1)
	if err != nil {
		return nil, nil, err
	}
	list, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (domain.WebhookDelivery, error) { return scanWebhookDelivery(r) })
	if err != nil || len(list) <= page.Size {
		return list, nil, err
	}
	list = list[:page.Size]
	last := list[len(list)-1]
	return list, &paging.Cursor{Time: last.CreateTime, ID: last.ID}, nil
}

// RenewPendingDeliveries gives a re-enabled subscription's waiting deliveries a new
// horizon and makes them due now.
func (q *Queries) RenewPendingDeliveries(ctx context.Context, subscriptionID string, now, expire time.Time) error {
	_, err := q.tx.Exec(ctx, `update webhook_deliveries set expire_time = $3, next_attempt_time = $2
		where subscription_id = $1 and state = 'pending'`, subscriptionID, now, expire)
	return err
}

// DeliveryRef names a delivery of some firm.
type DeliveryRef struct {
	FirmID, DeliveryID string
}

// DueWebhookDeliveries lists, across firms, up to batch deliveries due by now to
// active subscriptions, through the webhook_deliveries_due SECURITY DEFINER
// function; each is then claimed in its own firm's transaction.
func (s *Store) DueWebhookDeliveries(ctx context.Context, now time.Time, batch int) ([]DeliveryRef, error) {
	return dueAcrossFirms(ctx, s, func(firm, id string) DeliveryRef { return DeliveryRef{FirmID: firm, DeliveryID: id} },
		"select firm_id::text, delivery_id::text from webhook_deliveries_due($1, $2)", now, batch)
}
