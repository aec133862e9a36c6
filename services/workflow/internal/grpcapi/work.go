package grpcapi

import (
	workflowv1 "github.com/firmflow/firmflow/pkg/gen/firmflow/workflow/v1"
	"github.com/firmflow/firmflow/pkg/resource"
	"github.com/firmflow/firmflow/services/workflow/internal/domain"
)

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
