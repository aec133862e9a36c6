package loadbench

import (
	"context"
	"fmt"
	"net/http"
	"os"
	"strconv"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/firmflow/firmflow/cmd/firmflow/internal/e2e/harness"
	"github.com/firmflow/firmflow/pkg/pg"
	"github.com/firmflow/firmflow/pkg/pg/pgtest"
)

// deletionTarget is the bound for deleting a firm of a million rows.
const (
	deletionTargetRows = 1_000_000
	deletionTarget     = 60 * time.Second
)

// seeded is the share of a benchmark firm's rows one table of one service holds,
// written straight into the service's database (as the administrator: nothing
// else writes this fast). Its delete is the baseline's statement for that table.
type seeded struct {
	service, table string
	// insert writes n rows of the firm ($1); it may read the firm's rows of the
	// tables seeded before it.
	insert func(n int) string
	share  float64
	// before runs ahead of the baseline's DELETE in its transaction (audit's log
	// lets a DELETE through only for the firm its deletion names).
	before string
}

// deletionSeed spreads a firm's rows over the services roughly as a busy firm's are:
// mostly workflow's tasks, then its audit log, identity's notifications, billing's
// Stripe event ids. Children come first in the list's reverse: the baseline deletes
// from the end.
var deletionSeed = []seeded{
	{service: "workflow", table: "clients", share: 0.04, insert: func(n int) string {
		return fmt.Sprintf(`insert into clients (id, firm_id, display_name, kind, priority, create_time, update_time)
			select gen_random_uuid(), $1, 'Bench client ' || g, 'person', 'normal', now(), now()
			from generate_series(1, %d) g`, n)
	}},
	{service: "workflow", table: "projects", share: 0.04, insert: func(n int) string {
		return fmt.Sprintf(`insert into projects (id, firm_id, client_id, display_name, status, start_date, due_date,
			budget_minutes, task_count, completed_task_count, version, create_time, update_time)
			select gen_random_uuid(), $1, c.id, 'Engagement ' || c.display_name, 'not_started', current_date,
			current_date + 90, 600, 15, 0, 1, now(), now()
			from clients c where c.firm_id = $1 limit %d`, n)
	}},
	{service: "workflow", table: "tasks", share: 0.60, insert: func(n int) string {
		return fmt.Sprintf(`insert into tasks (id, firm_id, project_id, client_id, position, title, status, due_date,
			estimate_minutes, version, create_time, update_time)
			select gen_random_uuid(), $1, p.id, p.client_id, s, 'Step ' || s, 'ready', p.due_date, 45, 1, now(), now()
			from projects p, generate_series(1, 15) s where p.firm_id = $1 limit %d`, n)
	}},
	{service: "identity", table: "notifications", share: 0.08, insert: func(n int) string {
		return fmt.Sprintf(`insert into notifications (id, firm_id, kind, text, create_time)
			select gen_random_uuid(), $1, 'support_requested', 'Bench notice ' || g, now()
			from generate_series(1, %d) g`, n)
	}},
	{service: "billing", table: "stripe_events", share: 0.04, insert: func(n int) string {
		return fmt.Sprintf(`insert into stripe_events (id, firm_id, type, created, source)
			select 'evt_' || replace(gen_random_uuid()::text, '-', ''), $1, 'customer.subscription.updated', now(), 'webhook'
			from generate_series(1, %d) g`, n)
	}},
	{service: "audit", table: "audit_events", share: 0.20, before: "select set_config('audit.deleting_firm', $1::text, true)",
		insert: func(n int) string {
			// After every event the firm already has, so its chain's head stays its own.
			return fmt.Sprintf(`insert into audit_events (firm_id, seq, event_id, record_time, time, kind, category, actor,
				action, resources, code, subject, payload, prev_hash, hash)
				select $1::uuid, 1000000 + g, gen_random_uuid(), now(), now(), 'access', 'read', 'users/bench', 'GET',
				array['firms/' || $1::text], 'OK', '', '\x00', sha256(int8send(g)), sha256(int8send(g + 1))
				from generate_series(1, %d) g`, n)
		}},
}

