package store

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/firmflow/firmflow/pkg/apierr"
	"github.com/firmflow/firmflow/pkg/pg"
	"github.com/firmflow/firmflow/services/identity/internal/domain"
)

// ---- the staff realm (no firm; no row-level security) ----

// EnsureRealmKey stores wrapped as the realm's data key unless it has one, and
// returns the one it has: of two first callers racing, both end up with the winner's.
func (q *Queries) EnsureRealmKey(ctx context.Context, realm string, wrapped []byte, kekID string) ([]byte, error) {
	_, err := q.tx.Exec(ctx, `insert into realm_keys (realm, wrapped_key, kek_id) values ($1, $2, $3)
		on conflict (realm) do nothing`, realm, wrapped, kekID)
	if err != nil {
		return nil, fmt.Errorf("insert realm key: %w", err)
	}
	return q.RealmKey(ctx, realm)
}

// RealmKey returns a realm's wrapped data key.
func (q *Queries) RealmKey(ctx context.Context, realm string) ([]byte, error) {
	var stored []byte
	err := q.tx.QueryRow(ctx, "select wrapped_key from realm_keys where realm = $1", realm).Scan(&stored)
	return stored, pg.NotFound(err, "realm key")
}

const staffColumns = `id::text, email, display_name, password_hash, totp_secret, totp_last_step, failed_logins,
	coalesce(locked_until, 'epoch'), create_time, coalesce(offboard_time, 'epoch')`

func scanStaff(row pgx.Row) (domain.Staff, error) {
	var s domain.Staff
	err := row.Scan(&s.ID, &s.Email, &s.DisplayName, &s.PasswordHash, &s.TOTPSecret, &s.TOTPLastStep, &s.FailedLogins,
		&s.LockedUntil, &s.CreateTime, &s.OffboardTime)
	s.LockedUntil, s.OffboardTime = unepoch(s.LockedUntil), unepoch(s.OffboardTime)
	return s, err
}

// ErrStaffEmailTaken is returned when a staff account with the email exists.
var ErrStaffEmailTaken = apierr.AlreadyExists("EMAIL_TAKEN", "a staff account with this email already exists")

// CreateStaff inserts a staff member.
func (q *Queries) CreateStaff(ctx context.Context, s domain.Staff) error {
	_, err := q.tx.Exec(ctx, `insert into staff (id, email, display_name, password_hash, totp_secret, create_time)
		values ($1, $2, $3, $4, $5, $6)`, s.ID, s.Email, s.DisplayName, s.PasswordHash, s.TOTPSecret, s.CreateTime)
	if pg.IsUniqueViolation(err, "staff_email_key") {
		return ErrStaffEmailTaken
	}
	return err
}

// Staff reads a staff member.
func (q *Queries) Staff(ctx context.Context, id string) (domain.Staff, error) {
	s, err := scanStaff(q.tx.QueryRow(ctx, "select "+staffColumns+" from staff where id = $1", id))
	return s, pg.NotFound(err, "staff member")
}

// StaffForUpdate reads a staff member and locks the row, so that concurrent logins
// count failures one at a time and offboarding waits for them.
func (q *Queries) StaffForUpdate(ctx context.Context, id string) (domain.Staff, error) {
	s, err := scanStaff(q.tx.QueryRow(ctx, "select "+staffColumns+" from staff where id = $1 for update", id))
	return s, pg.NotFound(err, "staff member")
}

// StaffByEmailForUpdate is StaffForUpdate by email (any letter case).
func (q *Queries) StaffByEmailForUpdate(ctx context.Context, email string) (domain.Staff, error) {
	s, err := scanStaff(q.tx.QueryRow(ctx, "select "+staffColumns+" from staff where lower(email) = lower($1) for update", email))
	return s, pg.NotFound(err, "staff member")
}

// SaveStaffLoginState writes the failure counter, lock and last TOTP step.
func (q *Queries) SaveStaffLoginState(ctx context.Context, s domain.Staff) error {
	_, err := q.tx.Exec(ctx, `update staff set failed_logins = $2, locked_until = $3, totp_last_step = $4 where id = $1`,
		s.ID, s.FailedLogins, pg.NullTime(s.LockedUntil), s.TOTPLastStep)
	return err
}

// OffboardStaff records that a staff member left and ends all their sessions.
func (q *Queries) OffboardStaff(ctx context.Context, s domain.Staff) error {
	if _, err := q.tx.Exec(ctx, "update staff set offboard_time = $2 where id = $1", s.ID, s.OffboardTime); err != nil {
		return err
	}
	_, err := q.tx.Exec(ctx, "delete from staff_sessions where staff_id = $1", s.ID)
	return err
}

