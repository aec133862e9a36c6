package app

import (
	"context"
	"log/slog"
	"slices"
	"sync/atomic"
	"time"

	"github.com/google/uuid"
	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/metric"

	"github.com/firmflow/firmflow/pkg/apierr"
	"github.com/firmflow/firmflow/pkg/principal"
	"github.com/firmflow/firmflow/services/lifecycle/internal/domain"
	"github.com/firmflow/firmflow/services/lifecycle/internal/store"
)

// AccessLog is the audit log as the impact analysis reads it, across firms.
type AccessLog interface {
	// AccessEvents answers every access event in the window by one of the actors,
	// from one of the networks, or in one of the firms.
	AccessEvents(ctx context.Context, window domain.Window, scope domain.Scope) ([]domain.AccessEvent, error)
	// UnknownActors answers those of actors the audit log has never seen.
	UnknownActors(ctx context.Context, actors []string) ([]string, error)
}

// FirmNotifier posts a notice into the firm's notifications in the app, which its
// owners and admins read, and queues its email to each of them in the same
// transaction (identity's PostIncidentNotification): identity owns the users and
// their addresses. It reports whether the emails are queued; without a mail server
// they are not. Posting again for the same incident changes nothing.
type FirmNotifier interface {
	PostIncidentNotification(ctx context.Context, firmID, incidentID, text string) (emailQueued bool, err error)
}

// IncidentIdentity is what the incident use cases ask of identity.
type IncidentIdentity interface {
	FirmNotifier
	Containment
}

// Containment revokes compromised credentials (identity's ContainIncident): API keys
// (firms/{firm}/apiKeys/{id}) and every session of members (firms/{firm}/members/{id}).
type Containment interface {
	ContainIncident(ctx context.Context, incidentID string, apiKeys, members []string) (revoked, ended int, err error)
}

// A notice's email_state: identity queued its emails in its outbox, which delivers
// them at least once, or firmflow has no mail server and the notice is in the app only.
const (
	EmailQueued        = "queued"
	EmailNotConfigured = "not_configured"
)

// Incidents is the use cases of security incidents: operators declare, widen,
// notify and close; firms read their notices and acknowledge them.
type Incidents struct {
	store    *store.Store
	log      AccessLog
	identity IncidentIdentity
	logger   *slog.Logger
	now      func() time.Time

	overdue      atomic.Int64
	overdueGauge metric.Int64Gauge
}

// NewIncidents wires the incident use cases.
func NewIncidents(s *store.Store, log AccessLog, identity IncidentIdentity, logger *slog.Logger) *Incidents {
	gauge, err := otel.Meter("firmflow/lifecycle").Int64Gauge("firmflow_incident_notices_overdue",
		metric.WithDescription("Impacted firms not yet notified of an incident after its 48 h deadline"))
	if err != nil {
		logger.Error("incident overdue gauge unavailable", "error", err)
	}
	return &Incidents{store: s, log: log, identity: identity, logger: logger, now: time.Now, overdueGauge: gauge}
}

// UseClock replaces the clock, for tests of the notice deadline.
func (in *Incidents) UseClock(now func() time.Time) { in.now = now }

// Declare opens an incident. Unknown principals are refused: a typo would otherwise
// make the analysis miss the attacker silently.
func (in *Incidents) Declare(ctx context.Context, operator string, d domain.Declaration) (domain.Incident, error) {
	if err := d.Validate(in.now()); err != nil {
		return domain.Incident{}, err
	}
	if err := in.knownPrincipals(ctx, d.Scope); err != nil {
		return domain.Incident{}, err
	}
	e := domain.Entry{IncidentID: uuid.NewString(), Seq: 1, Kind: domain.EntryDeclared, Actor: operator, Time: in.now(), Declaration: &d}
	if err := in.store.AppendEntry(ctx, e); err != nil {
		return domain.Incident{}, err
	}
	return domain.Fold([]domain.Entry{e})
}

