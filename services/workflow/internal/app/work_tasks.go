package app

import (
	"context"
	"slices"
	"time"

	eventsv1 "github.com/firmflow/firmflow/pkg/gen/firmflow/events/v1"
	"github.com/firmflow/firmflow/pkg/paging"
	"github.com/firmflow/firmflow/pkg/principal"
	"github.com/firmflow/firmflow/services/workflow/internal/domain"
	"github.com/firmflow/firmflow/services/workflow/internal/store"
)

// Every task change locks its project first, then recounts the project's tasks in the
// same transaction, so the project's derived status is never behind its tasks.

// CreateTask adds a task to a project, after its last task unless a position is given.
func (a *App) CreateTask(ctx context.Context, p principal.Principal, firmID, projectID string, t domain.Task, requestID string) (domain.Task, error) {
	now := a.stamp()
	if t.Status == "" {
		t.Status = domain.TaskReady
	}
	status := t.Status
	t.Status = domain.TaskReady
	if err := t.SetStatus(status, now); err != nil {
		return t, err
	}
	if err := t.SetChecklist(t.Checklist); err != nil {
		return t, err
	}
	if err := t.Validate(); err != nil {
		return t, err
	}
	err := a.inFirm(ctx, p, firmID, func(q *store.Queries) error {
		if err := require(ctx, q, p, domain.CategoryTasks, domain.ActionCreate, assignedToCaller(p, t.AssigneeID)); err != nil {
			return err
		}
		if err := requireMembers(ctx, q, memberRef{"task.assignee", t.AssigneeID}); err != nil {
			return err
		}
		project, err := q.ProjectForUpdate(ctx, projectID)
		if err != nil {
			return err
		}
		t.ID, t.FirmID, t.ProjectID, t.ClientID, t.Version, t.CreateTime, t.UpdateTime = newID(), firmID, projectID, project.ClientID, 1, now, now
		earlier, claimed, err := q.ClaimRequest(ctx, requestID, taskName(firmID, projectID, t.ID))
		if err != nil {
			return err
		}
		if !claimed {
			ids, err := earlierCreate(earlier, firmID, "firms/{firm}/projects/{project}/tasks/{task}")
			if err != nil {
				return err
			}
			t, err = q.Task(ctx, ids[1], ids[2])
			return err
		}
		if t.Position == 0 {
			if t.Position, err = q.NextTaskPosition(ctx, projectID); err != nil {
				return err
			}
		}
		if err := q.InsertTasks(ctx, []domain.Task{t}); err != nil {
			return err
		}
		events := newEventBatch(q, p.Actor())
		events.add("task_created", &eventsv1.TaskChanged{
			Task: taskName(firmID, projectID, t.ID), Project: projectName(firmID, projectID), Status: string(t.Status),
		})
		if err := a.settleProject(ctx, q, events, project); err != nil {
			return err
		}
		if err := events.write(ctx, q); err != nil {
			return err
		}
		t, err = q.Task(ctx, projectID, t.ID) // with its flags
		return err
	})
	return t, err
}

// settleProject recounts a locked project after a task change and saves it when its
// status or counts moved.
func (a *App) settleProject(ctx context.Context, q *store.Queries, events *eventBatch, project domain.Project) error {
	changed, err := a.retally(ctx, q, events, &project)
	if err != nil || !changed {
		return err
	}
	project.UpdateTime = a.stamp()
	_, err = q.SaveProject(ctx, project, project.Version)
	return err
}

// Task returns one task of a project.
func (a *App) Task(ctx context.Context, p principal.Principal, firmID, projectID, id string) (domain.Task, error) {
	var t domain.Task
	err := a.inFirm(ctx, p, firmID, func(q *store.Queries) error {
		var err error
		if t, err = q.Task(ctx, projectID, id); err != nil {
			return err
		}
		return require(ctx, q, p, domain.CategoryTasks, domain.ActionRead, assignedToCaller(p, t.AssigneeID))
	})
	return t, err
}

// Tasks lists a page of tasks, of one project or (f.ProjectID empty) of every project.
// A caller whose scope is "assigned" sees only their own tasks.
func (a *App) Tasks(ctx context.Context, p principal.Principal, firmID string, f domain.TaskFilter, page paging.Page) ([]domain.Task, *paging.Cursor, error) {
	var out []domain.Task
	var next *paging.Cursor
	err := a.inFirm(ctx, p, firmID, func(q *store.Queries) error {
		var err error
		if f.ProjectID != "" {
			if _, err := q.Project(ctx, f.ProjectID); err != nil {
				return err
			}
		}
		if f.AssigneeID, err = listScope(ctx, q, p, domain.CategoryTasks, f.AssigneeID); err != nil {
			return err
		}
		out, next, err = q.Tasks(ctx, f, page)
		return err
	})
	return out, next, err
}

