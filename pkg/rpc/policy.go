package rpc

import (
	"fmt"
	"slices"
	"sort"
	"strings"

	"google.golang.org/grpc"

	"github.com/firmflow/firmflow/pkg/apierr"
	"github.com/firmflow/firmflow/pkg/principal"
)

// Policy says who may call one RPC method. It is declared on the method in the proto
// (option (firmflow.api.v1.policy), read by DeclaredPolicies); a method without one
// is refused (default deny).
type Policy struct {
	// Public methods need no principal (sign-up, login). A principal, when present, is
	// still verified and attached.
	Public bool
	// Peers are mTLS client certificate names allowed to call without a principal,
	// for service-to-service methods such as Authenticate.
	Peers []string
	// Roles are the member roles allowed when the caller is a user.
	Roles []principal.Role
	// Scope ("family:read" or "family:write") lets API keys call the method; API keys
	// are refused when it is empty.
	Scope string
	// AnyPeer lets every caller with a verified mTLS certificate in, e.g. health checks.
	AnyPeer bool
	// DuringEnrollment lets a user who still has to enroll TOTP call the method
	// (enrollment itself, logout, who-am-I).
	DuringEnrollment bool
	// Staff lets staff members call the method whether or not they hold a support
	// grant: their own sign-out, their requests for access.
	Staff bool
	// NoSupport keeps staff out even on a write grant, for methods that would
	// outlast the grant or decide who enters the firm: credentials, members,
	// security settings, the support grants themselves.
	NoSupport bool
	// Created marks methods that create a resource; the gateway answers them 201.
	Created bool
	// Accepted marks methods whose work happens afterwards; the gateway answers them 202.
	Accepted bool
	// Upsert marks methods that create a resource or change the one that exists; the
	// gateway answers 201 when the service marked the response (MarkCreated), else 200.
	Upsert bool
}

// Policies maps full method names ("/firmflow.identity.v1.IdentityService/GetFirm")
// to their policy.
type Policies map[string]Policy

// authorize decides a call from its policy, the verified principal (if any) and the
// mTLS peer name.
func (ps Policies) authorize(method string, p principal.Principal, hasPrincipal bool, peer string) error {
	policy, ok := ps[method]
	if Infrastructure(method[1:strings.LastIndex(method, "/")]) {
		policy, ok = Policy{AnyPeer: true}, true
	}
	if !ok {
		return apierr.PermissionDenied("NO_POLICY", "method is not available")
	}
	if policy.Public {
		return nil
	}
	if peer != "" && (policy.AnyPeer || slices.Contains(policy.Peers, peer)) {
		return nil
	}
	if !hasPrincipal && peer != "" && len(policy.Peers) > 0 {
		// A service calling a method reserved to other services: it is known, and not
		// allowed, rather than unauthenticated.
		return apierr.PermissionDenied("PEER_NOT_ALLOWED", "this service may not call this method")
	}
	if !hasPrincipal {
		return apierr.Unauthenticated("UNAUTHENTICATED", "sign in or send an API key")
	}
	if p.DeletionScheduled && !allowedWhileDeletionScheduled(method, policy) {
		return apierr.FailedPrecondition("FIRM_DELETION_SCHEDULED",
			"the firm is scheduled for deletion and read-only until then; an owner can cancel the deletion")
	}
	switch p.Kind {
	case principal.KindUser:
		if p.Enrolling && !policy.DuringEnrollment {
			return apierr.PermissionDenied("TOTP_ENROLLMENT_REQUIRED", "your firm requires two-factor sign-in; enroll TOTP first")
		}
		if slices.Contains(policy.Roles, p.Role) {
			return nil
		}
		return apierr.PermissionDenied("ROLE_NOT_ALLOWED", "your role does not allow this")
	case principal.KindStaff:
		return policy.authorizeStaff(method, p)
	case principal.KindAPIKey:
		if policy.Scope == "" {
			return apierr.PermissionDenied("API_KEY_NOT_ALLOWED", "API keys cannot call this method")
		}
		family, access, _ := principal.ParseScope(policy.Scope)
		if p.HasScope(family, access) {
			return nil
		}
		return apierr.PermissionDenied("SCOPE_MISSING", "the API key lacks scope "+policy.Scope)
	}
	return apierr.PermissionDenied("PRINCIPAL_NOT_ALLOWED", "this caller cannot call this method")
}

