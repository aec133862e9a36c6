package app

import (
	"context"
	"slices"

	"github.com/firmflow/firmflow/pkg/apierr"
	eventsv1 "github.com/firmflow/firmflow/pkg/gen/firmflow/events/v1"
	"github.com/firmflow/firmflow/pkg/paging"
	"github.com/firmflow/firmflow/pkg/principal"
	"github.com/firmflow/firmflow/services/workflow/internal/domain"
	"github.com/firmflow/firmflow/services/workflow/internal/store"
)

// NewProject is a CreateProject: the project as asked, and the template to make it
// from (empty for an ad hoc project).
type NewProject struct {
	Project    domain.Project
	TemplateID string
	RequestID  string
}

// CreateProject makes a project for a client; from a template, its tasks are made
// with due dates from their offsets. A retry with the same request id returns the
// first project.
func (a *App) CreateProject(ctx context.Context, p principal.Principal, firmID string, in NewProject) (domain.Project, error) {
	project := in.Project
	err := a.inFirm(ctx, p, firmID, func(q *store.Queries) error {
		if err := require(ctx, q, p, domain.CategoryProjects, domain.ActionCreate, assignedToCaller(p, project.AssigneeID)); err != nil {
			return err
		}
		if err := requireMembers(ctx, q, memberRef{"project.assignee", project.AssigneeID}); err != nil {
			return err
		}
		id := newID()
		earlier, claimed, err := q.ClaimRequest(ctx, in.RequestID, projectName(firmID, id))
		if err != nil {
			return err
		}
		if !claimed {
			ids, err := earlierCreate(earlier, firmID, "firms/{firm}/projects/{project}")
			if err != nil {
				return err
			}
			project, err = q.Project(ctx, ids[1])
			return err
		}
		if ok, err := q.ClientExists(ctx, project.ClientID); err != nil || !ok {
			return notFoundUnless(err, "client")
		}
		var tmpl *domain.Template
		if in.TemplateID != "" {
			t, err := q.TemplateForShare(ctx, in.TemplateID)
			if err != nil {
				return err
			}
			tmpl = &t
		}
		events := newEventBatch(q, p.Actor())
		project, err = a.insertProject(ctx, q, events, id, project, tmpl)
		if err != nil {
			return err
		}
		return events.write(ctx, q)
	})
	return project, err
}

// insertProject stores a new project and, from a template, its tasks. Unset fields
// come from the template: name, budget, and a due date from the task offsets.
func (a *App) insertProject(ctx context.Context, q *store.Queries, events *eventBatch, id string, project domain.Project, tmpl *domain.Template) (domain.Project, error) {
	now := a.stamp()
	project.ID, project.FirmID, project.Status, project.Version, project.CreateTime, project.UpdateTime =
		id, q.FirmID(), domain.ProjectNotStarted, 1, now, now
	if project.StartDate.IsZero() {
		project.StartDate = domain.DateOf(now)
	}
	var tasks []domain.Task
	if tmpl != nil {
		if project.DisplayName == "" {
			project.DisplayName = tmpl.DisplayName
		}
		if project.BudgetMinutes == 0 {
			project.BudgetMinutes = tmpl.BudgetMinutes
		}
		plan := planOf(project)
		project.DueDate = tmpl.DueDateFor(plan)
		project.TemplateID, project.TemplateRevision = tmpl.ID, tmpl.Revision
		var err error
		if tasks, err = a.newTasks(ctx, q, project, tmpl.Instantiate(plan)); err != nil {
			return project, err
		}
		project.TaskCount = len(tasks)
	}
	if err := project.Validate(); err != nil {
		return project, err
	}
	if err := q.InsertProject(ctx, project); err != nil {
		return project, err
	}
	if err := q.InsertTasks(ctx, tasks); err != nil {
		return project, err
	}
	name := projectName(project.FirmID, project.ID)
	events.add("project_created", &eventsv1.ProjectChanged{
		Project: name, Client: ClientName(project.FirmID, project.ClientID), Template: optionalName(templateName, project.FirmID, project.TemplateID),
		TemplateRevision: project.TemplateRevision, Series: optionalName(seriesName, project.FirmID, project.SeriesID),
	})
	for _, t := range tasks {
		events.add("task_created", &eventsv1.TaskChanged{Task: taskName(project.FirmID, project.ID, t.ID), Project: name, Status: string(t.Status)})
	}
	return project, nil
}

