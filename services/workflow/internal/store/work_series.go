package store

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/firmflow/firmflow/pkg/apierr"
	"github.com/firmflow/firmflow/pkg/paging"
	"github.com/firmflow/firmflow/pkg/pg"
	"github.com/firmflow/firmflow/services/workflow/internal/domain"
)

const seriesColumns = `id::text, firm_id::text, client_id::text, template_id::text, display_name, assignee_id::text,
	budget_minutes, frequency, interval_count, start_date, end_date, due_kind, due_day, due_nth, due_weekday, due_lag_days,
	weekend_shift, create_ahead_days, paused, next_run_date, version, create_time, update_time, delete_time`

func scanSeries(row pgx.Row) (domain.Series, error) {
	var s domain.Series
	r := &s.Recurrence
	var assignee *string
	var frequency, kind, shift string
	var weekday int
	var start time.Time
	var end, next, deleted *time.Time
	err := row.Scan(&s.ID, &s.FirmID, &s.ClientID, &s.TemplateID, &s.DisplayName, &assignee, &s.BudgetMinutes, &frequency,
		&r.Interval, &start, &end, &kind, &r.Due.Day, &r.Due.Nth, &weekday, &r.Due.LagDays, &shift, &r.CreateAheadDays,
		&s.Paused, &next, &s.Version, &s.CreateTime, &s.UpdateTime, &deleted)
	if deleted != nil {
		s.DeleteTime = *deleted
	}
	s.AssigneeID = stringFromSQL(assignee)
	r.Frequency, r.Due.Kind, r.Due.Shift, r.Due.Weekday = domain.Frequency(frequency), domain.DueRuleKind(kind), domain.WeekendShift(shift), time.Weekday(weekday)
	r.Start, r.End, s.NextRunDate = domain.DateOf(start), dateFromSQL(end), dateFromSQL(next)
	return s, err
}

func seriesArgs(s domain.Series) []any {
	r := s.Recurrence
	shift := r.Due.Shift
	if shift == "" {
		shift = domain.ShiftNone
	}
	return []any{s.ID, s.TemplateID, s.DisplayName, sqlUUID(s.AssigneeID), s.BudgetMinutes, string(r.Frequency), r.Interval,
		r.Start.Time(), sqlDate(r.End), string(r.Due.Kind), r.Due.Day, r.Due.Nth, int(r.Due.Weekday), r.Due.LagDays, string(shift),
		r.CreateAheadDays, s.Paused, sqlDate(s.NextRunDate)}
}

// InsertSeries stores a new series.
func (q *Queries) InsertSeries(ctx context.Context, s domain.Series) error {
	args := append(seriesArgs(s), q.firmID, s.ClientID, s.Version, s.CreateTime)
	_, err := q.tx.Exec(ctx, `insert into series (id, template_id, display_name, assignee_id, budget_minutes, frequency,
			interval_count, start_date, end_date, due_kind, due_day, due_nth, due_weekday, due_lag_days, weekend_shift,
			create_ahead_days, paused, next_run_date, firm_id, client_id, version, create_time, update_time)
		values ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18, $19, $20, $21, $22, $22)`, args...)
	switch {
	case stillReferenced(err, "series_firm_id_client_id_fkey"):
		return apierr.NotFound("client")
	case stillReferenced(err, "series_firm_id_template_id_fkey"):
		return apierr.NotFound("template")
	case err != nil:
		return fmt.Errorf("insert series: %w", err)
	}
	return nil
}

// Series reads one series.
func (q *Queries) Series(ctx context.Context, id string) (domain.Series, error) {
	s, err := scanSeries(q.tx.QueryRow(ctx, "select "+seriesColumns+" from series where id = $1 and delete_time is null", id))
	return s, pg.NotFound(err, "series")
}

// SeriesForUpdate reads and locks a series: runs and edits of one series take turns,
// so two schedulers never create the same period twice.
func (q *Queries) SeriesForUpdate(ctx context.Context, id string) (domain.Series, error) {
	s, err := scanSeries(q.tx.QueryRow(ctx, "select "+seriesColumns+" from series where id = $1 and delete_time is null for update", id))
	return s, pg.NotFound(err, "series")
}

// SeriesList lists a page of the firm's series in f's order, optionally one client's.
func (q *Queries) SeriesList(ctx context.Context, f domain.SeriesFilter, page paging.Page) ([]domain.Series, *paging.Cursor, error) {
	return timeOrderedPage(ctx, q, seriesColumns, "series", f.ChangeFilter, page, scanSeries,
		func(s domain.Series) (time.Time, time.Time, string) { return s.CreateTime, s.UpdateTime, s.ID },
		func(arg func(any) string) []string {
			if f.ClientID == "" {
				return nil
			}
			return []string{"client_id = " + arg(f.ClientID) + "::uuid"}
		})
}

