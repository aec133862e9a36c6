package store

import (
	"context"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/firmflow/firmflow/pkg/inbox"
	"github.com/firmflow/firmflow/services/workflow/internal/domain"
)

// RecordEvent notes an identity event as applied; false means it was before.
func (q *Queries) RecordEvent(ctx context.Context, m inbox.Message) (bool, error) {
	return inbox.Record(ctx, q.tx, m)
}

// JoinMember adds a member of the firm; a member already known, or removed, stays
// as they are.
func (q *Queries) JoinMember(ctx context.Context, memberID string, at time.Time) error {
	_, err := q.tx.Exec(ctx, `insert into members (firm_id, member_id, join_time) values ($1, $2, $3)
		on conflict (firm_id, member_id) do nothing`, q.firmID, memberID, at)
	return err
}

// RemoveMember marks a member removed, whether or not their joining was seen; the
// first removal time stays.
func (q *Queries) RemoveMember(ctx context.Context, memberID string, at time.Time) error {
	_, err := q.tx.Exec(ctx, `insert into members as m (firm_id, member_id, join_time, remove_time) values ($1, $2, $3, $3)
		on conflict (firm_id, member_id) do update set remove_time = coalesce(m.remove_time, excluded.remove_time)`,
		q.firmID, memberID, at)
	return err
}

// Memberships answers what is known of each id, locking the rows found against a
// concurrent removal until the transaction ends. Ids absent from the answer are
// unknown. ids must be UUIDs.
func (q *Queries) Memberships(ctx context.Context, ids []string) (map[string]domain.Membership, error) {
	out := make(map[string]domain.Membership, len(ids))
	if len(ids) == 0 {
		return out, nil
	}
	rows, err := q.tx.Query(ctx, `select member_id::text, remove_time is null from members
		where firm_id = $1 and member_id = any($2::uuid[]) order by member_id for share`, q.firmID, ids)
	if err != nil {
		return nil, err
	}
	_, err = pgx.CollectRows(rows, func(r pgx.CollectableRow) (struct{}, error) {
		var id string
		var active bool
		if err := r.Scan(&id, &active); err != nil {
			return struct{}{}, err
		}
		out[id] = domain.MembershipRemoved
		if active {
			out[id] = domain.MembershipActive
		}
		return struct{}{}, nil
	})
	return out, err
}

// ReleasedWork is what a removed member's release changed.
type ReleasedWork struct {
	Tasks      []domain.Task    // ID, ProjectID and Status set
	Projects   []domain.Project // ID and ClientID set
	SeriesIDs  []string
	Clients    []ClientChange
	Capacities int
}

// ClientChange is a client and the fields a release changed.
type ClientChange struct {
	ID     string
	Fields []string
}

// ReleaseWork clears a member from the firm's open work: the assignee of tasks not
// complete, of projects not completed and of every series, their place among client
// assignees and in clients' member fields, and their capacity. Completed work keeps its assignee as a record of who
// did it. Each changed row takes a new version, so etags held by clients go stale.
func (q *Queries) ReleaseWork(ctx context.Context, memberID string, now time.Time) (ReleasedWork, error) {
	var w ReleasedWork
	rows, err := q.tx.Query(ctx, `update tasks set assignee_id = null, version = version + 1, update_time = $3
		where firm_id = $1 and assignee_id = $2 and status <> 'complete' and delete_time is null
		returning id::text, project_id::text, status`, q.firmID, memberID, now)
	if err != nil {
		return w, err
	}
	if w.Tasks, err = pgx.CollectRows(rows, func(r pgx.CollectableRow) (domain.Task, error) {
		var t domain.Task
		var status string
		err := r.Scan(&t.ID, &t.ProjectID, &status)
		t.Status = domain.TaskStatus(status)
		return t, err
	}); err != nil {
		return w, err
	}
	rows, err = q.tx.Query(ctx, `update projects set assignee_id = null, version = version + 1, update_time = $3
		where firm_id = $1 and assignee_id = $2 and status <> 'completed' and delete_time is null
		returning id::text, client_id::text`, q.firmID, memberID, now)
	if err != nil {
		return w, err
	}
	if w.Projects, err = pgx.CollectRows(rows, func(r pgx.CollectableRow) (domain.Project, error) {
		var p domain.Project
		return p, r.Scan(&p.ID, &p.ClientID)
	}); err != nil {
		return w, err
	}
	rows, err = q.tx.Query(ctx, `update series set assignee_id = null, version = version + 1, update_time = $3
		where firm_id = $1 and assignee_id = $2 and delete_time is null returning id::text`, q.firmID, memberID, now)
	if err != nil {
		return w, err
	}
	if w.SeriesIDs, err = pgx.CollectRows(rows, pgx.RowTo[string]); err != nil {
		return w, err
	}
	rows, err = q.tx.Query(ctx, `update clients set assignees = array_remove(assignees, $2::uuid), version = version + 1, update_time = $3
		where firm_id = $1 and $2::uuid = any(assignees) returning id::text`, q.firmID, memberID, now)
	if err != nil {
		return w, err
	}
	assigned, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		return w, err
	}
	// The clients' member fields that name them are emptied too; a client changed
	// above already has its new version.
	rows, err = q.tx.Query(ctx, `with fields as (
			delete from client_field_values v using custom_field_definitions d
			where v.firm_id = $1 and d.firm_id = $1 and d.id = v.field_id and d.type = 'member' and v.value = to_jsonb($2::text)
			returning v.client_id
		)
		update clients set version = version + 1, update_time = $3
		where firm_id = $1 and id in (select client_id from fields) and id <> all($4::uuid[]) returning id::text`,
		q.firmID, "firms/"+q.firmID+"/members/"+memberID, now, assigned)
	if err != nil {
		return w, err
	}
	fieldsOnly, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		return w, err
	}
	for _, id := range assigned {
		w.Clients = append(w.Clients, ClientChange{ID: id, Fields: []string{"assignees"}})
	}
	for _, id := range fieldsOnly {
		w.Clients = append(w.Clients, ClientChange{ID: id, Fields: []string{"custom_fields"}})
	}
	tag, err := q.tx.Exec(ctx, "delete from member_capacities where firm_id = $1 and member_id = $2", q.firmID, memberID)
	w.Capacities = int(tag.RowsAffected())
	return w, err
}