// authorizeStaff applies the support-access rules. A staff member without a grant
// is told NOT_FOUND, as for a firm that does not exist, so a support account learns
// nothing about firms that have not let it in. On a grant, staff may call what the
// firm's admins may, read-only methods only when the grant is read-only. Whether the
// grant's firm is the firm the request addresses is the service's check (the
// principal's firm against the resource's), as for every other caller.
func (policy Policy) authorizeStaff(method string, p principal.Principal) error {
	if policy.Staff {
		return nil
	}
	if !p.HasGrant() {
		return apierr.NotFound("firm")
	}
	if policy.NoSupport || !slices.Contains(policy.Roles, principal.RoleAdmin) {
		return apierr.PermissionDenied("SUPPORT_NOT_ALLOWED", "support access does not extend to this method")
	}
	switch p.GrantScope {
	case principal.GrantWrite:
		return nil
	case principal.GrantRead:
		if ReadOnly(method) {
			return nil
		}
		return apierr.PermissionDenied("SUPPORT_GRANT_READ_ONLY", "the support grant allows reading only")
	}
	return apierr.PermissionDenied("PRINCIPAL_NOT_ALLOWED", "this caller cannot call this method")
}

// readOnlyVerbs are the AIP method-name prefixes of methods that change nothing.
// Export is not among them: a bulk export is more than a support read should reach.
var readOnlyVerbs = []string{"Get", "List", "Lookup", "Search", "Verify"}

// ReadOnly reports whether a full method name ("/pkg.Service/GetThing") names a
// method that only reads, by its AIP verb. Every other name counts as a write, so a
// method named outside the convention is refused to a read-only grant rather than
// let through.
func ReadOnly(fullMethod string) bool {
	name := fullMethod[strings.LastIndex(fullMethod, "/")+1:]
	for _, verb := range readOnlyVerbs {
		rest, ok := strings.CutPrefix(name, verb)
		// The verb must end where a new word starts: "Listen" is not a List.
		if ok && rest != "" && rest[0] >= 'A' && rest[0] <= 'Z' {
			return true
		}
	}
	return false
}

// allowedWhileDeletionScheduled says what a firm in its deletion's grace period may
// still call: reads and exports (its data is about to go), a member's own session and
// TOTP methods, and lifecycle's methods, through which an owner cancels.
func allowedWhileDeletionScheduled(method string, policy Policy) bool {
	name := method[strings.LastIndex(method, "/")+1:]
	return ReadOnly(method) || strings.HasPrefix(name, "Export") || policy.DuringEnrollment ||
		strings.HasPrefix(method, "/firmflow.lifecycle.")
}

// infrastructureServices are the gRPC services every server has besides its own:
// health checks, and reflection, so grpcurl can list and call methods and decode
// error details. Any caller with a verified certificate of our CA may use them (the
// other services, the operator); they carry no firm data.
var infrastructureServices = []string{
	"grpc.health.v1.Health", "grpc.reflection.v1.ServerReflection", "grpc.reflection.v1alpha.ServerReflection",
}

// Infrastructure reports whether service (e.g. "grpc.health.v1.Health") is one of
// the services every server has, which need no declared policy.
func Infrastructure(service string) bool { return slices.Contains(infrastructureServices, service) }

// MissingPolicies lists the methods registered on srv that have no policy; a service's
// tests call it so that a new RPC without a policy fails the build, not production.
func MissingPolicies(srv *grpc.Server, ps Policies) []string {
	var missing []string
	for service, info := range srv.GetServiceInfo() {
		if Infrastructure(service) {
			continue
		}
		for _, m := range info.Methods {
			name := fmt.Sprintf("/%s/%s", service, m.Name)
			if _, ok := ps[name]; !ok {
				missing = append(missing, name)
			}
		}
	}
	sort.Strings(missing)
	return missing
}
