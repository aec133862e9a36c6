package store

import (
	"context"
	"encoding/json"
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

// TaskCursor is the keyset position just after t in a list in the given order.
func TaskCursor(t domain.Task, order domain.TaskOrder) paging.Cursor {
	switch order {
	case domain.TasksByPosition:
		return positionCursor(t.Position, t.ID)
	case domain.TasksByUpdateTime:
		return paging.Cursor{Time: t.UpdateTime, ID: t.ID}
	}
	return paging.Cursor{Time: sortDue(t.DueDate), ID: t.ID}
}

type checklistJSON struct {
	ID   string `json:"id"`
	Text string `json:"text"`
	Done bool   `json:"done,omitempty"`
}

func encodeChecklist(items []domain.ChecklistItem) []byte {
	out := make([]checklistJSON, len(items))
	for i, it := range items {
		out[i] = checklistJSON(it)
	}
	raw, _ := json.Marshal(out) // plain strings and bools always marshal
	return raw
}

func decodeChecklist(raw []byte) ([]domain.ChecklistItem, error) {
	var in []checklistJSON
	if err := json.Unmarshal(raw, &in); err != nil {
		return nil, fmt.Errorf("decode checklist: %w", err)
	}
	out := make([]domain.ChecklistItem, len(in))
	for i, it := range in {
		out[i] = domain.ChecklistItem(it)
	}
	return out, nil
}

// taskColumns read a task aliased t, with whether an earlier task of its project is
// open (which blocks it).
const taskColumns = `t.id::text, t.firm_id::text, t.project_id::text, t.client_id::text, t.position, t.title, t.description,
	t.role, t.status, t.assignee_id::text, t.due_date, t.estimate_minutes, t.checklist, t.from_template, t.complete_time,
	t.version, t.create_time, t.update_time, t.delete_time,
	t.status <> 'complete' and exists (select 1 from tasks e where e.firm_id = t.firm_id and e.project_id = t.project_id
		and (e.position, e.id) < (t.position, t.id) and e.status <> 'complete' and e.delete_time is null)`

func scanTask(row pgx.Row) (domain.Task, error) {
	var t domain.Task
	var status string
	var assignee *string
	var due, completed, deleted *time.Time
	var checklist []byte
	err := row.Scan(&t.ID, &t.FirmID, &t.ProjectID, &t.ClientID, &t.Position, &t.Title, &t.Description, &t.Role, &status,
		&assignee, &due, &t.EstimateMinutes, &checklist, &t.FromTemplate, &completed, &t.Version, &t.CreateTime, &t.UpdateTime,
		&deleted, &t.EarlierOpen)
	if err != nil {
		return t, err
	}
	if deleted != nil {
		t.DeleteTime = *deleted
	}
	t.Status, t.AssigneeID, t.DueDate = domain.TaskStatus(status), stringFromSQL(assignee), dateFromSQL(due)
	if completed != nil {
		t.CompleteTime = *completed
	}
	t.Checklist, err = decodeChecklist(checklist)
	return t, err
}

const insertTask = `insert into tasks (id, firm_id, project_id, client_id, position, title, description, role, status, assignee_id,
		due_date, estimate_minutes, checklist, from_template, complete_time, version, create_time, update_time)
	values ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $17)`

func (q *Queries) insertTaskArgs(t domain.Task) []any {
	return []any{t.ID, q.firmID, t.ProjectID, t.ClientID, t.Position, t.Title, t.Description, t.Role, string(t.Status),
		sqlUUID(t.AssigneeID), sqlDate(t.DueDate), t.EstimateMinutes, encodeChecklist(t.Checklist), t.FromTemplate,
		pg.NullTime(t.CompleteTime), t.Version, t.CreateTime}
}

// InsertTasks stores new tasks in one round trip.
func (q *Queries) InsertTasks(ctx context.Context, tasks []domain.Task) error {
	if len(tasks) == 0 {
		return nil
	}
	if len(tasks) == 1 {
		_, err := q.tx.Exec(ctx, insertTask, q.insertTaskArgs(tasks[0])...)
		return err
	}
	batch := &pgx.Batch{}
	for _, t := range tasks {
		batch.Queue(insertTask, q.insertTaskArgs(t)...)
	}
	if err := q.tx.SendBatch(ctx, batch).Close(); err != nil {
		return fmt.Errorf("insert %d tasks: %w", len(tasks), err)
	}
	return nil
}

// Task reads one task of a project.
func (q *Queries) Task(ctx context.Context, projectID, id string) (domain.Task, error) {
	t, err := scanTask(q.tx.QueryRow(ctx, "select "+taskColumns+" from tasks t where t.id = $1 and t.project_id = $2 and t.delete_time is null", id, projectID))
	return t, pg.NotFound(err, "task")
}

// TaskForUpdate reads and locks one task of a project.
func (q *Queries) TaskForUpdate(ctx context.Context, projectID, id string) (domain.Task, error) {
	t, err := scanTask(q.tx.QueryRow(ctx, "select "+taskColumns+" from tasks t where t.id = $1 and t.project_id = $2 and t.delete_time is null for update of t",
		id, projectID))
	return t, pg.NotFound(err, "task")
}

// Tasks lists a page of tasks matching f, in f's order.
func (q *Queries) Tasks(ctx context.Context, f domain.TaskFilter, page paging.Page) ([]domain.Task, *paging.Cursor, error) {
	var conds []string
	var args []any
	arg := func(v any) string {
		args = append(args, v)
		return "$" + strconv.Itoa(len(args))
	}
	conds = append(conds, changeConds(f.Changes, "t.", arg)...)
	if f.ProjectID != "" {
		conds = append(conds, "t.project_id = "+arg(f.ProjectID))
	}
	if f.Status != "" {
		conds = append(conds, "t.status = "+arg(string(f.Status)))
	}
	if f.OpenOnly {
		conds = append(conds, "t.status <> 'complete'")
	}
	if f.AssigneeID != "" {
		conds = append(conds, "t.assignee_id = "+arg(f.AssigneeID))
	}
	if f.ClientID != "" {
		conds = append(conds, "t.client_id = "+arg(f.ClientID))
	}
	if !f.DueAfter.IsZero() {
		conds = append(conds, "t.due_date >= "+arg(f.DueAfter.Time()))
	}
	if !f.DueBefore.IsZero() {
		conds = append(conds, "t.due_date <= "+arg(f.DueBefore.Time()))
	}
	key := "t.sort_due"
	switch f.Order {
	case domain.TasksByPosition:
		key = "t.position"
	case domain.TasksByUpdateTime:
		key = "t.update_time"
	}
	if page.After != nil {
		var after any = page.After.Time
		if f.Order == domain.TasksByPosition {
			after = page.After.Time.Unix()
		}
		conds = append(conds, fmt.Sprintf("(%s, t.id) > (%s, %s)", key, arg(after), arg(page.After.ID)))
	}
	where := ""
	if len(conds) > 0 {
		where = "where " + strings.Join(conds, " and ")
	}
	sql := fmt.Sprintf("select %s from tasks t %s order by %s, t.id limit %s", taskColumns, where, key, arg(page.Size+1))
	rows, err := q.tx.Query(ctx, sql, args...)
	if err != nil {
		return nil, nil, err
	}
	return collectPage(rows, page.Size, scanTask, func(t domain.Task) paging.Cursor { return TaskCursor(t, f.Order) })
}

// SaveTask writes t's changeable fields if its version is still expectedVersion.
func (q *Queries) SaveTask(ctx context.Context, t domain.Task, expectedVersion int64) (domain.Task, error) {
	err := q.tx.QueryRow(ctx, `update tasks set position = $3, title = $4, description = $5, role = $6, status = $7,
			assignee_id = $8, due_date = $9, estimate_minutes = $10, checklist = $11, complete_time = $12,
			version = version + 1, update_time = $13
		where id = $1 and project_id = $2 and version = $14 returning version, update_time`,
		t.ID, t.ProjectID, t.Position, t.Title, t.Description, t.Role, string(t.Status), sqlUUID(t.AssigneeID), sqlDate(t.DueDate),
		t.EstimateMinutes, encodeChecklist(t.Checklist), pg.NullTime(t.CompleteTime), t.UpdateTime, expectedVersion,
	).Scan(&t.Version, &t.UpdateTime)
	if errors.Is(err, pgx.ErrNoRows) {
		return t, apierr.StaleEtag("task")
	}
	return t, err
}

// DeleteTask leaves a tombstone of one task of a project (see migration 009).
func (q *Queries) DeleteTask(ctx context.Context, projectID, id string, now time.Time) error {
	tag, err := q.tx.Exec(ctx, `update tasks set version = version + 1, update_time = $3, delete_time = $3
		where id = $1 and project_id = $2 and delete_time is null`, id, projectID, now)
	if err != nil {
		return err
	}
	if tag.RowsAffected() == 0 {
		return apierr.NotFound("task")
	}
	return nil
}

// NextTaskPosition is the position after the project's last task.
func (q *Queries) NextTaskPosition(ctx context.Context, projectID string) (int, error) {
	var n int
	err := q.tx.QueryRow(ctx, "select coalesce(max(position), 0) + 1 from tasks where project_id = $1 and delete_time is null", projectID).Scan(&n)
	return n, err
}

// ClearTemplateTasks deletes the tasks a template made in a project (leaving
// tombstones, so a sync sees them go) and moves the tasks people added behind the
// first `reserve` positions, keeping their order, so a new revision's tasks can take
// positions 1..reserve.
func (q *Queries) ClearTemplateTasks(ctx context.Context, projectID string, reserve int) error {
	if _, err := q.tx.Exec(ctx, `update tasks set version = version + 1, update_time = now(), delete_time = now()
		where project_id = $1 and from_template and delete_time is null`, projectID); err != nil {
		return fmt.Errorf("delete template tasks: %w", err)
	}
	_, err := q.tx.Exec(ctx, `update tasks set position = $2 + o.n, version = version + 1, update_time = now()
		from (select id, row_number() over (order by position, id) as n from tasks
			where project_id = $1 and delete_time is null) o
		where tasks.id = o.id and tasks.position <> $2 + o.n`, projectID, reserve)
	if err != nil {
		return fmt.Errorf("renumber tasks: %w", err)
	}
	return nil
}
