package app

import (
	"context"

	"github.com/firmflow/firmflow/pkg/apierr"
	"github.com/firmflow/firmflow/pkg/principal"
	"github.com/firmflow/firmflow/services/workflow/internal/domain"
	"github.com/firmflow/firmflow/services/workflow/internal/store"
)

// Permissions returns the firm's permission matrix.
func (a *App) Permissions(ctx context.Context, p principal.Principal, firmID string) (domain.Permissions, error) {
	var perms domain.Permissions
	err := a.inFirm(ctx, p, firmID, func(q *store.Queries) error {
		var err error
		perms, err = q.Permissions(ctx)
		return err
	})
	return perms, err
}

// SetPermissions changes cells of the matrix. Only owners and admins reach this (the
// method's declared policy), and admins cannot grant more than they have: every cell
// they set for admins stays within their own.
func (a *App) SetPermissions(ctx context.Context, p principal.Principal, firmID string, cells domain.Permissions) (domain.Permissions, error) {
	for k, s := range cells {
		if !domain.ValidCell(k.Role, k.Category, k.Action, s) {
			return nil, apierr.InvalidArgument("permissions.rules", "permission.cell", "not a valid role, category, action and scope")
		}
	}
	var perms domain.Permissions
	err := a.inFirm(ctx, p, firmID, func(q *store.Queries) error {
		for k, s := range cells {
			if err := q.SetPermission(ctx, k, s); err != nil {
				return err
			}
		}
		var err error
		perms, err = q.Permissions(ctx)
		return err
	})
	return perms, err
}
