// Package domain holds workflow's entities and rules: clients and their sensitive
// fields, templates, projects, tasks, recurring series, workload, and who may do what.
// It knows nothing of gRPC or SQL.
package domain

import (
	"fmt"

	"github.com/firmflow/firmflow/pkg/apierr"
	"github.com/firmflow/firmflow/pkg/principal"
)

// Category is a family of workflow resources that permissions are set for.
type Category string

const (
	CategoryClients   Category = "clients"
	CategoryContacts  Category = "contacts"
	CategoryTemplates Category = "templates"
	CategoryProjects  Category = "projects"
	CategoryTasks     Category = "tasks"
	CategorySeries    Category = "series"
)

// Categories lists every category.
var Categories = []Category{CategoryClients, CategoryContacts, CategoryTemplates, CategoryProjects, CategoryTasks, CategorySeries}

// Action is what a caller does to a resource.
type Action string

const (
	ActionCreate Action = "create"
	ActionRead   Action = "read"
	ActionUpdate Action = "update"
	ActionDelete Action = "delete"
	ActionImport Action = "import"
	ActionExport Action = "export"
)

// Actions lists every action.
var Actions = []Action{ActionCreate, ActionRead, ActionUpdate, ActionDelete, ActionImport, ActionExport}

// Scope is how much of a category an action reaches.
type Scope string

const (
	ScopeNone     Scope = "none"
	ScopeAssigned Scope = "assigned" // only what is assigned to the caller
	ScopeAll      Scope = "all"      // everyone's
)

// PermissionKey names one cell of the permission matrix.
type PermissionKey struct {
	Role     principal.Role
	Category Category
	Action   Action
}

// Permissions is a firm's matrix: the defaults with the firm's overrides applied.
type Permissions map[PermissionKey]Scope

// DefaultPermissions: admins do everything; members create, read and change
// everyone's work but cannot delete, import or export until an owner or admin allows it.
func DefaultPermissions() Permissions {
	p := Permissions{}
	for _, c := range Categories {
		for _, a := range Actions {
			p[PermissionKey{principal.RoleAdmin, c, a}] = ScopeAll
			switch a {
			case ActionDelete, ActionImport, ActionExport:
				p[PermissionKey{principal.RoleMember, c, a}] = ScopeNone
			default:
				p[PermissionKey{principal.RoleMember, c, a}] = ScopeAll
			}
		}
	}
	return p
}

// MatrixDecides reports whether the firm's permission matrix decides how far the
// caller reaches: for members and admins only. API keys, staff on a grant and owners
// reach everything whatever the matrix says, so their requests need not read it.
func MatrixDecides(caller principal.Principal) bool {
	return caller.Kind == principal.KindUser && caller.Role != principal.RoleOwner
}

// ScopeFor returns how far the caller reaches with action on category. Owners reach
// everything; API keys reach everything their scopes (checked by the declared policy)
// allow; users get their role's cell.
func (p Permissions) ScopeFor(caller principal.Principal, c Category, a Action) Scope {
	switch {
	case caller.Kind == principal.KindAPIKey:
		return ScopeAll
	case caller.Kind == principal.KindStaff && caller.HasGrant():
		// The firm's grant decides, and the declared policy has already held a
		// read-only grant to reading methods.
		return ScopeAll
	case caller.Kind == principal.KindUser && !MatrixDecides(caller):
		return ScopeAll // an owner
	case MatrixDecides(caller):
		if s, ok := p[PermissionKey{caller.Role, c, a}]; ok {
			return s
		}
	}
	return ScopeNone
}

// Require refuses an action the caller's scope does not reach. assignedToCaller says
// whether the resource (or, for creates and lists, the request) concerns only the
// caller's own work.
func (p Permissions) Require(caller principal.Principal, c Category, a Action, assignedToCaller bool) error {
	switch p.ScopeFor(caller, c, a) {
	case ScopeAll:
		return nil
	case ScopeAssigned:
		if assignedToCaller {
			return nil
		}
	}
	return apierr.PermissionDenied("PERMISSION_NOT_GRANTED",
		fmt.Sprintf("your role may not %s %s here; an owner or admin can change this in permissions", a, c))
}

// ValidCell reports whether role, category, action and scope name a cell owners may set.
func ValidCell(role principal.Role, c Category, a Action, s Scope) bool {
	if role != principal.RoleAdmin && role != principal.RoleMember {
		return false
	}
	okC, okA := false, false
	for _, x := range Categories {
		okC = okC || x == c
	}
	for _, x := range Actions {
		okA = okA || x == a
	}
	return okC && okA && (s == ScopeNone || s == ScopeAssigned || s == ScopeAll)
}
