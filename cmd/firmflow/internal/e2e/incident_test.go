package e2e

import (
	"context"
	"net/http"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/timestamppb"

	auditv1 "github.com/firmflow/firmflow/pkg/gen/firmflow/audit/v1"
	identityv1 "github.com/firmflow/firmflow/pkg/gen/firmflow/identity/v1"
	lifecyclev1 "github.com/firmflow/firmflow/pkg/gen/firmflow/lifecycle/v1"
)

// incidentAdmin is lifecycle's IncidentAdminService as the operator reaches it: what
// `firmflow incident` does.
func (s *system) incidentAdmin(t *testing.T, certificate string) lifecyclev1.IncidentAdminServiceClient {
	t.Helper()
	return lifecyclev1.NewIncidentAdminServiceClient(s.dialAs(t, certificate, s.stack.LifecycleAddr))
}

// TestIncidentNoticesReachOnlyTheFirmsTheLeakedKeyTouched: a firm's API key leaks;
// the operator declares the incident naming it, and notices reach that firm (its
// owners read and acknowledge it over HTTPS, and its owner gets it by email) and no
// other firm active in the window.
func TestIncidentNoticesReachOnlyTheFirmsTheLeakedKeyTouched(t *testing.T) {
	sys := start(t, nil)
	ctx := context.Background()
	victim, bystander := sys.signUp(t, "incident-victim"), sys.signUp(t, "incident-bystander")
	leaked := victim.apiKey(t, sys, "clients:read")
	want(t, leaked.do("GET", "/v1/"+victim.name+"/clients", nil), http.StatusOK, "the leaked key reads clients")
	want(t, bystander.client.do("GET", "/v1/"+bystander.name+"/clients", nil), http.StatusOK, "the bystander works meanwhile")

	var actor string
	eventually(t, "the key's access recorded", func() bool {
		r := victim.client.do("GET", "/v1/"+victim.name+"/auditEvents?category=general", nil)
		if r.status != http.StatusOK {
			return false
		}
		for _, e := range message[*auditv1.ListAuditEventsResponse](t, r).GetAuditEvents() {
			if a := e.GetActor(); strings.HasPrefix(a, "apiKeys/") {
				actor = a
				return true
			}
		}
		return false
	})
	eventually(t, "the bystander's access recorded", func() bool {
		r := bystander.client.do("GET", "/v1/"+bystander.name+"/auditEvents?action=firmflow.workflow.v1.ClientService/ListClients", nil)
		return r.status == http.StatusOK && len(message[*auditv1.ListAuditEventsResponse](t, r).GetAuditEvents()) > 0
	})

	admin := sys.incidentAdmin(t, "operator")
	now := time.Now()
	declare := func(change func(*lifecyclev1.DeclareIncidentRequest)) (*lifecyclev1.Incident, error) {
		req := &lifecyclev1.DeclareIncidentRequest{
			Summary: "an API key was published in a public repository", Advice: "rotate the listed API keys",
			DiscoverTime: timestamppb.New(now), AwareTime: timestamppb.New(now),
			AttackStartTime: timestamppb.New(now.Add(-time.Hour)), AttackEndTime: timestamppb.New(now),
			Scope: &lifecyclev1.IncidentScope{Principals: []string{actor}},
		}
		change(req)
		return admin.DeclareIncident(ctx, req)
	}
	// Other tests on the shared stack declare incidents too: count, do not expect none.
	before, err := admin.ListIncidents(ctx, &lifecyclev1.ListIncidentsRequest{})
	if err != nil {
		t.Fatal(err)
	}
	for name, tc := range map[string]struct {
		change func(*lifecyclev1.DeclareIncidentRequest)
		field  string
	}{
		"aware before discovery": {func(r *lifecyclev1.DeclareIncidentRequest) { r.AwareTime = timestamppb.New(now.Add(-time.Minute)) }, "aware_time"},
		"window ends first": {func(r *lifecyclev1.DeclareIncidentRequest) {
			r.AttackEndTime = timestamppb.New(now.Add(-2 * time.Hour))
		}, "attack_window.end_time"},
		"unknown principal": {func(r *lifecyclev1.DeclareIncidentRequest) {
			r.Scope.Principals = []string{"staff/00000000-0000-4000-8000-000000000000"}
		}, "scope.principals"},
	} {
		if _, err := declare(tc.change); status.Code(err) != codes.InvalidArgument || !strings.Contains(err.Error(), tc.field) {
			t.Errorf("%s: %v, want INVALID_ARGUMENT naming %s", name, err, tc.field)
		}
	}
	if list, err := admin.ListIncidents(ctx, &lifecyclev1.ListIncidentsRequest{}); err != nil || len(list.GetIncidents()) > len(before.GetIncidents()) {
		t.Fatalf("refused declarations left incidents: %v, %v", list, err)
	}

	inc, err := declare(func(*lifecyclev1.DeclareIncidentRequest) {})
	if err != nil {
		t.Fatal(err)
	}
	res, err := admin.NotifyIncident(ctx, &lifecyclev1.NotifyIncidentRequest{Name: inc.GetName()})
	if err != nil {
		t.Fatal(err)
	}
	if len(res.GetNotified()) != 1 || res.GetNotified()[0].GetFirm() != victim.name {
		t.Fatalf("notified %v, want only %s", res.GetNotified(), victim.name)
	}

	r := want(t, victim.client.do("GET", "/v1/"+victim.name+"/incidents", nil), http.StatusOK, "the victim's incidents")
	incidents := message[*lifecyclev1.ListFirmIncidentsResponse](t, r).GetIncidents()
	if len(incidents) != 1 || !strings.Contains(incidents[0].GetText(), "rotate the listed API keys") ||
		!strings.Contains(incidents[0].GetText(), victim.name+"/clients") || incidents[0].GetEmailState() != "queued" {
		t.Fatalf("victim's incidents: %s", truncate(string(r.raw), 800))
	}
	name := incidents[0].GetName()
	if r := want(t, bystander.client.do("GET", "/v1/"+bystander.name+"/incidents", nil), http.StatusOK, "the bystander's incidents"); len(message[*lifecyclev1.ListFirmIncidentsResponse](t, r).GetIncidents()) != 0 {
		t.Fatalf("the bystander was notified: %s", r.raw)
	}
	notes := want(t, victim.client.do("GET", "/v1/"+victim.name+"/notifications", nil), http.StatusOK, "the victim's notifications")
	found := false
	for _, n := range message[*identityv1.ListNotificationsResponse](t, notes).GetNotifications() {
		if n.GetKind() == identityv1.NotificationKind_NOTIFICATION_KIND_INCIDENT && n.GetIncident() == name && strings.Contains(n.GetText(), victim.name+"/clients") {
			found = true
		}
	}
	if !found {
		t.Fatalf("no incident notification in the app: %s", truncate(string(notes.raw), 800))
	}
	if _, ok := noticeKinds(t, bystander)["NOTIFICATION_KIND_INCIDENT"]; ok {
		t.Fatal("the bystander got an incident notification")
	}
	mailed, err := sys.h.Mail.Wait(victim.email, "Security incident notice", 20*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(mailed.Text, victim.name+"/clients") || !strings.Contains(mailed.Text, "rotate the listed API keys") ||
		!strings.HasPrefix(mailed.MessageID, "incident-notice."+strings.TrimPrefix(inc.GetName(), "incidents/")+".") {
		t.Fatalf("incident email %s:\n%s", mailed.MessageID, mailed.Text)
	}
	for _, m := range sys.h.Mail.To(bystander.email) {
		if strings.Contains(m.Subject, "incident") {
			t.Fatalf("the bystander got an incident email: %q", m.Subject)
		}
	}
	want(t, bystander.client.do("POST", "/v1/"+name+":acknowledge", map[string]any{}), http.StatusNotFound, "another firm acknowledges")
	want(t, leaked.do("GET", "/v1/"+victim.name+"/incidents", nil), http.StatusForbidden, "an API key reads incidents")
	ack := want(t, victim.client.do("POST", "/v1/"+name+":acknowledge", map[string]any{}), http.StatusOK, "the owner acknowledges")
	if acks := message[*lifecyclev1.FirmIncident](t, ack).GetAcknowledgements(); len(acks) != 1 {
		t.Fatalf("acknowledgement not recorded: %s", ack.raw)
	}

	// Containment: the leaked key stops working, and its revocation names the incident.
	contained, err := admin.ContainIncident(ctx, &lifecyclev1.ContainIncidentRequest{Name: inc.GetName()})
	if err != nil || contained.GetRevokedApiKeys() != 1 || len(contained.GetApiKeys()) != 1 || len(contained.GetMembers()) != 0 {
		t.Fatalf("contain: %v, %v", contained, err)
	}
	want(t, leaked.do("GET", "/v1/"+victim.name+"/clients", nil), http.StatusUnauthorized, "the leaked key after containment")
	eventually(t, "the revocation in the audit log, by the incident", func() bool {
		r := victim.client.do("GET", "/v1/"+victim.name+"/auditEvents?actor="+inc.GetName(), nil)
		return r.status == http.StatusOK && len(message[*auditv1.ListAuditEventsResponse](t, r).GetAuditEvents()) == 1
	})

	closed, err := admin.CloseIncident(ctx, &lifecyclev1.CloseIncidentRequest{Name: inc.GetName()})
	if err != nil || !closed.GetClosed() || len(closed.GetEntries()) != 4 {
		t.Fatalf("close: %v, %v", closed, err)
	}
	if _, err := admin.NotifyIncident(ctx, &lifecyclev1.NotifyIncidentRequest{Name: inc.GetName()}); status.Code(err) != codes.FailedPrecondition {
		t.Fatalf("notify after close: %v", err)
	}
}

// firmIncident has the operator declare an incident that compromised the firm whole
// over the last hour and notify it, and answers the firm's incident name
// (firms/{firm}/incidents/{incident}) once the firm's access events are in the audit
// log and the notice is recorded.
func firmIncident(t *testing.T, sys *system, f firm) string {
	t.Helper()
	ctx := context.Background()
	admin := sys.incidentAdmin(t, "operator")
	now := time.Now()
	inc, err := admin.DeclareIncident(ctx, &lifecyclev1.DeclareIncidentRequest{
		Summary: "a database replica of one firm was exposed", DiscoverTime: timestamppb.New(now), AwareTime: timestamppb.New(now),
		AttackStartTime: timestamppb.New(now.Add(-time.Hour)), AttackEndTime: timestamppb.New(now),
		Scope: &lifecyclev1.IncidentScope{Firms: []string{f.name}},
	})
	if err != nil {
		t.Fatal(err)
	}
	eventually(t, "the firm notified of the incident", func() bool {
		res, err := admin.NotifyIncident(ctx, &lifecyclev1.NotifyIncidentRequest{Name: inc.GetName()})
		return err == nil && len(res.GetIncident().GetNotifiedFirms()) == 1
	})
	return f.name + "/" + inc.GetName()
}
