package domain

import (
	"testing"

	"github.com/firmflow/firmflow/pkg/principal"
)

func TestMembersCannotDeleteByDefault(t *testing.T) {
	p := DefaultPermissions()
	member := principal.Principal{Kind: principal.KindUser, Role: principal.RoleMember}
	admin := principal.Principal{Kind: principal.KindUser, Role: principal.RoleAdmin}
	owner := principal.Principal{Kind: principal.KindUser, Role: principal.RoleOwner}
	for _, c := range Categories {
		if p.Require(member, c, ActionDelete, true) == nil {
			t.Errorf("member may delete %s by default", c)
		}
		if p.Require(member, c, ActionRead, false) != nil {
			t.Errorf("member may not read %s", c)
		}
		if p.Require(admin, c, ActionDelete, false) != nil || p.Require(owner, c, ActionExport, false) != nil {
			t.Errorf("admin or owner refused on %s", c)
		}
	}
}

func TestAssignedScopeReachesOnlyOwnWork(t *testing.T) {
	p := DefaultPermissions()
	p[PermissionKey{principal.RoleMember, CategoryTasks, ActionUpdate}] = ScopeAssigned
	member := principal.Principal{Kind: principal.KindUser, Role: principal.RoleMember}
	if p.Require(member, CategoryTasks, ActionUpdate, true) != nil {
		t.Error("member refused on an assigned task")
	}
	if p.Require(member, CategoryTasks, ActionUpdate, false) == nil {
		t.Error("member allowed on someone else's task")
	}
}

// Requests whose scope the matrix does not decide skip reading it: for them, no matrix
// at all must give what any matrix gives.
func TestCallersTheMatrixDoesNotDecideReachTheSameWithoutIt(t *testing.T) {
	nothingAllowed := Permissions{}
	for _, c := range Categories {
		for _, a := range Actions {
			nothingAllowed[PermissionKey{principal.RoleAdmin, c, a}] = ScopeNone
			nothingAllowed[PermissionKey{principal.RoleMember, c, a}] = ScopeNone
		}
	}
	callers := []principal.Principal{
		{Kind: principal.KindAPIKey, FirmID: "f", APIKeyID: "k"},
		{Kind: principal.KindStaff, StaffID: "s", FirmID: "f", GrantID: "g", GrantScope: principal.GrantRead},
		{Kind: principal.KindStaff, StaffID: "s"},
		{Kind: principal.KindUser, FirmID: "f", UserID: "o", Role: principal.RoleOwner},
		{Kind: principal.KindUser, FirmID: "f", UserID: "a", Role: principal.RoleAdmin},
		{Kind: principal.KindUser, FirmID: "f", UserID: "m", Role: principal.RoleMember},
	}
	for _, caller := range callers {
		decides := false
		for _, c := range Categories {
			for _, a := range Actions {
				withDefaults, restricted := DefaultPermissions().ScopeFor(caller, c, a), nothingAllowed.ScopeFor(caller, c, a)
				decides = decides || withDefaults != restricted
				if !MatrixDecides(caller) && Permissions(nil).ScopeFor(caller, c, a) != withDefaults {
					t.Errorf("%s %s on %s: %s without the matrix, %s with it", caller.Actor(), a, c,
						Permissions(nil).ScopeFor(caller, c, a), withDefaults)
				}
			}
		}
		if decides != MatrixDecides(caller) {
			t.Errorf("%s (%s %s): the matrix changes its scope: %v; MatrixDecides: %v", caller.Actor(), caller.Kind, caller.Role, decides, MatrixDecides(caller))
		}
	}
}
