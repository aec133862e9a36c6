package store

import (
	"context"
	"errors"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/firmflow/firmflow/services/identity/internal/domain"
)

// Authentication runs on every request the gateway forwards, so it is one statement
// on the pool, outside any explicit transaction: one round trip to the database.

// SessionCredential is what authenticating a session needs to know.
type SessionCredential struct {
	Session           domain.Session
	Role              domain.Role
	DeletionScheduled bool
}

// AuthenticateSession reads the session of a token hash, its member's role and its
// firm's read-only mark; ok is false when no session of a member has the hash.
func (s *Store) AuthenticateSession(ctx context.Context, tokenHash []byte) (c SessionCredential, ok bool, err error) {
	se := &c.Session
	var role string
	err = s.db.Pool.QueryRow(ctx, `select session_id::text, firm_id::text, member_id::text, csrf_hash, enrolling,
		last_seen_time, idle_expire_time, expire_time, coalesce(revoke_time, 'epoch'), role, deletion_scheduled
		from authenticate_session($1)`, tokenHash).
		Scan(&se.ID, &se.FirmID, &se.MemberID, &se.CSRFHash, &se.Enrolling,
			&se.LastSeenTime, &se.IdleExpireTime, &se.ExpireTime, &se.RevokeTime, &role, &c.DeletionScheduled)
	if errors.Is(err, pgx.ErrNoRows) {
		return SessionCredential{}, false, nil
	}
	se.RevokeTime, c.Role = unepoch(se.RevokeTime), domain.Role(role)
	return c, err == nil, err
}

// APIKeyCredential is what authenticating an API key needs to know.
type APIKeyCredential struct {
	Key               domain.APIKey
	DeletionScheduled bool
}

// AuthenticateAPIKey reads the key of a secret hash and its firm's read-only mark,
// recording the key's use at now when it is usable (at most once a minute); ok is
// false when no key has the hash.
func (s *Store) AuthenticateAPIKey(ctx context.Context, secretHash []byte, now time.Time) (c APIKeyCredential, ok bool, err error) {
	k := &c.Key
	err = s.db.Pool.QueryRow(ctx, `select api_key_id::text, firm_id::text, scopes, coalesce(expire_time, 'epoch'),
		coalesce(revoke_time, 'epoch'), deletion_scheduled from authenticate_api_key($1, $2)`, secretHash, now).
		Scan(&k.ID, &k.FirmID, &k.Scopes, &k.ExpireTime, &k.RevokeTime, &c.DeletionScheduled)
	if errors.Is(err, pgx.ErrNoRows) {
		return APIKeyCredential{}, false, nil
	}
	k.ExpireTime, k.RevokeTime = unepoch(k.ExpireTime), unepoch(k.RevokeTime)
	return c, err == nil, err
}
