// Package store is identity's SQL: every query it runs, each inside a transaction the
// app opened (firm-scoped unless it is one of the credential lookups).
package store

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/firmflow/firmflow/pkg/apierr"
	"github.com/firmflow/firmflow/pkg/outbox"
	"github.com/firmflow/firmflow/pkg/paging"
	"github.com/firmflow/firmflow/pkg/pg"
	"github.com/firmflow/firmflow/pkg/rpc"
	"github.com/firmflow/firmflow/services/identity/internal/domain"
)

// Store runs identity's queries on a pool.
type Store struct {
	db *pg.DB
}

// New returns a store on db.
func New(db *pg.DB) *Store { return &Store{db: db} }

// Queries are the statements available inside one transaction.
type Queries struct {
	tx pgx.Tx
}

// InFirm runs fn in a transaction scoped to firmID.
func (s *Store) InFirm(ctx context.Context, firmID string, fn func(*Queries) error) error {
	return s.db.InFirm(ctx, firmID, func(tx pgx.Tx) error { return fn(&Queries{tx: tx}) })
}

// Lookups run the cross-firm credential lookups, outside any firm.
func (s *Store) Lookups(ctx context.Context, fn func(*Queries) error) error {
	return s.db.InTx(ctx, func(tx pgx.Tx) error { return fn(&Queries{tx: tx}) })
}

// InRealm runs fn in a transaction outside any firm, for the staff realm's tables and
// the SECURITY DEFINER functions that cross firms; firm tables show nothing in it.
func (s *Store) InRealm(ctx context.Context, fn func(*Queries) error) error {
	return s.db.InTx(ctx, func(tx pgx.Tx) error { return fn(&Queries{tx: tx}) })
}

// ---- lookups (cross-firm, through SECURITY DEFINER functions) ----

// LoginTarget finds the firm and member of an email; ok is false when none.
func (q *Queries) LoginTarget(ctx context.Context, email string) (firmID, memberID string, ok bool, err error) {
	return q.lookup(ctx, "select firm_id::text, member_id::text from lookup_login($1)", email)
}

// InvitationTarget finds the firm and invitation of an invitation token hash.
func (q *Queries) InvitationTarget(ctx context.Context, tokenHash []byte) (firmID, invitationID string, ok bool, err error) {
	return q.lookup(ctx, "select firm_id::text, invitation_id::text from lookup_invitation($1)", tokenHash)
}

// EmailRegistered reports whether any firm has a member with the email.
func (q *Queries) EmailRegistered(ctx context.Context, email string) (bool, error) {
	var taken bool
	err := q.tx.QueryRow(ctx, "select email_registered($1)", email).Scan(&taken)
	return taken, err
}

func (q *Queries) lookup(ctx context.Context, sql string, arg any) (string, string, bool, error) {
	var a, b string
	err := q.tx.QueryRow(ctx, sql, arg).Scan(&a, &b)
	if errors.Is(err, pgx.ErrNoRows) {
		return "", "", false, nil
	}
	if err != nil {
		return "", "", false, err
	}
	return a, b, true, nil
}

// ---- firms ----

// CreateFirm inserts a firm.
func (q *Queries) CreateFirm(ctx context.Context, f domain.Firm) error {
	_, err := q.tx.Exec(ctx, `insert into firms (id, display_name, require_totp, create_time, update_time)
		values ($1, $2, $3, $4, $4)`, f.ID, f.DisplayName, f.RequireTOTP, f.CreateTime)
	if err != nil {
		return fmt.Errorf("insert firm: %w", err)
	}
	return nil
}

// Firm reads the firm of the transaction.
func (q *Queries) Firm(ctx context.Context, id string) (domain.Firm, error) {
	var f domain.Firm
	err := q.tx.QueryRow(ctx, `select id::text, display_name, require_totp, version, create_time, update_time
		from firms where id = $1`, id).Scan(&f.ID, &f.DisplayName, &f.RequireTOTP, &f.Version, &f.CreateTime, &f.UpdateTime)
	return f, pg.NotFound(err, "firm")
}

