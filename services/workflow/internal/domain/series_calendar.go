package domain

import (
	"fmt"
	"time"

	"github.com/firmflow/firmflow/pkg/apierr"
)

// Date is a calendar day without a time zone: due dates, start dates, period bounds.
// Deadlines are days in the firm's calendar, not instants, so they never shift with
// the reader's zone. The zero Date means "not set".
type Date struct {
	t time.Time // midnight UTC; zero when unset
}

// NewDate returns the day; out-of-range values normalise as time.Date does
// (January 32 is February 1).
func NewDate(year int, month time.Month, day int) Date {
	return Date{t: time.Date(year, month, day, 0, 0, 0, 0, time.UTC)}
}

// DateOf is the day t falls on in UTC.
func DateOf(t time.Time) Date {
	if t.IsZero() {
		return Date{}
	}
	y, m, d := t.UTC().Date()
	return NewDate(y, m, d)
}

// ParseDate reads "YYYY-MM-DD"; "" is the zero Date. field names the request field
// for the error.
func ParseDate(field, s string) (Date, error) {
	if s == "" {
		return Date{}, nil
	}
	t, err := time.Parse(time.DateOnly, s)
	if err != nil || t.Year() < 1900 || t.Year() > 2999 {
		return Date{}, apierr.InvalidArgument(field, "date", "must be a date YYYY-MM-DD between 1900 and 2999")
	}
	return Date{t: t}, nil
}

// String is "YYYY-MM-DD", or "" for the zero Date.
func (d Date) String() string {
	if d.t.IsZero() {
		return ""
	}
	return d.t.Format(time.DateOnly)
}

// IsZero reports whether the date is unset.
func (d Date) IsZero() bool { return d.t.IsZero() }

// Time is midnight UTC of the day, the zero time for the zero Date.
func (d Date) Time() time.Time { return d.t }

// AddDays moves the day by n days.
func (d Date) AddDays(n int) Date { return Date{t: d.t.AddDate(0, 0, n)} }

// AddMonths moves by n months keeping the day of month where that month has it and
// otherwise taking its last day (January 31 + 1 month is February 28 or 29), unlike
// time.AddDate, which would overflow into March.
func (d Date) AddMonths(n int) Date {
	y, m, day := d.t.Date()
	first := time.Date(y, m+time.Month(n), 1, 0, 0, 0, 0, time.UTC)
	return NewDate(first.Year(), first.Month(), min(day, DaysIn(first.Year(), first.Month())))
}

// FirstOfMonth is the first day of d's month.
func (d Date) FirstOfMonth() Date {
	y, m, _ := d.t.Date()
	return NewDate(y, m, 1)
}

// Weekday is the day of the week.
func (d Date) Weekday() time.Weekday { return d.t.Weekday() }

// Before reports whether d is earlier than o.
func (d Date) Before(o Date) bool { return d.t.Before(o.t) }

// After reports whether d is later than o.
func (d Date) After(o Date) bool { return d.t.After(o.t) }

// DaysUntil is the number of days from d to o (negative when o is earlier).
func (d Date) DaysUntil(o Date) int { return int(o.t.Sub(d.t).Hours() / 24) }

// DaysIn is the number of days in the month.
func DaysIn(year int, month time.Month) int {
	return time.Date(year, month+1, 0, 0, 0, 0, 0, time.UTC).Day()
}

// WeekOf is the Monday-to-Sunday week containing d, the week workload counts in.
func WeekOf(d Date) (monday, sunday Date) {
	back := (int(d.Weekday()) + 6) % 7 // days since Monday
	monday = d.AddDays(-back)
	return monday, monday.AddDays(6)
}

// MustDate parses a date known to be valid (tests, constants).
func MustDate(s string) Date {
	d, err := ParseDate("date", s)
	if err != nil {
		panic(fmt.Sprintf("MustDate(%q): %v", s, err))
	}
	return d
}
