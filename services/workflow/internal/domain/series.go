package domain

import (
	"time"
	"unicode/utf8"

	"github.com/firmflow/firmflow/pkg/apierr"
)

// Frequency is the unit a series repeats in.
type Frequency string

const (
	Weekly    Frequency = "weekly"
	Monthly   Frequency = "monthly"
	Quarterly Frequency = "quarterly"
	Annually  Frequency = "annually"
)

// DueRuleKind says how a period's due date is found.
type DueRuleKind string

const (
	// DueDayOfPeriod is the Nth day of the period (1 = its first day), or its last
	// day when the period is shorter: day 31 of February is February 28 or 29.
	DueDayOfPeriod DueRuleKind = "day_of_period"
	// DueLastDay is the period's last day.
	DueLastDay DueRuleKind = "last_day"
	// DueNthWeekday is the Nth given weekday of the period (the 2nd Tuesday), or with
	// Nth = -1 its last one; a 5th weekday the period lacks becomes its last one.
	DueNthWeekday DueRuleKind = "nth_weekday"
)

// WeekendShift moves a due date that falls on a Saturday or Sunday.
type WeekendShift string

const (
	ShiftNone            WeekendShift = "none"             // also the zero value ""
	ShiftPreviousWeekday WeekendShift = "previous_weekday" // to the Friday before
	ShiftNextWeekday     WeekendShift = "next_weekday"     // to the Monday after
)

// DueRule finds a period's due date: the rule inside the period, then LagDays later
// (so "last day + 15" is the 15th of the month after a quarter), then the weekend shift.
type DueRule struct {
	Kind    DueRuleKind
	Day     int          // DueDayOfPeriod: 1..366
	Nth     int          // DueNthWeekday: 1..5, or -1 for the last
	Weekday time.Weekday // DueNthWeekday
	LagDays int          // 0..366
	Shift   WeekendShift
}

// Limits on a recurrence, so a run stays small and dates stay meaningful.
const (
	MaxInterval        = 52
	MaxCreateAheadDays = 366
	MaxLagDays         = 366
	// MaxPeriodsPerRun bounds one run: a weekly series a year ahead needs 53.
	MaxPeriodsPerRun = 60
)

// Recurrence is when a series' periods fall and when each is due. Weekly periods
// are 7×Interval days from Start; the others are calendar-aligned blocks of
// 1, 3 or 12 × Interval months from the first of Start's month.
type Recurrence struct {
	Frequency Frequency
	Interval  int  // every N units, 1..MaxInterval
	Start     Date // the first period begins here (month-based: its month)
	End       Date // optional: no period begins after it
	Due       DueRule
	// CreateAheadDays is how long before a period begins its project is created.
	CreateAheadDays int
}

// Period is one occurrence of a series: the days it covers (both inclusive) and
// when its project is due.
type Period struct {
	Start, End, Due Date
}

// Validate refuses a recurrence that cannot produce sensible periods.
func (r Recurrence) Validate() error {
	switch r.Frequency {
	case Weekly, Monthly, Quarterly, Annually:
	default:
		return apierr.InvalidArgument("series.frequency", "enum", "must be weekly, monthly, quarterly or annually")
	}
	if r.Interval < 1 || r.Interval > MaxInterval {
		return apierr.InvalidArgument("series.interval", "range", "must be between 1 and 52")
	}
	if r.Start.IsZero() {
		return apierr.InvalidArgument("series.start_date", "required", "must be set")
	}
	if !r.End.IsZero() && r.End.Before(r.Start) {
		return apierr.InvalidArgument("series.end_date", "after_start", "must not be before start_date")
	}
	if r.CreateAheadDays < 0 || r.CreateAheadDays > MaxCreateAheadDays {
		return apierr.InvalidArgument("series.create_ahead_days", "range", "must be between 0 and 366")
	}
	return r.Due.validate()
}

func (d DueRule) validate() error {
	switch d.Kind {
	case DueDayOfPeriod:
		if d.Day < 1 || d.Day > 366 {
			return apierr.InvalidArgument("series.due_rule.day", "range", "must be between 1 and 366")
		}
	case DueLastDay:
	case DueNthWeekday:
		if d.Nth != -1 && (d.Nth < 1 || d.Nth > 5) {
			return apierr.InvalidArgument("series.due_rule.nth", "range", "must be 1 to 5, or -1 for the last")
		}
		if d.Weekday < time.Sunday || d.Weekday > time.Saturday {
			return apierr.InvalidArgument("series.due_rule.weekday", "enum", "must be a day of the week")
		}
	default:
		return apierr.InvalidArgument("series.due_rule.kind", "enum", "must be day_of_period, last_day or nth_weekday")
	}
	if d.LagDays < 0 || d.LagDays > MaxLagDays {
		return apierr.InvalidArgument("series.due_rule.lag_days", "range", "must be between 0 and 366")
	}
	switch d.Shift {
	case "", ShiftNone, ShiftPreviousWeekday, ShiftNextWeekday:
		return nil
	}
	return apierr.InvalidArgument("series.weekend_shift", "enum", "must be none, previous_weekday or next_weekday")
}

// months is the length of one unit in months; 0 for weekly.
func (r Recurrence) months() int {
	switch r.Frequency {
	case Monthly:
		return 1
	case Quarterly:
		return 3
	case Annually:
		return 12
	}
	return 0
}

