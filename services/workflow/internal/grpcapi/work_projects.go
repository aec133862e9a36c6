package grpcapi

import (
	"context"

	"google.golang.org/protobuf/types/known/emptypb"

	workflowv1 "github.com/firmflow/firmflow/pkg/gen/firmflow/workflow/v1"
	"github.com/firmflow/firmflow/pkg/paging"
	"github.com/firmflow/firmflow/pkg/resource"
	"github.com/firmflow/firmflow/services/workflow/internal/app"
	"github.com/firmflow/firmflow/services/workflow/internal/domain"
)

func (s *projectServer) CreateProject(ctx context.Context, req *workflowv1.CreateProjectRequest) (*workflowv1.Project, error) {
	ids, err := resource.Parse("parent", req.GetParent(), firmPattern)
	if err != nil {
		return nil, err
	}
	firmID, in := ids[0], req.GetProject()
	project := domain.Project{
		DisplayName: in.GetDisplayName(), Description: in.GetDescription(), BudgetMinutes: int(in.GetBudgetMinutes()), Tags: in.GetTags(),
	}
	if project.ClientID, err = referenceID("project.client", in.GetClient(), firmID, "clients"); err != nil {
		return nil, err
	}
	if project.AssigneeID, err = referenceID("project.assignee", in.GetAssignee(), firmID, "members"); err != nil {
		return nil, err
	}
	templateID, err := referenceID("project.template", in.GetTemplate(), firmID, "templates")
	if err != nil {
		return nil, err
	}
	if project.StartDate, err = workDate("project.start_date", in.GetStartDate()); err != nil {
		return nil, err
	}
	if project.DueDate, err = workDate("project.due_date", in.GetDueDate()); err != nil {
		return nil, err
	}
	if project.DeadlineDate, err = workDate("project.deadline_date", in.GetDeadlineDate()); err != nil {
		return nil, err
	}
	p, err := s.app.CreateProject(ctx, caller(ctx), firmID, app.NewProject{Project: project, TemplateID: templateID, RequestID: req.GetRequestId()})
	if err != nil {
		return nil, err
	}
	return toProject(p), nil
}

func (s *projectServer) GetProject(ctx context.Context, req *workflowv1.GetProjectRequest) (*workflowv1.Project, error) {
	ids, err := resource.Parse("name", req.GetName(), projectPattern)
	if err != nil {
		return nil, err
	}
	p, err := s.app.Project(ctx, caller(ctx), ids[0], ids[1])
	if err != nil {
		return nil, err
	}
	return toProject(p), nil
}

func (s *projectServer) ListProjects(ctx context.Context, req *workflowv1.ListProjectsRequest) (*workflowv1.ListProjectsResponse, error) {
	ids, err := resource.Parse("parent", req.GetParent(), firmPattern)
	if err != nil {
		return nil, err
	}
	firmID := ids[0]
	lf, changes, err := listChanges(req.GetFilter(), req.GetShowDeleted(), projectListFields)
	if err != nil {
		return nil, err
	}
	status, err := mergeEnum(lf, "status", projectStatusToProto, req.GetStatus())
	if err != nil {
		return nil, err
	}
	tag, err := lf.Merge("tag", req.GetTag())
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
	f := domain.ProjectFilter{
		Status: fromProto(projectStatusToProto, status), Tag: tag,
		Order: domain.ProjectOrder(syncOrder(req.GetOrderBy(), lf)).OrDefault(), Changes: changes,
	}
	if f.ClientID, err = referenceID("client", client, firmID, "clients"); err != nil {
		return nil, err
	}
	if f.AssigneeID, err = referenceID("assignee", assignee, firmID, "members"); err != nil {
		return nil, err
	}
	if f.DueAfter, err = workDate("due_after", req.GetDueAfter()); err != nil {
		return nil, err
	}
	if f.DueBefore, err = workDate("due_before", req.GetDueBefore()); err != nil {
		return nil, err
	}
	filter := listFilter("projects", req.GetParent(), client, status, assignee, req.GetDueAfter(),
		req.GetDueBefore(), tag, f.Order, lf, changes.ShowDeleted)
	page, err := paging.Request(req.GetPageSize(), req.GetPageToken(), filter)
	if err != nil {
		return nil, err
	}
	projects, next, err := s.app.Projects(ctx, caller(ctx), firmID, f, page)
	if err != nil {
		return nil, err
	}
	out := &workflowv1.ListProjectsResponse{}
	for _, p := range projects {
		out.Projects = append(out.Projects, toProject(p))
	}
	out.NextPageToken = nextPageToken(next, filter)
	return out, nil
}

