package app

import (
	"context"

	"github.com/firmflow/firmflow/pkg/apierr"
	eventsv1 "github.com/firmflow/firmflow/pkg/gen/firmflow/events/v1"
	"github.com/firmflow/firmflow/pkg/paging"
	"github.com/firmflow/firmflow/pkg/principal"
	"github.com/firmflow/firmflow/services/workflow/internal/domain"
	"github.com/firmflow/firmflow/services/workflow/internal/store"
)

// Week is the Monday-to-Sunday week a workload counts.
type Week struct {
	Monday, Sunday domain.Date
}

// Workload counts each member's open work for the week containing weekOf (today
// when zero). Callers whose task scope is "assigned" get their own row only.
func (a *App) Workload(ctx context.Context, p principal.Principal, firmID string, weekOf domain.Date) (Week, []domain.MemberLoad, error) {
	today := a.Today()
	if weekOf.IsZero() {
		weekOf = today
	}
	var week Week
	week.Monday, week.Sunday = domain.WeekOf(weekOf)
	var loads []domain.MemberLoad
	err := a.inFirm(ctx, p, firmID, func(q *store.Queries) error {
		member, err := listScope(ctx, q, p, domain.CategoryTasks, "")
		if err != nil {
			return err
		}
		loads, err = q.MemberLoads(ctx, today, week.Monday, week.Sunday, member)
		return err
	})
	return week, loads, err
}

// MyWork is the caller's summary for this week and a page of their open tasks by
// due date. It is a member's own view: an API key has none.
func (a *App) MyWork(ctx context.Context, p principal.Principal, firmID string, page paging.Page) (domain.MemberLoad, []domain.Task, *paging.Cursor, error) {
	if p.Kind != principal.KindUser {
		return domain.MemberLoad{}, nil, nil, apierr.PermissionDenied("MEMBERS_ONLY", "my work is a member's own view")
	}
	today := a.Today()
	monday, sunday := domain.WeekOf(today)
	summary := domain.MemberLoad{MemberID: p.UserID, CapacityMinutes: domain.DefaultWeeklyCapacityMinutes}
	var tasks []domain.Task
	var next *paging.Cursor
	err := a.inFirm(ctx, p, firmID, func(q *store.Queries) error {
		if err := require(ctx, q, p, domain.CategoryTasks, domain.ActionRead, true); err != nil {
			return err
		}
		loads, err := q.MemberLoads(ctx, today, monday, sunday, p.UserID)
		if err != nil {
			return err
		}
		if len(loads) == 1 {
			summary = loads[0]
		}
		tasks, next, err = q.Tasks(ctx, myWorkFilter(p), page)
		return err
	})
	return summary, tasks, next, err
}

// myWorkFilter selects the caller's open tasks by due date.
// the handler makes page tokens with it.
func myWorkFilter(p principal.Principal) domain.TaskFilter {
	return domain.TaskFilter{AssigneeID: p.UserID, OpenOnly: true, Order: domain.TasksByDueDate}
}

// Capacity returns a member's weekly capacity.
func (a *App) Capacity(ctx context.Context, p principal.Principal, firmID, memberID string) (domain.Capacity, error) {
	var c domain.Capacity
	err := a.inFirm(ctx, p, firmID, func(q *store.Queries) error {
		var err error
		c, err = q.Capacity(ctx, memberID)
		return err
	})
	return c, err
}

// SetCapacity changes a member's weekly capacity. Only owners and admins reach this
// (the method's declared policy).
func (a *App) SetCapacity(ctx context.Context, p principal.Principal, firmID, memberID string, minutes int, etag string) (domain.Capacity, error) {
	var c domain.Capacity
	err := a.inFirm(ctx, p, firmID, func(q *store.Queries) error {
		if err := requireMembers(ctx, q, memberRef{"capacity.name", memberID}); err != nil {
			return err
		}
		var err error
		if c, err = q.Capacity(ctx, memberID); err != nil {
			return err
		}
		if err := checkEtag(etag, c.Version, "capacity"); err != nil {
			return err
		}
		if c.WeeklyMinutes == minutes && c.Version > 0 {
			return nil
		}
		expected := c.Version
		c.WeeklyMinutes = minutes
		if c, err = q.SetCapacity(ctx, c, expected); err != nil {
			return err
		}
		return emit(ctx, q, p, "member_capacity_changed", &eventsv1.MemberCapacityChanged{
			Member: workMemberName(firmID, memberID), WeeklyMinutes: int32(minutes),
		})
	})
	return c, err
}
