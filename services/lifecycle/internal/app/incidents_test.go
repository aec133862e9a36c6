package app_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/firmflow/firmflow/pkg/apierr"
	"github.com/firmflow/firmflow/pkg/pg/pgtest"
	"github.com/firmflow/firmflow/pkg/principal"
	"github.com/firmflow/firmflow/pkg/telemetry"
	"github.com/firmflow/firmflow/services/lifecycle/internal/app"
	"github.com/firmflow/firmflow/services/lifecycle/internal/domain"
	"github.com/firmflow/firmflow/services/lifecycle/internal/store"
	"github.com/firmflow/firmflow/services/lifecycle/migrations"
)

// accessLog is the audit log's cross-firm query over a seeded list of events: it
// answers what the audit RPC answers, every event in the window that matches the
// scope's actors, networks or firms, and leaves the exact match to the domain.
type accessLog struct{ events []domain.AccessEvent }

func (l *accessLog) AccessEvents(_ context.Context, w domain.Window, _ domain.Scope) ([]domain.AccessEvent, error) {
	var out []domain.AccessEvent
	for _, e := range l.events {
		if w.Contains(e.Time) {
			out = append(out, e)
		}
	}
	return out, nil
}

func (l *accessLog) UnknownActors(_ context.Context, actors []string) ([]string, error) {
	var unknown []string
	for _, a := range actors {
		if !slices.ContainsFunc(l.events, func(e domain.AccessEvent) bool { return e.Actor == a }) {
			unknown = append(unknown, a)
		}
	}
	return unknown, nil
}

// notifications is identity's notification list: one per firm and incident.
type notifications struct {
	mu        sync.Mutex
	texts     map[string]string // firm/incident -> text
	down      bool
	noMail    bool // identity has no mail server and queues no email
	contained []string
}

func (n *notifications) PostIncidentNotification(_ context.Context, firmID, incidentID, text string) (bool, error) {
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.down {
		return false, apierr.Unavailable("IDENTITY_UNAVAILABLE", "identity is away")
	}
	if _, ok := n.texts[firmID+"/"+incidentID]; !ok {
		n.texts[firmID+"/"+incidentID] = text
	}
	return !n.noMail, nil
}

func (n *notifications) ContainIncident(_ context.Context, _ string, apiKeys, members []string) (int, int, error) {
	n.mu.Lock()
	defer n.mu.Unlock()
	n.contained = append(n.contained, apiKeys...)
	n.contained = append(n.contained, members...)
	return len(apiKeys), len(members), nil
}

type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}
func (s *syncBuffer) String() string { s.mu.Lock(); defer s.mu.Unlock(); return s.b.String() }

var incidentStart = time.Date(2026, 11, 2, 10, 0, 0, 0, time.UTC)

func id(n int) string { return fmt.Sprintf("00000000-0000-4000-8000-%012d", n) }

type incidentHarness struct {
	incidents *app.Incidents
	store     *store.Store
	notes     *notifications
	logs      *syncBuffer
	now       time.Time
}

func newIncidents(t *testing.T) *incidentHarness {
	t.Helper()
	db := pgtest.New(t, "lifecycle", migrations.FS).Open(t)
	in, at := incidentStart.Add(time.Hour), incidentStart.Add(-time.Hour)
	log := &accessLog{events: []domain.AccessEvent{
		{FirmID: id(1), Sequence: 10, Time: in, Actor: "apiKeys/" + id(900), ClientIP: "198.51.100.1", Resources: []string{"firms/" + id(1) + "/clients/" + id(11)}},
		{FirmID: id(2), Sequence: 20, Time: in, Actor: "users/" + id(5), ClientIP: "203.0.113.77", Resources: []string{"firms/" + id(2) + "/projects/" + id(21)}},
		// decoys: the key before the window, another principal from another address
		{FirmID: id(3), Sequence: 30, Time: at, Actor: "apiKeys/" + id(900), ClientIP: "203.0.113.77", Resources: []string{"firms/" + id(3)}},
		{FirmID: id(4), Sequence: 40, Time: in, Actor: "users/" + id(6), ClientIP: "192.0.2.1", Resources: []string{"firms/" + id(4)}},
	}}
	h := &incidentHarness{store: store.New(db), notes: &notifications{texts: map[string]string{}}, logs: &syncBuffer{}, now: incidentStart.Add(8 * time.Hour)}
	h.incidents = app.NewIncidents(h.store, log, h.notes, slog.New(slog.NewTextHandler(h.logs, nil)))
	h.incidents.UseClock(func() time.Time { return h.now })
	return h
}