func (in *Incidents) knownPrincipals(ctx context.Context, scope domain.Scope) error {
	if len(scope.Principals) == 0 {
		return nil
	}
	unknown, err := in.log.UnknownActors(ctx, scope.Principals)
	if err != nil {
		return err
	}
	if len(unknown) > 0 {
		return apierr.InvalidArgument("scope.principals", "known", "no access by "+unknown[0]+" was ever recorded; check the name")
	}
	return nil
}

// Incident reads one incident with its record.
func (in *Incidents) Incident(ctx context.Context, id string) (domain.Incident, error) {
	entries, err := in.store.Entries(ctx, id)
	if err != nil {
		return domain.Incident{}, err
	}
	return domain.Fold(entries)
}

// List reads every incident, newest first.
func (in *Incidents) List(ctx context.Context) ([]domain.Incident, error) {
	ids, err := in.store.IncidentIDs(ctx)
	if err != nil {
		return nil, err
	}
	out := make([]domain.Incident, 0, len(ids))
	for _, id := range ids {
		inc, err := in.Incident(ctx, id)
		if err != nil {
			return nil, err
		}
		out = append(out, inc)
	}
	return out, nil
}

// Widen adds to what was compromised.
func (in *Incidents) Widen(ctx context.Context, operator, id string, more domain.Scope) (domain.Incident, error) {
	inc, err := in.Incident(ctx, id)
	if err != nil {
		return domain.Incident{}, err
	}
	if more.Empty() {
		return domain.Incident{}, apierr.InvalidArgument("scope", "required", "name at least one compromised principal, network or firm")
	}
	if err := in.knownPrincipals(ctx, more); err != nil {
		return domain.Incident{}, err
	}
	e, err := inc.Next(domain.EntryScopeWidened, operator, in.now())
	if err != nil {
		return domain.Incident{}, err
	}
	e.Scope = &more
	return in.appendAndFold(ctx, inc, e)
}

// Close ends the incident.
func (in *Incidents) Close(ctx context.Context, operator, id string) (domain.Incident, error) {
	inc, err := in.Incident(ctx, id)
	if err != nil {
		return domain.Incident{}, err
	}
	e, err := inc.Next(domain.EntryClosed, operator, in.now())
	if err != nil {
		return domain.Incident{}, err
	}
	return in.appendAndFold(ctx, inc, e)
}

func (in *Incidents) appendAndFold(ctx context.Context, inc domain.Incident, e domain.Entry) (domain.Incident, error) {
	if err := in.store.AppendEntry(ctx, e); err != nil {
		return domain.Incident{}, err
	}
	return domain.Fold(append(slices.Clone(inc.Entries), e))
}

// Impact is the analysis of the incident's scope over the audit log.
func (in *Incidents) Impact(ctx context.Context, inc domain.Incident) ([]domain.FirmImpact, error) {
	events, err := in.log.AccessEvents(ctx, inc.Declaration.Window, inc.Scope)
	if err != nil {
		return nil, err
	}
	return inc.Impact(events), nil
}

// Notify analyses the impact and tells every impacted firm not told yet: a
// notification in the app and an email for its owners and admins (both by identity),
// and the notice in its incident list. It answers the
// firms told now; repeated, it tells only firms a widened scope added.
func (in *Incidents) Notify(ctx context.Context, operator, id string) (domain.Incident, []domain.FirmImpact, error) {
	inc, err := in.Incident(ctx, id)
	if err != nil {
		return domain.Incident{}, nil, err
	}
	impact, err := in.Impact(ctx, inc)
	if err != nil {
		return domain.Incident{}, nil, err
	}
	e, err := inc.Next(domain.EntryNoticesSent, operator, in.now())
	if err != nil {
		return domain.Incident{}, nil, err
	}
	var told []domain.FirmImpact
	var notices []store.Notice
	for _, f := range impact {
		if slices.Contains(inc.Notified, f.FirmID) {
			continue
		}
		told = append(told, f)
		e.Firms = append(e.Firms, f.FirmID)
		notices = append(notices, store.Notice{
			IncidentID: inc.ID, FirmID: f.FirmID, Summary: inc.Declaration.Summary, Text: domain.NoticeText(inc.Declaration, f),
			Resources: f.Resources, First: f.First, Last: f.Last, Deadline: inc.Deadline(), CreateTime: e.Time,
		})
	}
	if len(notices) == 0 {
		return inc, nil, nil
	}
	// The app's notifications first: only once every firm has its notice does the
	// record say so. A failure leaves the record as it was; notifying again posts the
	// same notices, which identity keeps once.
	for i, n := range notices {
		queued, err := in.identity.PostIncidentNotification(ctx, n.FirmID, n.IncidentID, n.Text)
		if err != nil {
			return domain.Incident{}, nil, err
		}
		notices[i].EmailState = EmailNotConfigured
		if queued {
			notices[i].EmailState = EmailQueued
		}
	}
	if err := in.store.RecordNotices(ctx, e, notices); err != nil {
		return domain.Incident{}, nil, err
	}
	inc, err = domain.Fold(append(slices.Clone(inc.Entries), e))
	return inc, told, err
}

