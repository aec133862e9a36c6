package domain

import (
	"strings"
	"testing"
	"time"
	"unicode/utf8"
)

func TestSeriesDueDatesAcrossMonthEndsLeapYearsAndWeekends(t *testing.T) {
	cases := []struct {
		name string
		r    Recurrence
		// due dates of the first periods, in order
		want []string
	}{
		{
			name: "day 31 of every month is the month's last day, Feb 29 in a leap year",
			r:    Recurrence{Frequency: Monthly, Interval: 1, Start: MustDate("2024-01-01"), Due: DueRule{Kind: DueDayOfPeriod, Day: 31}},
			want: []string{"2024-01-31", "2024-02-29", "2024-03-31", "2024-04-30"},
		},
		{
			name: "last day of February in common and leap years",
			r:    Recurrence{Frequency: Annually, Interval: 1, Start: MustDate("2023-02-01"), Due: DueRule{Kind: DueDayOfPeriod, Day: 28}},
			want: []string{"2023-02-28", "2024-02-28", "2025-02-28"},
		},
		{
			name: "day 60 of the year is Feb 29 in a leap year and Mar 1 otherwise",
			r:    Recurrence{Frequency: Annually, Interval: 1, Start: MustDate("2024-01-01"), Due: DueRule{Kind: DueDayOfPeriod, Day: 60}},
			want: []string{"2024-02-29", "2025-03-01", "2026-03-01", "2027-03-01", "2028-02-29"},
		},
		{
			name: "15th falling on a Sunday moves to Monday",
			r: Recurrence{Frequency: Monthly, Interval: 1, Start: MustDate("2026-02-01"),
				Due: DueRule{Kind: DueDayOfPeriod, Day: 15, Shift: ShiftNextWeekday}},
			want: []string{"2026-02-16", "2026-03-16", "2026-04-15"},
		},
		{
			name: "last day on a weekend moves to the Friday before",
			r: Recurrence{Frequency: Monthly, Interval: 1, Start: MustDate("2026-01-10"),
				Due: DueRule{Kind: DueLastDay, Shift: ShiftPreviousWeekday}},
			want: []string{"2026-01-30", "2026-02-27", "2026-03-31", "2026-04-30", "2026-05-29"},
		},
		{
			name: "quarterly: 15th of the month after the quarter, across the year end",
			r: Recurrence{Frequency: Quarterly, Interval: 1, Start: MustDate("2026-01-01"),
				Due: DueRule{Kind: DueLastDay, LagDays: 15, Shift: ShiftNextWeekday}},
			want: []string{"2026-04-15", "2026-07-15", "2026-10-15", "2027-01-15"},
		},
		{
			name: "fifth Monday of a month that has four is its last",
			r: Recurrence{Frequency: Monthly, Interval: 1, Start: MustDate("2026-02-01"),
				Due: DueRule{Kind: DueNthWeekday, Nth: 5, Weekday: time.Monday}},
			want: []string{"2026-02-23", "2026-03-30"},
		},
		{
			name: "last Friday of the month",
			r: Recurrence{Frequency: Monthly, Interval: 1, Start: MustDate("2026-02-01"),
				Due: DueRule{Kind: DueNthWeekday, Nth: -1, Weekday: time.Friday}},
			want: []string{"2026-02-27", "2026-03-27", "2026-04-24"},
		},
		{
			name: "every two weeks, the first Friday of each fortnight",
			r: Recurrence{Frequency: Weekly, Interval: 2, Start: MustDate("2026-01-05"),
				Due: DueRule{Kind: DueNthWeekday, Nth: 1, Weekday: time.Friday}},
			want: []string{"2026-01-09", "2026-01-23", "2026-02-06"},
		},
		{
			name: "every third month, the second Tuesday",
			r: Recurrence{Frequency: Monthly, Interval: 3, Start: MustDate("2026-11-20"),
				Due: DueRule{Kind: DueNthWeekday, Nth: 2, Weekday: time.Tuesday}},
			want: []string{"2026-11-10", "2027-02-09", "2027-05-11"},
		},
		{
			name: "day 45 of a two-month period counts from its first day",
			r:    Recurrence{Frequency: Monthly, Interval: 2, Start: MustDate("2026-01-01"), Due: DueRule{Kind: DueDayOfPeriod, Day: 45}},
			want: []string{"2026-02-14", "2026-04-14"},
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if err := tc.r.Validate(); err != nil {
				t.Fatalf("Validate: %v", err)
			}
			for k, want := range tc.want {
				if got := tc.r.Period(k).Due.String(); got != want {
					t.Errorf("period %d (%s) due %s, want %s", k, tc.r.Period(k).Start, got, want)
				}
			}
		})
	}
}