func (h *incidentHarness) declaration(t *testing.T, principals, networks []string) domain.Declaration {
	t.Helper()
	scope, err := domain.ParseScope("scope", principals, networks, nil)
	if err != nil {
		t.Fatal(err)
	}
	return domain.Declaration{
		Summary: "an API key was published in a public repository", DiscoveredAt: incidentStart.Add(6 * time.Hour),
		AwareAt: incidentStart.Add(7 * time.Hour), Window: domain.Window{Start: incidentStart, End: incidentStart.Add(4 * time.Hour)},
		Scope: scope, Advice: "rotate the listed API keys",
	}
}

func TestIncidentNoticesReachExactlyTheImpactedFirms(t *testing.T) {
	h := newIncidents(t)
	ctx := context.Background()
	inc, err := h.incidents.Declare(ctx, "operator", h.declaration(t, []string{"apiKeys/" + id(900)}, nil))
	if err != nil {
		t.Fatal(err)
	}
	h.notes.down = true
	if _, _, err := h.incidents.Notify(ctx, "operator", inc.ID); !isCode(err, "IDENTITY_UNAVAILABLE") {
		t.Fatalf("notify with identity away: %v", err)
	}
	if got, _ := h.incidents.Incident(ctx, inc.ID); len(got.Entries) != 1 || len(got.Notified) != 0 {
		t.Fatalf("a failed notice changed the record: %+v", got.Entries)
	}
	h.notes.down = false
	_, told, err := h.incidents.Notify(ctx, "operator", inc.ID)
	if err != nil {
		t.Fatal(err)
	}
	if len(told) != 1 || told[0].FirmID != id(1) || !strings.Contains(h.notes.texts[id(1)+"/"+inc.ID], "clients/"+id(11)) {
		t.Fatalf("told %+v (notifications %v), want firm 1 only", told, h.notes.texts)
	}
	// Widening to the attacker's network adds firm 2; notifying again tells only it.
	// By then identity has no mail server: firm 2's notice says its email was not sent.
	h.notes.noMail = true
	more, _ := domain.ParseScope("scope", nil, []string{"203.0.113.0/24"}, nil)
	if _, err := h.incidents.Widen(ctx, "operator", inc.ID, more); err != nil {
		t.Fatal(err)
	}
	inc, told, err = h.incidents.Notify(ctx, "operator", inc.ID)
	if err != nil {
		t.Fatal(err)
	}
	if len(told) != 1 || told[0].FirmID != id(2) {
		t.Fatalf("second notice told %+v, want firm 2 only", told)
	}
	kinds := []domain.EntryKind{}
	for _, e := range inc.Entries {
		kinds = append(kinds, e.Kind)
	}
	want := []domain.EntryKind{domain.EntryDeclared, domain.EntryNoticesSent, domain.EntryScopeWidened, domain.EntryNoticesSent}
	if !slices.Equal(kinds, want) {
		t.Fatalf("record %v, want %v", kinds, want)
	}

	notices, err := h.incidents.FirmNotices(ctx, owner(id(1)), id(1))
	if err != nil {
		t.Fatal(err)
	}
	if len(notices) != 1 || !strings.Contains(notices[0].Text, "clients/"+id(11)) || !strings.Contains(notices[0].Text, "rotate the listed API keys") ||
		notices[0].EmailState != app.EmailQueued {
		t.Fatalf("firm 1 notices %+v", notices)
	}
	if notices, err := h.incidents.FirmNotices(ctx, owner(id(2)), id(2)); err != nil || len(notices) != 1 || notices[0].EmailState != app.EmailNotConfigured {
		t.Fatalf("firm 2 notices %+v, %v", notices, err)
	}
	if decoy, _ := h.incidents.FirmNotices(ctx, owner(id(3)), id(3)); len(decoy) != 0 {
		t.Fatalf("a decoy firm was notified: %+v", decoy)
	}
	// Containment revokes the leaked key where it acted, not the decoy principals.
	inc, contained, err := h.incidents.Contain(ctx, "operator", inc.ID)
	if err != nil {
		t.Fatal(err)
	}
	if want := []string{"firms/" + id(1) + "/apiKeys/" + id(900)}; !slices.Equal(contained.APIKeys, want) || len(contained.Members) != 0 ||
		!slices.Equal(h.notes.contained, want) || inc.Entries[len(inc.Entries)-1].Kind != domain.EntryContained {
		t.Fatalf("contained %+v (identity saw %v)", contained, h.notes.contained)
	}
	n, err := h.incidents.Acknowledge(ctx, owner(id(1)), id(1), inc.ID)
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := n.Acknowledged["users/"+id(100)]; !ok {
		t.Fatalf("acknowledgement not recorded: %+v", n)
	}
	if _, err := h.incidents.Acknowledge(ctx, owner(id(3)), id(1), inc.ID); !isCode(err, "NOT_FOUND") {
		t.Fatalf("another firm's owner acknowledged: %v", err)
	}
	if _, ok := n.Acknowledged["users/"+id(100)]; !ok {
		t.Fatalf("acknowledgement not recorded: %+v", n)
	}
	if _, err := h.incidents.Acknowledge(ctx, owner(id(3)), id(3), inc.ID); !isCode(err, "NOT_FOUND") {
		t.Fatalf("a firm not told acknowledged: %v", err)
	}
}

