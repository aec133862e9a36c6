package store

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/firmflow/firmflow/pkg/apierr"
	"github.com/firmflow/firmflow/pkg/paging"
	"github.com/firmflow/firmflow/pkg/pg"
	"github.com/firmflow/firmflow/services/workflow/internal/domain"
)

// templateTaskJSON is how a template task is kept in the tasks jsonb column.
type templateTaskJSON struct {
	Title           string   `json:"title"`
	Description     string   `json:"description,omitempty"`
	Role            string   `json:"role,omitempty"`
	Anchor          string   `json:"anchor"`
	OffsetDays      int      `json:"offset_days"`
	AssigneeID      string   `json:"assignee_id,omitempty"`
	EstimateMinutes int      `json:"estimate_minutes,omitempty"`
	Checklist       []string `json:"checklist,omitempty"`
}

func encodeTemplateTasks(tasks []domain.TemplateTask) ([]byte, error) {
	out := make([]templateTaskJSON, len(tasks))
	for i, t := range tasks {
		out[i] = templateTaskJSON{
			Title: t.Title, Description: t.Description, Role: t.Role, Anchor: string(t.Anchor), OffsetDays: t.OffsetDays,
			AssigneeID: t.AssigneeID, EstimateMinutes: t.EstimateMinutes, Checklist: t.Checklist,
		}
	}
	return json.Marshal(out)
}

func decodeTemplateTasks(raw []byte) ([]domain.TemplateTask, error) {
	var in []templateTaskJSON
	if err := json.Unmarshal(raw, &in); err != nil {
		return nil, fmt.Errorf("decode template tasks: %w", err)
	}
	out := make([]domain.TemplateTask, len(in))
	for i, t := range in {
		out[i] = domain.TemplateTask{
			Title: t.Title, Description: t.Description, Role: t.Role, Anchor: domain.DueAnchor(t.Anchor), OffsetDays: t.OffsetDays,
			AssigneeID: t.AssigneeID, EstimateMinutes: t.EstimateMinutes, Checklist: t.Checklist,
		}
	}
	return out, nil
}

const templateColumns = `id::text, firm_id::text, display_name, description, budget_minutes, tasks, revision, create_time, update_time,
	delete_time`

func scanTemplate(row pgx.Row) (domain.Template, error) {
	var t domain.Template
	var tasks []byte
	var deleted *time.Time
	if err := row.Scan(&t.ID, &t.FirmID, &t.DisplayName, &t.Description, &t.BudgetMinutes, &tasks, &t.Revision, &t.CreateTime, &t.UpdateTime,
		&deleted); err != nil {
		return t, err
	}
	if deleted != nil {
		t.DeleteTime = *deleted
	}
	var err error
	t.Tasks, err = decodeTemplateTasks(tasks)
	return t, err
}

// CreateTemplate inserts a template at revision 1 and records the revision.
func (q *Queries) CreateTemplate(ctx context.Context, t domain.Template) error {
	tasks, err := encodeTemplateTasks(t.Tasks)
	if err != nil {
		return err
	}
	_, err = q.tx.Exec(ctx, `insert into templates (id, firm_id, display_name, description, budget_minutes, tasks, revision, create_time, update_time)
		values ($1, $2, $3, $4, $5, $6, $7, $8, $8)`,
		t.ID, q.firmID, t.DisplayName, t.Description, t.BudgetMinutes, tasks, t.Revision, t.CreateTime)
	if err != nil {
		return fmt.Errorf("insert template: %w", err)
	}
	return q.insertTemplateRevision(ctx, t, tasks)
}

func (q *Queries) insertTemplateRevision(ctx context.Context, t domain.Template, tasks []byte) error {
	_, err := q.tx.Exec(ctx, `insert into template_revisions (firm_id, template_id, revision, display_name, description, budget_minutes, tasks, create_time)
		values ($1, $2, $3, $4, $5, $6, $7, $8)`,
		q.firmID, t.ID, t.Revision, t.DisplayName, t.Description, t.BudgetMinutes, tasks, t.UpdateTime)
	if err != nil {
		return fmt.Errorf("insert template revision: %w", err)
	}
	return nil
}

// Template reads a template at its current revision.
func (q *Queries) Template(ctx context.Context, id string) (domain.Template, error) {
	t, err := scanTemplate(q.tx.QueryRow(ctx, "select "+templateColumns+" from templates where id = $1 and delete_time is null", id))
	return t, pg.NotFound(err, "template")
}

// TemplateForShare reads a template that a new project or series will refer to,
// and keeps it from being deleted (DeleteTemplate locks it for update) until that
// is committed.
func (q *Queries) TemplateForShare(ctx context.Context, id string) (domain.Template, error) {
	t, err := scanTemplate(q.tx.QueryRow(ctx, "select "+templateColumns+" from templates where id = $1 and delete_time is null for share", id))
	return t, pg.NotFound(err, "template")
}

