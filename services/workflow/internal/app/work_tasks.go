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
	out, err := a.createTasks(ctx, p, firmID, projectID, []domain.Task{t}, requestID, false)
	if err != nil {
		return domain.Task{}, err
	}
	return out[0], nil
}

// BatchCreateTasks adds every task of ts to a project or none, in one transaction
// (AIP-233), each as CreateTask adds one; tasks without a position follow the
// project's last task in request order. An error names the item at fault
// (requests[i].task.<field>). A retry with the same request id returns the tasks
// the first batch created.
func (a *App) BatchCreateTasks(ctx context.Context, p principal.Principal, firmID, projectID string, ts []domain.Task, requestID string) ([]domain.Task, error) {
	if err := batchSize(len(ts)); err != nil {
		return nil, err
	}
	return a.createTasks(ctx, p, firmID, projectID, ts, requestID, true)
}

func (a *App) createTasks(ctx context.Context, p principal.Principal, firmID, projectID string, ts []domain.Task, requestID string, batch bool) ([]domain.Task, error) {
	now := a.stamp()
	ts = slices.Clone(ts)
	for i := range ts {
		var err error
		if ts[i], err = readyTask(ts[i], now); err != nil {
			return nil, inBatch(err, i, batch)
		}
	}
	var out []domain.Task
	err := a.inFirm(ctx, p, firmID, func(q *store.Queries) error {
		perms, err := permissionsFor(ctx, q, p)
		if err != nil {
			return err
		}
		for i, t := range ts {
			if err := perms.Require(p, domain.CategoryTasks, domain.ActionCreate, assignedToCaller(p, t.AssigneeID)); err != nil {
				return err
			}
			if err := requireMembers(ctx, q, memberRef{itemPrefix(i, batch) + "task.assignee", t.AssigneeID}); err != nil {
				return err
			}
		}
		project, err := q.ProjectForUpdate(ctx, projectID)
		if err != nil {
			return err
		}
		names := make([]string, len(ts))
		for i := range ts {
			t := &ts[i]
			t.ID, t.FirmID, t.ProjectID, t.ClientID, t.Version, t.CreateTime, t.UpdateTime = newID(), firmID, projectID, project.ClientID, 1, now, now
			names[i] = taskName(firmID, projectID, t.ID)
		}
		earlier, claimed, err := q.Claim(ctx, requestID, names, false)
		if err != nil {
			return err
		}
		if !claimed {
			out, err = earlierTasks(ctx, q, firmID, earlier.Resources)
			return err
		}
		next := 0
		for i := range ts {
			if ts[i].Position != 0 {
				continue
			}
			if next == 0 {
				if next, err = q.NextTaskPosition(ctx, projectID); err != nil {
					return err
				}
			}
			ts[i].Position = next
			next++
		}
		if err := q.InsertTasks(ctx, ts); err != nil {
			return err
		}
		events := newEventBatch(q, p.Actor())
		for _, t := range ts {
			events.add("task_created", &eventsv1.TaskChanged{
				Task: taskName(firmID, projectID, t.ID), Project: projectName(firmID, projectID), Status: string(t.Status),
			})
		}
		if err := a.settleProject(ctx, q, events, project); err != nil {
			return err
		}
		if err := events.write(ctx, q); err != nil {
			return err
		}
		out, err = tasksWithFlags(ctx, q, projectID, ts) // as read back
		return err
	})
	return out, err
}

// readyTask checks a task a request gives and sets it up to be created at now.
func readyTask(t domain.Task, now time.Time) (domain.Task, error) {
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
	return t, t.Validate()
}

// inBatch places err under item i when the request is a batch.
func inBatch(err error, i int, batch bool) error {
	if !batch {
		return err
	}
	return atItem(err, i)
}