func (s *projectServer) UpdateProject(ctx context.Context, req *workflowv1.UpdateProjectRequest) (*workflowv1.Project, error) {
	in := req.GetProject()
	ids, err := resource.Parse("project.name", in.GetName(), projectPattern)
	if err != nil {
		return nil, err
	}
	firmID := ids[0]
	patch := app.ProjectPatch{Etag: in.GetEtag()}
	for _, path := range req.GetUpdateMask().GetPaths() {
		switch path {
		case "display_name":
			patch.DisplayName = &in.DisplayName
		case "description":
			patch.Description = &in.Description
		case "assignee":
			id, err := referenceID("project.assignee", in.GetAssignee(), firmID, "members")
			if err != nil {
				return nil, err
			}
			patch.AssigneeID = &id
		case "start_date":
			if patch.StartDate, err = datePatch("project.start_date", in.GetStartDate()); err != nil {
				return nil, err
			}
		case "due_date":
			if patch.DueDate, err = datePatch("project.due_date", in.GetDueDate()); err != nil {
				return nil, err
			}
		case "deadline_date":
			if patch.DeadlineDate, err = datePatch("project.deadline_date", in.GetDeadlineDate()); err != nil {
				return nil, err
			}
		case "budget_minutes":
			minutes := int(in.GetBudgetMinutes())
			patch.BudgetMinutes = &minutes
		case "tags":
			tags := in.GetTags()
			patch.Tags = &tags
		default:
			return nil, unknownPath(path, "display_name, description, assignee, start_date, due_date, deadline_date, budget_minutes and tags")
		}
	}
	p, err := s.app.UpdateProject(ctx, caller(ctx), firmID, ids[1], patch)
	if err != nil {
		return nil, err
	}
	return toProject(p), nil
}

func (s *projectServer) DeleteProject(ctx context.Context, req *workflowv1.DeleteProjectRequest) (*emptypb.Empty, error) {
	ids, err := resource.Parse("name", req.GetName(), projectPattern)
	if err != nil {
		return nil, err
	}
	return &emptypb.Empty{}, s.app.DeleteProject(ctx, caller(ctx), ids[0], ids[1], req.GetEtag())
}

func toProject(p domain.Project) *workflowv1.Project {
	return &workflowv1.Project{
		Name: resource.Name("firms", p.FirmID, "projects", p.ID), Client: refName(p.FirmID, "clients", p.ClientID),
		DisplayName: p.DisplayName, Description: p.Description, Status: projectStatusToProto[p.Status],
		StartDate: p.StartDate.String(), DueDate: p.DueDate.String(), DeadlineDate: p.DeadlineDate.String(),
		Assignee: refName(p.FirmID, "members", p.AssigneeID), BudgetMinutes: int32(p.BudgetMinutes), Tags: p.Tags,
		Template: refName(p.FirmID, "templates", p.TemplateID), TemplateRevision: p.TemplateRevision,
		Series: refName(p.FirmID, "series", p.SeriesID), PeriodStart: p.PeriodStart.String(),
		TaskCount: int32(p.TaskCount), CompletedTaskCount: int32(p.CompletedTasks),
		CreateTime: ts(p.CreateTime), UpdateTime: ts(p.UpdateTime), Etag: app.Etag(p.Version),
		DeleteTime: ts(p.DeleteTime), ExpireTime: ts(domain.ExpireTime(p.DeleteTime)),
	}
}

// datePatch is a date an update sets; "" clears it.
func datePatch(field, s string) (*domain.Date, error) {
	d, err := workDate(field, s)
	return &d, err
}