// newTasks gives instantiated template tasks their ids and project. A template's
// default assignee who has left the firm since is left out: the task is unassigned.
func (a *App) newTasks(ctx context.Context, q *store.Queries, project domain.Project, tasks []domain.Task) ([]domain.Task, error) {
	var assignees []string
	for _, t := range tasks {
		if t.AssigneeID != "" && !slices.Contains(assignees, t.AssigneeID) {
			assignees = append(assignees, t.AssigneeID)
		}
	}
	known, err := q.Memberships(ctx, assignees)
	if err != nil {
		return nil, err
	}
	now := a.stamp()
	for i := range tasks {
		t := &tasks[i]
		t.ID, t.FirmID, t.ProjectID, t.ClientID, t.Version, t.CreateTime, t.UpdateTime =
			newID(), project.FirmID, project.ID, project.ClientID, 1, now, now
		if known[t.AssigneeID] != domain.MembershipActive {
			t.AssigneeID = ""
		}
	}
	return tasks, nil
}

// replan rewrites a project that has not started from a template revision and a
// plan: the plan's fields, and the template's tasks rebuilt in front of the tasks
// people added by hand.
func (a *App) replan(ctx context.Context, q *store.Queries, events *eventBatch, project domain.Project, tmpl domain.Template, plan domain.ProjectPlan) error {
	if !project.Replannable() {
		return nil
	}
	if plan.BudgetMinutes == 0 {
		plan.BudgetMinutes = tmpl.BudgetMinutes
	}
	plan.DueDate = tmpl.DueDateFor(plan)
	project.ApplyPlan(plan)
	tasks, err := a.newTasks(ctx, q, project, tmpl.Instantiate(plan))
	if err != nil {
		return err
	}
	if err := q.ClearTemplateTasks(ctx, project.ID, len(tasks)); err != nil {
		return err
	}
	if err := q.InsertTasks(ctx, tasks); err != nil {
		return err
	}
	project.TemplateID, project.TemplateRevision = tmpl.ID, tmpl.Revision
	if _, err := a.retally(ctx, q, events, &project); err != nil {
		return err
	}
	project.UpdateTime = a.stamp()
	if _, err := q.SaveProject(ctx, project, project.Version); err != nil {
		return err
	}
	events.add("project_replanned", &eventsv1.ProjectReplanned{
		Project: projectName(project.FirmID, project.ID), Template: templateName(project.FirmID, tmpl.ID),
		TemplateRevision: tmpl.Revision, Series: optionalName(seriesName, project.FirmID, project.SeriesID),
	})
	return nil
}

// retally recounts a project's tasks and derives its status, recording a status
// change as an event. The caller saves the project.
func (a *App) retally(ctx context.Context, q *store.Queries, events *eventBatch, project *domain.Project) (bool, error) {
	tally, err := q.ProjectTally(ctx, project.ID)
	if err != nil {
		return false, err
	}
	status := domain.DeriveStatus(tally)
	changed := status != project.Status || tally.Total() != project.TaskCount || tally.Complete != project.CompletedTasks
	if status != project.Status {
		events.add("project_status_changed", &eventsv1.ProjectStatusChanged{
			Project: projectName(project.FirmID, project.ID), OldStatus: string(project.Status), NewStatus: string(status),
		})
	}
	project.Status, project.TaskCount, project.CompletedTasks = status, tally.Total(), tally.Complete
	return changed, nil
}

// Project returns one project.
func (a *App) Project(ctx context.Context, p principal.Principal, firmID, id string) (domain.Project, error) {
	var project domain.Project
	err := a.inFirm(ctx, p, firmID, func(q *store.Queries) error {
		var err error
		if project, err = q.Project(ctx, id); err != nil {
			return err
		}
		return require(ctx, q, p, domain.CategoryProjects, domain.ActionRead, assignedToCaller(p, project.AssigneeID))
	})
	return project, err
}

// Projects lists a page of projects. A caller whose scope is "assigned" sees only
// projects assigned to them.
func (a *App) Projects(ctx context.Context, p principal.Principal, firmID string, f domain.ProjectFilter, page paging.Page) ([]domain.Project, *paging.Cursor, error) {
	var out []domain.Project
	var next *paging.Cursor
	err := a.inFirm(ctx, p, firmID, func(q *store.Queries) error {
		var err error
		if f.AssigneeID, err = listScope(ctx, q, p, domain.CategoryProjects, f.AssigneeID); err != nil {
			return err
		}
		out, next, err = q.Projects(ctx, f, page)
		return err
	})
	return out, next, err
}