// UpdateFirm writes f if its version is still expectedVersion.
func (q *Queries) UpdateFirm(ctx context.Context, f domain.Firm, expectedVersion int64) (domain.Firm, error) {
	err := q.tx.QueryRow(ctx, `update firms set display_name = $2, require_totp = $3, version = version + 1, update_time = now()
		where id = $1 and version = $4 returning version, update_time`,
		f.ID, f.DisplayName, f.RequireTOTP, expectedVersion).Scan(&f.Version, &f.UpdateTime)
	if errors.Is(err, pgx.ErrNoRows) {
		return f, apierr.StaleEtag("firm")
	}
	return f, err
}

// ---- members ----

const memberColumns = `id::text, firm_id::text, email, display_name, role, password_hash, totp_secret, totp_pending,
	totp_last_step, failed_logins, coalesce(locked_until, 'epoch'), version, create_time`

func scanMember(row pgx.Row) (domain.Member, error) {
	var m domain.Member
	var role string
	err := row.Scan(&m.ID, &m.FirmID, &m.Email, &m.DisplayName, &role, &m.PasswordHash, &m.TOTPSecret, &m.TOTPPending,
		&m.TOTPLastStep, &m.FailedLogins, &m.LockedUntil, &m.Version, &m.CreateTime)
	m.Role = domain.Role(role)
	m.LockedUntil = unepoch(m.LockedUntil)
	return m, err
}

// ErrEmailTaken is returned when a member with the email exists in any firm.
var ErrEmailTaken = apierr.AlreadyExists("EMAIL_TAKEN", "an account with this email already exists")

// CreateMember inserts a member.
func (q *Queries) CreateMember(ctx context.Context, m domain.Member) error {
	_, err := q.tx.Exec(ctx, `insert into members (id, firm_id, email, display_name, role, password_hash, create_time)
		values ($1, $2, $3, $4, $5, $6, $7)`, m.ID, m.FirmID, m.Email, m.DisplayName, string(m.Role), m.PasswordHash, m.CreateTime)
	if pg.IsUniqueViolation(err, "members_email_key") {
		return ErrEmailTaken
	}
	return err
}

// Member reads a member of the transaction's firm.
func (q *Queries) Member(ctx context.Context, id string) (domain.Member, error) {
	m, err := scanMember(q.tx.QueryRow(ctx, "select "+memberColumns+" from members where id = $1", id))
	return m, pg.NotFound(err, "member")
}

// MemberForUpdate reads a member and locks the row until the transaction ends, so that
// concurrent logins count failures one at a time.
func (q *Queries) MemberForUpdate(ctx context.Context, id string) (domain.Member, error) {
	m, err := scanMember(q.tx.QueryRow(ctx, "select "+memberColumns+" from members where id = $1 for update", id))
	return m, pg.NotFound(err, "member")
}

// Members lists a page of the firm's members, oldest first.
func (q *Queries) Members(ctx context.Context, page paging.Page) ([]domain.Member, bool, error) {
	after := paging.Cursor{}
	if page.After != nil {
		after = *page.After
	}
	rows, err := q.tx.Query(ctx, "select "+memberColumns+` from members
		where $1::boolean or (create_time, id) > ($2, $3::uuid)
		order by create_time, id limit $4`, page.After == nil, after.Time, pg.NullString(after.ID), page.Size+1)
	if err != nil {
		return nil, false, err
	}
	members, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (domain.Member, error) { return scanMember(r) })
	if err != nil {
		return nil, false, err
	}
	more := len(members) > page.Size
	return members[:min(len(members), page.Size)], more, nil
}

