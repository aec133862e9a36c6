package grpcapi

import (
	"context"
	"sort"

	workflowv1 "github.com/firmflow/firmflow/pkg/gen/firmflow/workflow/v1"
	"github.com/firmflow/firmflow/pkg/principal"
	"github.com/firmflow/firmflow/pkg/resource"
	"github.com/firmflow/firmflow/services/workflow/internal/domain"
)

func (s *permissionServer) GetPermissions(ctx context.Context, req *workflowv1.GetPermissionsRequest) (*workflowv1.Permissions, error) {
	ids, err := resource.Parse("name", req.GetName(), permissionsPattern)
	if err != nil {
		return nil, err
	}
	perms, err := s.app.Permissions(ctx, caller(ctx), ids[0])
	if err != nil {
		return nil, err
	}
	return toPermissions(ids[0], perms), nil
}

func (s *permissionServer) UpdatePermissions(ctx context.Context, req *workflowv1.UpdatePermissionsRequest) (*workflowv1.Permissions, error) {
	ids, err := resource.Parse("permissions.name", req.GetPermissions().GetName(), permissionsPattern)
	if err != nil {
		return nil, err
	}
	cells := domain.Permissions{}
	for _, r := range req.GetPermissions().GetRules() {
		cells[domain.PermissionKey{Role: principal.Role(r.GetRole()), Category: domain.Category(r.GetCategory()), Action: domain.Action(r.GetAction())}] = domain.Scope(r.GetScope())
	}
	perms, err := s.app.SetPermissions(ctx, caller(ctx), ids[0], cells)
	if err != nil {
		return nil, err
	}
	return toPermissions(ids[0], perms), nil
}

func toPermissions(firmID string, perms domain.Permissions) *workflowv1.Permissions {
	out := &workflowv1.Permissions{Name: resource.Name("firms", firmID, "permissions")}
	for k, s := range perms {
		out.Rules = append(out.Rules, &workflowv1.PermissionRule{
			Role: string(k.Role), Category: string(k.Category), Action: string(k.Action), Scope: string(s),
		})
	}
	sort.Slice(out.Rules, func(i, j int) bool {
		a, b := out.Rules[i], out.Rules[j]
		if a.Role != b.Role {
			return a.Role < b.Role
		}
		if a.Category != b.Category {
			return a.Category < b.Category
		}
		return a.Action < b.Action
	})
	return out
}
