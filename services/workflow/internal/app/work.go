package app

import (
	"github.com/firmflow/firmflow/pkg/apierr"
	"github.com/firmflow/firmflow/pkg/principal"
	"github.com/firmflow/firmflow/pkg/resource"
	"github.com/firmflow/firmflow/services/workflow/internal/domain"
)

// Shared by the work use cases (templates, projects, tasks, series, workload).

// SchedulerActor names the series scheduler in events it causes.
const SchedulerActor = "system/series-scheduler"

// Today is the calendar day the firm's work is judged against (overdue, this week).
func (a *App) Today() domain.Date { return domain.DateOf(a.now()) }

// assignedToCaller reports whether work assigned to assigneeID is the caller's own,
// which is what the "assigned" permission scope reaches.
func assignedToCaller(p principal.Principal, assigneeID string) bool {
	return p.Kind == principal.KindUser && assigneeID != "" && assigneeID == p.UserID
}

// earlierCreate is the id of the resource a reused request_id created, which must be
// of the same collection in the same firm: a request id reused for another kind of
// create is refused rather than answered with the wrong resource.
func earlierCreate(earlier, firmID, pattern string) ([]string, error) {
	ids, err := resource.Parse("request_id", earlier, pattern)
	if err != nil || ids[0] != firmID {
		return nil, apierr.InvalidArgument("request_id", "request_id.unique", "this request id was used for another kind of request")
	}
	return ids, nil
}

func templateName(firmID, id string) string { return resource.Name("firms", firmID, "templates", id) }
func projectName(firmID, id string) string  { return resource.Name("firms", firmID, "projects", id) }
func seriesName(firmID, id string) string   { return resource.Name("firms", firmID, "series", id) }

func taskName(firmID, projectID, id string) string {
	return resource.Name("firms", firmID, "projects", projectID, "tasks", id)
}

func workMemberName(firmID, id string) string { return resource.Name("firms", firmID, "members", id) }
