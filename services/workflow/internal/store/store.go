// Package store is workflow's SQL: every query it runs, each inside a firm-scoped
// transaction the app opened. Files split by resource; this one holds the shared parts.
package store

import (
	"context"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/firmflow/firmflow/pkg/listfilter"
	"github.com/firmflow/firmflow/pkg/outbox"
	"github.com/firmflow/firmflow/pkg/paging"
	"github.com/firmflow/firmflow/pkg/pg"
	"github.com/firmflow/firmflow/pkg/principal"
	"github.com/firmflow/firmflow/pkg/rpc"
	"github.com/firmflow/firmflow/services/workflow/internal/domain"
)

// Store runs workflow's queries on a pool.
type Store struct {
	db *pg.DB
}

// New returns a store on db.
func New(db *pg.DB) *Store { return &Store{db: db} }

// Queries are the statements available inside one firm-scoped transaction.
type Queries struct {
	tx     pgx.Tx
	firmID string
}

// InFirm runs fn in a transaction scoped to firmID.
func (s *Store) InFirm(ctx context.Context, firmID string, fn func(*Queries) error) error {
	return s.db.InFirm(ctx, firmID, func(tx pgx.Tx) error { return fn(&Queries{tx: tx, firmID: firmID}) })
}

// FirmID is the firm the transaction is scoped to.
func (q *Queries) FirmID() string { return q.firmID }

// Emit queues change events in the transaction; the relay publishes them after commit.
func (q *Queries) Emit(ctx context.Context, events ...outbox.Event) error {
	return outbox.Write(ctx, q.tx, events...)
}

// Permissions returns the firm's permission matrix: defaults with its overrides.
func (q *Queries) Permissions(ctx context.Context) (domain.Permissions, error) {
	p := domain.DefaultPermissions()
	rows, err := q.tx.Query(ctx, "select role, category, action, scope from permissions")
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	for rows.Next() {
		var role, category, action, scope string
		if err := rows.Scan(&role, &category, &action, &scope); err != nil {
			return nil, err
		}
		p[domain.PermissionKey{Role: principal.Role(role), Category: domain.Category(category), Action: domain.Action(action)}] = domain.Scope(scope)
	}
	return p, rows.Err()
}

// SetPermission writes one cell of the firm's matrix.
func (q *Queries) SetPermission(ctx context.Context, k domain.PermissionKey, s domain.Scope) error {
	_, err := q.tx.Exec(ctx, `insert into permissions (firm_id, role, category, action, scope) values ($1, $2, $3, $4, $5)
		on conflict (firm_id, role, category, action) do update set scope = excluded.scope`,
		q.firmID, string(k.Role), string(k.Category), string(k.Action), string(s))
	return err
}

// ClaimRequest records that request_id created resource, with the fingerprint of the
// request. When the id was used before it returns the earlier resource name and
// claimed=false, and the caller returns that resource instead of creating another
// (AIP-155); when it was used for a different request, REQUEST_ID_REUSED.
func (q *Queries) ClaimRequest(ctx context.Context, requestID, resource string) (earlier string, claimed bool, err error) {
	c, claimed, err := q.Claim(ctx, requestID, []string{resource}, false)
	if claimed || err != nil {
		return "", claimed, err
	}
	return c.Resources[0], false, nil
}

// Claim is what the request that first used a request_id did.
type Claim struct {
	// Resources are the resource it made or changed, or a batch's resources in
	// request order.
	Resources []string
	// Updated marks an upsert that changed an existing resource.
	Updated bool
}

// Claim records that request_id made (or, updated, changed) resources, as
// ClaimRequest does for one; a retry gets back every resource of a batch.
func (q *Queries) Claim(ctx context.Context, requestID string, resources []string, updated bool) (earlier Claim, claimed bool, err error) {
	if requestID == "" {
		return Claim{}, true, nil
	}
	var batch []string
	if len(resources) > 1 {
		batch = resources
	}
	tag, err := q.tx.Exec(ctx, `insert into create_requests (firm_id, request_id, resource, resources, updated, request_hash)
		values ($1, $2, $3, $4, $5, $6) on conflict (firm_id, request_id) do nothing`,
		q.firmID, requestID, resources[0], batch, updated, rpc.RequestFingerprint(ctx))
	if err != nil {
		return Claim{}, false, err
	}
	if tag.RowsAffected() == 1 {
		return Claim{}, true, nil
	}
	var first string
	var hash []byte
	err = q.tx.QueryRow(ctx, "select resource, resources, updated, request_hash from create_requests where request_id = $1", requestID).
		Scan(&first, &earlier.Resources, &earlier.Updated, &hash)
	if err != nil {
		return Claim{}, false, err
	}
	if len(earlier.Resources) == 0 {
		earlier.Resources = []string{first}
	}
	return earlier, false, rpc.CheckRequestReuse(ctx, hash)
}

// changeConds are the SQL conditions of c on the table whose columns take prefix
// ("c." or ""): tombstones are left out unless c.ShowDeleted, and each update_time
// bound holds. arg adds a query argument and answers its placeholder.
func changeConds(c domain.Changes, prefix string, arg func(any) string) []string {
	var conds []string
	if !c.ShowDeleted {
		conds = append(conds, prefix+"delete_time is null")
	}
	for _, b := range c.UpdateTime {
		op := map[listfilter.Op]string{listfilter.Less: "<", listfilter.LessEqual: "<=", listfilter.Greater: ">",
			listfilter.GreaterEqual: ">="}[b.Op]
		if op == "" {
			conds = append(conds, "false") // the parser allows no other operator: never widen a list
			continue
		}
		conds = append(conds, prefix+"update_time "+op+" "+arg(b.Time))
	}
	return conds
}

// timeOrderedPage lists a page of the rows of table (one with id, create_time,
// update_time and delete_time columns) that f lets through, in f's order then by id;
// where adds further conditions, with arg adding their arguments. times answers a
// row's create and update times and id, for the cursor.
func timeOrderedPage[T any](ctx context.Context, q *Queries, columns, table string, f domain.ChangeFilter, page paging.Page,
	scan func(pgx.Row) (T, error), times func(T) (create, update time.Time, id string),
	where func(arg func(any) string) []string) ([]T, *paging.Cursor, error) {
	var args []any
	arg := func(v any) string {
		args = append(args, v)
		return "$" + strconv.Itoa(len(args))
	}
	conds := changeConds(f.Changes, "", arg)
	if where != nil {
		conds = append(conds, where(arg)...)
	}
	key := "create_time"
	if f.Order == domain.ByUpdateTime {
		key = "update_time"
	}
	if page.After != nil {
		conds = append(conds, "("+key+", id) > ("+arg(page.After.Time)+", "+arg(page.After.ID)+"::uuid)")
	}
	sql := "select " + columns + " from " + table
	if len(conds) > 0 {
		sql += " where " + strings.Join(conds, " and ")
	}
	rows, err := q.tx.Query(ctx, sql+" order by "+key+", id limit "+arg(page.Size+1), args...)
	if err != nil {
		return nil, nil, err
	}
	return collectPage(rows, page.Size, scan, func(v T) paging.Cursor {
		create, update, id := times(v)
		if f.Order == domain.ByUpdateTime {
			return paging.Cursor{Time: update, ID: id}
		}
		return paging.Cursor{Time: create, ID: id}
	})
}
