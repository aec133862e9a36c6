package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"strings"
	"time"

	"google.golang.org/protobuf/types/known/timestamppb"

	lifecyclev1 "github.com/firmflow/firmflow/pkg/gen/firmflow/lifecycle/v1"
)

const incidentUsage = `usage:
  firmflow incident declare --summary TEXT --discovered RFC3339 --aware RFC3339 --from RFC3339 --to RFC3339
      [--principal staff/ID|apiKeys/ID|users/ID]... [--network CIDR]... [--firm firms/ID]... [--advice TEXT]
  firmflow incident widen incidents/ID [--principal ...]... [--network ...]... [--firm ...]...
  firmflow incident list
  firmflow incident show incidents/ID
  firmflow incident notify incidents/ID
  firmflow incident contain incidents/ID
  firmflow incident close incidents/ID`

// repeated is a flag that may be given several times.
type repeated []string

func (r *repeated) String() string     { return strings.Join(*r, ",") }
func (r *repeated) Set(v string) error { *r = append(*r, v); return nil }

// scopeFlags are the flags naming what was compromised.
type scopeFlags struct{ principals, networks, firms repeated }

func (s *scopeFlags) register(fs *flag.FlagSet) {
	fs.Var(&s.principals, "principal", "compromised principal: staff/ID, apiKeys/ID or users/ID (repeatable)")
	fs.Var(&s.networks, "network", "compromised client address range, CIDR (repeatable)")
	fs.Var(&s.firms, "firm", "firm compromised whole, firms/ID (repeatable)")
}

func (s *scopeFlags) proto() *lifecyclev1.IncidentScope {
	return &lifecyclev1.IncidentScope{Principals: s.principals, Networks: s.networks, Firms: s.firms}
}

// incidentCommand runs `firmflow incident ...` against lifecycle's
// IncidentAdminService, which only the operator certificate may call.
func incidentCommand(ctx context.Context, dataDir string, args []string, out io.Writer) error {
	if len(args) == 0 {
		return errors.New(incidentUsage)
	}
	conn, err := dialAsOperator(dataDir, func(op operatorConfig) string { return op.LifecycleAddr })
	if err != nil {
		return err
	}
	defer func() { _ = conn.Close() }()
	client := lifecyclev1.NewIncidentAdminServiceClient(conn)
	ctx, cancel := context.WithTimeout(ctx, 2*time.Minute)
	defer cancel()

	var inc *lifecyclev1.Incident
	switch {
	case args[0] == "declare":
		inc, err = declareIncident(ctx, client, args[1:])
	case args[0] == "widen" && len(args) >= 2:
		var scope scopeFlags
		fs := flag.NewFlagSet("widen", flag.ContinueOnError)
		scope.register(fs)
		if err := fs.Parse(args[2:]); err != nil {
			return err
		}
		inc, err = client.WidenIncidentScope(ctx, &lifecyclev1.WidenIncidentScopeRequest{Name: args[1], Scope: scope.proto()})
	case args[0] == "list" && len(args) == 1:
		res, err := client.ListIncidents(ctx, &lifecyclev1.ListIncidentsRequest{})
		if err != nil {
			return fmt.Errorf("list incidents: %w", err)
		}
		for _, i := range res.GetIncidents() {
			state := "open"
			if i.GetClosed() {
				state = "closed"
			}
			fmt.Fprintf(out, "%s\t%s\tdeadline %s\t%d firms notified\t%s\n", i.GetName(), state,
				i.GetNoticeDeadline().AsTime().Format(time.RFC3339), len(i.GetNotifiedFirms()), i.GetSummary())
		}
		return nil
	case args[0] == "show" && len(args) == 2:
		inc, err = client.GetIncident(ctx, &lifecyclev1.GetIncidentRequest{Name: args[1]})
	case args[0] == "notify" && len(args) == 2:
		res, err := client.NotifyIncident(ctx, &lifecyclev1.NotifyIncidentRequest{Name: args[1]})
		if err != nil {
			return fmt.Errorf("notify: %w", err)
		}
		for _, f := range res.GetNotified() {
			fmt.Fprintf(out, "notified %s: %d access events, %d resources\n", f.GetFirm(), len(f.GetAuditSequences()), len(f.GetResources()))
		}
		fmt.Fprintf(out, "%d firms notified now, %d in all\n", len(res.GetNotified()), len(res.GetIncident().GetNotifiedFirms()))
		return nil
	case args[0] == "contain" && len(args) == 2:
		res, err := client.ContainIncident(ctx, &lifecyclev1.ContainIncidentRequest{Name: args[1]})
		if err != nil {
			return fmt.Errorf("contain: %w", err)
		}
		fmt.Fprintf(out, "API keys revoked: %d of %v\nsessions ended: %d, of members %v\n",
			res.GetRevokedApiKeys(), res.GetApiKeys(), res.GetEndedSessions(), res.GetMembers())
		return nil
	case args[0] == "close" && len(args) == 2:
		inc, err = client.CloseIncident(ctx, &lifecyclev1.CloseIncidentRequest{Name: args[1]})
	default:
		return errors.New(incidentUsage)
	}
	if err != nil {
		return fmt.Errorf("incident %s: %w", args[0], err)
	}
	printIncident(out, inc)
	return nil
}

