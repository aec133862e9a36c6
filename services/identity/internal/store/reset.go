package store

import (
	"context"
	"errors"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/firmflow/firmflow/pkg/mail"
	"github.com/firmflow/firmflow/services/identity/internal/domain"
)

// ---- password reset requests (no firm: outside any firm-scoped transaction) ----

// ResetRequest is a password reset asked for by email, not yet matched to an account.
type ResetRequest struct {
	ID    string
	Email string
}

// RecentResetRequests locks the email's and the address's requests against concurrent
// ones (until the transaction ends) and counts those made since.
func (q *Queries) RecentResetRequests(ctx context.Context, email, clientIP string, since time.Time) (domain.RecentRequests, error) {
	var r domain.RecentRequests
	_, err := q.tx.Exec(ctx, `select pg_advisory_xact_lock(hashtextextended('password reset email ' || lower($1), 0)),
		pg_advisory_xact_lock(hashtextextended('password reset address ' || $2, 0))`, email, clientIP)
	if err != nil {
		return r, err
	}
	err = q.tx.QueryRow(ctx, `select
		(select count(*) from password_reset_requests where lower(email) = lower($1) and create_time > $3),
		(select coalesce(min(create_time), 'epoch') from password_reset_requests where lower(email) = lower($1) and create_time > $3),
		(select count(*) from password_reset_requests where client_ip = $2 and create_time > $3),
		(select coalesce(min(create_time), 'epoch') from password_reset_requests where client_ip = $2 and create_time > $3)`,
		email, clientIP, since).Scan(&r.ByEmail, &r.OldestEmail, &r.ByAddress, &r.OldestAddress)
	return r, err
}

// CreateResetRequest stores a request for the worker.
func (q *Queries) CreateResetRequest(ctx context.Context, id, email, clientIP string, now time.Time) error {
	_, err := q.tx.Exec(ctx, `insert into password_reset_requests (id, email, client_ip, create_time)
		values ($1, $2, $3, $4)`, id, email, clientIP, now)
	return err
}

// PendingResetRequests claims up to limit unhandled requests, oldest first; other
// workers skip them until the transaction ends.
func (q *Queries) PendingResetRequests(ctx context.Context, limit int) ([]ResetRequest, error) {
	rows, err := q.tx.Query(ctx, `select id::text, email from password_reset_requests
		where handled_time is null order by create_time limit $1 for update skip locked`, limit)
	if err != nil {
		return nil, err
	}
	return pgx.CollectRows(rows, func(r pgx.CollectableRow) (ResetRequest, error) {
		var req ResetRequest
		err := r.Scan(&req.ID, &req.Email)
		return req, err
	})
}

// HandleResetRequest marks a request handled.
func (q *Queries) HandleResetRequest(ctx context.Context, id string, now time.Time) error {
	_, err := q.tx.Exec(ctx, "update password_reset_requests set handled_time = $2 where id = $1", id, now)
	return err
}

// PurgeResetRequests deletes requests handled before the given time.
func (q *Queries) PurgeResetRequests(ctx context.Context, before time.Time) error {
	_, err := q.tx.Exec(ctx, "delete from password_reset_requests where handled_time < $1", before)
	return err
}

// PasswordResetTarget finds the firm and reset of a reset token hash.
func (q *Queries) PasswordResetTarget(ctx context.Context, tokenHash []byte) (firmID, resetID string, ok bool, err error) {
	return q.lookup(ctx, "select firm_id::text, reset_id::text from lookup_password_reset($1)", tokenHash)
}

// ---- password resets (firm-scoped) ----

// CreatePasswordReset inserts a reset; created is false when one with its id exists,
// which is what a request handled a second time finds.
func (q *Queries) CreatePasswordReset(ctx context.Context, r domain.PasswordReset) (created bool, err error) {
	tag, err := q.tx.Exec(ctx, `insert into password_resets (id, firm_id, member_id, token_hash, create_time, expire_time)
		values ($1, $2, $3, $4, $5, $6) on conflict (id) do nothing`,
		r.ID, r.FirmID, r.MemberID, r.TokenHash, r.CreateTime, r.ExpireTime)
	return tag.RowsAffected() == 1, err
}

// PasswordResetForUpdate reads and locks one reset.
func (q *Queries) PasswordResetForUpdate(ctx context.Context, id string) (domain.PasswordReset, error) {
	var r domain.PasswordReset
	err := q.tx.QueryRow(ctx, `select id::text, firm_id::text, member_id::text, token_hash, create_time, expire_time,
		coalesce(used_time, 'epoch') from password_resets where id = $1 for update`, id).
		Scan(&r.ID, &r.FirmID, &r.MemberID, &r.TokenHash, &r.CreateTime, &r.ExpireTime, &r.UsedTime)
	if errors.Is(err, pgx.ErrNoRows) {
		return r, domain.ErrResetTokenInvalid()
	}
	r.UsedTime = unepoch(r.UsedTime)
	return r, err
}

// UseMemberPasswordResets spends every unused reset of the member: once the password
// changed, older reset emails stop working.
func (q *Queries) UseMemberPasswordResets(ctx context.Context, memberID string, now time.Time) error {
	_, err := q.tx.Exec(ctx, "update password_resets set used_time = $2 where member_id = $1 and used_time is null", memberID, now)
	return err
}

// SavePassword writes the member's password hash and login failure state.
func (q *Queries) SavePassword(ctx context.Context, m domain.Member) error {
	var locked *time.Time
	if !m.LockedUntil.IsZero() {
		locked = &m.LockedUntil
	}
	_, err := q.tx.Exec(ctx, `update members set password_hash = $2, failed_logins = $3, locked_until = $4, version = version + 1
		where id = $1`, m.ID, m.PasswordHash, m.FailedLogins, locked)
	return err
}

// RevokeMemberSessions ends every live session of the member but keep (which may be
// empty), and answers how many it ended.
func (q *Queries) RevokeMemberSessions(ctx context.Context, memberID, keep string, now time.Time) (int64, error) {
	tag, err := q.tx.Exec(ctx, `update sessions set revoke_time = $3
		where member_id = $1 and revoke_time is null and id::text <> $2`, memberID, keep, now)
	return tag.RowsAffected(), err
}

// ---- email ----

// QueueMail queues emails in the transaction, through the mail outbox: they are sent
// if and only if it commits.
func (q *Queries) QueueMail(ctx context.Context, o *mail.Outbox, messages ...mail.Message) error {
	return o.Enqueue(ctx, q.tx, messages...)
}
