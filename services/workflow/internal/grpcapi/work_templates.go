package grpcapi

import (
	"context"
	"fmt"

	"google.golang.org/protobuf/types/known/emptypb"

	workflowv1 "github.com/firmflow/firmflow/pkg/gen/firmflow/workflow/v1"
	"github.com/firmflow/firmflow/pkg/paging"
	"github.com/firmflow/firmflow/pkg/resource"
	"github.com/firmflow/firmflow/services/workflow/internal/app"
	"github.com/firmflow/firmflow/services/workflow/internal/domain"
)

func (s *templateServer) CreateTemplate(ctx context.Context, req *workflowv1.CreateTemplateRequest) (*workflowv1.Template, error) {
	ids, err := resource.Parse("parent", req.GetParent(), firmPattern)
	if err != nil {
		return nil, err
	}
	in := req.GetTemplate()
	tasks, err := templateTasksFromProto(in.GetTasks(), ids[0])
	if err != nil {
		return nil, err
	}
	t, err := s.app.CreateTemplate(ctx, caller(ctx), ids[0], domain.Template{
		DisplayName: in.GetDisplayName(), Description: in.GetDescription(), BudgetMinutes: int(in.GetBudgetMinutes()), Tasks: tasks,
	}, req.GetRequestId())
	if err != nil {
		return nil, err
	}
	return toTemplate(t), nil
}

func (s *templateServer) GetTemplate(ctx context.Context, req *workflowv1.GetTemplateRequest) (*workflowv1.Template, error) {
	ids, err := resource.Parse("name", req.GetName(), templatePattern)
	if err != nil {
		return nil, err
	}
	t, err := s.app.Template(ctx, caller(ctx), ids[0], ids[1])
	if err != nil {
		return nil, err
	}
	return toTemplate(t), nil
}

func (s *templateServer) ListTemplates(ctx context.Context, req *workflowv1.ListTemplatesRequest) (*workflowv1.ListTemplatesResponse, error) {
	ids, err := resource.Parse("parent", req.GetParent(), firmPattern)
	if err != nil {
		return nil, err
	}
	f, lf, err := changeFilter(req.GetFilter(), req.GetShowDeleted(), req.GetOrderBy(), changeListFields)
	if err != nil {
		return nil, err
	}
	filter := listFilter("templates", req.GetParent(), f.Order, lf, f.Changes.ShowDeleted)
	page, err := paging.Request(req.GetPageSize(), req.GetPageToken(), filter)
	if err != nil {
		return nil, err
	}
	templates, next, err := s.app.Templates(ctx, caller(ctx), ids[0], f, page)
	if err != nil {
		return nil, err
	}
	out := &workflowv1.ListTemplatesResponse{}
	for _, t := range templates {
		out.Templates = append(out.Templates, toTemplate(t))
	}
	out.NextPageToken = nextPageToken(next, filter)
	return out, nil
}

func (s *templateServer) ListTemplateRevisions(ctx context.Context, req *workflowv1.ListTemplateRevisionsRequest) (*workflowv1.ListTemplateRevisionsResponse, error) {
	ids, err := resource.Parse("name", req.GetName(), templatePattern)
	if err != nil {
		return nil, err
	}
	filter := listFilter("template revisions", req.GetName())
	page, err := paging.Request(req.GetPageSize(), req.GetPageToken(), filter)
	if err != nil {
		return nil, err
	}
	revisions, next, err := s.app.TemplateRevisions(ctx, caller(ctx), ids[0], ids[1], page)
	if err != nil {
		return nil, err
	}
	out := &workflowv1.ListTemplateRevisionsResponse{}
	for _, t := range revisions {
		out.Templates = append(out.Templates, toTemplate(t))
	}
	out.NextPageToken = nextPageToken(next, filter)
	return out, nil
}

func (s *templateServer) UpdateTemplate(ctx context.Context, req *workflowv1.UpdateTemplateRequest) (*workflowv1.Template, error) {
	in := req.GetTemplate()
	ids, err := resource.Parse("template.name", in.GetName(), templatePattern)
	if err != nil {
		return nil, err
	}
	patch := app.TemplatePatch{Etag: in.GetEtag()}
	for _, path := range req.GetUpdateMask().GetPaths() {
		switch path {
		case "display_name":
			patch.DisplayName = &in.DisplayName
		case "description":
			patch.Description = &in.Description
		case "budget_minutes":
			minutes := int(in.GetBudgetMinutes())
			patch.BudgetMinutes = &minutes
		case "tasks":
			tasks, err := templateTasksFromProto(in.GetTasks(), ids[0])
			if err != nil {
				return nil, err
			}
			patch.Tasks = &tasks
		default:
			return nil, unknownPath(path, "display_name, description, budget_minutes and tasks")
		}
	}
	t, err := s.app.UpdateTemplate(ctx, caller(ctx), ids[0], ids[1], patch)
	if err != nil {
		return nil, err
	}
	return toTemplate(t), nil
}

func (s *templateServer) DeleteTemplate(ctx context.Context, req *workflowv1.DeleteTemplateRequest) (*emptypb.Empty, error) {
	ids, err := resource.Parse("name", req.GetName(), templatePattern)
	if err != nil {
		return nil, err
	}
	return &emptypb.Empty{}, s.app.DeleteTemplate(ctx, caller(ctx), ids[0], ids[1], req.GetEtag())
}

func templateTasksFromProto(in []*workflowv1.TemplateTask, firmID string) ([]domain.TemplateTask, error) {
	out := make([]domain.TemplateTask, len(in))
	for i, t := range in {
		assignee, err := referenceID(fmt.Sprintf("template.tasks[%d].assignee", i), t.GetAssignee(), firmID, "members")
		if err != nil {
			return nil, err
		}
		anchor := domain.AnchorStart
		if t.GetAnchor() == workflowv1.DueAnchor_DUE_ANCHOR_DUE {
			anchor = domain.AnchorDue
		}
		out[i] = domain.TemplateTask{
			Title: t.GetTitle(), Description: t.GetDescription(), Role: t.GetRole(), Anchor: anchor,
			OffsetDays: int(t.GetOffsetDays()), AssigneeID: assignee, EstimateMinutes: int(t.GetEstimateMinutes()),
			Checklist: t.GetChecklist(),
		}
	}
	return out, nil
}

func toTemplate(t domain.Template) *workflowv1.Template {
	out := &workflowv1.Template{
		Name: resource.Name("firms", t.FirmID, "templates", t.ID), DisplayName: t.DisplayName, Description: t.Description,
		BudgetMinutes: int32(t.BudgetMinutes), Revision: t.Revision, CreateTime: ts(t.CreateTime), UpdateTime: ts(t.UpdateTime),
		Etag: app.Etag(t.Revision), DeleteTime: ts(t.DeleteTime), ExpireTime: ts(domain.ExpireTime(t.DeleteTime)),
	}
	for _, task := range t.Tasks {
		anchor := workflowv1.DueAnchor_DUE_ANCHOR_START
		if task.Anchor == domain.AnchorDue {
			anchor = workflowv1.DueAnchor_DUE_ANCHOR_DUE
		}
		out.Tasks = append(out.Tasks, &workflowv1.TemplateTask{
			Title: task.Title, Description: task.Description, Role: task.Role, Anchor: anchor, OffsetDays: int32(task.OffsetDays),
			Assignee: refName(t.FirmID, "members", task.AssigneeID), EstimateMinutes: int32(task.EstimateMinutes), Checklist: task.Checklist,
		})
	}
	return out
}