// Managers lists the firm's owners and admins, oldest first.
func (q *Queries) Managers(ctx context.Context) ([]domain.Member, error) {
	rows, err := q.tx.Query(ctx, "select "+memberColumns+` from members
		where role in ('owner', 'admin') order by create_time, id`)
	if err != nil {
		return nil, err
	}
	return pgx.CollectRows(rows, func(r pgx.CollectableRow) (domain.Member, error) { return scanMember(r) })
}

// CountOwners counts the firm's owners, locking them so two concurrent demotions
// cannot both pass the last-owner rule.
func (q *Queries) CountOwners(ctx context.Context) (int, error) {
	rows, err := q.tx.Query(ctx, "select id from members where role = 'owner' for update")
	if err != nil {
		return 0, err
	}
	ids, err := pgx.CollectRows(rows, pgx.RowTo[[16]byte])
	return len(ids), err
}

// SaveLoginState writes the failure counter, lock and last TOTP step.
func (q *Queries) SaveLoginState(ctx context.Context, m domain.Member) error {
	var locked *time.Time
	if !m.LockedUntil.IsZero() {
		locked = &m.LockedUntil
	}
	_, err := q.tx.Exec(ctx, `update members set failed_logins = $2, locked_until = $3, totp_last_step = $4 where id = $1`,
		m.ID, m.FailedLogins, locked, m.TOTPLastStep)
	return err
}

// SaveTOTP writes the member's TOTP secrets.
func (q *Queries) SaveTOTP(ctx context.Context, m domain.Member) error {
	_, err := q.tx.Exec(ctx, `update members set totp_secret = $2, totp_pending = $3, totp_last_step = $4, version = version + 1
		where id = $1`, m.ID, m.TOTPSecret, m.TOTPPending, m.TOTPLastStep)
	return err
}

// UpdateMemberRole changes a role if the member's version is still expectedVersion
// (expectedVersion 0 skips the check).
func (q *Queries) UpdateMemberRole(ctx context.Context, id string, role domain.Role, expectedVersion int64) error {
	tag, err := q.tx.Exec(ctx, `update members set role = $2, version = version + 1
		where id = $1 and ($3 = 0 or version = $3)`, id, string(role), expectedVersion)
	if err == nil && tag.RowsAffected() == 0 {
		return apierr.StaleEtag("member")
	}
	return err
}

// DeleteMember removes a member; their sessions go with them.
func (q *Queries) DeleteMember(ctx context.Context, id string) error {
	_, err := q.tx.Exec(ctx, "delete from members where id = $1", id)
	return err
}

// ---- sessions ----

const sessionColumns = `id::text, firm_id::text, member_id::text, csrf_hash, enrolling, user_agent, client_ip,
	create_time, last_seen_time, idle_expire_time, expire_time, coalesce(revoke_time, 'epoch')`

func scanSession(row pgx.Row) (domain.Session, error) {
	var s domain.Session
	err := row.Scan(&s.ID, &s.FirmID, &s.MemberID, &s.CSRFHash, &s.Enrolling, &s.UserAgent, &s.ClientIP,
		&s.CreateTime, &s.LastSeenTime, &s.IdleExpireTime, &s.ExpireTime, &s.RevokeTime)
	s.RevokeTime = unepoch(s.RevokeTime)
	return s, err
}

// CreateSession inserts a session with its token hash.
func (q *Queries) CreateSession(ctx context.Context, s domain.Session, tokenHash []byte) error {
	_, err := q.tx.Exec(ctx, `insert into sessions (id, firm_id, member_id, token_hash, csrf_hash, enrolling, user_agent, client_ip,
		create_time, last_seen_time, idle_expire_time, expire_time) values ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)`,
		s.ID, s.FirmID, s.MemberID, tokenHash, s.CSRFHash, s.Enrolling, s.UserAgent, s.ClientIP,
		s.CreateTime, s.LastSeenTime, s.IdleExpireTime, s.ExpireTime)
	return err
}

// Session reads one session.
func (q *Queries) Session(ctx context.Context, id string) (domain.Session, error) {
	s, err := scanSession(q.tx.QueryRow(ctx, "select "+sessionColumns+" from sessions where id = $1", id))
	return s, pg.NotFound(err, "session")
}

