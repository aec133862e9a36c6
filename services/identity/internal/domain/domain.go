// Package domain holds identity's entities and rules: roles and what each may do,
// sessions and their expiry, API keys and their rotation, login lockout, and support
// access (staff, their grants into firms, and the firm's notifications). It knows
// nothing of gRPC or SQL.
package domain

import (
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"time"

	"github.com/firmflow/firmflow/pkg/apierr"
	"github.com/firmflow/firmflow/pkg/principal"
)

// Role is a member's role in the firm.
type Role = principal.Role

const (
	RoleOwner  = principal.RoleOwner
	RoleAdmin  = principal.RoleAdmin
	RoleMember = principal.RoleMember
)

// Firm is a tenant: an accounting or bookkeeping practice.
type Firm struct {
	ID          string
	DisplayName string
	RequireTOTP bool
	Version     int64
	CreateTime  time.Time
	UpdateTime  time.Time
}

// Member is a person who works in a firm and signs in with email and password.
type Member struct {
	ID           string
	FirmID       string
	Email        string
	DisplayName  string
	Role         Role
	PasswordHash string
	TOTPSecret   []byte // ciphertext; nil until enrollment is confirmed
	TOTPPending  []byte // ciphertext of a secret awaiting confirmation
	TOTPLastStep int64
	LoginAttempts
	Version    int64
	CreateTime time.Time
}

// TOTPEnabled reports whether login needs a code.
func (m Member) TOTPEnabled() bool { return len(m.TOTPSecret) > 0 }

// Secret is a random credential handed to a client once. Only its hash is stored.
type Secret struct {
	Plain string
	Hash  []byte
}

// NewSecret returns a credential with a recognisable prefix ("ffs_" for sessions,
// "ffk_" for API keys) so a leaked one is easy to spot in a scan.
func NewSecret(prefix string) Secret {
	buf := make([]byte, 32)
	_, _ = rand.Read(buf) // crypto/rand never fails on supported platforms
	plain := prefix + base64.RawURLEncoding.EncodeToString(buf)
	return Secret{Plain: plain, Hash: HashSecret(plain)}
}

// HashSecret hashes a high-entropy credential for storage and lookup; a plain SHA-256
// suffices because the input has 256 bits of randomness.
func HashSecret(plain string) []byte {
	sum := sha256.Sum256([]byte(plain))
	return sum[:]
}

// SameSecret compares a presented credential with a stored hash in constant time.
func SameSecret(plain string, hash []byte) bool {
	return subtle.ConstantTimeCompare(HashSecret(plain), hash) == 1
}

// CanManage reports whether actor may give or take away role target from someone:
// managers handle admins and members, only owners handle owners.
func CanManage(actor, target Role) bool {
	switch actor {
	case RoleOwner:
		return true
	case RoleAdmin:
		return target == RoleAdmin || target == RoleMember
	}
	return false
}

// CheckInvitation applies who may invite whom. An invitation gives a person their
// own sign-in to the firm, so only a member acting as themselves sends one, and only
// for a role they manage; an API key is refused whatever its scopes, since a leaked
// key must not be able to mint people.
func CheckInvitation(actorKind principal.Kind, actor, target Role) error {
	if actorKind != principal.KindUser {
		return apierr.PermissionDenied("API_KEY_CANNOT_INVITE", "invitations are sent by an owner or admin signed in as themselves; API keys cannot invite anyone")
	}
	if !CanManage(actor, target) {
		if actor == RoleAdmin {
			return apierr.PermissionDenied("OWNER_ROLE_RESERVED", "only owners may invite owners")
		}
		return apierr.PermissionDenied("MANAGER_ROLE_REQUIRED", "only owners and admins may invite")
	}
	return nil
}

// CheckRoleChange applies the rules for changing a member's role.
func CheckRoleChange(actor Role, from, to Role, owners int) error {
	if !CanManage(actor, from) || !CanManage(actor, to) {
		return apierr.PermissionDenied("OWNER_ROLE_RESERVED", "only owners may grant or take the owner role")
	}
	if from == RoleOwner && to != RoleOwner && owners <= 1 {
		return apierr.FailedPrecondition("LAST_OWNER", "a firm keeps at least one owner")
	}
	return nil
}

// CheckRemoval applies the rules for removing a member.
func CheckRemoval(actor Role, target Role, owners int) error {
	if !CanManage(actor, target) {
		return apierr.PermissionDenied("OWNER_ROLE_RESERVED", "only owners may remove an owner")
	}
	if target == RoleOwner && owners <= 1 {
		return apierr.FailedPrecondition("LAST_OWNER", "a firm keeps at least one owner")
	}
	return nil
}