// Contained is what a containment revoked.
type Contained struct {
	APIKeys, Members []string
	Revoked, Ended   int
}

// Contain revokes, in one step, the compromised API keys and ends the sessions of the
// compromised members wherever the analysis finds them acting in the window; their
// change events name the incident. The record gains a contained entry.
func (in *Incidents) Contain(ctx context.Context, operator, id string) (domain.Incident, Contained, error) {
	inc, err := in.Incident(ctx, id)
	if err != nil {
		return domain.Incident{}, Contained{}, err
	}
	e, err := inc.Next(domain.EntryContained, operator, in.now())
	if err != nil {
		return domain.Incident{}, Contained{}, err
	}
	events, err := in.log.AccessEvents(ctx, inc.Declaration.Window, inc.Scope)
	if err != nil {
		return domain.Incident{}, Contained{}, err
	}
	var c Contained
	c.APIKeys, c.Members = inc.Compromised(events)
	if c.Revoked, c.Ended, err = in.identity.ContainIncident(ctx, inc.ID, c.APIKeys, c.Members); err != nil {
		return domain.Incident{}, Contained{}, err
	}
	inc, err = in.appendAndFold(ctx, inc, e)
	return inc, c, err
}

// FirmNotices lists the incidents the caller's firm was told about.
func (in *Incidents) FirmNotices(ctx context.Context, p principal.Principal, firmID string) ([]store.Notice, error) {
	if err := callerFirm(p, firmID); err != nil {
		return nil, err
	}
	return in.store.FirmNotices(ctx, firmID)
}

// Acknowledge records that the calling owner read the firm's notice.
func (in *Incidents) Acknowledge(ctx context.Context, p principal.Principal, firmID, incidentID string) (store.Notice, error) {
	if err := callerFirm(p, firmID); err != nil {
		return store.Notice{}, err
	}
	return in.store.Acknowledge(ctx, firmID, incidentID, p.Actor(), in.now())
}

// CheckDeadlines counts, over open incidents past their deadline, the impacted firms
// not told yet; it sets the gauge firmflow_incident_notices_overdue and logs an error
// for each such incident. The server runs it every minute.
func (in *Incidents) CheckDeadlines(ctx context.Context) (int, error) {
	incidents, err := in.List(ctx)
	if err != nil {
		return 0, err
	}
	now, total := in.now(), 0
	for _, inc := range incidents {
		if inc.Closed || now.Before(inc.Deadline()) {
			continue
		}
		impact, err := in.Impact(ctx, inc)
		if err != nil {
			return 0, err
		}
		firms := make([]string, 0, len(impact))
		for _, f := range impact {
			firms = append(firms, f.FirmID)
		}
		if overdue := inc.Overdue(firms, now); len(overdue) > 0 {
			total += len(overdue)
			in.logger.ErrorContext(ctx, "incident notices overdue: impacted firms not notified within 48 hours of awareness",
				"incident", inc.ID, "deadline", inc.Deadline(), "firms_overdue", len(overdue))
		}
	}
	in.overdue.Store(int64(total))
	if in.overdueGauge != nil {
		in.overdueGauge.Record(ctx, int64(total))
	}
	return total, nil
}

// Overdue is the count the last CheckDeadlines found.
func (in *Incidents) Overdue() int64 { return in.overdue.Load() }
