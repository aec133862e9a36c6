package app

import (
	"context"

	"github.com/firmflow/firmflow/pkg/apierr"
	eventsv1 "github.com/firmflow/firmflow/pkg/gen/firmflow/events/v1"
	"github.com/firmflow/firmflow/pkg/paging"
	"github.com/firmflow/firmflow/pkg/principal"
	"github.com/firmflow/firmflow/pkg/resource"
	"github.com/firmflow/firmflow/services/workflow/internal/domain"
	"github.com/firmflow/firmflow/services/workflow/internal/store"
)

// Custom field definitions are the firm's configuration: the declared policies let any
// member read them and only owners and admins change them, so these use cases add
// no permission-matrix check of their own.

// CustomFieldName is a definition's resource name.
func CustomFieldName(firmID, id string) string {
	return resource.Name("firms", firmID, "customFields", id)
}

// CustomFields lists a page of the firm's definitions in f's order.
func (a *App) CustomFields(ctx context.Context, p principal.Principal, firmID string, f domain.ChangeFilter, page paging.Page) ([]domain.CustomField, *paging.Cursor, error) {
	var out []domain.CustomField
	var next *paging.Cursor
	err := a.inFirm(ctx, p, firmID, func(q *store.Queries) error {
		var err error
		out, next, err = q.CustomFieldPage(ctx, f, page)
		return err
	})
	return out, next, err
}

// CustomField returns one definition.
func (a *App) CustomField(ctx context.Context, p principal.Principal, firmID, id string) (domain.CustomField, error) {
	var out domain.CustomField
	err := a.inFirm(ctx, p, firmID, func(q *store.Queries) error {
		var err error
		out, err = q.CustomField(ctx, id)
		return err
	})
	return out, err
}

// CreateCustomField defines a custom field. A retry with the same request id returns
// the first definition.
func (a *App) CreateCustomField(ctx context.Context, p principal.Principal, firmID string, f domain.CustomField, requestID string) (domain.CustomField, error) {
	f.ID, f.FirmID, f.Version = newID(), firmID, 1
	f.CreateTime = a.stamp()
	f.UpdateTime = f.CreateTime
	if err := domain.InvalidFields("custom_field.", f.Problems()); err != nil {
		return domain.CustomField{}, err
	}
	out := f
	err := a.inFirm(ctx, p, firmID, func(q *store.Queries) error {
		earlier, claimed, err := q.ClaimRequest(ctx, requestID, CustomFieldName(firmID, f.ID))
		if err != nil {
			return err
		}
		if !claimed {
			ids, err := earlierCreate(earlier, firmID, "firms/{firm}/customFields/{customField}")
			if err != nil {
				return err
			}
			out, err = q.CustomField(ctx, ids[1])
			return err
		}
		if err := q.CreateCustomField(ctx, f); err != nil {
			return err
		}
		return emit(ctx, q, p, "custom_field_created", &eventsv1.CustomFieldChanged{CustomField: CustomFieldName(firmID, f.ID), Key: f.Key})
	})
	return out, err
}

// UpdateCustomField changes a definition's display name or options. Options still
// used by a client cannot be removed.
func (a *App) UpdateCustomField(ctx context.Context, p principal.Principal, firmID, id string, patch CustomFieldPatch) (domain.CustomField, error) {
	var out domain.CustomField
	err := a.inFirm(ctx, p, firmID, func(q *store.Queries) error {
		f, err := q.CustomFieldForUpdate(ctx, id)
		if err != nil {
			return err
		}
		if err := checkEtag(patch.Etag, f.Version, "custom field"); err != nil {
			return err
		}
		var removed []string
		if patch.Options != nil {
			removed = f.RemovedOptions(*patch.Options)
		}
		changed, err := patch.apply(&f)
		if err != nil {
			return err
		}
		out = f
		if len(changed) == 0 {
			return nil
		}
		if err := domain.InvalidFields("custom_field.", f.Problems()); err != nil {
			return err
		}
		if len(removed) > 0 {
			used, err := q.OptionsInUse(ctx, f.ID, removed)
			if err != nil {
				return err
			}
			if used {
				return apierr.FailedPrecondition("OPTION_IN_USE", "a removed option is still the value of some client; change those clients first")
			}
		}
		if out, err = q.UpdateCustomField(ctx, f, f.Version, a.stamp()); err != nil {
			return err
		}
		return emit(ctx, q, p, "custom_field_updated",
			&eventsv1.CustomFieldChanged{CustomField: CustomFieldName(firmID, f.ID), Key: f.Key, ChangedFields: changed})
	})
	return out, err
}

// DeleteCustomField deletes a definition, leaving a tombstone, and every client's
// value of it.
func (a *App) DeleteCustomField(ctx context.Context, p principal.Principal, firmID, id, etag string) error {
	return a.inFirm(ctx, p, firmID, func(q *store.Queries) error {
		f, err := q.CustomFieldForUpdate(ctx, id)
		if err != nil {
			return err
		}
		if err := checkEtag(etag, f.Version, "custom field"); err != nil {
			return err
		}
		if err := q.DeleteCustomField(ctx, id, a.stamp()); err != nil {
			return err
		}
		return emit(ctx, q, p, "custom_field_deleted", &eventsv1.CustomFieldChanged{CustomField: CustomFieldName(firmID, id), Key: f.Key})
	})
}
