package app

import (
	"context"
	"time"

	"google.golang.org/protobuf/proto"

	"github.com/firmflow/firmflow/pkg/apierr"
	"github.com/firmflow/firmflow/pkg/outbox"
	"github.com/firmflow/firmflow/pkg/principal"
	"github.com/firmflow/firmflow/pkg/resource"
	"github.com/firmflow/firmflow/services/workflow/internal/domain"
	"github.com/firmflow/firmflow/services/workflow/internal/store"
)

// Shared by the work use cases (templates, projects, tasks, series, workload).

// SchedulerActor names the series scheduler in events it causes.
const SchedulerActor = "system/series-scheduler"

// workNow is the time work records carry, at the microsecond PostgreSQL keeps, so
// what a create returns equals what a read returns (and page cursors match rows).
func (a *App) workNow() time.Time { return a.now().UTC().Truncate(time.Microsecond) }

// Today is the calendar day the firm's work is judged against (overdue, this week).
func (a *App) Today() domain.Date { return domain.DateOf(a.now()) }

// assignedToCaller reports whether work assigned to assigneeID is the caller's own,
// which is what the "assigned" permission scope reaches.
func assignedToCaller(p principal.Principal, assigneeID string) bool {
	return p.Kind == principal.KindUser && assigneeID != "" && assigneeID == p.UserID
}

// workEvents collects the events of one use case, written together at its end.
type workEvents struct {
	firmID, actor string
	events        []outbox.Event
}

func newWorkEvents(q *store.Queries, actor string) *workEvents {
	return &workEvents{firmID: q.FirmID(), actor: actor}
}

func (e *workEvents) add(event string, payload proto.Message) {
	e.events = append(e.events, outbox.Event{FirmID: e.firmID, Subject: "firmflow.workflow." + event, Actor: e.actor, Payload: payload})
}

func (e *workEvents) write(ctx context.Context, q *store.Queries) error {
	return q.Emit(ctx, e.events...)
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

func workClientName(firmID, id string) string { return resource.Name("firms", firmID, "clients", id) }
func workMemberName(firmID, id string) string { return resource.Name("firms", firmID, "members", id) }