// LiveSessions lists a member's sessions that can still be used at now, newest first.
func (q *Queries) LiveSessions(ctx context.Context, memberID string, now time.Time) ([]domain.Session, error) {
	rows, err := q.tx.Query(ctx, "select "+sessionColumns+` from sessions
		where member_id = $1 and revoke_time is null and idle_expire_time > $2 and expire_time > $2
		order by create_time desc limit 100`, memberID, now)
	if err != nil {
		return nil, err
	}
	return pgx.CollectRows(rows, func(r pgx.CollectableRow) (domain.Session, error) { return scanSession(r) })
}

// TouchSession records use of a session.
func (q *Queries) TouchSession(ctx context.Context, s domain.Session) error {
	_, err := q.tx.Exec(ctx, "update sessions set last_seen_time = $2, idle_expire_time = $3 where id = $1",
		s.ID, s.LastSeenTime, s.IdleExpireTime)
	return err
}

// RevokeSession ends a session of the member; ok is false when the member has no
// EndMemberSessions ends every open session of the member and answers how many.
func (q *Queries) EndMemberSessions(ctx context.Context, memberID string, now time.Time) (int64, error) {
	tag, err := q.tx.Exec(ctx, `update sessions set revoke_time = $2 where member_id = $1 and revoke_time is null`, memberID, now)
	return tag.RowsAffected(), err
}

// such session.
func (q *Queries) RevokeSession(ctx context.Context, memberID, sessionID string, now time.Time) (bool, error) {
	tag, err := q.tx.Exec(ctx, `update sessions set revoke_time = coalesce(revoke_time, $3)
		where id = $2 and member_id = $1`, memberID, sessionID, now)
	return tag.RowsAffected() == 1, err
}

// ClearEnrolling lifts the enrollment-only restriction from a member's sessions.
func (q *Queries) ClearEnrolling(ctx context.Context, memberID string) error {
	_, err := q.tx.Exec(ctx, "update sessions set enrolling = false where member_id = $1", memberID)
	return err
}

// ---- API keys ----

const apiKeyColumns = `id::text, firm_id::text, display_name, prefix, secret_hash, scopes, created_by, coalesce(request_id, ''),
	coalesce(rotated_from::text, ''), create_time, coalesce(expire_time, 'epoch'), coalesce(last_used_time, 'epoch'),
	coalesce(revoke_time, 'epoch')`

func scanAPIKey(row pgx.Row) (domain.APIKey, error) {
	var k domain.APIKey
	err := row.Scan(&k.ID, &k.FirmID, &k.DisplayName, &k.Prefix, &k.SecretHash, &k.Scopes, &k.CreatedBy, &k.RequestID,
		&k.RotatedFrom, &k.CreateTime, &k.ExpireTime, &k.LastUsedTime, &k.RevokeTime)
	k.ExpireTime, k.LastUsedTime, k.RevokeTime = unepoch(k.ExpireTime), unepoch(k.LastUsedTime), unepoch(k.RevokeTime)
	return k, err
}

// CreateAPIKey inserts a key. When its request id was used before, nothing is
// inserted and the earlier key is returned with existing=true.
func (q *Queries) CreateAPIKey(ctx context.Context, k domain.APIKey) (stored domain.APIKey, existing bool, err error) {
	tag, err := q.tx.Exec(ctx, `insert into api_keys (id, firm_id, display_name, prefix, secret_hash, scopes, created_by,
		request_id, rotated_from, create_time, expire_time, request_hash)
		values ($1, $2, $3, $4, $5, $6, $7, nullif($8, ''), nullif($9, '')::uuid, $10, $11, $12)
		on conflict (firm_id, request_id) do nothing`,
		k.ID, k.FirmID, k.DisplayName, k.Prefix, k.SecretHash, k.Scopes, k.CreatedBy, k.RequestID, k.RotatedFrom,
		k.CreateTime, pg.NullTime(k.ExpireTime), rpc.RequestFingerprint(ctx))
	if pg.IsUniqueViolation(err, "api_keys_one_successor") {
		return domain.APIKey{}, false, apierr.FailedPrecondition("API_KEY_ALREADY_ROTATED", "this key already has a successor")
	}
	if err != nil {
		return domain.APIKey{}, false, err
	}
	if tag.RowsAffected() == 1 {
		return k, false, nil
	}
	if err := q.sameRequest(ctx, "api_keys", k.RequestID); err != nil {
		return domain.APIKey{}, false, err
	}
	stored, err = scanAPIKey(q.tx.QueryRow(ctx, "select "+apiKeyColumns+" from api_keys where request_id = $1", k.RequestID))
	return stored, true, err
}

