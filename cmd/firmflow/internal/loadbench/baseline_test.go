package loadbench

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"google.golang.org/protobuf/proto"

	eventsv1 "github.com/firmflow/firmflow/pkg/gen/firmflow/events/v1"
)

// The baseline: the least a server can do to answer the same three requests — a
// net/http handler over HTTPS (HTTP/2, like the gateway) running the statements the
// workflow service runs, in the same firm-scoped transactions, as the same runtime
// role under the same row-level security, with a pool of the same size. It has no
// authentication, no gRPC hop, no access log and no validation: the ratio to it is
// what those cost.

// The statements, as workflow's store writes them.
const (
	sqlScope    = "select set_config('app.firm_id', $1, true)"
	projectCols = `id::text, firm_id::text, client_id::text, display_name, description, status, start_date, due_date,
	deadline_date, assignee_id::text, budget_minutes, tags, template_id::text, coalesce(template_revision, 0), series_id::text,
	period_start, task_count, completed_task_count, version, create_time, update_time, delete_time`
	taskCols = `t.id::text, t.firm_id::text, t.project_id::text, t.client_id::text, t.position, t.title, t.description,
	t.role, t.status, t.assignee_id::text, t.due_date, t.estimate_minutes, t.checklist, t.from_template, t.complete_time,
	t.version, t.create_time, t.update_time, t.delete_time,
	t.status <> 'complete' and exists (select 1 from tasks e where e.firm_id = t.firm_id and e.project_id = t.project_id
		and (e.position, e.id) < (t.position, t.id) and e.status <> 'complete' and e.delete_time is null)`
)

type baselineProject struct {
	ID, FirmID, ClientID, DisplayName, Description, Status string
	StartDate, DueDate, DeadlineDate                       *time.Time
	AssigneeID                                             *string
	BudgetMinutes                                          int
	Tags                                                   []string
	TemplateID                                             *string
	TemplateRevision                                       int64
	SeriesID                                               *string
	PeriodStart                                            *time.Time
	TaskCount, CompletedTaskCount                          int
	Version                                                int64
	CreateTime, UpdateTime                                 time.Time
	DeleteTime                                             *time.Time
}

func scanBaselineProject(row pgx.Row) (baselineProject, error) {
	var p baselineProject
	err := row.Scan(&p.ID, &p.FirmID, &p.ClientID, &p.DisplayName, &p.Description, &p.Status, &p.StartDate, &p.DueDate,
		&p.DeadlineDate, &p.AssigneeID, &p.BudgetMinutes, &p.Tags, &p.TemplateID, &p.TemplateRevision, &p.SeriesID,
		&p.PeriodStart, &p.TaskCount, &p.CompletedTaskCount, &p.Version, &p.CreateTime, &p.UpdateTime, &p.DeleteTime)
	return p, err
}

type baselineTask struct {
	ID, FirmID, ProjectID, ClientID string
	Position                        int
	Title, Description, Role        string
	Status                          string
	AssigneeID                      *string
	DueDate                         *time.Time
	EstimateMinutes                 int
	Checklist                       json.RawMessage
	FromTemplate                    bool
	CompleteTime                    *time.Time
	Version                         int64
	CreateTime, UpdateTime          time.Time
	DeleteTime                      *time.Time
	Blocked                         bool
}

type baseline struct {
	pool   *pgxpool.Pool
	firmID string
}

// startBaseline serves the baseline on loopback over HTTPS and returns its URL and
// a client for it.
func startBaseline(b *testing.B, runtimeURL, firmID string) (string, *http.Client) {
	b.Helper()
	pool, err := pgxpool.New(context.Background(), runtimeURL)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(pool.Close)
	bl := &baseline{pool: pool, firmID: firmID}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /project", bl.getProject)
	mux.HandleFunc("GET /projects", bl.listProjects)
	mux.HandleFunc("POST /tasks", bl.createTask)
	srv := httptest.NewUnstartedServer(mux)
	srv.EnableHTTP2 = true
	srv.StartTLS()
	b.Cleanup(srv.Close)
	c := srv.Client()
	c.Transport.(*http.Transport).MaxIdleConnsPerHost = concurrency * 2
	return srv.URL, c
}

// inFirm runs fn in a transaction scoped to the firm as workflow's are (pg.DB.InFirm):
// the scope sent with the BEGIN, in one round trip. Workflow reads the firm's
// permission matrix only for members and admins (domain.MatrixDecides); the load
// comes from an API key, so neither reads it.
func (bl *baseline) inFirm(ctx context.Context, fn func(pgx.Tx) error) error {
	begin := "begin; select set_config('app.firm_id', '" + uuid.MustParse(bl.firmID).String() + "', true)"
	return pgx.BeginTxFunc(ctx, bl.pool, pgx.TxOptions{BeginQuery: begin}, fn)
}

func (bl *baseline) getProject(w http.ResponseWriter, r *http.Request) {
	var p baselineProject
	err := bl.inFirm(r.Context(), func(tx pgx.Tx) error {
		var err error
		p, err = scanBaselineProject(tx.QueryRow(r.Context(), "select "+projectCols+" from projects where id = $1 and delete_time is null", r.URL.Query().Get("id")))
		return err
	})
	reply(w, p, err)
}

