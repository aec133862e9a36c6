package grpcapi

import (
	workflowv1 "github.com/firmflow/firmflow/pkg/gen/firmflow/workflow/v1"
	"github.com/firmflow/firmflow/pkg/resource"
	"github.com/firmflow/firmflow/pkg/rpc"
	"github.com/firmflow/firmflow/services/workflow/internal/domain"
)

func init() {
	// The role gate only; the firm's permission matrix decides the rest in app.
	policyTables = append(policyTables, rpc.Policies{
		workflowv1.TemplateService_CreateTemplate_FullMethodName:        {Roles: rpc.Everyone, Scope: "templates:write"},
		workflowv1.TemplateService_GetTemplate_FullMethodName:           {Roles: rpc.Everyone, Scope: "templates:read"},
		workflowv1.TemplateService_ListTemplates_FullMethodName:         {Roles: rpc.Everyone, Scope: "templates:read"},
		workflowv1.TemplateService_ListTemplateRevisions_FullMethodName: {Roles: rpc.Everyone, Scope: "templates:read"},
		workflowv1.TemplateService_UpdateTemplate_FullMethodName:        {Roles: rpc.Everyone, Scope: "templates:write"},
		workflowv1.TemplateService_DeleteTemplate_FullMethodName:        {Roles: rpc.Everyone, Scope: "templates:write"},

		workflowv1.ProjectService_CreateProject_FullMethodName: {Roles: rpc.Everyone, Scope: "projects:write"},
		workflowv1.ProjectService_GetProject_FullMethodName:    {Roles: rpc.Everyone, Scope: "projects:read"},
		workflowv1.ProjectService_ListProjects_FullMethodName:  {Roles: rpc.Everyone, Scope: "projects:read"},
		workflowv1.ProjectService_UpdateProject_FullMethodName: {Roles: rpc.Everyone, Scope: "projects:write"},
		workflowv1.ProjectService_DeleteProject_FullMethodName: {Roles: rpc.Everyone, Scope: "projects:write"},
		workflowv1.ProjectService_CreateTask_FullMethodName:    {Roles: rpc.Everyone, Scope: "tasks:write"},
		workflowv1.ProjectService_GetTask_FullMethodName:       {Roles: rpc.Everyone, Scope: "tasks:read"},
		workflowv1.ProjectService_ListTasks_FullMethodName:     {Roles: rpc.Everyone, Scope: "tasks:read"},
		workflowv1.ProjectService_UpdateTask_FullMethodName:    {Roles: rpc.Everyone, Scope: "tasks:write"},
		workflowv1.ProjectService_DeleteTask_FullMethodName:    {Roles: rpc.Everyone, Scope: "tasks:write"},

		workflowv1.SeriesService_CreateSeries_FullMethodName: {Roles: rpc.Everyone, Scope: "series:write"},
		workflowv1.SeriesService_GetSeries_FullMethodName:    {Roles: rpc.Everyone, Scope: "series:read"},
		workflowv1.SeriesService_ListSeries_FullMethodName:   {Roles: rpc.Everyone, Scope: "series:read"},
		workflowv1.SeriesService_UpdateSeries_FullMethodName: {Roles: rpc.Everyone, Scope: "series:write"},
		workflowv1.SeriesService_DeleteSeries_FullMethodName: {Roles: rpc.Everyone, Scope: "series:write"},
		workflowv1.SeriesService_RunSeries_FullMethodName:    {Roles: rpc.Everyone, Scope: "series:write"},

		workflowv1.WorkloadService_GetWorkload_FullMethodName:       {Roles: rpc.Everyone, Scope: "workload:read"},
		workflowv1.WorkloadService_GetMyWork_FullMethodName:         {Roles: rpc.Everyone},
		workflowv1.WorkloadService_GetMemberCapacity_FullMethodName: {Roles: rpc.Everyone, Scope: "workload:read"},
		// Capacity is a staffing decision: people who manage the firm make it.
		workflowv1.WorkloadService_UpdateMemberCapacity_FullMethodName: {Roles: rpc.Managers},
	})
}

func workDate(field, s string) (domain.Date, error) { return domain.ParseDate(field, s) }

// refName is a reference as the API shows it, "" for none.
func refName(firmID, collection, id string) string {
	if id == "" {
		return ""
	}
	return resource.Name("firms", firmID, collection, id)
}

// ---- enums ----

var projectStatusToProto = map[domain.ProjectStatus]workflowv1.ProjectStatus{
	domain.ProjectNotStarted: workflowv1.ProjectStatus_PROJECT_STATUS_NOT_STARTED,
	domain.ProjectInProgress: workflowv1.ProjectStatus_PROJECT_STATUS_IN_PROGRESS,
	domain.ProjectCompleted:  workflowv1.ProjectStatus_PROJECT_STATUS_COMPLETED,
}

var taskStatusToProto = map[domain.TaskStatus]workflowv1.TaskStatus{
	domain.TaskReady:      workflowv1.TaskStatus_TASK_STATUS_READY,
	domain.TaskInProgress: workflowv1.TaskStatus_TASK_STATUS_IN_PROGRESS,
	domain.TaskComplete:   workflowv1.TaskStatus_TASK_STATUS_COMPLETE,
}

var frequencyToProto = map[domain.Frequency]workflowv1.Frequency{
	domain.Weekly:    workflowv1.Frequency_FREQUENCY_WEEKLY,
	domain.Monthly:   workflowv1.Frequency_FREQUENCY_MONTHLY,
	domain.Quarterly: workflowv1.Frequency_FREQUENCY_QUARTERLY,
	domain.Annually:  workflowv1.Frequency_FREQUENCY_ANNUALLY,
}

var dueKindToProto = map[domain.DueRuleKind]workflowv1.DueRuleKind{
	domain.DueDayOfPeriod: workflowv1.DueRuleKind_DUE_RULE_KIND_DAY_OF_PERIOD,
	domain.DueLastDay:     workflowv1.DueRuleKind_DUE_RULE_KIND_LAST_DAY,
	domain.DueNthWeekday:  workflowv1.DueRuleKind_DUE_RULE_KIND_NTH_WEEKDAY,
}

var shiftToProto = map[domain.WeekendShift]workflowv1.WeekendShift{
	domain.ShiftNone:            workflowv1.WeekendShift_WEEKEND_SHIFT_NONE,
	domain.ShiftPreviousWeekday: workflowv1.WeekendShift_WEEKEND_SHIFT_PREVIOUS_WEEKDAY,
	domain.ShiftNextWeekday:     workflowv1.WeekendShift_WEEKEND_SHIFT_NEXT_WEEKDAY,
}
