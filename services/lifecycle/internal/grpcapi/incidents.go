package grpcapi

import (
	"context"
	"sort"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/protobuf/types/known/timestamppb"

	lifecyclev1 "github.com/firmflow/firmflow/pkg/gen/firmflow/lifecycle/v1"
	"github.com/firmflow/firmflow/pkg/resource"
	"github.com/firmflow/firmflow/services/lifecycle/internal/app"
	"github.com/firmflow/firmflow/services/lifecycle/internal/domain"
	"github.com/firmflow/firmflow/services/lifecycle/internal/store"
)

// operator is the actor of operator changes: IncidentAdminService admits only the
// operator certificate.
const operator = "operator"

// Incidents implements IncidentAdminService and FirmIncidentService.
type Incidents struct {
	lifecyclev1.UnimplementedIncidentAdminServiceServer
	lifecyclev1.UnimplementedFirmIncidentServiceServer
	incidents *app.Incidents
}

// RegisterIncidents adds the incident services to srv.
func RegisterIncidents(srv grpc.ServiceRegistrar, in *app.Incidents) {
	s := &Incidents{incidents: in}
	lifecyclev1.RegisterIncidentAdminServiceServer(srv, s)
	lifecyclev1.RegisterFirmIncidentServiceServer(srv, s)
}

func incidentID(name string) (string, error) {
	ids, err := resource.Parse("name", name, "incidents/{incident}")
	if err != nil {
		return "", err
	}
	return ids[0], nil
}

func scopeOf(field string, s *lifecyclev1.IncidentScope) (domain.Scope, error) {
	return domain.ParseScope(field, s.GetPrincipals(), s.GetNetworks(), s.GetFirms())
}

func (s *Incidents) DeclareIncident(ctx context.Context, req *lifecyclev1.DeclareIncidentRequest) (*lifecyclev1.Incident, error) {
	scope, err := scopeOf("scope", req.GetScope())
	if err != nil {
		return nil, err
	}
	d := domain.Declaration{
		Summary: req.GetSummary(), Advice: req.GetAdvice(), Scope: scope,
		Window:       domain.Window{Start: timeOf(req.GetAttackStartTime()), End: timeOf(req.GetAttackEndTime())},
		DiscoveredAt: timeOf(req.GetDiscoverTime()), AwareAt: timeOf(req.GetAwareTime()),
	}
	inc, err := s.incidents.Declare(ctx, operator, d)
	if err != nil {
		return nil, err
	}
	return toIncident(inc), nil
}

func (s *Incidents) GetIncident(ctx context.Context, req *lifecyclev1.GetIncidentRequest) (*lifecyclev1.Incident, error) {
	id, err := incidentID(req.GetName())
	if err != nil {
		return nil, err
	}
	inc, err := s.incidents.Incident(ctx, id)
	if err != nil {
		return nil, err
	}
	return toIncident(inc), nil
}

func (s *Incidents) ListIncidents(ctx context.Context, _ *lifecyclev1.ListIncidentsRequest) (*lifecyclev1.ListIncidentsResponse, error) {
	list, err := s.incidents.List(ctx)
	if err != nil {
		return nil, err
	}
	out := &lifecyclev1.ListIncidentsResponse{}
	for _, inc := range list {
		out.Incidents = append(out.Incidents, toIncident(inc))
	}
	return out, nil
}

func (s *Incidents) WidenIncidentScope(ctx context.Context, req *lifecyclev1.WidenIncidentScopeRequest) (*lifecyclev1.Incident, error) {
	id, err := incidentID(req.GetName())
	if err != nil {
		return nil, err
	}
	scope, err := scopeOf("scope", req.GetScope())
	if err != nil {
		return nil, err
	}
	inc, err := s.incidents.Widen(ctx, operator, id, scope)
	if err != nil {
		return nil, err
	}
	return toIncident(inc), nil
}

func (s *Incidents) NotifyIncident(ctx context.Context, req *lifecyclev1.NotifyIncidentRequest) (*lifecyclev1.NotifyIncidentResponse, error) {
	id, err := incidentID(req.GetName())
	if err != nil {
		return nil, err
	}
	inc, told, err := s.incidents.Notify(ctx, operator, id)
	if err != nil {
		return nil, err
	}
	out := &lifecyclev1.NotifyIncidentResponse{Incident: toIncident(inc)}
	for _, f := range told {
		out.Notified = append(out.Notified, &lifecyclev1.FirmImpact{
			Firm: "firms/" + f.FirmID, Resources: f.Resources, AuditSequences: f.Events, FirstTime: ts(f.First), LastTime: ts(f.Last),
		})
	}
	return out, nil
}

