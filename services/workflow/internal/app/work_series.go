package app

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/firmflow/firmflow/pkg/apierr"
	eventsv1 "github.com/firmflow/firmflow/pkg/gen/firmflow/events/v1"
	"github.com/firmflow/firmflow/pkg/paging"
	"github.com/firmflow/firmflow/pkg/principal"
	"github.com/firmflow/firmflow/services/workflow/internal/domain"
	"github.com/firmflow/firmflow/services/workflow/internal/store"
)

// A series creates its due periods when it is created or changed, when asked to run,
// and from the scheduler. Each period's project is created once: the period is
// claimed in series_periods in the same transaction as the project.

// CreateSeries stores a series and creates the projects of the periods already due.
func (a *App) CreateSeries(ctx context.Context, p principal.Principal, firmID string, s domain.Series, requestID string) (domain.Series, error) {
	now := a.stamp()
	s.ID, s.FirmID, s.Version, s.CreateTime, s.UpdateTime = newID(), firmID, 1, now, now
	if err := validateSeries(s); err != nil {
		return s, err
	}
	err := a.inFirm(ctx, p, firmID, func(q *store.Queries) error {
		if err := require(ctx, q, p, domain.CategorySeries, domain.ActionCreate, assignedToCaller(p, s.AssigneeID)); err != nil {
			return err
		}
		if err := requireMembers(ctx, q, memberRef{"series.assignee", s.AssigneeID}); err != nil {
			return err
		}
		earlier, claimed, err := q.ClaimRequest(ctx, requestID, seriesName(firmID, s.ID))
		if err != nil {
			return err
		}
		if !claimed {
			ids, err := earlierCreate(earlier, firmID, "firms/{firm}/series/{series}")
			if err != nil {
				return err
			}
			s, err = q.Series(ctx, ids[1])
			return err
		}
		if ok, err := q.ClientExists(ctx, s.ClientID); err != nil || !ok {
			return notFoundUnless(err, "client")
		}
		tmpl, err := q.TemplateForShare(ctx, s.TemplateID)
		if err != nil {
			return err
		}
		if err := q.InsertSeries(ctx, s); err != nil {
			return err
		}
		events := newEventBatch(q, p.Actor())
		events.add("series_created", &eventsv1.SeriesChanged{Series: seriesName(firmID, s.ID)})
		if _, err := a.runSeries(ctx, q, events, &s, tmpl, a.Today()); err != nil {
			return err
		}
		return events.write(ctx, q)
	})
	return s, err
}

func validateSeries(s domain.Series) error {
	if s.DisplayName == "" {
		return invalidSeries("display_name", "required", "must not be empty")
	}
	if s.ClientID == "" {
		return invalidSeries("client", "required", "must name a client")
	}
	if s.TemplateID == "" {
		return invalidSeries("template", "required", "must name a template")
	}
	if s.BudgetMinutes < 0 {
		return invalidSeries("budget_minutes", "range", "must not be negative")
	}
	return s.Recurrence.Validate()
}

// Series returns one series.
func (a *App) Series(ctx context.Context, p principal.Principal, firmID, id string) (domain.Series, error) {
	var s domain.Series
	err := a.inFirm(ctx, p, firmID, func(q *store.Queries) error {
		var err error
		if s, err = q.Series(ctx, id); err != nil {
			return err
		}
		return require(ctx, q, p, domain.CategorySeries, domain.ActionRead, assignedToCaller(p, s.AssigneeID))
	})
	return s, err
}

// SeriesList lists a page of the firm's series in f's order, optionally one client's.
func (a *App) SeriesList(ctx context.Context, p principal.Principal, firmID string, f domain.SeriesFilter, page paging.Page) ([]domain.Series, *paging.Cursor, error) {
	var out []domain.Series
	var next *paging.Cursor
	err := a.inFirm(ctx, p, firmID, func(q *store.Queries) error {
		if err := require(ctx, q, p, domain.CategorySeries, domain.ActionRead, false); err != nil {
			return err
		}
		var err error
		out, next, err = q.SeriesList(ctx, f, page)
		return err
	})
	return out, next, err
}

// SeriesPatch is an UpdateSeries: nil fields stay as they are.
type SeriesPatch struct {
	DisplayName     *string
	TemplateID      *string
	AssigneeID      *string
	BudgetMinutes   *int
	Frequency       *domain.Frequency
	Interval        *int
	StartDate       *domain.Date
	EndDate         *domain.Date
	DueRule         *domain.DueRule // without Shift
	WeekendShift    *domain.WeekendShift
	CreateAheadDays *int
	Paused          *bool
	Etag            string
}

