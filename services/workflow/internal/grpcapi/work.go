package grpcapi

import (
	"fmt"
	"strings"

	"github.com/google/uuid"

	"github.com/firmflow/firmflow/pkg/apierr"
	workflowv1 "github.com/firmflow/firmflow/pkg/gen/firmflow/workflow/v1"
	"github.com/firmflow/firmflow/pkg/resource"
	"github.com/firmflow/firmflow/services/workflow/internal/app"
	"github.com/firmflow/firmflow/services/workflow/internal/domain"
)

// The work services: templates, projects and tasks, series, workload. Each is its own
// gRPC service with its own server value, registered with the shared Server's app.

type templateServer struct {
	workflowv1.UnimplementedTemplateServiceServer
	app *app.App
}

type projectServer struct {
	workflowv1.UnimplementedProjectServiceServer
	app *app.App
}

type seriesServer struct {
	workflowv1.UnimplementedSeriesServiceServer
	app *app.App
}

type workloadServer struct {
	workflowv1.UnimplementedWorkloadServiceServer
	app *app.App
}

// workIDs parses a resource name into its ids, each a UUID: a name that does not
// parse is a bad request, never a database error.
func workIDs(field, name string, collections ...string) ([]string, error) {
	ids, err := resource.Parse(field, name, collections...)
	if err != nil {
		return nil, err
	}
	for _, id := range ids {
		if _, err := uuid.Parse(id); err != nil {
			return nil, apierr.InvalidArgument(field, "resource_name", "ids must be UUIDs")
		}
	}
	return ids, nil
}

// referenceID is the id in a name of a firm's collection ("firms/{firm}/clients/{id}")
// used as a reference; "" stays "". A name in another firm is refused.
func referenceID(field, name, firmID, collection string) (string, error) {
	if name == "" {
		return "", nil
	}
	ids, err := workIDs(field, name, "firms", collection)
	if err != nil {
		return "", err
	}
	if ids[0] != firmID {
		return "", apierr.InvalidArgument(field, "same_firm", "must name a "+strings.TrimSuffix(collection, "s")+" of this firm")
	}
	return ids[1], nil
}

func workDate(field, s string) (domain.Date, error) { return domain.ParseDate(field, s) }

// refName is a reference as the API shows it, "" for none.
func refName(firmID, collection, id string) string {
	if id == "" {
		return ""
	}
	return resource.Name("firms", firmID, collection, id)
}

// listFilter is the canonical form of a list request's filters, which its page
// tokens are bound to.
func listFilter(parts ...any) string {
	var b strings.Builder
	for _, p := range parts {
		fmt.Fprintf(&b, "%v\x1f", p)
	}
	return b.String()
}

func unknownPath(field, allowed string) error {
	return apierr.InvalidArgument("update_mask", "update_mask.paths", field+": can only change "+allowed)
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

// fromProto inverts one of the enum maps; unspecified (0) maps to the zero value.
func fromProto[D comparable, P comparable](m map[D]P, v P) D {
	for d, p := range m {
		if p == v {
			return d
		}
	}
	var zero D
	return zero
}