func declareIncident(ctx context.Context, client lifecyclev1.IncidentAdminServiceClient, args []string) (*lifecyclev1.Incident, error) {
	var (
		scope                       scopeFlags
		summary, advice             string
		discovered, aware, from, to string
	)
	fs := flag.NewFlagSet("declare", flag.ContinueOnError)
	fs.StringVar(&summary, "summary", "", "what happened")
	fs.StringVar(&advice, "advice", "", "what the impacted firms should do")
	fs.StringVar(&discovered, "discovered", "", "when the incident was discovered (RFC 3339)")
	fs.StringVar(&aware, "aware", "", "when firmflow became aware of it (RFC 3339); the notice deadline is 48 h later")
	fs.StringVar(&from, "from", "", "start of the attack window (RFC 3339)")
	fs.StringVar(&to, "to", "", "end of the attack window (RFC 3339)")
	scope.register(fs)
	if err := fs.Parse(args); err != nil {
		return nil, err
	}
	req := &lifecyclev1.DeclareIncidentRequest{Summary: summary, Advice: advice, Scope: scope.proto()}
	for _, t := range []struct {
		flag, value string
		into        **timestamppb.Timestamp
	}{{"--discovered", discovered, &req.DiscoverTime}, {"--aware", aware, &req.AwareTime}, {"--from", from, &req.AttackStartTime}, {"--to", to, &req.AttackEndTime}} {
		if t.value == "" {
			continue // the service names the missing field
		}
		parsed, err := time.Parse(time.RFC3339, t.value)
		if err != nil {
			return nil, fmt.Errorf("%s: %q is not an RFC 3339 time (2026-11-02T10:00:00Z)", t.flag, t.value)
		}
		*t.into = timestamppb.New(parsed)
	}
	return client.DeclareIncident(ctx, req)
}

func printIncident(out io.Writer, inc *lifecyclev1.Incident) {
	fmt.Fprintf(out, "%s: %s\n", inc.GetName(), inc.GetSummary())
	fmt.Fprintf(out, "  discovered %s, aware %s, notice deadline %s\n", stamp(inc.GetDiscoverTime()), stamp(inc.GetAwareTime()), stamp(inc.GetNoticeDeadline()))
	fmt.Fprintf(out, "  attack window %s .. %s\n", stamp(inc.GetAttackStartTime()), stamp(inc.GetAttackEndTime()))
	s := inc.GetScope()
	fmt.Fprintf(out, "  scope: principals %v, networks %v, firms %v\n", s.GetPrincipals(), s.GetNetworks(), s.GetFirms())
	fmt.Fprintf(out, "  notified firms: %v, closed: %v\n", inc.GetNotifiedFirms(), inc.GetClosed())
	for _, e := range inc.GetEntries() {
		fmt.Fprintf(out, "  #%d %s %s by %s\n", e.GetSequence(), stamp(e.GetTime()), e.GetKind(), e.GetActor())
	}
}

func stamp(t *timestamppb.Timestamp) string { return t.AsTime().UTC().Format(time.RFC3339) }