// owner is an owner of the firm, user 100.
func owner(firmID string) principal.Principal {
	return principal.Principal{Kind: principal.KindUser, FirmID: firmID, UserID: id(100), Role: principal.RoleOwner}
}

func isCode(err error, reason string) bool {
	var apiErr *apierr.Error
	return errors.As(err, &apiErr) && apiErr.Reason == reason
}

func TestIncidentDeadlineAlarmWithFakeClock(t *testing.T) {
	// Metrics as the service serves them: the provider is installed before the use
	// cases make their gauge.
	tel, err := telemetry.Setup(context.Background(), telemetry.Config{ServiceName: "lifecycle"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = tel.Shutdown(context.Background()) })
	gauge := func() string {
		rec := httptest.NewRecorder()
		tel.MetricsHandler().ServeHTTP(rec, httptest.NewRequest("GET", "/metrics", nil))
		for line := range strings.Lines(rec.Body.String()) {
			if strings.HasPrefix(line, "firmflow_incident_notices_overdue") {
				return strings.TrimSpace(line)
			}
		}
		return ""
	}
	h := newIncidents(t)
	ctx := context.Background()
	inc, err := h.incidents.Declare(ctx, "operator", h.declaration(t, []string{"apiKeys/" + id(900)}, []string{"203.0.113.0/24"}))
	if err != nil {
		t.Fatal(err)
	}
	h.now = inc.Deadline().Add(-time.Minute)
	if n, err := h.incidents.CheckDeadlines(ctx); err != nil || n != 0 {
		t.Fatalf("before the deadline: overdue %d, %v", n, err)
	}
	h.now = inc.Deadline().Add(time.Minute)
	if n, err := h.incidents.CheckDeadlines(ctx); err != nil || n != 2 || h.incidents.Overdue() != 2 {
		t.Fatalf("after the deadline: overdue %d (%d), %v; want both impacted firms", n, h.incidents.Overdue(), err)
	}
	if !strings.Contains(h.logs.String(), "level=ERROR") || !strings.Contains(h.logs.String(), "incident notices overdue") {
		t.Fatalf("no error logged: %s", h.logs.String())
	}
	if line := gauge(); !strings.HasSuffix(line, " 2") {
		t.Fatalf("metrics line %q, want the gauge at 2", line)
	}
	if _, _, err := h.incidents.Notify(ctx, "operator", inc.ID); err != nil {
		t.Fatal(err)
	}
	if n, err := h.incidents.CheckDeadlines(ctx); err != nil || n != 0 {
		t.Fatalf("after notices: overdue %d, %v", n, err)
	}
	if line := gauge(); !strings.HasSuffix(line, " 0") {
		t.Fatalf("metrics line %q after notices, want the gauge at 0", line)
	}
}

