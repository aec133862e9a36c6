package store

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/firmflow/firmflow/pkg/apierr"
	"github.com/firmflow/firmflow/pkg/paging"
	"github.com/firmflow/firmflow/pkg/pg"
	"github.com/firmflow/firmflow/services/workflow/internal/domain"
)

// ProjectCursor is the keyset position just after p in a list in the given order.
func ProjectCursor(p domain.Project, order domain.ProjectOrder) paging.Cursor {
	switch order {
	case domain.ProjectsByDueDate, domain.ProjectsByDueDateDesc:
		return paging.Cursor{Time: sortDue(p.DueDate), ID: p.ID}
	case domain.ProjectsByUpdateTime:
		return paging.Cursor{Time: p.UpdateTime, ID: p.ID}
	}
	return paging.Cursor{Time: p.CreateTime, ID: p.ID}
}

const projectColumns = `id::text, firm_id::text, client_id::text, display_name, description, status, start_date, due_date,
	deadline_date, assignee_id::text, budget_minutes, tags, template_id::text, coalesce(template_revision, 0), series_id::text,
	period_start, task_count, completed_task_count, version, create_time, update_time, delete_time`

func scanProject(row pgx.Row) (domain.Project, error) {
	var p domain.Project
	var status string
	var start, due, deadline, period, deleted *time.Time
	var assignee, template, series *string
	err := row.Scan(&p.ID, &p.FirmID, &p.ClientID, &p.DisplayName, &p.Description, &status, &start, &due, &deadline,
		&assignee, &p.BudgetMinutes, &p.Tags, &template, &p.TemplateRevision, &series, &period,
		&p.TaskCount, &p.CompletedTasks, &p.Version, &p.CreateTime, &p.UpdateTime, &deleted)
	if deleted != nil {
		p.DeleteTime = *deleted
	}
	p.Status = domain.ProjectStatus(status)
	p.StartDate, p.DueDate, p.DeadlineDate, p.PeriodStart = dateFromSQL(start), dateFromSQL(due), dateFromSQL(deadline), dateFromSQL(period)
	p.AssigneeID, p.TemplateID, p.SeriesID = stringFromSQL(assignee), stringFromSQL(template), stringFromSQL(series)
	return p, err
}

// InsertProject stores a new project (its tasks are inserted separately).
func (q *Queries) InsertProject(ctx context.Context, p domain.Project) error {
	var templateRevision *int64
	if p.TemplateID != "" {
		templateRevision = &p.TemplateRevision
	}
	_, err := q.tx.Exec(ctx, `insert into projects (id, firm_id, client_id, display_name, description, status, start_date, due_date,
			deadline_date, assignee_id, budget_minutes, tags, template_id, template_revision, series_id, period_start,
			task_count, completed_task_count, version, create_time, update_time)
		values ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18, $19, $20, $20)`,
		p.ID, q.firmID, p.ClientID, p.DisplayName, p.Description, string(p.Status), sqlDate(p.StartDate), sqlDate(p.DueDate),
		sqlDate(p.DeadlineDate), sqlUUID(p.AssigneeID), p.BudgetMinutes, nonNilTags(p.Tags), sqlUUID(p.TemplateID), templateRevision,
		sqlUUID(p.SeriesID), sqlDate(p.PeriodStart), p.TaskCount, p.CompletedTasks, p.Version, p.CreateTime)
	if stillReferenced(err, "projects_firm_id_client_id_fkey") {
		return apierr.NotFound("client") // deleted since the app looked it up
	}
	if err != nil {
		return fmt.Errorf("insert project: %w", err)
	}
	return nil
}

// Project reads one project.
func (q *Queries) Project(ctx context.Context, id string) (domain.Project, error) {
	p, err := scanProject(q.tx.QueryRow(ctx, "select "+projectColumns+" from projects where id = $1 and delete_time is null", id))
	return p, pg.NotFound(err, "project")
}

// ProjectForUpdate reads and locks a project; task changes lock it too, so its
// derived status and counts are computed one change at a time.
func (q *Queries) ProjectForUpdate(ctx context.Context, id string) (domain.Project, error) {
	p, err := scanProject(q.tx.QueryRow(ctx, "select "+projectColumns+" from projects where id = $1 and delete_time is null for update", id))
	return p, pg.NotFound(err, "project")
}

