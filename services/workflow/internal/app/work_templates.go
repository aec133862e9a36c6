package app

import (
	"context"
	"fmt"

	eventsv1 "github.com/firmflow/firmflow/pkg/gen/firmflow/events/v1"
	"github.com/firmflow/firmflow/pkg/paging"
	"github.com/firmflow/firmflow/pkg/principal"
	"github.com/firmflow/firmflow/services/workflow/internal/domain"
	"github.com/firmflow/firmflow/services/workflow/internal/store"
)

// Templates have no assignee, so the "assigned" scope reaches none of them.

// CreateTemplate stores a new template at revision 1. A retry with the same request
// id returns the first template.
func (a *App) CreateTemplate(ctx context.Context, p principal.Principal, firmID string, t domain.Template, requestID string) (domain.Template, error) {
	now := a.stamp()
	t.ID, t.FirmID, t.Revision, t.CreateTime, t.UpdateTime = newID(), firmID, 1, now, now
	if err := t.Validate(); err != nil {
		return t, err
	}
	err := a.inFirm(ctx, p, firmID, func(q *store.Queries) error {
		if err := require(ctx, q, p, domain.CategoryTemplates, domain.ActionCreate, false); err != nil {
			return err
		}
		if err := requireMembers(ctx, q, templateAssignees(t.Tasks)...); err != nil {
			return err
		}
		earlier, claimed, err := q.ClaimRequest(ctx, requestID, templateName(firmID, t.ID))
		if err != nil {
			return err
		}
		if !claimed {
			ids, err := earlierCreate(earlier, firmID, "firms/{firm}/templates/{template}")
			if err != nil {
				return err
			}
			t, err = q.Template(ctx, ids[1])
			return err
		}
		if err := q.CreateTemplate(ctx, t); err != nil {
			return err
		}
		return emit(ctx, q, p, "template_created", &eventsv1.TemplateChanged{Template: templateName(firmID, t.ID), Revision: t.Revision})
	})
	return t, err
}

// Template returns a template at its current revision.
func (a *App) Template(ctx context.Context, p principal.Principal, firmID, id string) (domain.Template, error) {
	var t domain.Template
	err := a.inFirm(ctx, p, firmID, func(q *store.Queries) error {
		if err := require(ctx, q, p, domain.CategoryTemplates, domain.ActionRead, false); err != nil {
			return err
		}
		var err error
		t, err = q.Template(ctx, id)
		return err
	})
	return t, err
}

// Templates lists a page of the firm's templates in f's order.
func (a *App) Templates(ctx context.Context, p principal.Principal, firmID string, f domain.ChangeFilter, page paging.Page) ([]domain.Template, *paging.Cursor, error) {
	var out []domain.Template
	var next *paging.Cursor
	err := a.inFirm(ctx, p, firmID, func(q *store.Queries) error {
		if err := require(ctx, q, p, domain.CategoryTemplates, domain.ActionRead, false); err != nil {
			return err
		}
		var err error
		out, next, err = q.Templates(ctx, f, page)
		return err
	})
	return out, next, err
}

// TemplateRevisions lists a page of a template's revisions, newest first.
func (a *App) TemplateRevisions(ctx context.Context, p principal.Principal, firmID, id string, page paging.Page) ([]domain.Template, *paging.Cursor, error) {
	var out []domain.Template
	var next *paging.Cursor
	err := a.inFirm(ctx, p, firmID, func(q *store.Queries) error {
		if err := require(ctx, q, p, domain.CategoryTemplates, domain.ActionRead, false); err != nil {
			return err
		}
		var err error
		out, next, err = q.TemplateRevisions(ctx, id, page)
		return err
	})
	return out, next, err
}

// TemplatePatch is an UpdateTemplate: nil fields stay as they are.
type TemplatePatch struct {
	DisplayName   *string
	Description   *string
	BudgetMinutes *int
	Tasks         *[]domain.TemplateTask
	Etag          string
}