func TestSeriesPeriodsTileTheCalendar(t *testing.T) {
	cases := []struct {
		r          Recurrence
		start, end []string
	}{
		{Recurrence{Frequency: Monthly, Interval: 1, Start: MustDate("2024-01-31")},
			[]string{"2024-01-01", "2024-02-01", "2024-03-01"}, []string{"2024-01-31", "2024-02-29", "2024-03-31"}},
		{Recurrence{Frequency: Quarterly, Interval: 1, Start: MustDate("2025-11-15")},
			[]string{"2025-11-01", "2026-02-01"}, []string{"2026-01-31", "2026-04-30"}},
		{Recurrence{Frequency: Annually, Interval: 2, Start: MustDate("2024-03-01")},
			[]string{"2024-03-01", "2026-03-01"}, []string{"2026-02-28", "2028-02-29"}},
		{Recurrence{Frequency: Weekly, Interval: 1, Start: MustDate("2026-12-28")},
			[]string{"2026-12-28", "2027-01-04"}, []string{"2027-01-03", "2027-01-10"}},
	}
	for _, tc := range cases {
		for k := range tc.start {
			p := tc.r.Period(k)
			if p.Start.String() != tc.start[k] || p.End.String() != tc.end[k] {
				t.Errorf("%s every %d from %s: period %d = %s..%s, want %s..%s",
					tc.r.Frequency, tc.r.Interval, tc.r.Start, k, p.Start, p.End, tc.start[k], tc.end[k])
			}
		}
	}
}

func TestSeriesCreatesPeriodsAheadWithoutBackfill(t *testing.T) {
	monthly := Recurrence{Frequency: Monthly, Interval: 1, Start: MustDate("2026-01-01"),
		Due: DueRule{Kind: DueLastDay}, CreateAheadDays: 10}
	cases := []struct {
		name     string
		r        Recurrence
		today    string
		since    string
		want     []string // period starts
		wantNext string
	}{
		{"the current month and none ahead yet", monthly, "2026-03-10", "2026-01-01",
			[]string{"2026-01-01", "2026-02-01", "2026-03-01"}, "2026-03-22"},
		{"next month once inside the create-ahead window", monthly, "2026-03-22", "2026-01-01",
			[]string{"2026-01-01", "2026-02-01", "2026-03-01", "2026-04-01"}, "2026-04-21"},
		{"no periods that ended before the series existed", monthly, "2026-03-10", "2026-03-05",
			[]string{"2026-03-01"}, "2026-03-22"},
		{"nothing before the first window", monthly, "2025-12-21", "2025-12-01", nil, "2025-12-22"},
		{"no period after the end date, and no next run", withEnd(monthly, "2026-02-15"), "2026-06-01", "2026-01-01",
			[]string{"2026-01-01", "2026-02-01"}, ""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			periods, next := tc.r.PeriodsDue(MustDate(tc.today), MustDate(tc.since))
			var got []string
			for _, p := range periods {
				got = append(got, p.Start.String())
			}
			if len(got) != len(tc.want) {
				t.Fatalf("periods %v, want %v", got, tc.want)
			}
			for i := range got {
				if got[i] != tc.want[i] {
					t.Fatalf("periods %v, want %v", got, tc.want)
				}
			}
			if next.String() != tc.wantNext {
				t.Errorf("next run %q, want %q", next, tc.wantNext)
			}
		})
	}
}

func TestSeriesRunIsBounded(t *testing.T) {
	r := Recurrence{Frequency: Weekly, Interval: 1, Start: MustDate("2026-01-05"), Due: DueRule{Kind: DueLastDay}, CreateAheadDays: 366}
	periods, next := r.PeriodsDue(MustDate("2026-06-01"), MustDate("2026-01-01"))
	if len(periods) != MaxPeriodsPerRun || next.IsZero() {
		t.Errorf("one run created %d periods (next %s), want %d and a next run", len(periods), next, MaxPeriodsPerRun)
	}
}

