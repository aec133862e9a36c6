// Package principal is who is calling: the identity a request acts as, carried from the
// gateway to every service as a short-lived token that identity signs with Ed25519 and
// each service verifies locally with identity's public key.
package principal

import (
	"context"
	"slices"
	"strings"
)

// MetadataKey is the gRPC metadata entry carrying the signed principal token.
const MetadataKey = "x-firmflow-principal"

// Kind tells what sort of caller a principal is.
type Kind string

const (
	KindUser   Kind = "user"
	KindAPIKey Kind = "api_key"
	KindStaff  Kind = "staff"
)

// Role is a member's role in their firm.
type Role string

const (
	RoleOwner  Role = "owner"
	RoleAdmin  Role = "admin"
	RoleMember Role = "member"
)

// GrantScope is what a support grant lets a staff member do inside a firm: read
// only, or whatever an admin may do.
type GrantScope string

const (
	GrantRead  GrantScope = "read"
	GrantWrite GrantScope = "write"
)

// Principal is the verified identity of a caller. Users and API keys always act in
// their firm; staff act in a firm only through a support grant (FirmID, GrantID and
// GrantScope set together) and otherwise have no firm at all.
type Principal struct {
	Kind      Kind     `json:"knd"`
	FirmID    string   `json:"fid"`
	UserID    string   `json:"uid,omitempty"`
	SessionID string   `json:"sid,omitempty"`
	APIKeyID  string   `json:"kid,omitempty"`
	StaffID   string   `json:"stf,omitempty"`
	GrantID   string   `json:"gid,omitempty"`
	Role      Role     `json:"rol,omitempty"`
	Scopes    []string `json:"scp,omitempty"`
	// GrantScope is what the support grant GrantID lets a staff member do in FirmID.
	GrantScope GrantScope `json:"gsc,omitempty"`
	// Enrolling marks a user whose firm requires TOTP and who has not enrolled yet:
	// they may only enroll (rpc.Policy.DuringEnrollment).
	Enrolling bool `json:"enr,omitempty"`
	// DeletionScheduled marks a firm in its deletion's grace period: it is read-only
	// (rpc refuses every method that changes data) until the deletion is cancelled.
	DeletionScheduled bool `json:"dls,omitempty"`
}

// Actor names the principal in audit records and events: "users/{id}", "apiKeys/{id}"
// or "staff/{id}".
func (p Principal) Actor() string {
	switch p.Kind {
	case KindUser:
		return "users/" + p.UserID
	case KindAPIKey:
		return "apiKeys/" + p.APIKeyID
	case KindStaff:
		return "staff/" + p.StaffID
	}
	return ""
}

// HasGrant reports whether the principal is a staff member inside a firm on a
// support grant.
func (p Principal) HasGrant() bool {
	return p.Kind == KindStaff && p.FirmID != "" && p.GrantID != ""
}

// complete reports whether a principal has what its kind needs, so that a token
// missing its firm, or a staff token naming a firm without a grant, is refused.
func (p Principal) complete() bool {
	switch p.Kind {
	case KindUser, KindAPIKey:
		return p.FirmID != ""
	case KindStaff:
		if p.StaffID == "" {
			return false
		}
		if p.FirmID == "" {
			return p.GrantID == "" && p.GrantScope == ""
		}
		return p.GrantID != "" && (p.GrantScope == GrantRead || p.GrantScope == GrantWrite)
	}
	return false
}

// HasScope reports whether an API key's scopes allow access ("read" or "write") to a
// resource family; write implies read.
func (p Principal) HasScope(family, access string) bool {
	if slices.Contains(p.Scopes, family+":"+access) {
		return true
	}
	return access == "read" && slices.Contains(p.Scopes, family+":write")
}

// ParseScope splits "family:access".
func ParseScope(scope string) (family, access string, ok bool) {
	family, access, ok = strings.Cut(scope, ":")
	return family, access, ok && family != "" && (access == "read" || access == "write")
}

type contextKey struct{}

// NewContext returns ctx carrying p.
func NewContext(ctx context.Context, p Principal) context.Context {
	return context.WithValue(ctx, contextKey{}, p)
}

// FromContext returns the principal of the request, if it has one.
func FromContext(ctx context.Context) (Principal, bool) {
	p, ok := ctx.Value(contextKey{}).(Principal)
	return p, ok
}