// TaskPatch is an UpdateTask: nil fields stay as they are.
type TaskPatch struct {
	Title           *string
	Description     *string
	Role            *string
	Status          *domain.TaskStatus
	AssigneeID      *string
	DueDate         *domain.Date
	EstimateMinutes *int
	Position        *int
	Checklist       *[]domain.ChecklistItem
	Etag            string
}

// UpdateTask changes a task; the project's status follows its tasks.
func (a *App) UpdateTask(ctx context.Context, p principal.Principal, firmID, projectID, id string, patch TaskPatch) (domain.Task, error) {
	var t domain.Task
	err := a.inFirm(ctx, p, firmID, func(q *store.Queries) error {
		project, err := q.ProjectForUpdate(ctx, projectID)
		if err != nil {
			return err
		}
		if t, err = q.TaskForUpdate(ctx, projectID, id); err != nil {
			return err
		}
		if err := require(ctx, q, p, domain.CategoryTasks, domain.ActionUpdate, assignedToCaller(p, t.AssigneeID)); err != nil {
			return err
		}
		if err := checkEtag(patch.Etag, t.Version, "task"); err != nil {
			return err
		}
		if err := requireMembers(ctx, q, patch.assignee()); err != nil {
			return err
		}
		changed, err := patch.apply(&t, a.stamp())
		if err != nil || len(changed) == 0 {
			return err
		}
		if err := t.Validate(); err != nil {
			return err
		}
		t.UpdateTime = a.stamp()
		if t, err = q.SaveTask(ctx, t, t.Version); err != nil {
			return err
		}
		events := newEventBatch(q, p.Actor())
		events.add("task_updated", &eventsv1.TaskChanged{
			Task: taskName(firmID, projectID, id), Project: projectName(firmID, projectID), ChangedFields: changed, Status: string(t.Status),
		})
		if err := a.settleProject(ctx, q, events, project); err != nil {
			return err
		}
		if err := events.write(ctx, q); err != nil {
			return err
		}
		t, err = q.Task(ctx, projectID, id)
		return err
	})
	return t, err
}

// assignee is the member the patch assigns, if any.
func (patch TaskPatch) assignee() memberRef { return optionalMember("task.assignee", patch.AssigneeID) }

func (patch TaskPatch) apply(t *domain.Task, now time.Time) ([]string, error) {
	var changed []string
	setField(&changed, "title", &t.Title, patch.Title)
	setField(&changed, "description", &t.Description, patch.Description)
	setField(&changed, "role", &t.Role, patch.Role)
	setField(&changed, "assignee", &t.AssigneeID, patch.AssigneeID)
	setField(&changed, "due_date", &t.DueDate, patch.DueDate)
	setField(&changed, "estimate_minutes", &t.EstimateMinutes, patch.EstimateMinutes)
	setField(&changed, "position", &t.Position, patch.Position)
	if v := patch.Status; v != nil && *v != t.Status {
		if err := t.SetStatus(*v, now); err != nil {
			return nil, err
		}
		changed = append(changed, "status")
	}
	if v := patch.Checklist; v != nil {
		before := t.Checklist
		if err := t.SetChecklist(*v); err != nil {
			return nil, err
		}
		if !slices.Equal(before, t.Checklist) {
			changed = append(changed, "checklist")
		}
	}
	return changed, nil
}

// DeleteTask removes a task; the project's status follows.
func (a *App) DeleteTask(ctx context.Context, p principal.Principal, firmID, projectID, id, etag string) error {
	return a.inFirm(ctx, p, firmID, func(q *store.Queries) error {
		project, err := q.ProjectForUpdate(ctx, projectID)
		if err != nil {
			return err
		}
		t, err := q.TaskForUpdate(ctx, projectID, id)
		if err != nil {
			return err
		}
		if err := require(ctx, q, p, domain.CategoryTasks, domain.ActionDelete, assignedToCaller(p, t.AssigneeID)); err != nil {
			return err
		}
		if err := checkEtag(etag, t.Version, "task"); err != nil {
			return err
		}
		if err := q.DeleteTask(ctx, projectID, id, a.stamp()); err != nil {
			return err
		}
		events := newEventBatch(q, p.Actor())
		events.add("task_deleted", &eventsv1.TaskChanged{Task: taskName(firmID, projectID, id), Project: projectName(firmID, projectID)})
		if err := a.settleProject(ctx, q, events, project); err != nil {
			return err
		}
		return events.write(ctx, q)
	})
}