// UpdateSeries changes a series, replans its projects that have not started (never
// those in progress or completed), and creates any periods the change made due.
func (a *App) UpdateSeries(ctx context.Context, p principal.Principal, firmID, id string, patch SeriesPatch) (domain.Series, error) {
	var s domain.Series
	err := a.inFirm(ctx, p, firmID, func(q *store.Queries) error {
		var err error
		if s, err = q.SeriesForUpdate(ctx, id); err != nil {
			return err
		}
		if err := require(ctx, q, p, domain.CategorySeries, domain.ActionUpdate, assignedToCaller(p, s.AssigneeID)); err != nil {
			return err
		}
		if err := checkEtag(patch.Etag, s.Version, "series"); err != nil {
			return err
		}
		if err := requireMembers(ctx, q, optionalMember("series.assignee", patch.AssigneeID)); err != nil {
			return err
		}
		changed := patch.apply(&s)
		if len(changed) == 0 {
			return nil
		}
		if err := validateSeries(s); err != nil {
			return err
		}
		tmpl, err := q.TemplateForShare(ctx, s.TemplateID)
		if err != nil {
			return err
		}
		s.UpdateTime = a.stamp()
		if s, err = q.SaveSeries(ctx, s, s.Version); err != nil {
			return err
		}
		events := newEventBatch(q, p.Actor())
		projects, err := q.NotStartedProjectsOfSeries(ctx, s.ID)
		if err != nil {
			return err
		}
		for _, project := range projects {
			plan := seriesPlan(s, s.Recurrence.PeriodStarting(project.PeriodStart))
			if err := a.replan(ctx, q, events, project, tmpl, plan); err != nil {
				return err
			}
		}
		events.add("series_updated", &eventsv1.SeriesChanged{
			Series: seriesName(firmID, s.ID), ChangedFields: changed, ReplannedProjects: int32(len(projects)),
		})
		if _, err := a.runSeries(ctx, q, events, &s, tmpl, a.Today()); err != nil {
			return err
		}
		return events.write(ctx, q)
	})
	return s, err
}

func (patch SeriesPatch) apply(s *domain.Series) []string {
	var changed []string
	r := &s.Recurrence
	setField(&changed, "display_name", &s.DisplayName, patch.DisplayName)
	setField(&changed, "template", &s.TemplateID, patch.TemplateID)
	setField(&changed, "assignee", &s.AssigneeID, patch.AssigneeID)
	setField(&changed, "budget_minutes", &s.BudgetMinutes, patch.BudgetMinutes)
	setField(&changed, "frequency", &r.Frequency, patch.Frequency)
	setField(&changed, "interval", &r.Interval, patch.Interval)
	setField(&changed, "start_date", &r.Start, patch.StartDate)
	setField(&changed, "end_date", &r.End, patch.EndDate)
	if v := patch.DueRule; v != nil {
		rule := *v
		rule.Shift = r.Due.Shift // weekend_shift is a field of its own
		setField(&changed, "due_rule", &r.Due, &rule)
	}
	setField(&changed, "weekend_shift", &r.Due.Shift, patch.WeekendShift)
	setField(&changed, "create_ahead_days", &r.CreateAheadDays, patch.CreateAheadDays)
	setField(&changed, "paused", &s.Paused, patch.Paused)
	return changed
}

// DeleteSeries deletes a series, leaving a tombstone; the projects it made stay.
func (a *App) DeleteSeries(ctx context.Context, p principal.Principal, firmID, id, etag string) error {
	return a.inFirm(ctx, p, firmID, func(q *store.Queries) error {
		s, err := q.SeriesForUpdate(ctx, id)
		if err != nil {
			return err
		}
		if err := require(ctx, q, p, domain.CategorySeries, domain.ActionDelete, assignedToCaller(p, s.AssigneeID)); err != nil {
			return err
		}
		if err := checkEtag(etag, s.Version, "series"); err != nil {
			return err
		}
		if err := q.DeleteSeries(ctx, id, a.stamp()); err != nil {
			return err
		}
		return emit(ctx, q, p, "series_deleted", &eventsv1.SeriesChanged{Series: seriesName(firmID, id)})
	})
}

// RunSeries creates the projects of the series' due periods that have none yet and
// returns them; running it again creates nothing new.
func (a *App) RunSeries(ctx context.Context, p principal.Principal, firmID, id string) ([]domain.Project, domain.Date, error) {
	var created []domain.Project
	var next domain.Date
	err := a.inFirm(ctx, p, firmID, func(q *store.Queries) error {
		s, err := q.SeriesForUpdate(ctx, id)
		if err != nil {
			return err
		}
		if err := require(ctx, q, p, domain.CategorySeries, domain.ActionUpdate, assignedToCaller(p, s.AssigneeID)); err != nil {
			return err
		}
		tmpl, err := q.Template(ctx, s.TemplateID)
		if err != nil {
			return err
		}
		events := newEventBatch(q, p.Actor())
		if created, err = a.runSeries(ctx, q, events, &s, tmpl, a.Today()); err != nil {
			return err
		}
		next = s.NextRunDate
		return events.write(ctx, q)
	})
	return created, next, err
}