// APIKey reads one key.
func (q *Queries) APIKey(ctx context.Context, id string) (domain.APIKey, error) {
	k, err := scanAPIKey(q.tx.QueryRow(ctx, "select "+apiKeyColumns+" from api_keys where id = $1", id))
	return k, pg.NotFound(err, "API key")
}

// APIKeyForUpdate reads one key and locks it.
func (q *Queries) APIKeyForUpdate(ctx context.Context, id string) (domain.APIKey, error) {
	k, err := scanAPIKey(q.tx.QueryRow(ctx, "select "+apiKeyColumns+" from api_keys where id = $1 for update", id))
	return k, pg.NotFound(err, "API key")
}

// APIKeys lists a page of the firm's keys, oldest first.
func (q *Queries) APIKeys(ctx context.Context, page paging.Page) ([]domain.APIKey, bool, error) {
	after := paging.Cursor{}
	if page.After != nil {
		after = *page.After
	}
	rows, err := q.tx.Query(ctx, "select "+apiKeyColumns+` from api_keys
		where $1::boolean or (create_time, id) > ($2, $3::uuid)
		order by create_time, id limit $4`, page.After == nil, after.Time, pg.NullString(after.ID), page.Size+1)
	if err != nil {
		return nil, false, err
	}
	keys, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (domain.APIKey, error) { return scanAPIKey(r) })
	if err != nil {
		return nil, false, err
	}
	more := len(keys) > page.Size
	return keys[:min(len(keys), page.Size)], more, nil
}

// SaveAPIKeyLife writes a key's expiry and revocation.
func (q *Queries) SaveAPIKeyLife(ctx context.Context, k domain.APIKey) error {
	_, err := q.tx.Exec(ctx, "update api_keys set expire_time = $2, revoke_time = $3 where id = $1",
		k.ID, pg.NullTime(k.ExpireTime), pg.NullTime(k.RevokeTime))
	return err
}

// ---- invitations ----

const invitationColumns = `id::text, firm_id::text, email, role, token_hash, invited_by, coalesce(request_id, ''),
	create_time, expire_time, coalesce(accept_time, 'epoch')`

func scanInvitation(row pgx.Row) (domain.Invitation, error) {
	var i domain.Invitation
	var role string
	err := row.Scan(&i.ID, &i.FirmID, &i.Email, &role, &i.TokenHash, &i.InvitedBy, &i.RequestID,
		&i.CreateTime, &i.ExpireTime, &i.AcceptTime)
	i.Role = domain.Role(role)
	i.AcceptTime = unepoch(i.AcceptTime)
	return i, err
}

