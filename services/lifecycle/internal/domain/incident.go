package domain

import (
	"fmt"
	"net/netip"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/firmflow/firmflow/pkg/apierr"
)

// NoticeDeadline is the promise of the seed: impacted firms are told within 48 hours
// of firmflow becoming aware of a breach.
const NoticeDeadline = 48 * time.Hour

// EntryKind is what one entry of an incident's record says.
type EntryKind string

const (
	// EntryDeclared opens the incident with its times and first scope.
	EntryDeclared EntryKind = "declared"
	// EntryScopeWidened adds compromised principals, addresses or firms.
	EntryScopeWidened EntryKind = "scope_widened"
	// EntryNoticesSent records the firms an impact analysis found and that were told.
	EntryNoticesSent EntryKind = "notices_sent"
	// EntryContained records that the compromised API keys were revoked and the
	// compromised members' sessions ended.
	EntryContained EntryKind = "contained"
	// EntryClosed ends the incident; nothing may be added afterwards.
	EntryClosed EntryKind = "closed"
)

// Scope is what was compromised. Principals are audit actors (staff/{id},
// apiKeys/{id}, users/{id}); networks are client address ranges; firms are firms
// compromised whole (a service or database breach), every event of theirs in the
// window counts.
type Scope struct {
	Principals []string       `json:"principals,omitempty"`
	Networks   []netip.Prefix `json:"networks,omitempty"`
	Firms      []string       `json:"firms,omitempty"`
}

// Empty reports whether the scope names nothing.
func (s Scope) Empty() bool {
	return len(s.Principals) == 0 && len(s.Networks) == 0 && len(s.Firms) == 0
}

// Union is s widened by more, without duplicates, in a stable order.
func (s Scope) Union(more Scope) Scope {
	out := Scope{
		Principals: union(s.Principals, more.Principals),
		Firms:      union(s.Firms, more.Firms),
		Networks:   slices.Clone(s.Networks),
	}
	for _, n := range more.Networks {
		if !slices.Contains(out.Networks, n) {
			out.Networks = append(out.Networks, n)
		}
	}
	sort.Slice(out.Networks, func(i, j int) bool { return out.Networks[i].String() < out.Networks[j].String() })
	return out
}

func union(a, b []string) []string {
	out := slices.Clone(a)
	for _, v := range b {
		if !slices.Contains(out, v) {
			out = append(out, v)
		}
	}
	slices.Sort(out)
	return out
}

// ParseScope reads the operator's words for a scope: principals as audit actors,
// networks as CIDRs or single addresses, firms as firms/{id}. field names the
// request field in errors.
func ParseScope(field string, principals, networks, firms []string) (Scope, error) {
	var s Scope
	for _, p := range principals {
		kind, id, ok := strings.Cut(p, "/")
		if !ok || !slices.Contains([]string{"staff", "apiKeys", "users"}, kind) || !isUUID(id) {
			return Scope{}, apierr.InvalidArgument(field+".principals", "principal",
				fmt.Sprintf("%q is not a principal: staff/{id}, apiKeys/{id} or users/{id}", p))
		}
		s.Principals = append(s.Principals, p)
	}
	for _, n := range networks {
		prefix, err := netip.ParsePrefix(n)
		if err != nil {
			addr, aerr := netip.ParseAddr(n)
			if aerr != nil {
				return Scope{}, apierr.InvalidArgument(field+".networks", "cidr", fmt.Sprintf("%q is not an address or CIDR range", n))
			}
			prefix = netip.PrefixFrom(addr, addr.BitLen())
		}
		s.Networks = append(s.Networks, prefix.Masked())
	}
	for _, f := range firms {
		id, ok := strings.CutPrefix(f, "firms/")
		if !ok || !isUUID(id) {
			return Scope{}, apierr.InvalidArgument(field+".firms", "firm", fmt.Sprintf("%q is not firms/{id}", f))
		}
		s.Firms = append(s.Firms, id)
	}
	return Scope{}.Union(s), nil
}

func isUUID(s string) bool {
	if len(s) != 36 {
		return false
	}
	for i, c := range s {
		switch {
		case i == 8 || i == 13 || i == 18 || i == 23:
			if c != '-' {
				return false
			}
		case (c < '0' || c > '9') && (c < 'a' || c > 'f'):
			return false
		}
	}
	return true
}