func (bl *baseline) listProjects(w http.ResponseWriter, r *http.Request) {
	var out struct {
		Projects []baselineProject
		More     bool
	}
	err := bl.inFirm(r.Context(), func(tx pgx.Tx) error {
		rows, err := tx.Query(r.Context(), "select "+projectCols+" from projects where delete_time is null and client_id = $1 order by create_time, id limit $2",
			r.URL.Query().Get("client"), 51)
		if err != nil {
			return err
		}
		out.Projects, err = pgx.CollectRows(rows, func(row pgx.CollectableRow) (baselineProject, error) { return scanBaselineProject(row) })
		if len(out.Projects) > 50 {
			out.Projects, out.More = out.Projects[:50], true
		}
		return err
	})
	reply(w, out, err)
}

func (bl *baseline) createTask(w http.ResponseWriter, r *http.Request) {
	var in struct {
		Title           string `json:"title"`
		EstimateMinutes int    `json:"estimate_minutes"`
	}
	if err := json.NewDecoder(r.Body).Decode(&in); err != nil {
		http.Error(w, "bad body", http.StatusBadRequest)
		return
	}
	ctx, projectID := r.Context(), r.URL.Query().Get("project")
	var t baselineTask
	err := bl.inFirm(ctx, func(tx pgx.Tx) error {
		p, err := scanBaselineProject(tx.QueryRow(ctx, "select "+projectCols+" from projects where id = $1 and delete_time is null for update", projectID))
		if err != nil {
			return err
		}
		var position int
		if err := tx.QueryRow(ctx, "select coalesce(max(position), 0) + 1 from tasks where project_id = $1 and delete_time is null", projectID).Scan(&position); err != nil {
			return err
		}
		id, now := uuid.Must(uuid.NewV7()).String(), time.Now().UTC().Truncate(time.Microsecond)
		_, err = tx.Exec(ctx, `insert into tasks (id, firm_id, project_id, client_id, position, title, description, role, status, assignee_id,
				due_date, estimate_minutes, checklist, from_template, complete_time, version, create_time, update_time)
			values ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $17)`,
			id, bl.firmID, projectID, p.ClientID, position, in.Title, "", "", "ready", nil, nil, in.EstimateMinutes, []byte("[]"), false, nil, 1, now)
		if err != nil {
			return err
		}
		var ready, inProgress, complete int
		if err := tx.QueryRow(ctx, `select count(*) filter (where status = 'ready'), count(*) filter (where status = 'in_progress'),
				count(*) filter (where status = 'complete') from tasks where project_id = $1 and delete_time is null`, projectID).Scan(&ready, &inProgress, &complete); err != nil {
			return err
		}
		status := "not_started"
		switch {
		case complete == ready+inProgress+complete:
			status = "completed"
		case inProgress+complete > 0:
			status = "in_progress"
		}
		if _, err := tx.Exec(ctx, `update projects set display_name = $2, description = $3, status = $4, start_date = $5,
				due_date = $6, deadline_date = $7, assignee_id = $8, budget_minutes = $9, tags = $10, template_revision = $11,
				task_count = $12, completed_task_count = $13, version = version + 1, update_time = $14
			where id = $1 and version = $15 returning version, update_time`,
			projectID, p.DisplayName, p.Description, status, p.StartDate, p.DueDate, p.DeadlineDate, p.AssigneeID, p.BudgetMinutes,
			p.Tags, nil, ready+inProgress+complete, complete, now, p.Version); err != nil {
			return err
		}
		project := "firms/" + bl.firmID + "/projects/" + projectID
		payload, err := proto.Marshal(&eventsv1.TaskChanged{Task: project + "/tasks/" + id, Project: project, Status: "ready"})
		if err != nil {
			return err
		}
		_, err = tx.Exec(ctx, `insert into outbox (id, firm_id, subject, actor, payload, headers)
			select id, firm_id, subject, actor, payload, $6::jsonb
			from unnest($1::uuid[], $2::uuid[], $3::text[], $4::text[], $5::bytea[]) as e(id, firm_id, subject, actor, payload)`,
			[]string{uuid.Must(uuid.NewV7()).String()}, []string{bl.firmID}, []string{"firmflow.workflow.task_created"}, []string{"baseline"}, [][]byte{payload}, "{}")
		if err != nil {
			return err
		}
		return tx.QueryRow(ctx, "select "+taskCols+" from tasks t where t.id = $1 and t.project_id = $2 and t.delete_time is null", id, projectID).Scan(
			&t.ID, &t.FirmID, &t.ProjectID, &t.ClientID, &t.Position, &t.Title, &t.Description, &t.Role, &t.Status, &t.AssigneeID,
			&t.DueDate, &t.EstimateMinutes, &t.Checklist, &t.FromTemplate, &t.CompleteTime, &t.Version, &t.CreateTime, &t.UpdateTime,
			&t.DeleteTime, &t.Blocked)
	})
	replyWith(w, http.StatusCreated, t, err)
}

func reply(w http.ResponseWriter, v any, err error) { replyWith(w, http.StatusOK, v, err) }

func replyWith(w http.ResponseWriter, status int, v any, err error) {
	if err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}