// SaveSeries writes s if its version is still expectedVersion.
func (q *Queries) SaveSeries(ctx context.Context, s domain.Series, expectedVersion int64) (domain.Series, error) {
	args := append(seriesArgs(s), s.UpdateTime, expectedVersion)
	err := q.tx.QueryRow(ctx, `update series set template_id = $2, display_name = $3, assignee_id = $4, budget_minutes = $5,
			frequency = $6, interval_count = $7, start_date = $8, end_date = $9, due_kind = $10, due_day = $11, due_nth = $12,
			due_weekday = $13, due_lag_days = $14, weekend_shift = $15, create_ahead_days = $16, paused = $17,
			next_run_date = $18, version = version + 1, update_time = $19
		where id = $1 and version = $20 and delete_time is null returning version, update_time`, args...).Scan(&s.Version, &s.UpdateTime)
	switch {
	case errors.Is(err, pgx.ErrNoRows):
		return s, apierr.StaleEtag("series")
	case stillReferenced(err, "series_firm_id_template_id_fkey"):
		return s, apierr.NotFound("template")
	}
	return s, err
}

// SetSeriesNextRun records when the scheduler next has work for the series, at now.
// It is bookkeeping, not an edit: the version (and so the etag) stays, but
// update_time moves, so a sync sees the new next_run_date.
func (q *Queries) SetSeriesNextRun(ctx context.Context, id string, next domain.Date, now time.Time) error {
	_, err := q.tx.Exec(ctx, "update series set next_run_date = $2, update_time = $3 where id = $1", id, sqlDate(next), now)
	return err
}

// DeleteSeries leaves a tombstone of a series (see migration 012), deleted at now:
// it never runs again, its assignee and periods go, and its projects stay and
// forget it (a change to them).
func (q *Queries) DeleteSeries(ctx context.Context, id string, now time.Time) error {
	if _, err := q.tx.Exec(ctx, `update projects set series_id = null, version = version + 1, update_time = $2
		where series_id = $1 and delete_time is null`, id, now); err != nil {
		return err
	}
	if _, err := q.tx.Exec(ctx, "delete from series_periods where series_id = $1", id); err != nil {
		return err
	}
	tag, err := q.tx.Exec(ctx, `update series set assignee_id = null, next_run_date = null, version = version + 1,
		update_time = $2, delete_time = $2 where id = $1 and delete_time is null`, id, now)
	if err == nil && tag.RowsAffected() == 0 {
		return apierr.NotFound("series")
	}
	return err
}

// ClaimSeriesPeriod records that the series makes projectID for the period beginning
// on start, in this transaction; claimed is false when an earlier run already made
// that period's project, and the caller creates nothing. The link to the project is
// checked at commit, so the caller inserts the project after claiming.
func (q *Queries) ClaimSeriesPeriod(ctx context.Context, seriesID string, start domain.Date, projectID string, now time.Time) (claimed bool, err error) {
	tag, err := q.tx.Exec(ctx, `insert into series_periods (firm_id, series_id, period_start, project_id, create_time)
		values ($1, $2, $3, $4, $5) on conflict (firm_id, series_id, period_start) do nothing`,
		q.firmID, seriesID, start.Time(), projectID, now)
	if err != nil {
		return false, err
	}
	return tag.RowsAffected() == 1, nil
}

// LatestSeriesPeriod is the start of the latest period the series has made a
// project for; zero when none.
func (q *Queries) LatestSeriesPeriod(ctx context.Context, seriesID string) (domain.Date, error) {
	var latest *time.Time
	err := q.tx.QueryRow(ctx, "select max(period_start) from series_periods where series_id = $1", seriesID).Scan(&latest)
	return dateFromSQL(latest), err
}

// SeriesRef names a series of some firm.
type SeriesRef struct {
	FirmID, SeriesID string
}

// DueSeries lists, across firms, up to batch series with a period to create by today.
// It runs outside any firm, through the series_due SECURITY DEFINER function, and
// returns ids only: each series is then run in its own firm's transaction.
func (s *Store) DueSeries(ctx context.Context, today domain.Date, batch int) ([]SeriesRef, error) {
	return dueAcrossFirms(ctx, s, func(firm, id string) SeriesRef { return SeriesRef{FirmID: firm, SeriesID: id} },
		"select firm_id::text, series_id::text from series_due($1, $2)", today.Time(), batch)
}

// dueAcrossFirms runs a queue's SECURITY DEFINER function, outside any firm, and
// answers the (firm id, id) pairs it returns as refs.
func dueAcrossFirms[T any](ctx context.Context, s *Store, ref func(firmID, id string) T, sql string, args ...any) ([]T, error) {
	var refs []T
	err := s.db.InTx(ctx, func(tx pgx.Tx) error {
		rows, err := tx.Query(ctx, sql, args...)
		if err != nil {
			return err
		}
		refs, err = pgx.CollectRows(rows, func(r pgx.CollectableRow) (T, error) {
			var firm, id string
			err := r.Scan(&firm, &id)
			return ref(firm, id), err
		})
		return err
	})
	return refs, err
}