// Window is when the attacker could act: [Start, End).
type Window struct {
	Start, End time.Time
}

// Contains reports whether t falls in the window.
func (w Window) Contains(t time.Time) bool { return !t.Before(w.Start) && t.Before(w.End) }

// Declaration is what an operator states when opening an incident.
type Declaration struct {
	Summary      string
	DiscoveredAt time.Time
	AwareAt      time.Time
	Window       Window
	Scope        Scope
	// Advice is what the firms should do, copied into every notice.
	Advice string
}

// Validate refuses a declaration that cannot be true, naming the field.
func (d Declaration) Validate(now time.Time) error {
	switch {
	case strings.TrimSpace(d.Summary) == "":
		return apierr.InvalidArgument("summary", "required", "say what happened")
	case d.DiscoveredAt.IsZero():
		return apierr.InvalidArgument("discover_time", "required", "when the incident was discovered is required")
	case d.AwareAt.IsZero():
		return apierr.InvalidArgument("aware_time", "required", "when firmflow became aware is required")
	case d.AwareAt.Before(d.DiscoveredAt):
		return apierr.InvalidArgument("aware_time", "not_before_discovery", "aware_time must not be before discover_time")
	case d.DiscoveredAt.After(now):
		return apierr.InvalidArgument("discover_time", "not_future", "discover_time must not be in the future")
	case d.Window.Start.IsZero() || d.Window.End.IsZero():
		return apierr.InvalidArgument("attack_window", "required", "the attack window needs a start and an end")
	case !d.Window.End.After(d.Window.Start):
		return apierr.InvalidArgument("attack_window.end_time", "after_start", "the attack window must end after it starts")
	case d.Scope.Empty():
		return apierr.InvalidArgument("scope", "required", "name at least one compromised principal, network or firm")
	}
	return nil
}

// Entry is one append-only line of an incident's record.
type Entry struct {
	IncidentID string
	Seq        int
	Kind       EntryKind
	Actor      string
	Time       time.Time
	// Declaration is set on EntryDeclared.
	Declaration *Declaration `json:",omitempty"`
	// Scope is what EntryScopeWidened adds.
	Scope *Scope `json:",omitempty"`
	// Firms are the firms EntryNoticesSent told.
	Firms []string `json:",omitempty"`
}

// Incident is the state its entries add up to. It is never stored: each read folds
// the record, so the record alone is the truth.
type Incident struct {
	ID          string
	Declaration Declaration
	// Scope is the declared scope with every widening.
	Scope    Scope
	Notified []string
	Closed   bool
	Entries  []Entry
}

// Deadline is when every impacted firm must have been told.
func (i Incident) Deadline() time.Time { return i.Declaration.AwareAt.Add(NoticeDeadline) }

// Fold rebuilds an incident from its entries in order.
func Fold(entries []Entry) (Incident, error) {
	if len(entries) == 0 || entries[0].Kind != EntryDeclared || entries[0].Declaration == nil {
		return Incident{}, fmt.Errorf("incident record must start with a declaration")
	}
	inc := Incident{ID: entries[0].IncidentID, Declaration: *entries[0].Declaration, Scope: entries[0].Declaration.Scope, Entries: entries}
	for _, e := range entries[1:] {
		switch e.Kind {
		case EntryScopeWidened:
			inc.Scope = inc.Scope.Union(*e.Scope)
		case EntryNoticesSent:
			inc.Notified = union(inc.Notified, e.Firms)
		case EntryClosed:
			inc.Closed = true
		}
	}
	inc.Declaration.Scope = inc.Scope
	return inc, nil
}

// Next is the entry that appends kind to the incident; a closed incident takes none.
func (i Incident) Next(kind EntryKind, actor string, now time.Time) (Entry, error) {
	if i.Closed {
		return Entry{}, apierr.FailedPrecondition("INCIDENT_CLOSED", "the incident is closed; declare a new one")
	}
	return Entry{IncidentID: i.ID, Seq: len(i.Entries) + 1, Kind: kind, Actor: actor, Time: now}, nil
}