// BenchmarkFirmDeletion deletes, through the whole stack (grace 0, the saga run by
// lifecycle calling every service, the key store, the residue scan, the JetStream
// purge and the signed certificate), a firm of FIRMFLOW_BENCH_DELETION_ROWS rows
// (200,000 unless set) spread over workflow, audit, identity and billing, and prints
// its rows/s beside raw `DELETE ... WHERE firm_id` of an identical firm's same rows in
// the same run, with both extrapolated to the 1,000,000 rows (target ≤ 60 s).
func BenchmarkFirmDeletion(b *testing.B) {
	rows := 200_000
	if v, err := strconv.Atoi(os.Getenv("FIRMFLOW_BENCH_DELETION_ROWS")); err == nil && v > 0 {
		rows = v
	}
	sys, err := harness.Boot(harness.Options{})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() {
		if err := sys.Stop(); err != nil {
			b.Error(err)
		}
	})
	ctx := context.Background()
	conns := map[string]*pgx.Conn{}
	for _, s := range deletionSeed {
		if conns[s.service] != nil {
			continue
		}
		url, err := pg.WithUserAndDatabase(pgtest.AdminURL(), "", sys.Stack.Databases[s.service])
		if err != nil {
			b.Fatal(err)
		}
		if conns[s.service], err = pgx.Connect(ctx, url); err != nil {
			b.Fatal(err)
		}
		defer conns[s.service].Close(ctx)
	}

	for range b.N {
		doomed, err := sys.SignUp("doomed")
		if err != nil {
			b.Fatal(err)
		}
		twin, err := sys.SignUp("twin")
		if err != nil {
			b.Fatal(err)
		}
		var seededRows int64
		for _, firm := range []string{doomed.ID(), twin.ID()} {
			for _, s := range deletionSeed {
				tag, err := conns[s.service].Exec(ctx, s.insert(int(float64(rows)*s.share)), firm)
				if err != nil {
					b.Fatalf("seed %s.%s: %v", s.service, s.table, err)
				}
				if firm == doomed.ID() {
					seededRows += tag.RowsAffected()
				}
			}
		}
		for _, conn := range conns {
			if _, err := conn.Exec(ctx, "analyze"); err != nil {
				b.Fatal(err)
			}
		}

		// The saga, from the owner's request to the certificate.
		started := time.Now()
		r, err := doomed.Client.Do("POST", "/v1/"+doomed.Name+":requestDeletion", map[string]any{"password": harness.Password, "grace_days": 0})
		if err != nil || r.Status != http.StatusCreated {
			b.Fatalf("request deletion: %v %d %s", err, r.Status, r.Raw)
		}
		var requested struct {
			Token string `json:"certificate_token"`
		}
		if err := r.Decode(&requested); err != nil {
			b.Fatal(err)
		}
		anon := sys.Browser()
		var cert struct {
			Certificate struct {
				GraceEnd   time.Time `json:"grace_end_time"`
				CompleteAt time.Time `json:"complete_time"`
				Deleted    map[string][]struct {
					Rows int64 `json:"rows"`
				} `json:"deleted"`
			} `json:"certificate"`
		}
		for {
			r, err := anon.Do("GET", "/v1/deletionCertificates/"+requested.Token, nil)
			if err != nil {
				b.Fatal(err)
			}
			if r.Status == http.StatusOK {
				if err := r.Decode(&cert); err != nil {
					b.Fatal(err)
				}
				break
			}
			if time.Since(started) > 30*time.Minute {
				b.Fatalf("no certificate after 30 minutes: %d %s", r.Status, r.Raw)
			}
			time.Sleep(20 * time.Millisecond)
		}
		sagaTime := time.Since(started)
		c := cert.Certificate
		stepsTime := c.CompleteAt.Sub(c.GraceEnd)
		var deleted int64
		for _, tables := range c.Deleted {
			for _, t := range tables {
				deleted += t.Rows
			}
		}
		if deleted < seededRows {
			b.Fatalf("the saga deleted %d rows, %d were seeded", deleted, seededRows)
		}

		// The baseline: the same statements an administrator would type, on the twin.
		started = time.Now()
		var rawRows int64
		for i := len(deletionSeed) - 1; i >= 0; i-- {
			s := deletionSeed[i]
			err := pgx.BeginFunc(ctx, conns[s.service], func(tx pgx.Tx) error {
				if s.before != "" {
					if _, err := tx.Exec(ctx, s.before, twin.ID()); err != nil {
						return err
					}
				}
				tag, err := tx.Exec(ctx, "delete from "+s.table+" where firm_id = $1", twin.ID())
				rawRows += tag.RowsAffected()
				return err
			})
			if err != nil {
				b.Fatalf("raw delete %s.%s: %v", s.service, s.table, err)
			}
		}
		rawTime := time.Since(started)
		// The twin's own requests add a few audit events to what was seeded.
		if rawRows < seededRows {
			b.Fatalf("raw deletes removed %d rows, %d were seeded", rawRows, seededRows)
		}

		perRow := func(d time.Duration, n int64) time.Duration {
			return time.Duration(float64(d) / float64(n) * deletionTargetRows)
		}
		sagaRate, rawRate := float64(deleted)/sagaTime.Seconds(), float64(rawRows)/rawTime.Seconds()
		verdict := "meets"
		if perRow(sagaTime, deleted) > deletionTarget {
			verdict = "misses"
		}
		b.Logf("firm deletion saga: %d rows (%d seeded) in %v, request to certificate (steps %v): %.0f rows/s; "+
			"raw DELETE ... WHERE firm_id of the twin's rows of the seeded tables: %d rows in %v, %.0f rows/s; saga/raw time per row %.2fx; "+
			"at 1,000,000 rows: saga ~%v, raw ~%v; %s the %v target",
			deleted, seededRows, sagaTime.Round(time.Millisecond), stepsTime.Round(time.Millisecond), sagaRate,
			rawRows, rawTime.Round(time.Millisecond), rawRate, rawRate/sagaRate,
			perRow(sagaTime, deleted).Round(100*time.Millisecond), perRow(rawTime, rawRows).Round(100*time.Millisecond), verdict, deletionTarget)
		b.ReportMetric(sagaRate, "saga-rows/s")
		b.ReportMetric(rawRate, "raw-rows/s")
		b.ReportMetric(perRow(sagaTime, deleted).Seconds(), "saga-s/1M-rows")
		b.ReportMetric(perRow(rawTime, rawRows).Seconds(), "raw-s/1M-rows")
	}
}