// Projects lists a page of projects matching f, in f's order.
func (q *Queries) Projects(ctx context.Context, f domain.ProjectFilter, page paging.Page) ([]domain.Project, *paging.Cursor, error) {
	var conds []string
	var args []any
	arg := func(v any) string {
		args = append(args, v)
		return "$" + strconv.Itoa(len(args))
	}
	conds = append(conds, changeConds(f.Changes, "", arg)...)
	if f.ClientID != "" {
		conds = append(conds, "client_id = "+arg(f.ClientID))
	}
	if f.AssigneeID != "" {
		conds = append(conds, "assignee_id = "+arg(f.AssigneeID))
	}
	if f.Status != "" {
		conds = append(conds, "status = "+arg(string(f.Status)))
	}
	if f.Tag != "" {
		conds = append(conds, "tags @> array["+arg(f.Tag)+"]::text[]")
	}
	if !f.DueAfter.IsZero() {
		conds = append(conds, "due_date >= "+arg(f.DueAfter.Time()))
	}
	if !f.DueBefore.IsZero() {
		conds = append(conds, "due_date <= "+arg(f.DueBefore.Time()))
	}
	key, dir, cmp := "create_time", "", ">"
	switch f.Order {
	case domain.ProjectsByCreateTimeDesc:
		dir, cmp = " desc", "<"
	case domain.ProjectsByDueDate:
		key = "sort_due"
	case domain.ProjectsByDueDateDesc:
		key, dir, cmp = "sort_due", " desc", "<"
	case domain.ProjectsByUpdateTime:
		key = "update_time"
	}
	if page.After != nil {
		conds = append(conds, fmt.Sprintf("(%s, id) %s (%s, %s)", key, cmp, arg(page.After.Time), arg(page.After.ID)))
	}
	where := ""
	if len(conds) > 0 {
		where = "where " + strings.Join(conds, " and ")
	}
	sql := fmt.Sprintf("select %s from projects %s order by %s%s, id%s limit %s", projectColumns, where, key, dir, dir, arg(page.Size+1))
	rows, err := q.tx.Query(ctx, sql, args...)
	if err != nil {
		return nil, nil, err
	}
	return collectPage(rows, page.Size, scanProject, func(p domain.Project) paging.Cursor { return ProjectCursor(p, f.Order) })
}

// SaveProject writes p's changeable fields if its version is still expectedVersion.
func (q *Queries) SaveProject(ctx context.Context, p domain.Project, expectedVersion int64) (domain.Project, error) {
	var templateRevision *int64
	if p.TemplateID != "" {
		templateRevision = &p.TemplateRevision
	}
	err := q.tx.QueryRow(ctx, `update projects set display_name = $2, description = $3, status = $4, start_date = $5,
			due_date = $6, deadline_date = $7, assignee_id = $8, budget_minutes = $9, tags = $10, template_revision = $11,
			task_count = $12, completed_task_count = $13, version = version + 1, update_time = $14
		where id = $1 and version = $15 returning version, update_time`,
		p.ID, p.DisplayName, p.Description, string(p.Status), sqlDate(p.StartDate), sqlDate(p.DueDate), sqlDate(p.DeadlineDate),
		sqlUUID(p.AssigneeID), p.BudgetMinutes, nonNilTags(p.Tags), templateRevision, p.TaskCount, p.CompletedTasks,
		p.UpdateTime, expectedVersion).Scan(&p.Version, &p.UpdateTime)
	if errors.Is(err, pgx.ErrNoRows) {
		return p, apierr.StaleEtag("project")
	}
	return p, err
}

// DeleteProject leaves tombstones of a project and its tasks (see migration 009),
// deleted at now.
func (q *Queries) DeleteProject(ctx context.Context, id string, now time.Time) error {
	_, err := q.tx.Exec(ctx, `update tasks set version = version + 1, update_time = $2, delete_time = $2
		where project_id = $1 and delete_time is null`, id, now)
	if err != nil {
		return err
	}
	tag, err := q.tx.Exec(ctx, `update projects set version = version + 1, update_time = $2, delete_time = $2
		where id = $1 and delete_time is null`, id, now)
	if err != nil {
		return err
	}
	if tag.RowsAffected() == 0 {
		return apierr.NotFound("project")
	}
	return nil
}

// NotStartedProjectsOfTemplate reads and locks the template's projects that have
// not started, which a template edit replans.
func (q *Queries) NotStartedProjectsOfTemplate(ctx context.Context, templateID string) ([]domain.Project, error) {
	rows, err := q.tx.Query(ctx, "select "+projectColumns+` from projects
		where template_id = $1 and status = 'not_started' and delete_time is null order by id for update`, templateID)
	if err != nil {
		return nil, err
	}
	return pgx.CollectRows(rows, func(r pgx.CollectableRow) (domain.Project, error) { return scanProject(r) })
}

// NotStartedProjectsOfSeries reads and locks the series' projects that have not
// started, which a series edit replans.
func (q *Queries) NotStartedProjectsOfSeries(ctx context.Context, seriesID string) ([]domain.Project, error) {
	rows, err := q.tx.Query(ctx, "select "+projectColumns+` from projects
		where series_id = $1 and status = 'not_started' and delete_time is null order by period_start, id for update`, seriesID)
	if err != nil {
		return nil, err
	}
	return pgx.CollectRows(rows, func(r pgx.CollectableRow) (domain.Project, error) { return scanProject(r) })
}

// ProjectTally counts a project's tasks by status.
func (q *Queries) ProjectTally(ctx context.Context, projectID string) (domain.TaskTally, error) {
	var t domain.TaskTally
	err := q.tx.QueryRow(ctx, `select count(*) filter (where status = 'ready'), count(*) filter (where status = 'in_progress'),
			count(*) filter (where status = 'complete')
		from tasks where project_id = $1 and delete_time is null`, projectID).Scan(&t.Ready, &t.InProgress, &t.Complete)
	return t, err
}

func nonNilTags(tags []string) []string {
	if tags == nil {
		return []string{}
	}
	return tags
}