// TemplateForUpdate reads and locks a template for a change.
func (q *Queries) TemplateForUpdate(ctx context.Context, id string) (domain.Template, error) {
	t, err := scanTemplate(q.tx.QueryRow(ctx, "select "+templateColumns+" from templates where id = $1 and delete_time is null for update", id))
	return t, pg.NotFound(err, "template")
}

// Templates lists a page of the firm's templates in f's order.
func (q *Queries) Templates(ctx context.Context, f domain.ChangeFilter, page paging.Page) ([]domain.Template, *paging.Cursor, error) {
	return timeOrderedPage(ctx, q, templateColumns, "templates", f, page, scanTemplate,
		func(t domain.Template) (time.Time, time.Time, string) { return t.CreateTime, t.UpdateTime, t.ID }, nil)
}

// TemplateRevisions lists a page of a template's revisions, newest first. The page
// cursor carries the revision number in its id.
func (q *Queries) TemplateRevisions(ctx context.Context, id string, page paging.Page) ([]domain.Template, *paging.Cursor, error) {
	var exists bool
	if err := q.tx.QueryRow(ctx, "select exists (select 1 from templates where id = $1 and delete_time is null)", id).Scan(&exists); err != nil {
		return nil, nil, err
	}
	if !exists {
		return nil, nil, apierr.NotFound("template")
	}
	before := int64(1) << 62
	if page.After != nil {
		n, err := strconv.ParseInt(page.After.ID, 10, 64)
		if err != nil {
			return nil, nil, apierr.InvalidArgument("page_token", "page_token.valid", "not a token from the previous page of this query")
		}
		before = n
	}
	rows, err := q.tx.Query(ctx, `select r.template_id::text, r.firm_id::text, r.display_name, r.description, r.budget_minutes, r.tasks,
			r.revision, t.create_time, r.create_time, null::timestamptz
		from template_revisions r join templates t on t.id = r.template_id
		where r.template_id = $1 and r.revision < $2 order by r.revision desc limit $3`, id, before, page.Size+1)
	if err != nil {
		return nil, nil, err
	}
	return collectPage(rows, page.Size, scanTemplate, func(t domain.Template) paging.Cursor {
		return paging.Cursor{ID: strconv.FormatInt(t.Revision, 10)}
	})
}

// SaveTemplate writes t as a new revision if the template is still at
// expectedRevision, and records that revision.
func (q *Queries) SaveTemplate(ctx context.Context, t domain.Template, expectedRevision int64) (domain.Template, error) {
	tasks, err := encodeTemplateTasks(t.Tasks)
	if err != nil {
		return t, err
	}
	err = q.tx.QueryRow(ctx, `update templates set display_name = $2, description = $3, budget_minutes = $4, tasks = $5,
			revision = revision + 1, update_time = $6
		where id = $1 and revision = $7 and delete_time is null returning revision`,
		t.ID, t.DisplayName, t.Description, t.BudgetMinutes, tasks, t.UpdateTime, expectedRevision).Scan(&t.Revision)
	if errors.Is(err, pgx.ErrNoRows) {
		return t, apierr.StaleEtag("template")
	}
	if err != nil {
		return t, err
	}
	return t, q.insertTemplateRevision(ctx, t, tasks)
}

// DeleteTemplate leaves a tombstone of a template (see migration 012), deleted at
// now: its description, budget, tasks and revisions go, and the projects made from
// it forget it (a change to them). A live series using it refuses the delete.
func (q *Queries) DeleteTemplate(ctx context.Context, id string, now time.Time) error {
	var inUse bool
	if err := q.tx.QueryRow(ctx, "select exists (select 1 from series where template_id = $1 and delete_time is null)", id).Scan(&inUse); err != nil {
		return err
	}
	if inUse {
		return apierr.FailedPrecondition("TEMPLATE_IN_USE", "a series uses this template; change or delete the series first")
	}
	if _, err := q.tx.Exec(ctx, `update projects set template_id = null, version = version + 1, update_time = $2
		where template_id = $1 and delete_time is null`, id, now); err != nil {
		return err
	}
	if _, err := q.tx.Exec(ctx, "delete from template_revisions where template_id = $1", id); err != nil {
		return err
	}
	tag, err := q.tx.Exec(ctx, `update templates set description = '', budget_minutes = 0, tasks = '[]', update_time = $2, delete_time = $2
		where id = $1 and delete_time is null`, id, now)
	if err == nil && tag.RowsAffected() == 0 {
		return apierr.NotFound("template")
	}
	return err
}

// collectPage reads up to size rows and, when there were more, the cursor just after
// the last one: the shape every list returns.
func collectPage[T any](rows pgx.Rows, size int, scan func(pgx.Row) (T, error), cursor func(T) paging.Cursor) ([]T, *paging.Cursor, error) {
	defer rows.Close()
	var out []T
	for rows.Next() {
		v, err := scan(rows)
		if err != nil {
			return nil, nil, err
		}
		out = append(out, v)
	}
	if err := rows.Err(); err != nil {
		return nil, nil, err
	}
	if len(out) <= size {
		return out, nil, nil
	}
	out = out[:size]
	next := cursor(out[size-1])
	return out, &next, nil
}