// UpdateTemplate makes a new revision and replans the template's projects that have
// not started: their template tasks are rebuilt from the new revision.
func (a *App) UpdateTemplate(ctx context.Context, p principal.Principal, firmID, id string, patch TemplatePatch) (domain.Template, error) {
	var t domain.Template
	err := a.inFirm(ctx, p, firmID, func(q *store.Queries) error {
		if err := require(ctx, q, p, domain.CategoryTemplates, domain.ActionUpdate, false); err != nil {
			return err
		}
		var err error
		if t, err = q.TemplateForUpdate(ctx, id); err != nil {
			return err
		}
		if err := checkEtag(patch.Etag, t.Revision, "template"); err != nil {
			return err
		}
		if patch.Tasks != nil {
			if err := requireMembers(ctx, q, templateAssignees(*patch.Tasks)...); err != nil {
				return err
			}
		}
		changed := patch.apply(&t)
		if len(changed) == 0 {
			return nil
		}
		if err := t.Validate(); err != nil {
			return err
		}
		t.UpdateTime = a.stamp()
		if t, err = q.SaveTemplate(ctx, t, t.Revision); err != nil {
			return err
		}
		events := newEventBatch(q, p.Actor())
		replanned, err := a.replanTemplateProjects(ctx, q, events, t)
		if err != nil {
			return err
		}
		events.add("template_updated", &eventsv1.TemplateChanged{
			Template: templateName(firmID, t.ID), Revision: t.Revision, ChangedFields: changed, ReplannedProjects: int32(replanned),
		})
		return events.write(ctx, q)
	})
	return t, err
}

// DeleteTemplate deletes a template, leaving a tombstone; the projects made from it
// keep their tasks.
func (a *App) DeleteTemplate(ctx context.Context, p principal.Principal, firmID, id, etag string) error {
	return a.inFirm(ctx, p, firmID, func(q *store.Queries) error {
		if err := require(ctx, q, p, domain.CategoryTemplates, domain.ActionDelete, false); err != nil {
			return err
		}
		t, err := q.TemplateForUpdate(ctx, id)
		if err != nil {
			return err
		}
		if err := checkEtag(etag, t.Revision, "template"); err != nil {
			return err
		}
		if err := q.DeleteTemplate(ctx, id, a.stamp()); err != nil {
			return err
		}
		return emit(ctx, q, p, "template_deleted", &eventsv1.TemplateChanged{Template: templateName(firmID, id), Revision: t.Revision})
	})
}

// replanTemplateProjects moves the template's not-started projects to its new
// revision, keeping each project's own dates, assignee and budget.
func (a *App) replanTemplateProjects(ctx context.Context, q *store.Queries, events *eventBatch, t domain.Template) (int, error) {
	projects, err := q.NotStartedProjectsOfTemplate(ctx, t.ID)
	if err != nil {
		return 0, err
	}
	for _, project := range projects {
		if err := a.replan(ctx, q, events, project, t, planOf(project)); err != nil {
			return 0, err
		}
	}
	return len(projects), nil
}

// apply changes t as the patch says and names the fields that changed.
func (patch TemplatePatch) apply(t *domain.Template) []string {
	var changed []string
	setField(&changed, "display_name", &t.DisplayName, patch.DisplayName)
	setField(&changed, "description", &t.Description, patch.Description)
	setField(&changed, "budget_minutes", &t.BudgetMinutes, patch.BudgetMinutes)
	if patch.Tasks != nil {
		t.Tasks, changed = *patch.Tasks, append(changed, "tasks")
	}
	return changed
}

// templateAssignees are the members a template's tasks name by default.
func templateAssignees(tasks []domain.TemplateTask) []memberRef {
	refs := make([]memberRef, len(tasks))
	for i, t := range tasks {
		refs[i] = memberRef{fmt.Sprintf("template.tasks[%d].assignee", i), t.AssigneeID}
	}
	return refs
}