// earlierTasks returns the tasks an earlier create with the same request id made.
func earlierTasks(ctx context.Context, q *store.Queries, firmID string, names []string) ([]domain.Task, error) {
	out := make([]domain.Task, len(names))
	for i, name := range names {
		ids, err := earlierCreate(name, firmID, "firms/{firm}/projects/{project}/tasks/{task}")
		if err != nil {
			return nil, err
		}
		if out[i], err = q.Task(ctx, ids[1], ids[2]); err != nil {
			return nil, err
		}
	}
	return out, nil
}

// tasksWithFlags reads tasks back as a response shows them, with their flags.
func tasksWithFlags(ctx context.Context, q *store.Queries, projectID string, ts []domain.Task) ([]domain.Task, error) {
	out := make([]domain.Task, len(ts))
	for i, t := range ts {
		var err error
		if out[i], err = q.Task(ctx, projectID, t.ID); err != nil {
			return nil, err
		}
	}
	return out, nil
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
	out, err := a.updateTasks(ctx, p, firmID, projectID, []TaskChange{{TaskID: id, Patch: patch}}, false)
	if err != nil {
		return domain.Task{}, err
	}
	return out[0], nil
}

// TaskChange is one item of a batch update: which task, and how.
type TaskChange struct {
	TaskID string
	Patch  TaskPatch
}

// BatchUpdateTasks applies every change to a project's tasks or none, in one
// transaction (AIP-235), each as UpdateTask does; an error names the item
// (requests[i]...). A task appears at most once.
func (a *App) BatchUpdateTasks(ctx context.Context, p principal.Principal, firmID, projectID string, changes []TaskChange) ([]domain.Task, error) {
	if err := batchSize(len(changes)); err != nil {
		return nil, err
	}
	if err := uniqueItems(changes, func(c TaskChange) string { return c.TaskID }, "task.name"); err != nil {
		return nil, err
	}
	return a.updateTasks(ctx, p, firmID, projectID, changes, true)
}

func (a *App) updateTasks(ctx context.Context, p principal.Principal, firmID, projectID string, changes []TaskChange, batch bool) ([]domain.Task, error) {
	var out []domain.Task
	err := a.inFirm(ctx, p, firmID, func(q *store.Queries) error {
		project, err := q.ProjectForUpdate(ctx, projectID)
		if err != nil {
			return err
		}
		events := newEventBatch(q, p.Actor())
		ts := make([]domain.Task, len(changes))
		for i, ch := range changes {
			if ts[i], err = a.changeTask(ctx, q, p, projectID, ch.TaskID, ch.Patch, events); err != nil {
				return inBatch(err, i, batch)
			}
		}
		if err := a.settleProject(ctx, q, events, project); err != nil {
			return err
		}
		if err := events.write(ctx, q); err != nil {
			return err
		}
		out, err = tasksWithFlags(ctx, q, projectID, ts)
		return err
	})
	return out, err
}

// changeTask applies patch to a task of a project locked for update, with its
// task_updated event when anything changed.
func (a *App) changeTask(ctx context.Context, q *store.Queries, p principal.Principal, projectID, id string, patch TaskPatch, events *eventBatch) (domain.Task, error) {
	t, err := q.TaskForUpdate(ctx, projectID, id)
	if err != nil {
		return t, err
	}
	if err := require(ctx, q, p, domain.CategoryTasks, domain.ActionUpdate, assignedToCaller(p, t.AssigneeID)); err != nil {
		return t, err
	}
	if err := checkEtag(patch.Etag, t.Version, "task"); err != nil {
		return t, err
	}
	if err := requireMembers(ctx, q, patch.assignee()); err != nil {
		return t, err
	}
	changed, err := patch.apply(&t, a.stamp())
	if err != nil || len(changed) == 0 {
		return t, err
	}
	if err := t.Validate(); err != nil {
		return t, err
	}
	t.UpdateTime = a.stamp()
	if t, err = q.SaveTask(ctx, t, t.Version); err != nil {
		return t, err
	}
	events.add("task_updated", &eventsv1.TaskChanged{
		Task: taskName(t.FirmID, projectID, id), Project: projectName(t.FirmID, projectID), ChangedFields: changed, Status: string(t.Status),
	})
	return t, nil
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