// periodStart is where period k (0 = the first) begins.
func (r Recurrence) periodStart(k int) Date {
	if m := r.months(); m > 0 {
		return r.Start.FirstOfMonth().AddMonths(k * r.Interval * m)
	}
	return r.Start.AddDays(7 * r.Interval * k)
}

// PeriodStarting is the period that begins on start under this rule, e.g. to
// recompute the due date of an existing project after the series changed.
func (r Recurrence) PeriodStarting(start Date) Period {
	var next Date
	if m := r.months(); m > 0 {
		next = start.AddMonths(r.Interval * m)
	} else {
		next = start.AddDays(7 * r.Interval)
	}
	p := Period{Start: start, End: next.AddDays(-1)}
	p.Due = r.Due.dueIn(p)
	return p
}

// Period is period k (0 = the first).
func (r Recurrence) Period(k int) Period { return r.PeriodStarting(r.periodStart(k)) }

// dueIn applies the rule to a period.
func (d DueRule) dueIn(p Period) Date {
	var due Date
	switch d.Kind {
	case DueLastDay:
		due = p.End
	case DueNthWeekday:
		due = nthWeekday(p, d.Nth, d.Weekday)
	default:
		due = p.Start.AddDays(d.Day - 1)
		if due.After(p.End) {
			due = p.End
		}
	}
	return shiftWeekend(due.AddDays(d.LagDays), d.Shift)
}

func nthWeekday(p Period, n int, wd time.Weekday) Date {
	last := p.End.AddDays(-((int(p.End.Weekday()) - int(wd) + 7) % 7))
	if n < 1 {
		return last
	}
	first := p.Start.AddDays((int(wd) - int(p.Start.Weekday()) + 7) % 7)
	if nth := first.AddDays(7 * (n - 1)); !nth.After(p.End) {
		return nth
	}
	return last
}

func shiftWeekend(d Date, s WeekendShift) Date {
	switch {
	case s == ShiftPreviousWeekday && d.Weekday() == time.Saturday:
		return d.AddDays(-1)
	case s == ShiftPreviousWeekday && d.Weekday() == time.Sunday:
		return d.AddDays(-2)
	case s == ShiftNextWeekday && d.Weekday() == time.Saturday:
		return d.AddDays(2)
	case s == ShiftNextWeekday && d.Weekday() == time.Sunday:
		return d.AddDays(1)
	}
	return d
}

// createDate is the day period p's project is created.
func (r Recurrence) createDate(p Period) Date { return p.Start.AddDays(-r.CreateAheadDays) }

// PeriodsDue lists the periods whose projects should exist on today: created ahead by
// CreateAheadDays, not beginning after End, and not over before since (the day the
// series was made: a series never backfills periods that ended before it existed).
// next is the day the following period becomes due, zero when the series has ended.
// Callers create each period at most once (the store keys them by period start), so
// listing a period again is harmless.
func (r Recurrence) PeriodsDue(today, since Date) (periods []Period, next Date) {
	for k := 0; ; k++ {
		p := r.Period(k)
		if !r.End.IsZero() && p.Start.After(r.End) {
			return periods, Date{}
		}
		if r.createDate(p).After(today) {
			return periods, r.createDate(p)
		}
		if p.End.Before(since) {
			continue
		}
		if len(periods) == MaxPeriodsPerRun {
			return periods, today // the rest on the next run
		}
		periods = append(periods, p)
	}
}

// Series is a recurrence that creates a project from a template for a client in
// each period.
type Series struct {
	ID            string
	FirmID        string
	ClientID      string
	TemplateID    string
	DisplayName   string
	AssigneeID    string
	BudgetMinutes int
	Recurrence    Recurrence
	Paused        bool
	// NextRunDate is when the scheduler next has a period to create; zero when none.
	NextRunDate Date
	Version     int64
	CreateTime  time.Time
	UpdateTime  time.Time
	DeleteTime  time.Time // set on tombstones only
}

// ProjectPlan is what a series' period project should look like; applied when the
// period is created and again to not-started projects when the series changes.
func (s Series) ProjectPlan(p Period) ProjectPlan {
	return ProjectPlan{
		DisplayName: s.DisplayName, AssigneeID: s.AssigneeID, BudgetMinutes: s.BudgetMinutes,
		StartDate: p.Start, DueDate: p.Due,
	}
}

// Label names the period for people: "March 2026", "Jan–Mar 2026", "2026",
// "Nov 2025–Jan 2026" or "week of 2026-03-02".
func (p Period) Label(f Frequency) string {
	start, end := p.Start.Time(), p.End.Time()
	switch {
	case f == Weekly:
		return "week of " + p.Start.String()
	case start.Year() == end.Year() && start.Month() == end.Month():
		return start.Format("January 2006")
	case start.Year() == end.Year() && start.Month() == time.January && end.Month() == time.December:
		return start.Format("2006")
	case start.Year() == end.Year():
		return start.Format("Jan") + "–" + end.Format("Jan 2006")
	}
	return start.Format("Jan 2006") + "–" + end.Format("Jan 2006")
}

// PeriodProjectName names a series' project after the series and its period, e.g.
// "Monthly bookkeeping — March 2026"; a long series name is shortened so the whole
// fits the 200 characters a project name may have.
func PeriodProjectName(series string, f Frequency, p Period) string {
	const sep = " — "
	label := p.Label(f)
	room := 200 - utf8.RuneCountInString(label) - utf8.RuneCountInString(sep)
	if r := []rune(series); len(r) > room {
		series = string(r[:room])
	}
	return series + sep + label
}