func TestIncidentBadInputLeavesRecordUnchanged(t *testing.T) {
	h := newIncidents(t)
	ctx := context.Background()
	if _, err := h.incidents.Declare(ctx, "operator", h.declaration(t, []string{"apiKeys/" + id(999)}, nil)); !isViolation(err, "scope.principals") {
		t.Fatalf("unknown principal: %v", err)
	}
	d := h.declaration(t, []string{"apiKeys/" + id(900)}, nil)
	d.AwareAt = d.DiscoveredAt.Add(-time.Hour)
	if _, err := h.incidents.Declare(ctx, "operator", d); !isViolation(err, "aware_time") {
		t.Fatalf("aware before discovery: %v", err)
	}
	if list, err := h.incidents.List(ctx); err != nil || len(list) != 0 {
		t.Fatalf("refused declarations left %d incidents, %v", len(list), err)
	}
	inc, err := h.incidents.Declare(ctx, "operator", h.declaration(t, []string{"apiKeys/" + id(900)}, nil))
	if err != nil {
		t.Fatal(err)
	}
	unknown, _ := domain.ParseScope("scope", []string{"staff/" + id(998)}, nil, nil)
	if _, err := h.incidents.Widen(ctx, "operator", inc.ID, unknown); !isViolation(err, "scope.principals") {
		t.Fatalf("widening by an unknown principal: %v", err)
	}
	if _, err := h.incidents.Close(ctx, "operator", inc.ID); err != nil {
		t.Fatal(err)
	}
	if _, _, err := h.incidents.Notify(ctx, "operator", inc.ID); !isCode(err, "INCIDENT_CLOSED") {
		t.Fatalf("notify after close: %v", err)
	}
	got, err := h.incidents.Incident(ctx, inc.ID)
	if err != nil || len(got.Entries) != 2 {
		t.Fatalf("record after refused changes: %d entries, %v", len(got.Entries), err)
	}
}

func isViolation(err error, field string) bool {
	var apiErr *apierr.Error
	return errors.As(err, &apiErr) && len(apiErr.Violations) > 0 && apiErr.Violations[0].Field == field
}

// The record and the notices are append-only for everyone, the owner role included,
// and the firms' notices are behind row-level security.
func TestIncidentRecordRefusesUpdateAndDelete(t *testing.T) {
	d := pgtest.New(t, "lifecycle", migrations.FS)
	pgtest.CheckTenancy(t, d)
	db := d.Open(t)
	s := store.New(db)
	ctx := context.Background()
	decl := domain.Declaration{Summary: "s", DiscoveredAt: incidentStart, AwareAt: incidentStart,
		Window: domain.Window{Start: incidentStart, End: incidentStart.Add(time.Hour)}, Scope: domain.Scope{Firms: []string{id(1)}}}
	e := domain.Entry{IncidentID: id(77), Seq: 1, Kind: domain.EntryDeclared, Actor: "operator", Time: incidentStart, Declaration: &decl}
	if err := s.AppendEntry(ctx, e); err != nil {
		t.Fatal(err)
	}
	if err := s.AppendEntry(ctx, e); !isCode(err, "INCIDENT_CHANGED") {
		t.Fatalf("a second entry 1: %v", err)
	}
	owner, err := pgx.Connect(ctx, d.OwnerURL)
	if err != nil {
		t.Fatal(err)
	}
	defer owner.Close(ctx)
	for _, stmt := range []string{
		"update incident_entries set actor = 'someone else'",
		"delete from incident_entries",
		"truncate incident_entries",
	} {
		if _, err := owner.Exec(ctx, stmt); err == nil || !strings.Contains(err.Error(), "append-only") {
			t.Errorf("%s as the owner: %v, want refused as append-only", stmt, err)
		}
	}
	if entries, err := s.Entries(ctx, id(77)); err != nil || len(entries) != 1 || entries[0].Actor != "operator" {
		t.Fatalf("record after refused changes: %+v, %v", entries, err)
	}
}