// CreateStaffSession inserts a staff session with its token hash.
func (q *Queries) CreateStaffSession(ctx context.Context, s domain.StaffSession, tokenHash []byte) error {
	_, err := q.tx.Exec(ctx, `insert into staff_sessions (id, staff_id, token_hash, create_time, last_seen_time,
		idle_expire_time, expire_time) values ($1, $2, $3, $4, $5, $6, $7)`,
		s.ID, s.StaffID, tokenHash, s.CreateTime, s.LastSeenTime, s.IdleExpireTime, s.ExpireTime)
	return err
}

// StaffSessionByToken finds the session of a token hash and its staff member; ok is
// false when there is none.
func (q *Queries) StaffSessionByToken(ctx context.Context, tokenHash []byte) (domain.StaffSession, domain.Staff, bool, error) {
	var sess domain.StaffSession
	var staffID string
	err := q.tx.QueryRow(ctx, `select id::text, staff_id::text, create_time, last_seen_time, idle_expire_time, expire_time
		from staff_sessions where token_hash = $1`, tokenHash).
		Scan(&sess.ID, &staffID, &sess.CreateTime, &sess.LastSeenTime, &sess.IdleExpireTime, &sess.ExpireTime)
	if errors.Is(err, pgx.ErrNoRows) {
		return domain.StaffSession{}, domain.Staff{}, false, nil
	}
	if err != nil {
		return domain.StaffSession{}, domain.Staff{}, false, err
	}
	sess.StaffID = staffID
	s, err := q.Staff(ctx, staffID)
	return sess, s, err == nil, err
}

// TouchStaffSession records use of a staff session.
func (q *Queries) TouchStaffSession(ctx context.Context, s domain.StaffSession) error {
	_, err := q.tx.Exec(ctx, "update staff_sessions set last_seen_time = $2, idle_expire_time = $3 where id = $1",
		s.ID, s.LastSeenTime, s.IdleExpireTime)
	return err
}

// DeleteStaffSession ends one session of a staff member.
func (q *Queries) DeleteStaffSession(ctx context.Context, staffID, sessionID string) error {
	_, err := q.tx.Exec(ctx, "delete from staff_sessions where id = $1 and staff_id = $2", sessionID, staffID)
	return err
}

// ---- support grants across firms (SECURITY DEFINER functions) ----

// StaffSupportGrants lists a page of a staff member's grants in every firm, newest first.
func (q *Queries) StaffSupportGrants(ctx context.Context, staffID string, before *time.Time, beforeID string, limit int) ([]domain.SupportGrant, error) {
	rows, err := q.tx.Query(ctx, "select "+grantColumns+" from staff_support_grants($1, $2, $3, $4)",
		staffID, before, pg.NullString(beforeID), limit)
	if err != nil {
		return nil, err
	}
	return pgx.CollectRows(rows, func(r pgx.CollectableRow) (domain.SupportGrant, error) { return scanGrant(r) })
}

// GrantRef names a grant in its firm.
type GrantRef struct {
	FirmID  string
	GrantID string
}

// RevokeStaffGrants revokes every live grant and pending request of a staff member in
// every firm at now, and returns which.
func (q *Queries) RevokeStaffGrants(ctx context.Context, staffID string, now time.Time) ([]GrantRef, error) {
	return q.grantRefs(ctx, "select firm_id::text, grant_id::text from offboard_support_grants($1, $2)", staffID, now)
}

// ExpiredGrantsToNotify returns up to limit grants and requests that ran out by now
// and whose firm has no expiry notification for them yet.
func (q *Queries) ExpiredGrantsToNotify(ctx context.Context, now time.Time, limit int) ([]GrantRef, error) {
	return q.grantRefs(ctx, "select firm_id::text, grant_id::text from expired_support_grants($1, $2)", now, limit)
}

func (q *Queries) grantRefs(ctx context.Context, sql string, args ...any) ([]GrantRef, error) {
	rows, err := q.tx.Query(ctx, sql, args...)
	if err != nil {
		return nil, err
	}
	return pgx.CollectRows(rows, func(r pgx.CollectableRow) (GrantRef, error) {
		var g GrantRef
		err := r.Scan(&g.FirmID, &g.GrantID)
		return g, err
	})
}

// EnterFirm scopes the rest of a realm transaction to firmID, for work that crosses
// firms in one transaction (offboarding notifies each firm it revoked a grant in).
// Row-level security then shows only that firm until the next EnterFirm.
func (q *Queries) EnterFirm(ctx context.Context, firmID string) error {
	_, err := q.tx.Exec(ctx, "select set_config($1, $2, true)", pg.FirmSetting, firmID)
	if err != nil {
		return fmt.Errorf("scope transaction to firm: %w", err)
	}
	return nil
}