func TestSeriesRefusesNonsense(t *testing.T) {
	ok := Recurrence{Frequency: Monthly, Interval: 1, Start: MustDate("2026-01-01"), Due: DueRule{Kind: DueLastDay, Shift: ShiftNone}}
	cases := map[string]func(*Recurrence){
		"unknown frequency": func(r *Recurrence) { r.Frequency = "daily" },
		"interval zero":     func(r *Recurrence) { r.Interval = 0 },
		"interval too big":  func(r *Recurrence) { r.Interval = 53 },
		"no start":          func(r *Recurrence) { r.Start = Date{} },
		"end before start":  func(r *Recurrence) { r.End = MustDate("2025-12-31") },
		"ahead too far":     func(r *Recurrence) { r.CreateAheadDays = 400 },
		"day zero":          func(r *Recurrence) { r.Due = DueRule{Kind: DueDayOfPeriod, Day: 0} },
		"sixth weekday":     func(r *Recurrence) { r.Due = DueRule{Kind: DueNthWeekday, Nth: 6, Weekday: time.Monday} },
		"negative lag":      func(r *Recurrence) { r.Due.LagDays = -1 },
		"unknown shift":     func(r *Recurrence) { r.Due.Shift = "sideways" },
		"unknown rule":      func(r *Recurrence) { r.Due.Kind = "whenever" },
	}
	if err := ok.Validate(); err != nil {
		t.Fatalf("valid recurrence refused: %v", err)
	}
	for name, spoil := range cases {
		r := ok
		spoil(&r)
		if r.Validate() == nil {
			t.Errorf("%s: accepted", name)
		}
	}
}

func TestDatesAddMonthsClampToMonthEnd(t *testing.T) {
	cases := []struct{ from, want string }{
		{"2026-01-31", "2026-02-28"},
		{"2024-01-31", "2024-02-29"},
		{"2024-02-29", "2024-03-29"},
		{"2026-12-15", "2027-01-15"},
	}
	for _, tc := range cases {
		if got := MustDate(tc.from).AddMonths(1).String(); got != tc.want {
			t.Errorf("%s + 1 month = %s, want %s", tc.from, got, tc.want)
		}
	}
	if got := MustDate("2024-02-29").AddMonths(12).String(); got != "2025-02-28" {
		t.Errorf("Feb 29 + 12 months = %s", got)
	}
	for _, bad := range []string{"2026-02-30", "26-1-1", "2026-13-01", "0001-01-01", "2026-01-01T00:00:00Z"} {
		if _, err := ParseDate("d", bad); err == nil {
			t.Errorf("ParseDate(%q) accepted", bad)
		}
	}
}

func TestWeekOfStartsOnMonday(t *testing.T) {
	for day, want := range map[string]string{
		"2026-03-02": "2026-03-02", // Monday
		"2026-03-08": "2026-03-02", // Sunday
		"2027-01-01": "2026-12-28", // Friday across the year end
	} {
		mon, sun := WeekOf(MustDate(day))
		if mon.String() != want || mon.DaysUntil(sun) != 6 {
			t.Errorf("week of %s = %s..%s, want from %s", day, mon, sun, want)
		}
	}
}

func withEnd(r Recurrence, end string) Recurrence {
	r.End = MustDate(end)
	return r
}

func TestSeriesProjectsAreNamedAfterTheirPeriod(t *testing.T) {
	cases := []struct {
		r    Recurrence
		want string
	}{
		{Recurrence{Frequency: Monthly, Interval: 1, Start: MustDate("2026-03-01")}, "Close — March 2026"},
		{Recurrence{Frequency: Quarterly, Interval: 1, Start: MustDate("2026-01-01")}, "Close — Jan–Mar 2026"},
		{Recurrence{Frequency: Quarterly, Interval: 1, Start: MustDate("2025-11-01")}, "Close — Nov 2025–Jan 2026"},
		{Recurrence{Frequency: Annually, Interval: 1, Start: MustDate("2026-01-01")}, "Close — 2026"},
		{Recurrence{Frequency: Weekly, Interval: 1, Start: MustDate("2026-03-02")}, "Close — week of 2026-03-02"},
	}
	for _, tc := range cases {
		if got := PeriodProjectName("Close", tc.r.Frequency, tc.r.Period(0)); got != tc.want {
			t.Errorf("%s: %q, want %q", tc.r.Frequency, got, tc.want)
		}
	}
	long := PeriodProjectName(strings.Repeat("é", 200), Monthly, Recurrence{Frequency: Monthly, Interval: 1, Start: MustDate("2026-03-01")}.Period(0))
	if n := utf8.RuneCountInString(long); n != 200 || !strings.HasSuffix(long, "March 2026") {
		t.Errorf("long name has %d characters: %q", n, long)
	}
}
