package grpcapi

import (
	"context"

	workflowv1 "github.com/firmflow/firmflow/pkg/gen/firmflow/workflow/v1"
	"github.com/firmflow/firmflow/pkg/paging"
	"github.com/firmflow/firmflow/pkg/resource"
	"github.com/firmflow/firmflow/services/workflow/internal/app"
	"github.com/firmflow/firmflow/services/workflow/internal/domain"
)

func (s *workloadServer) GetWorkload(ctx context.Context, req *workflowv1.GetWorkloadRequest) (*workflowv1.Workload, error) {
	ids, err := resource.Parse("name", req.GetName(), workloadPattern)
	if err != nil {
		return nil, err
	}
	weekOf, err := workDate("week_of", req.GetWeekOf())
	if err != nil {
		return nil, err
	}
	week, loads, err := s.app.Workload(ctx, caller(ctx), ids[0], weekOf)
	if err != nil {
		return nil, err
	}
	out := &workflowv1.Workload{Name: req.GetName(), WeekStart: week.Monday.String(), WeekEnd: week.Sunday.String()}
	for _, m := range loads {
		out.Members = append(out.Members, toMemberWorkload(ids[0], m))
	}
	return out, nil
}

func (s *workloadServer) GetMyWork(ctx context.Context, req *workflowv1.GetMyWorkRequest) (*workflowv1.MyWork, error) {
	ids, err := resource.Parse("name", req.GetName(), myWorkPattern)
	if err != nil {
		return nil, err
	}
	p := caller(ctx)
	filter := listFilter("my work", req.GetName(), p.UserID)
	page, err := paging.Request(req.GetPageSize(), req.GetPageToken(), filter)
	if err != nil {
		return nil, err
	}
	summary, tasks, next, err := s.app.MyWork(ctx, p, ids[0], page)
	if err != nil {
		return nil, err
	}
	today := s.app.Today()
	out := &workflowv1.MyWork{Name: req.GetName(), Summary: toMemberWorkload(ids[0], summary)}
	for _, t := range tasks {
		out.Tasks = append(out.Tasks, toTask(t, today))
	}
	out.NextPageToken = nextPageToken(next, filter)
	return out, nil
}

func (s *workloadServer) GetMemberCapacity(ctx context.Context, req *workflowv1.GetMemberCapacityRequest) (*workflowv1.MemberCapacity, error) {
	ids, err := resource.Parse("name", req.GetName(), capacityPattern)
	if err != nil {
		return nil, err
	}
	c, err := s.app.Capacity(ctx, caller(ctx), ids[0], ids[1])
	if err != nil {
		return nil, err
	}
	return toCapacity(ids[0], c), nil
}

func (s *workloadServer) UpdateMemberCapacity(ctx context.Context, req *workflowv1.UpdateMemberCapacityRequest) (*workflowv1.MemberCapacity, error) {
	in := req.GetCapacity()
	ids, err := resource.Parse("capacity.name", in.GetName(), capacityPattern)
	if err != nil {
		return nil, err
	}
	paths := req.GetUpdateMask().GetPaths()
	if len(paths) != 1 || paths[0] != "weekly_minutes" {
		return nil, unknownPath("update_mask", "weekly_minutes")
	}
	c, err := s.app.SetCapacity(ctx, caller(ctx), ids[0], ids[1], int(in.GetWeeklyMinutes()), in.GetEtag())
	if err != nil {
		return nil, err
	}
	return toCapacity(ids[0], c), nil
}

func toMemberWorkload(firmID string, m domain.MemberLoad) *workflowv1.MemberWorkload {
	return &workflowv1.MemberWorkload{
		Member: refName(firmID, "members", m.MemberID), OpenTasks: int32(m.OpenTasks), OverdueTasks: int32(m.OverdueTasks),
		DueThisWeekTasks: int32(m.DueThisWeek), PlannedMinutes: int32(m.PlannedMinutes), CapacityMinutes: int32(m.CapacityMinutes),
		OverCapacity: m.OverCapacity(),
	}
}

func toCapacity(firmID string, c domain.Capacity) *workflowv1.MemberCapacity {
	return &workflowv1.MemberCapacity{
		Name: resource.Name("firms", firmID, "capacities", c.MemberID), WeeklyMinutes: int32(c.WeeklyMinutes), Etag: app.Etag(c.Version),
	}
}