// AccessEvent is one request of the audit log, as the impact analysis reads it.
type AccessEvent struct {
	FirmID    string
	Sequence  int64
	Time      time.Time
	Actor     string
	ClientIP  string
	Resources []string
}

// Touches reports whether the event is the attacker's: in the window, and by a
// compromised principal, from a compromised network, or in a firm compromised whole.
func (i Incident) Touches(e AccessEvent) bool {
	if !i.Declaration.Window.Contains(e.Time) {
		return false
	}
	if slices.Contains(i.Scope.Principals, e.Actor) || slices.Contains(i.Scope.Firms, e.FirmID) {
		return true
	}
	if addr, err := netip.ParseAddr(e.ClientIP); err == nil {
		addr = addr.Unmap()
		for _, n := range i.Scope.Networks {
			if n.Contains(addr) {
				return true
			}
		}
	}
	return false
}

// FirmImpact is what the incident touched in one firm.
type FirmImpact struct {
	FirmID string
	// Resources are the resource names touched, never their values.
	Resources []string
	// Events are the audit sequences of the touching events.
	Events      []int64
	First, Last time.Time
}

// Compromised answers, per firm, the compromised API keys and members whose events the
// incident touches there: what containment revokes.
func (i Incident) Compromised(events []AccessEvent) (apiKeys, members []string) {
	seen := map[string]bool{}
	for _, e := range events {
		if !i.Touches(e) || !slices.Contains(i.Scope.Principals, e.Actor) || seen[e.FirmID+e.Actor] {
			continue
		}
		seen[e.FirmID+e.Actor] = true
		if id, ok := strings.CutPrefix(e.Actor, "apiKeys/"); ok {
			apiKeys = append(apiKeys, "firms/"+e.FirmID+"/apiKeys/"+id)
		} else if id, ok := strings.CutPrefix(e.Actor, "users/"); ok {
			members = append(members, "firms/"+e.FirmID+"/members/"+id)
		}
	}
	slices.Sort(apiKeys)
	slices.Sort(members)
	return apiKeys, members
}

// Impact keeps exactly the events the incident touches, grouped by firm in firm order.
func (i Incident) Impact(events []AccessEvent) []FirmImpact {
	byFirm := map[string]*FirmImpact{}
	for _, e := range events {
		if !i.Touches(e) || e.FirmID == "" {
			continue
		}
		f := byFirm[e.FirmID]
		if f == nil {
			f = &FirmImpact{FirmID: e.FirmID, First: e.Time, Last: e.Time}
			byFirm[e.FirmID] = f
		}
		f.Events = append(f.Events, e.Sequence)
		f.Resources = union(f.Resources, e.Resources)
		if e.Time.Before(f.First) {
			f.First = e.Time
		}
		if e.Time.After(f.Last) {
			f.Last = e.Time
		}
	}
	out := make([]FirmImpact, 0, len(byFirm))
	for _, f := range byFirm {
		slices.Sort(f.Events)
		out = append(out, *f)
	}
	sort.Slice(out, func(a, b int) bool { return out[a].FirmID < out[b].FirmID })
	return out
}

// Overdue are the impacted firms not yet told once the deadline has passed.
func (i Incident) Overdue(impacted []string, now time.Time) []string {
	if now.Before(i.Deadline()) {
		return nil
	}
	var out []string
	for _, f := range impacted {
		if !slices.Contains(i.Notified, f) {
			out = append(out, f)
		}
	}
	return out
}

// NoticeText is the notice a firm reads: what happened, what of theirs was touched
// (names only), when, and what to do.
func NoticeText(d Declaration, impact FirmImpact) string {
	var b strings.Builder
	fmt.Fprintf(&b, "Security incident: %s\n", d.Summary)
	fmt.Fprintf(&b, "Activity on your firm between %s and %s (UTC) was made by a compromised principal or address.\n",
		impact.First.UTC().Format(time.RFC3339), impact.Last.UTC().Format(time.RFC3339))
	fmt.Fprintf(&b, "Resources touched (%d requests):\n", len(impact.Events))
	for _, r := range impact.Resources {
		fmt.Fprintf(&b, "- %s\n", r)
	}
	if d.Advice != "" {
		fmt.Fprintf(&b, "What to do: %s\n", d.Advice)
	}
	return b.String()
}
