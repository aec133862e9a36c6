package grpcapi

import (
	"context"

	"google.golang.org/protobuf/types/known/emptypb"

	"github.com/firmflow/firmflow/pkg/apierr"
	workflowv1 "github.com/firmflow/firmflow/pkg/gen/firmflow/workflow/v1"
	"github.com/firmflow/firmflow/pkg/paging"
	"github.com/firmflow/firmflow/pkg/resource"
	"github.com/firmflow/firmflow/services/workflow/internal/app"
	"github.com/firmflow/firmflow/services/workflow/internal/domain"
)

func (s *projectServer) CreateTask(ctx context.Context, req *workflowv1.CreateTaskRequest) (*workflowv1.Task, error) {
	ids, err := resource.Parse("parent", req.GetParent(), projectPattern)
	if err != nil {
		return nil, err
	}
	t, err := newTask(req.GetTask(), ids[0])
	if err != nil {
		return nil, err
	}
	t, err = s.app.CreateTask(ctx, caller(ctx), ids[0], ids[1], t, req.GetRequestId())
	if err != nil {
		return nil, err
	}
	return toTask(t, s.app.Today()), nil
}

func (s *projectServer) BatchCreateTasks(ctx context.Context, req *workflowv1.BatchCreateTasksRequest) (*workflowv1.BatchCreateTasksResponse, error) {
	ids, err := resource.Parse("parent", req.GetParent(), projectPattern)
	if err != nil {
		return nil, err
	}
	tasks := make([]domain.Task, len(req.GetRequests()))
	for i, r := range req.GetRequests() {
		if err := batchItem(i, req.GetParent(), r.GetParent(), r.GetRequestId()); err != nil {
			return nil, err
		}
		if tasks[i], err = newTask(r.GetTask(), ids[0]); err != nil {
			return nil, apierr.Within(err, itemPrefix(i))
		}
	}
	created, err := s.app.BatchCreateTasks(ctx, caller(ctx), ids[0], ids[1], tasks, req.GetRequestId())
	if err != nil {
		return nil, err
	}
	out := &workflowv1.BatchCreateTasksResponse{}
	for _, t := range created {
		out.Tasks = append(out.Tasks, toTask(t, s.app.Today()))
	}
	return out, nil
}

// newTask reads a task to create.
func newTask(in *workflowv1.Task, firmID string) (domain.Task, error) {
	t := domain.Task{
		Title: in.GetTitle(), Description: in.GetDescription(), Role: in.GetRole(), Status: fromProto(taskStatusToProto, in.GetStatus()),
		EstimateMinutes: int(in.GetEstimateMinutes()), Position: int(in.GetPosition()), Checklist: checklistFromProto(in.GetChecklist()),
	}
	var err error
	if t.AssigneeID, err = referenceID("task.assignee", in.GetAssignee(), firmID, "members"); err != nil {
		return t, err
	}
	t.DueDate, err = workDate("task.due_date", in.GetDueDate())
	return t, err
}

func (s *projectServer) GetTask(ctx context.Context, req *workflowv1.GetTaskRequest) (*workflowv1.Task, error) {
	ids, err := resource.Parse("name", req.GetName(), taskPattern)
	if err != nil {
		return nil, err
	}
	t, err := s.app.Task(ctx, caller(ctx), ids[0], ids[1], ids[2])
	if err != nil {
		return nil, err
	}
	return toTask(t, s.app.Today()), nil
}

func (s *projectServer) ListTasks(ctx context.Context, req *workflowv1.ListTasksRequest) (*workflowv1.ListTasksResponse, error) {
	ids, err := resource.Parse("parent", req.GetParent(), taskParentPattern)
	if err != nil {
		return nil, err
	}
	firmID, projectID := ids[0], ids[1]
	lf, changes, err := listChanges(req.GetFilter(), req.GetShowDeleted(), taskListFields)
	if err != nil {
		return nil, err
	}
	status, err := mergeEnum(lf, "status", taskStatusToProto, req.GetStatus())
	if err != nil {
		return nil, err
	}
	client, err := lf.Merge("client", req.GetClient())
	if err != nil {
		return nil, err
	}
	assignee, err := lf.Merge("assignee", req.GetAssignee())
	if err != nil {
		return nil, err
	}
	f := domain.TaskFilter{
		ProjectID: projectID, Status: fromProto(taskStatusToProto, status), OpenOnly: req.GetOpenOnly(),
		Order: domain.TaskOrder(syncOrder(req.GetOrderBy(), lf)).OrDefault(projectID), Changes: changes,
	}
	if f.AssigneeID, err = referenceID("assignee", assignee, firmID, "members"); err != nil {
		return nil, err
	}
	if f.ClientID, err = referenceID("client", client, firmID, "clients"); err != nil {
		return nil, err
	}
	if f.DueAfter, err = workDate("due_after", req.GetDueAfter()); err != nil {
		return nil, err
	}
	if f.DueBefore, err = workDate("due_before", req.GetDueBefore()); err != nil {
		return nil, err
	}
	filter := listFilter("tasks", req.GetParent(), status, assignee, client, req.GetDueAfter(),
		req.GetDueBefore(), req.GetOpenOnly(), f.Order, lf, changes.ShowDeleted)
	page, err := paging.Request(req.GetPageSize(), req.GetPageToken(), filter)
	if err != nil {
		return nil, err
	}
	tasks, next, err := s.app.Tasks(ctx, caller(ctx), firmID, f, page)
	if err != nil {
		return nil, err
	}
	today := s.app.Today()
	out := &workflowv1.ListTasksResponse{}
	for _, t := range tasks {
		out.Tasks = append(out.Tasks, toTask(t, today))
	}
	out.NextPageToken = nextPageToken(next, filter)
	return out, nil
}

