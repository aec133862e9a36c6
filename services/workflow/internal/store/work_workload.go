package store

import (
	"context"
	"errors"

	"github.com/jackc/pgx/v5"

	"github.com/firmflow/firmflow/pkg/apierr"
	"github.com/firmflow/firmflow/services/workflow/internal/domain"
)

// MemberLoads counts open work per member for the week monday..sunday as read on
// today: every member with open tasks or a capacity set, or only memberID when given.
func (q *Queries) MemberLoads(ctx context.Context, today, monday, sunday domain.Date, memberID string) ([]domain.MemberLoad, error) {
	rows, err := q.tx.Query(ctx, `
		with open as (
			select assignee_id,
				count(*) as open_tasks,
				count(*) filter (where due_date < $1) as overdue,
				count(*) filter (where due_date between $2 and $3) as due_this_week,
				coalesce(sum(estimate_minutes) filter (where due_date <= $3), 0) as planned
			from tasks
			where status <> 'complete' and delete_time is null and assignee_id is not null and ($4::uuid is null or assignee_id = $4)
			group by assignee_id
		)
		select coalesce(o.assignee_id, c.member_id)::text, coalesce(o.open_tasks, 0), coalesce(o.overdue, 0),
			coalesce(o.due_this_week, 0), coalesce(o.planned, 0), coalesce(c.weekly_minutes, $5)
		from open o
		full join (select member_id, weekly_minutes from member_capacities where $4::uuid is null or member_id = $4) c
			on c.member_id = o.assignee_id
		order by 1`,
		today.Time(), monday.Time(), sunday.Time(), sqlUUID(memberID), domain.DefaultWeeklyCapacityMinutes)
	if err != nil {
		return nil, err
	}
	return pgx.CollectRows(rows, func(r pgx.CollectableRow) (domain.MemberLoad, error) {
		var m domain.MemberLoad
		err := r.Scan(&m.MemberID, &m.OpenTasks, &m.OverdueTasks, &m.DueThisWeek, &m.PlannedMinutes, &m.CapacityMinutes)
		return m, err
	})
}

// Capacity reads a member's weekly capacity; a member nobody set has the default
// at version 0.
func (q *Queries) Capacity(ctx context.Context, memberID string) (domain.Capacity, error) {
	c := domain.Capacity{MemberID: memberID, WeeklyMinutes: domain.DefaultWeeklyCapacityMinutes}
	err := q.tx.QueryRow(ctx, "select weekly_minutes, version from member_capacities where member_id = $1", memberID).
		Scan(&c.WeeklyMinutes, &c.Version)
	if errors.Is(err, pgx.ErrNoRows) {
		return c, nil
	}
	return c, err
}

// SetCapacity writes a member's weekly capacity if it is still at expectedVersion
// (0: never set).
func (q *Queries) SetCapacity(ctx context.Context, c domain.Capacity, expectedVersion int64) (domain.Capacity, error) {
	err := q.tx.QueryRow(ctx, `insert into member_capacities as m (firm_id, member_id, weekly_minutes, version, update_time)
		values ($1, $2, $3, 1, now())
		on conflict (firm_id, member_id) do update set weekly_minutes = excluded.weekly_minutes, version = m.version + 1,
			update_time = now()
		where m.version = $4
		returning version`, q.firmID, c.MemberID, c.WeeklyMinutes, expectedVersion).Scan(&c.Version)
	if errors.Is(err, pgx.ErrNoRows) {
		return c, apierr.StaleEtag("capacity")
	}
	return c, err
}