// runSeries creates the due periods of a locked series and records when it next has
// work. A paused series creates nothing and waits to be resumed.
func (a *App) runSeries(ctx context.Context, q *store.Queries, events *eventBatch, s *domain.Series, tmpl domain.Template, today domain.Date) ([]domain.Project, error) {
	var periods []domain.Period
	var next domain.Date
	if !s.Paused {
		// Periods that ended before the series existed are never made, and those
		// before its latest period were made already (or skipped) by earlier runs.
		since := domain.DateOf(s.CreateTime)
		latest, err := q.LatestSeriesPeriod(ctx, s.ID)
		if err != nil {
			return nil, err
		}
		if !latest.IsZero() && latest.AddDays(1).After(since) {
			since = latest.AddDays(1)
		}
		periods, next = s.Recurrence.PeriodsDue(today, since)
	}
	var created []domain.Project
	for _, period := range periods {
		id := newID()
		claimed, err := q.ClaimSeriesPeriod(ctx, s.ID, period.Start, id, a.stamp())
		if err != nil {
			return nil, err
		}
		if !claimed {
			continue
		}
		plan := seriesPlan(*s, period)
		project := domain.Project{
			ClientID: s.ClientID, DisplayName: plan.DisplayName, AssigneeID: plan.AssigneeID, BudgetMinutes: plan.BudgetMinutes,
			StartDate: plan.StartDate, DueDate: plan.DueDate, SeriesID: s.ID, PeriodStart: period.Start,
		}
		if project, err = a.insertProject(ctx, q, events, id, project, &tmpl); err != nil {
			return nil, err
		}
		events.add("series_period_created", &eventsv1.SeriesPeriodCreated{
			Series: seriesName(s.FirmID, s.ID), PeriodStart: period.Start.String(), Project: projectName(s.FirmID, project.ID),
		})
		created = append(created, project)
	}
	if next == s.NextRunDate {
		return created, nil
	}
	s.NextRunDate, s.UpdateTime = next, a.stamp()
	return created, q.SetSeriesNextRun(ctx, s.ID, next, s.UpdateTime)
}

// seriesPlan is how a series' project for a period should look.
func seriesPlan(s domain.Series, period domain.Period) domain.ProjectPlan {
	plan := s.ProjectPlan(period)
	plan.DisplayName = domain.PeriodProjectName(s.DisplayName, s.Recurrence.Frequency, period)
	return plan
}

// RunDueSeries creates, across every firm, the projects of series periods due by
// now. Each series runs in its own firm's transaction; one failing does not stop
// the others, and the errors are returned together.
func (a *App) RunDueSeries(ctx context.Context, now time.Time) error {
	today := domain.DateOf(now)
	const batch = 100
	var errs []error
	seen := map[store.SeriesRef]bool{}
	for {
		refs, err := a.store.DueSeries(ctx, today, batch)
		if err != nil {
			return errors.Join(append(errs, err)...)
		}
		progressed := false
		for _, ref := range refs {
			if seen[ref] {
				continue // failed earlier in this pass, or capped and still due: next tick
			}
			seen[ref], progressed = true, true
			if err := a.runDueSeries(ctx, ref, today); err != nil {
				errs = append(errs, fmt.Errorf("series %s of firm %s: %w", ref.SeriesID, ref.FirmID, err))
			}
		}
		if len(refs) < batch || !progressed {
			return errors.Join(errs...)
		}
	}
}

func (a *App) runDueSeries(ctx context.Context, ref store.SeriesRef, today domain.Date) error {
	return a.store.InFirm(ctx, ref.FirmID, func(q *store.Queries) error {
		s, err := q.SeriesForUpdate(ctx, ref.SeriesID)
		if err != nil {
			return err
		}
		if s.Paused || s.NextRunDate.IsZero() || s.NextRunDate.After(today) {
			return nil // another scheduler ran it first
		}
		tmpl, err := q.Template(ctx, s.TemplateID)
		if err != nil {
			return err
		}
		events := newEventBatch(q, SchedulerActor)
		if _, err := a.runSeries(ctx, q, events, &s, tmpl, today); err != nil {
			return err
		}
		return events.write(ctx, q)
	})
}

// SeriesScheduler is the worker that runs due series every interval (and once at
// start) until ctx ends. Failures are logged and retried on the next tick.
func (a *App) SeriesScheduler(logger *slog.Logger, every time.Duration) func(context.Context) error {
	return func(ctx context.Context) error {
		ticker := time.NewTicker(every)
		defer ticker.Stop()
		for {
			if err := a.RunDueSeries(ctx, a.stamp()); err != nil && ctx.Err() == nil {
				logger.ErrorContext(ctx, "series scheduler run failed", slog.String("error", err.Error()))
			}
			select {
			case <-ctx.Done():
				return nil
			case <-ticker.C:
			}
		}
	}
}

func invalidSeries(field, rule, description string) error {
	return apierr.InvalidArgument("series."+field, rule, description)
}