func (s *projectServer) UpdateTask(ctx context.Context, req *workflowv1.UpdateTaskRequest) (*workflowv1.Task, error) {
	ids, err := resource.Parse("task.name", req.GetTask().GetName(), taskPattern)
	if err != nil {
		return nil, err
	}
	patch, err := taskPatch(req.GetTask(), req.GetUpdateMask().GetPaths(), ids[0])
	if err != nil {
		return nil, err
	}
	t, err := s.app.UpdateTask(ctx, caller(ctx), ids[0], ids[1], ids[2], patch)
	if err != nil {
		return nil, err
	}
	return toTask(t, s.app.Today()), nil
}

func (s *projectServer) BatchUpdateTasks(ctx context.Context, req *workflowv1.BatchUpdateTasksRequest) (*workflowv1.BatchUpdateTasksResponse, error) {
	parent, err := resource.Parse("parent", req.GetParent(), projectPattern)
	if err != nil {
		return nil, err
	}
	changes := make([]app.TaskChange, len(req.GetRequests()))
	for i, r := range req.GetRequests() {
		ids, err := resource.Parse("task.name", r.GetTask().GetName(), taskPattern)
		if err == nil && (ids[0] != parent[0] || ids[1] != parent[1]) {
			err = apierr.InvalidArgument("task.name", "batch.parent", "must name a task of the batch's parent "+req.GetParent())
		}
		if err != nil {
			return nil, apierr.Within(err, itemPrefix(i))
		}
		changes[i].TaskID = ids[2]
		if changes[i].Patch, err = taskPatch(r.GetTask(), r.GetUpdateMask().GetPaths(), ids[0]); err != nil {
			return nil, apierr.Within(err, itemPrefix(i))
		}
	}
	updated, err := s.app.BatchUpdateTasks(ctx, caller(ctx), parent[0], parent[1], changes)
	if err != nil {
		return nil, err
	}
	out := &workflowv1.BatchUpdateTasksResponse{}
	for _, t := range updated {
		out.Tasks = append(out.Tasks, toTask(t, s.app.Today()))
	}
	return out, nil
}

// taskPatch reads an UpdateTask's mask into a patch.
func taskPatch(in *workflowv1.Task, paths []string, firmID string) (app.TaskPatch, error) {
	patch := app.TaskPatch{Etag: in.GetEtag()}
	var err error
	for _, path := range paths {
		switch path {
		case "title":
			patch.Title = &in.Title
		case "description":
			patch.Description = &in.Description
		case "role":
			patch.Role = &in.Role
		case "status":
			status := fromProto(taskStatusToProto, in.GetStatus())
			if status == "" {
				return patch, apierr.InvalidArgument("task.status", "required", "must be set when in update_mask")
			}
			patch.Status = &status
		case "assignee":
			id, err := referenceID("task.assignee", in.GetAssignee(), firmID, "members")
			if err != nil {
				return patch, err
			}
			patch.AssigneeID = &id
		case "due_date":
			if patch.DueDate, err = datePatch("task.due_date", in.GetDueDate()); err != nil {
				return patch, err
			}
		case "estimate_minutes":
			minutes := int(in.GetEstimateMinutes())
			patch.EstimateMinutes = &minutes
		case "position":
			position := int(in.GetPosition())
			patch.Position = &position
		case "checklist":
			items := checklistFromProto(in.GetChecklist())
			patch.Checklist = &items
		default:
			return patch, unknownPath(path, "title, description, role, status, assignee, due_date, estimate_minutes, position and checklist")
		}
	}
	return patch, nil
}

func (s *projectServer) DeleteTask(ctx context.Context, req *workflowv1.DeleteTaskRequest) (*emptypb.Empty, error) {
	ids, err := resource.Parse("name", req.GetName(), taskPattern)
	if err != nil {
		return nil, err
	}
	return &emptypb.Empty{}, s.app.DeleteTask(ctx, caller(ctx), ids[0], ids[1], ids[2], req.GetEtag())
}

func checklistFromProto(in []*workflowv1.ChecklistItem) []domain.ChecklistItem {
	out := make([]domain.ChecklistItem, len(in))
	for i, it := range in {
		out[i] = domain.ChecklistItem{ID: it.GetId(), Text: it.GetText(), Done: it.GetDone()}
	}
	return out
}

func toTask(t domain.Task, today domain.Date) *workflowv1.Task {
	var flags domain.TaskFlags
	if t.DeleteTime.IsZero() {
		flags = t.Flags(today)
	}
	out := &workflowv1.Task{
		Name: resource.Name("firms", t.FirmID, "projects", t.ProjectID, "tasks", t.ID), Title: t.Title, Description: t.Description,
		Role: t.Role, Status: taskStatusToProto[t.Status], Assignee: refName(t.FirmID, "members", t.AssigneeID),
		DueDate: t.DueDate.String(), EstimateMinutes: int32(t.EstimateMinutes), Position: int32(t.Position),
		UpNext: flags.UpNext, Overdue: flags.Overdue, Blocked: flags.Blocked,
		Project: resource.Name("firms", t.FirmID, "projects", t.ProjectID), Client: refName(t.FirmID, "clients", t.ClientID),
		CompleteTime: ts(t.CompleteTime), CreateTime: ts(t.CreateTime), UpdateTime: ts(t.UpdateTime), Etag: app.Etag(t.Version),
		DeleteTime: ts(t.DeleteTime), ExpireTime: ts(domain.ExpireTime(t.DeleteTime)),
	}
	for _, it := range t.Checklist {
		out.Checklist = append(out.Checklist, &workflowv1.ChecklistItem{Id: it.ID, Text: it.Text, Done: it.Done})
	}
	return out
}
