package domain_test

import (
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/firmflow/firmflow/pkg/apierr"
	"github.com/firmflow/firmflow/services/lifecycle/internal/domain"
)

var t0 = time.Date(2026, 11, 2, 10, 0, 0, 0, time.UTC)

func firmID(n int) string { return fmt.Sprintf("00000000-0000-4000-8000-%012d", n) }

func declaration(t *testing.T) domain.Declaration {
	t.Helper()
	scope, err := domain.ParseScope("scope", []string{"apiKeys/" + firmID(900)}, []string{"203.0.113.0/24"}, []string{"firms/" + firmID(7)})
	if err != nil {
		t.Fatal(err)
	}
	return domain.Declaration{
		Summary: "leaked key", DiscoveredAt: t0.Add(6 * time.Hour), AwareAt: t0.Add(7 * time.Hour),
		Window: domain.Window{Start: t0, End: t0.Add(4 * time.Hour)}, Scope: scope, Advice: "rotate the listed API keys",
	}
}

// seeded is an audit log with a known answer: every event says whether the attacker
// made it, and the decoys are the near misses: the same addresses and principals just
// outside the window, and other principals from other addresses inside it.
type seeded struct {
	domain.AccessEvent
	attacker bool
}

func seededLog() []seeded {
	in, before, after := t0.Add(time.Hour), t0.Add(-time.Second), t0.Add(4*time.Hour)
	return []seeded{
		{domain.AccessEvent{FirmID: firmID(1), Sequence: 1, Time: in, Actor: "apiKeys/" + firmID(900), ClientIP: "198.51.100.1", Resources: []string{"firms/1/clients/a"}}, true},
		{domain.AccessEvent{FirmID: firmID(2), Sequence: 1, Time: in, Actor: "users/" + firmID(5), ClientIP: "203.0.113.77", Resources: []string{"firms/2/projects/p"}}, true},
		{domain.AccessEvent{FirmID: firmID(2), Sequence: 2, Time: t0, Actor: "users/" + firmID(5), ClientIP: "::ffff:203.0.113.9", Resources: []string{"firms/2"}}, true},
		{domain.AccessEvent{FirmID: firmID(7), Sequence: 3, Time: in, Actor: "users/" + firmID(8), ClientIP: "192.0.2.1", Resources: []string{"firms/7/clients/z"}}, true},
		// decoys
		{domain.AccessEvent{FirmID: firmID(1), Sequence: 2, Time: before, Actor: "apiKeys/" + firmID(900), ClientIP: "203.0.113.5"}, false},
		{domain.AccessEvent{FirmID: firmID(3), Sequence: 1, Time: after, Actor: "users/" + firmID(6), ClientIP: "203.0.113.5"}, false},
		{domain.AccessEvent{FirmID: firmID(3), Sequence: 2, Time: in, Actor: "users/" + firmID(6), ClientIP: "203.0.114.5"}, false},
		{domain.AccessEvent{FirmID: firmID(4), Sequence: 1, Time: in, Actor: "apiKeys/" + firmID(901), ClientIP: "198.51.100.1"}, false},
		{domain.AccessEvent{FirmID: firmID(7), Sequence: 4, Time: after, Actor: "users/" + firmID(8), ClientIP: "192.0.2.1"}, false},
	}
}

func TestImpactPrecisionAndRecallOnSeededLog(t *testing.T) {
	inc := domain.Incident{Declaration: declaration(t), Scope: declaration(t).Scope}
	var events []domain.AccessEvent
	want := map[string]bool{}
	for _, e := range seededLog() {
		events = append(events, e.AccessEvent)
		if e.attacker {
			want[fmt.Sprint(e.FirmID, e.Sequence)] = true
		}
	}
	got := map[string]bool{}
	for _, f := range inc.Impact(events) {
		for _, seq := range f.Events {
			got[fmt.Sprint(f.FirmID, seq)] = true
		}
	}
	truePositives := 0
	for k := range got {
		if want[k] {
			truePositives++
		}
	}
	precision, recall := float64(truePositives)/float64(len(got)), float64(truePositives)/float64(len(want))
	t.Logf("precision %.2f recall %.2f (%d found, %d expected)", precision, recall, len(got), len(want))
	if precision != 1 || recall != 1 {
		t.Fatalf("precision %.2f recall %.2f; found %v, expected %v", precision, recall, got, want)
	}
}

func TestDeclarationRefusesImpossibleTimes(t *testing.T) {
	for name, tc := range map[string]struct {
		change func(*domain.Declaration)
		field  string
	}{
		"aware before discovery":   {func(d *domain.Declaration) { d.AwareAt = d.DiscoveredAt.Add(-time.Minute) }, "aware_time"},
		"window ends before start": {func(d *domain.Declaration) { d.Window.End = d.Window.Start.Add(-time.Minute) }, "attack_window.end_time"},
		"empty scope":              {func(d *domain.Declaration) { d.Scope = domain.Scope{} }, "scope"},
	} {
		t.Run(name, func(t *testing.T) {
			d := declaration(t)
			tc.change(&d)
			var apiErr *apierr.Error
			if err := d.Validate(t0.Add(24 * time.Hour)); !errors.As(err, &apiErr) || apiErr.Violations[0].Field != tc.field {
				t.Fatalf("Validate = %v, want a violation of %s", err, tc.field)
			}
		})
	}
	if err := declaration(t).Validate(t0.Add(24 * time.Hour)); err != nil {
		t.Fatal(err)
	}
}

func TestParseScopeNamesTheBadField(t *testing.T) {
	for _, tc := range []struct {
		principals, networks, firms []string
		field                       string
	}{
		{principals: []string{"sessions/x"}, field: "scope.principals"},
		{networks: []string{"300.1.1.1/8"}, field: "scope.networks"},
		{firms: []string{"firm/1"}, field: "scope.firms"},
	} {
		var apiErr *apierr.Error
		if _, err := domain.ParseScope("scope", tc.principals, tc.networks, tc.firms); !errors.As(err, &apiErr) || apiErr.Violations[0].Field != tc.field {
			t.Errorf("ParseScope = %v, want a violation of %s", err, tc.field)
		}
	}
}

func TestOverdueOnlyAfterDeadlineAndOnlyUntold(t *testing.T) {
	inc := domain.Incident{Declaration: declaration(t), Notified: []string{firmID(1)}}
	impacted := []string{firmID(1), firmID(2)}
	if got := inc.Overdue(impacted, inc.Deadline().Add(-time.Second)); len(got) != 0 {
		t.Fatalf("overdue before the deadline: %v", got)
	}
	if got := inc.Overdue(impacted, inc.Deadline()); len(got) != 1 || got[0] != firmID(2) {
		t.Fatalf("overdue at the deadline = %v, want only the untold firm", got)
	}
}

func TestClosedIncidentTakesNoEntry(t *testing.T) {
	d := declaration(t)
	inc, err := domain.Fold([]domain.Entry{
		{IncidentID: "i", Seq: 1, Kind: domain.EntryDeclared, Declaration: &d},
		{IncidentID: "i", Seq: 2, Kind: domain.EntryClosed},
	})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := inc.Next(domain.EntryScopeWidened, "operator", t0); err == nil {
		t.Fatal("a closed incident took an entry")
	}
}
