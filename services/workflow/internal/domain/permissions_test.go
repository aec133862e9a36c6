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