func (s *Incidents) ContainIncident(ctx context.Context, req *lifecyclev1.ContainIncidentRequest) (*lifecyclev1.ContainIncidentResponse, error) {
	id, err := incidentID(req.GetName())
	if err != nil {
		return nil, err
	}
	inc, c, err := s.incidents.Contain(ctx, operator, id)
	if err != nil {
		return nil, err
	}
	return &lifecyclev1.ContainIncidentResponse{
		Incident: toIncident(inc), ApiKeys: c.APIKeys, Members: c.Members, RevokedApiKeys: int32(c.Revoked), EndedSessions: int32(c.Ended),
	}, nil
}

func (s *Incidents) CloseIncident(ctx context.Context, req *lifecyclev1.CloseIncidentRequest) (*lifecyclev1.Incident, error) {
	id, err := incidentID(req.GetName())
	if err != nil {
		return nil, err
	}
	inc, err := s.incidents.Close(ctx, operator, id)
	if err != nil {
		return nil, err
	}
	return toIncident(inc), nil
}

func (s *Incidents) ListFirmIncidents(ctx context.Context, req *lifecyclev1.ListFirmIncidentsRequest) (*lifecyclev1.ListFirmIncidentsResponse, error) {
	firm, err := firmOf("parent", req.GetParent())
	if err != nil {
		return nil, err
	}
	notices, err := s.incidents.FirmNotices(ctx, caller(ctx), firm)
	if err != nil {
		return nil, err
	}
	out := &lifecyclev1.ListFirmIncidentsResponse{}
	for _, n := range notices {
		out.Incidents = append(out.Incidents, toFirmIncident(n))
	}
	return out, nil
}

func (s *Incidents) AcknowledgeFirmIncident(ctx context.Context, req *lifecyclev1.AcknowledgeFirmIncidentRequest) (*lifecyclev1.FirmIncident, error) {
	ids, err := resource.Parse("name", req.GetName(), "firms/{firm}/incidents/{incident}")
	if err != nil {
		return nil, err
	}
	n, err := s.incidents.Acknowledge(ctx, caller(ctx), ids[0], ids[1])
	if err != nil {
		return nil, err
	}
	return toFirmIncident(n), nil
}

func toScope(s domain.Scope) *lifecyclev1.IncidentScope {
	out := &lifecyclev1.IncidentScope{Principals: s.Principals}
	for _, n := range s.Networks {
		out.Networks = append(out.Networks, n.String())
	}
	for _, f := range s.Firms {
		out.Firms = append(out.Firms, "firms/"+f)
	}
	return out
}

func toIncident(inc domain.Incident) *lifecyclev1.Incident {
	d := inc.Declaration
	out := &lifecyclev1.Incident{
		Name: "incidents/" + inc.ID, Summary: d.Summary, Advice: d.Advice, DiscoverTime: ts(d.DiscoveredAt), AwareTime: ts(d.AwareAt),
		AttackStartTime: ts(d.Window.Start), AttackEndTime: ts(d.Window.End), Scope: toScope(inc.Scope),
		NoticeDeadline: ts(inc.Deadline()), Closed: inc.Closed,
	}
	for _, f := range inc.Notified {
		out.NotifiedFirms = append(out.NotifiedFirms, "firms/"+f)
	}
	for _, e := range inc.Entries {
		entry := &lifecyclev1.IncidentEntry{Sequence: int32(e.Seq), Kind: string(e.Kind), Actor: e.Actor, Time: ts(e.Time)}
		if e.Scope != nil {
			entry.Scope = toScope(*e.Scope)
		}
		for _, f := range e.Firms {
			entry.Firms = append(entry.Firms, "firms/"+f)
		}
		out.Entries = append(out.Entries, entry)
	}
	return out
}

func toFirmIncident(n store.Notice) *lifecyclev1.FirmIncident {
	out := &lifecyclev1.FirmIncident{
		Name: "firms/" + n.FirmID + "/incidents/" + n.IncidentID, Summary: n.Summary, Text: n.Text, Resources: n.Resources,
		FirstTime: ts(n.First), LastTime: ts(n.Last), NoticeDeadline: ts(n.Deadline), NotifyTime: ts(n.CreateTime), EmailState: n.EmailState,
	}
	users := make([]string, 0, len(n.Acknowledged))
	for u := range n.Acknowledged {
		users = append(users, u)
	}
	sort.Strings(users)
	for _, u := range users {
		out.Acknowledgements = append(out.Acknowledgements, &lifecyclev1.Acknowledgement{User: u, Time: ts(n.Acknowledged[u])})
	}
	return out
}

// timeOf reads an optional timestamp; absent is the zero time, which the domain
// refuses by field name.
func timeOf(t *timestamppb.Timestamp) time.Time {
	if t == nil {
		return time.Time{}
	}
	return t.AsTime()
}