// CreateInvitation inserts an invitation, or returns the one made earlier with the
// same request id (existing=true).
func (q *Queries) CreateInvitation(ctx context.Context, i domain.Invitation) (stored domain.Invitation, existing bool, err error) {
	tag, err := q.tx.Exec(ctx, `insert into invitations (id, firm_id, email, role, token_hash, invited_by, request_id, create_time, expire_time, request_hash)
		values ($1, $2, $3, $4, $5, $6, nullif($7, ''), $8, $9, $10) on conflict (firm_id, request_id) do nothing`,
		i.ID, i.FirmID, i.Email, string(i.Role), i.TokenHash, i.InvitedBy, i.RequestID, i.CreateTime, i.ExpireTime, rpc.RequestFingerprint(ctx))
	if err != nil {
		return domain.Invitation{}, false, err
	}
	if tag.RowsAffected() == 1 {
		return i, false, nil
	}
	if err := q.sameRequest(ctx, "invitations", i.RequestID); err != nil {
		return domain.Invitation{}, false, err
	}
	stored, err = scanInvitation(q.tx.QueryRow(ctx, "select "+invitationColumns+" from invitations where request_id = $1", i.RequestID))
	return stored, true, err
}

// sameRequest refuses a request_id, already used for a row of table, that arrives
// with a different request (REQUEST_ID_REUSED). table is one of ours, never input.
func (q *Queries) sameRequest(ctx context.Context, table, requestID string) error {
	var hash []byte
	if err := q.tx.QueryRow(ctx, "select request_hash from "+table+" where request_id = $1", requestID).Scan(&hash); err != nil {
		return err
	}
	return rpc.CheckRequestReuse(ctx, hash)
}

// PendingInvitations lists invitations not yet accepted nor expired at now.
func (q *Queries) PendingInvitations(ctx context.Context, now time.Time) ([]domain.Invitation, error) {
	rows, err := q.tx.Query(ctx, "select "+invitationColumns+` from invitations
		where accept_time is null and expire_time > $1 order by create_time limit 200`, now)
	if err != nil {
		return nil, err
	}
	return pgx.CollectRows(rows, func(r pgx.CollectableRow) (domain.Invitation, error) { return scanInvitation(r) })
}

// InvitationForUpdate reads and locks one invitation.
func (q *Queries) InvitationForUpdate(ctx context.Context, id string) (domain.Invitation, error) {
	i, err := scanInvitation(q.tx.QueryRow(ctx, "select "+invitationColumns+" from invitations where id = $1 for update", id))
	return i, pg.NotFound(err, "invitation")
}

// AcceptInvitation marks an invitation used.
func (q *Queries) AcceptInvitation(ctx context.Context, id string, now time.Time) error {
	_, err := q.tx.Exec(ctx, "update invitations set accept_time = $2 where id = $1", id, now)
	return err
}

// ---- helpers ----

// unepoch turns the 'epoch' that stands for NULL in scans back into the zero time.
func unepoch(t time.Time) time.Time {
	if t.Equal(time.Unix(0, 0)) {
		return time.Time{}
	}
	return t
}

// ---- events ----

// Emit queues change events in the transaction; the relay publishes them after commit.
func (q *Queries) Emit(ctx context.Context, events ...outbox.Event) error {
	return outbox.Write(ctx, q.tx, events...)
}

// CountMembers counts the firm's members.
func (q *Queries) CountMembers(ctx context.Context) (int, error) {
	var n int
	err := q.tx.QueryRow(ctx, "select count(*) from members").Scan(&n)
	return n, err
}

// SetDeletionScheduled sets the firm's read-only mark for a scheduled deletion.
func (q *Queries) SetDeletionScheduled(ctx context.Context, firmID string, scheduled bool) error {
	tag, err := q.tx.Exec(ctx, `update firms set deletion_scheduled = $2 where id = $1`, firmID, scheduled)
	if err == nil && tag.RowsAffected() == 0 {
		return pg.NotFound(pgx.ErrNoRows, "firm")
	}
	return err
}

// DeletionScheduled reports whether the firm is read-only for a scheduled deletion.
func (q *Queries) DeletionScheduled(ctx context.Context, firmID string) (bool, error) {
	var scheduled bool
	err := q.tx.QueryRow(ctx, `select deletion_scheduled from firms where id = $1`, firmID).Scan(&scheduled)
	if errors.Is(err, pgx.ErrNoRows) {
		return false, nil
	}
	return scheduled, err
}
