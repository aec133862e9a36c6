package store

import (
	"context"
	"encoding/json"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"github.com/firmflow/firmflow/pkg/firmdata"
	"github.com/firmflow/firmflow/services/lifecycle/internal/domain"
)

// ClaimRetention starts a retention run when one is due (the last started at least
// interval before now) and no other runner holds the lease: the lease row is taken
// with FOR UPDATE SKIP LOCKED, so a second runner at the same moment skips it instead
// of waiting, and leased_until keeps others out until the run ends or the lease runs
// out (a crashed runner). ok is false when no run is due or another runner has it.
func (s *Store) ClaimRetention(ctx context.Context, runner string, now time.Time, interval, lease time.Duration) (run domain.RetentionRun, ok bool, err error) {
	err = s.db.InTx(ctx, func(tx pgx.Tx) error {
		tag, err := tx.Exec(ctx, `
			update retention_lease set runner = $1, leased_until = $2::timestamptz + $4::interval, last_start = $2
			where id = (select id from retention_lease
				where (leased_until is null or leased_until <= $2)
				  and (last_start is null or last_start <= $2::timestamptz - $3::interval)
				for update skip locked)`,
			runner, now, interval, lease)
		if err != nil || tag.RowsAffected() == 0 {
			return err
		}
		run = domain.RetentionRun{ID: uuid.NewString(), Runner: runner, State: domain.StateRunning, StartTime: now}
		_, err = tx.Exec(ctx, `insert into retention_runs (id, runner, state, start_time) values ($1, $2, $3, $4)`,
			run.ID, runner, string(run.State), now)
		ok = err == nil
		return err
	})
	return run, ok, err
}

// FinishRetention records the run's outcome and releases the lease (if still held).
func (s *Store) FinishRetention(ctx context.Context, run domain.RetentionRun) error {
	removed, err := json.Marshal(orEmpty(run.Removed))
	if err != nil {
		return err
	}
	failures, err := json.Marshal(run.Failures)
	if err != nil {
		return err
	}
	return s.db.InTx(ctx, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, `update retention_runs set state = $2, end_time = $3, removed = $4, failures = coalesce($5::jsonb, '{}')
			where id = $1`, run.ID, string(run.State), run.EndTime, removed, failures); err != nil {
			return err
		}
		_, err := tx.Exec(ctx, `update retention_lease set runner = null, leased_until = null where runner = $1`, run.Runner)
		return err
	})
}

func orEmpty(c []domain.RetentionCount) []domain.RetentionCount {
	if c == nil {
		return []domain.RetentionCount{}
	}
	return c
}

// RetentionRuns lists the latest runs, newest first.
func (s *Store) RetentionRuns(ctx context.Context, limit int) ([]domain.RetentionRun, error) {
	var out []domain.RetentionRun
	err := s.db.InTx(ctx, func(tx pgx.Tx) error {
		rows, err := tx.Query(ctx, `select id::text, runner, state, start_time, end_time, removed, failures
			from retention_runs order by start_time desc, id limit $1`, limit)
		if err != nil {
			return err
		}
		out, err = pgx.CollectRows(rows, func(r pgx.CollectableRow) (domain.RetentionRun, error) {
			var (
				run               domain.RetentionRun
				state             string
				end               *time.Time
				removed, failures []byte
			)
			if err := r.Scan(&run.ID, &run.Runner, &state, &run.StartTime, &end, &removed, &failures); err != nil {
				return run, err
			}
			run.State, run.EndTime = domain.State(state), deref(end)
			if err := json.Unmarshal(removed, &run.Removed); err != nil {
				return run, err
			}
			return run, json.Unmarshal(failures, &run.Failures)
		})
		return err
	})
	return out, err
}

// PruneQueues removes lifecycle's own outbox rows past their window.
func (s *Store) PruneQueues(ctx context.Context, now time.Time) ([]firmdata.Count, error) {
	return firmdata.Tables{}.PruneAll(ctx, s.db, now)
}
