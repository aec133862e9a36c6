package domain

import (
	"fmt"
	"slices"
	"time"

	"github.com/firmflow/firmflow/pkg/apierr"
	"github.com/firmflow/firmflow/pkg/principal"
)

// ScopeFamilies are the resource families an API key can be scoped to.
var ScopeFamilies = []string{
	"identity", "clients", "contacts", "templates", "projects", "tasks", "series", "workload", "audit", "billing", "webhooks",
}

// APIKey lets a third-party integration (a CRM, say) call the API for one firm.
type APIKey struct {
	ID           string
	FirmID       string
	DisplayName  string
	Prefix       string
	SecretHash   []byte
	Scopes       []string
	CreatedBy    string
	RequestID    string
	RotatedFrom  string
	CreateTime   time.Time
	ExpireTime   time.Time // zero: until revoked
	LastUsedTime time.Time
	RevokeTime   time.Time
}

// KeyState is where a key is in its life.
type KeyState int

const (
	KeyActive KeyState = iota + 1
	KeyExpired
	KeyRevoked
)

// State at now.
func (k APIKey) State(now time.Time) KeyState {
	switch {
	case !k.RevokeTime.IsZero():
		return KeyRevoked
	case !k.ExpireTime.IsZero() && !now.Before(k.ExpireTime):
		return KeyExpired
	}
	return KeyActive
}

// MaxKeyLifetime bounds how far ahead an expiry may be set.
const MaxKeyLifetime = 2 * 365 * 24 * time.Hour

// DefaultRotationOverlap is how long the old key keeps working after a rotation.
const DefaultRotationOverlap = 24 * time.Hour

// keyPrefixLen is how much of a key is kept in clear to tell keys apart: the "ffk_"
// marker and 8 random characters, far too few to guess the rest from.
const keyPrefixLen = 12

// NewAPIKey checks the requested scopes and expiry and issues a key with its secret.
func NewAPIKey(id, firmID, name string, scopes []string, expire time.Time, createdBy string, now time.Time) (APIKey, Secret, error) {
	for i, s := range scopes {
		family, _, ok := principal.ParseScope(s)
		if !ok || !slices.Contains(ScopeFamilies, family) {
			return APIKey{}, Secret{}, apierr.InvalidArgument(fmt.Sprintf("api_key.scopes[%d]", i), "scope.known",
				fmt.Sprintf("unknown scope; use <family>:read or <family>:write with family one of %v", ScopeFamilies))
		}
	}
	if !expire.IsZero() && (!expire.After(now) || expire.Sub(now) > MaxKeyLifetime) {
		return APIKey{}, Secret{}, apierr.InvalidArgument("api_key.expire_time", "expire_time.range",
			"must be in the future and at most two years ahead")
	}
	secret := NewSecret("ffk_")
	key := APIKey{
		ID: id, FirmID: firmID, DisplayName: name, Prefix: secret.Plain[:keyPrefixLen],
		SecretHash: secret.Hash, Scopes: slices.Clone(scopes), CreatedBy: createdBy,
		CreateTime: now, ExpireTime: expire,
	}
	return key, secret, nil
}

// Rotate issues a successor with the same name and scopes and shortens the old
// key's life to the overlap, so that both work while the integration switches.
func (k *APIKey) Rotate(successorID string, overlap time.Duration, createdBy string, now time.Time) (APIKey, Secret, error) {
	if k.State(now) != KeyActive {
		return APIKey{}, Secret{}, apierr.FailedPrecondition("API_KEY_NOT_ACTIVE", "only an active key can be rotated")
	}
	next, secret, err := NewAPIKey(successorID, k.FirmID, k.DisplayName, k.Scopes, k.ExpireTime, createdBy, now)
	if err != nil {
		return APIKey{}, Secret{}, err
	}
	next.RotatedFrom = k.ID
	end := now.Add(overlap)
	if k.ExpireTime.IsZero() || end.Before(k.ExpireTime) {
		k.ExpireTime = end
	}
	return next, secret, nil
}

// Revoke ends the key at now; revoking twice keeps the first time.
func (k *APIKey) Revoke(now time.Time) {
	if k.RevokeTime.IsZero() {
		k.RevokeTime = now
	}
}

// Invitation asks someone to join a firm with a role.
type Invitation struct {
	ID         string
	FirmID     string
	Email      string
	Role       Role
	TokenHash  []byte
	InvitedBy  string
	RequestID  string
	CreateTime time.Time
	ExpireTime time.Time
	AcceptTime time.Time
}

// InvitationLifetime is how long an invitation can be accepted.
const InvitationLifetime = 7 * 24 * time.Hour

// Acceptable reports whether the invitation can still be accepted.
func (i Invitation) Acceptable(now time.Time) bool {
	return i.AcceptTime.IsZero() && now.Before(i.ExpireTime)
}