// listScope narrows a list to the caller's own work when their scope is "assigned":
// it returns the assignee filter to apply.
func listScope(ctx context.Context, q *store.Queries, p principal.Principal, c domain.Category, assignee string) (string, error) {
	perms, err := permissionsFor(ctx, q, p)
	if err != nil {
		return "", err
	}
	switch perms.ScopeFor(p, c, domain.ActionRead) {
	case domain.ScopeAll:
		return assignee, nil
	case domain.ScopeAssigned:
		if p.Kind == principal.KindUser && (assignee == "" || assignee == p.UserID) {
			return p.UserID, nil
		}
	}
	return "", perms.Require(p, c, domain.ActionRead, false)
}

// ProjectPatch is an UpdateProject: nil fields stay as they are.
type ProjectPatch struct {
	DisplayName   *string
	Description   *string
	AssigneeID    *string
	StartDate     *domain.Date
	DueDate       *domain.Date
	DeadlineDate  *domain.Date
	BudgetMinutes *int
	Tags          *[]string
	Etag          string
}

// UpdateProject changes a project's own fields; its status stays derived.
func (a *App) UpdateProject(ctx context.Context, p principal.Principal, firmID, id string, patch ProjectPatch) (domain.Project, error) {
	var project domain.Project
	err := a.inFirm(ctx, p, firmID, func(q *store.Queries) error {
		var err error
		if project, err = q.ProjectForUpdate(ctx, id); err != nil {
			return err
		}
		if err := require(ctx, q, p, domain.CategoryProjects, domain.ActionUpdate, assignedToCaller(p, project.AssigneeID)); err != nil {
			return err
		}
		if err := checkEtag(patch.Etag, project.Version, "project"); err != nil {
			return err
		}
		if err := requireMembers(ctx, q, optionalMember("project.assignee", patch.AssigneeID)); err != nil {
			return err
		}
		changed := patch.apply(&project)
		if len(changed) == 0 {
			return nil
		}
		if err := project.Validate(); err != nil {
			return err
		}
		project.UpdateTime = a.stamp()
		if project, err = q.SaveProject(ctx, project, project.Version); err != nil {
			return err
		}
		return emit(ctx, q, p, "project_updated", &eventsv1.ProjectChanged{
			Project: projectName(firmID, id), Client: ClientName(firmID, project.ClientID), ChangedFields: changed,
			Template: optionalName(templateName, firmID, project.TemplateID), TemplateRevision: project.TemplateRevision,
			Series: optionalName(seriesName, firmID, project.SeriesID),
		})
	})
	return project, err
}

func (patch ProjectPatch) apply(p *domain.Project) []string {
	var changed []string
	setField(&changed, "display_name", &p.DisplayName, patch.DisplayName)
	setField(&changed, "description", &p.Description, patch.Description)
	setField(&changed, "assignee", &p.AssigneeID, patch.AssigneeID)
	setField(&changed, "start_date", &p.StartDate, patch.StartDate)
	setField(&changed, "due_date", &p.DueDate, patch.DueDate)
	setField(&changed, "deadline_date", &p.DeadlineDate, patch.DeadlineDate)
	setField(&changed, "budget_minutes", &p.BudgetMinutes, patch.BudgetMinutes)
	setList(&changed, "tags", &p.Tags, patch.Tags)
	return changed
}

// DeleteProject removes a project and its tasks.
func (a *App) DeleteProject(ctx context.Context, p principal.Principal, firmID, id, etag string) error {
	return a.inFirm(ctx, p, firmID, func(q *store.Queries) error {
		project, err := q.ProjectForUpdate(ctx, id)
		if err != nil {
			return err
		}
		if err := require(ctx, q, p, domain.CategoryProjects, domain.ActionDelete, assignedToCaller(p, project.AssigneeID)); err != nil {
			return err
		}
		if err := checkEtag(etag, project.Version, "project"); err != nil {
			return err
		}
		if err := q.DeleteProject(ctx, id, a.stamp()); err != nil {
			return err
		}
		return emit(ctx, q, p, "project_deleted", &eventsv1.ProjectChanged{
			Project: projectName(firmID, id), Client: ClientName(firmID, project.ClientID),
		})
	})
}

func planOf(p domain.Project) domain.ProjectPlan {
	return domain.ProjectPlan{
		DisplayName: p.DisplayName, AssigneeID: p.AssigneeID, BudgetMinutes: p.BudgetMinutes,
		StartDate: p.StartDate, DueDate: p.DueDate,
	}
}

// optionalName is a resource name, or "" when there is no id.
func optionalName(name func(firmID, id string) string, firmID, id string) string {
	if id == "" {
		return ""
	}
	return name(firmID, id)
}

// notFoundUnless turns a lookup that found nothing into NOT_FOUND.
func notFoundUnless(err error, what string) error {
	if err != nil {
		return err
	}
	return apierr.NotFound(what)
}
