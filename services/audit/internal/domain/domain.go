// Package domain is the audit log's rules: what an access or change becomes in a
// firm's chain, what a query may filter on, and how long events are kept. It knows
// nothing of NATS, gRPC or SQL.
package domain

import (
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/google/uuid"

	"github.com/firmflow/firmflow/pkg/apierr"
	"github.com/firmflow/firmflow/services/audit/chain"
)

// Kinds of event.
const (
	KindAccess = "access"
	KindChange = "change"
)

// Categories. Requests come categorised by the gateway (general, auth, billing);
// changes are "change", or "billing" for billing's, so that one filter finds every
// access to and change of payment and billing data.
const (
	CategoryGeneral = "general"
	CategoryChange  = "change"
	CategoryBilling = "billing"
)

// CodeOK is the outcome of every change and of successful requests.
const CodeOK = "OK"

// Anonymous is the actor of a request without a valid credential.
const Anonymous = "anonymous"

// Field limits: what the gateway and services send is far below them; longer values
// are cut rather than refused, since the log must take every event.
const (
	maxShortText = 64
	maxText      = 512
	maxResources = 32
)

// eventIDSpace derives stable ids for events that arrive without a UUID, so that a
// redelivery of such an event is still recognised.
var eventIDSpace = uuid.MustParse("6f1c3f2e-5d0a-4a7e-9a51-2b8c3d4e5f60")

// Access is one request as the gateway reported it.
type Access struct {
	EventID    string // a UUID; anything else is mapped to a stable UUID
	Firm       string // firms/{id}, or empty for a request without a valid credential
	Actor      string
	Category   string
	RPCMethod  string
	HTTPMethod string
	Route      string
	Resources  []string
	Code       string
	Time       time.Time
	Subject    string
	Payload    []byte
}

// Event is the request as an entry of its firm's chain, not yet appended. Requests
// of no firm go to the system chain (chain.SystemFirm).
func (a Access) Event() chain.Event {
	action := strings.TrimPrefix(a.RPCMethod, "/")
	if action == "" {
		action = strings.TrimSpace(a.HTTPMethod + " " + a.Route)
	}
	return chain.Event{
		FirmID:    firmOf(strings.TrimPrefix(a.Firm, "firms/")),
		ID:        EventID(a.EventID),
		Time:      a.Time,
		Kind:      KindAccess,
		Category:  text(orDefault(a.Category, CategoryGeneral), maxShortText),
		Actor:     text(orDefault(a.Actor, Anonymous), maxText),
		Action:    text(action, maxText),
		Resources: resources(a.Resources),
		Code:      text(orDefault(a.Code, "UNKNOWN"), maxShortText),
		Subject:   text(a.Subject, maxText),
		Payload:   a.Payload,
	}
}

// Change is one change a service announced through its outbox.
type Change struct {
	EventID  string
	FirmID   string
	Actor    string
	Subject  string // firmflow.<service>.<event>
	Resource string // the resource the payload names first, if any
	Time     time.Time
	Payload  []byte
}

// Event is the change as an entry of its firm's chain, not yet appended.
func (c Change) Event() chain.Event {
	category := CategoryChange
	if strings.HasPrefix(c.Subject, "firmflow.billing.") {
		category = CategoryBilling
	}
	var res []string
	if c.Resource != "" {
		res = resources([]string{c.Resource})
	}
	return chain.Event{
		FirmID:    firmOf(c.FirmID),
		ID:        EventID(c.EventID),
		Time:      c.Time,
		Kind:      KindChange,
		Category:  category,
		Actor:     text(c.Actor, maxText),
		Action:    text(c.Subject, maxText),
		Resources: res,
		Code:      CodeOK,
		Subject:   text(c.Subject, maxText),
		Payload:   c.Payload,
	}
}

// EventID is the UUID an event is known by: its own id when that is a UUID, else a
// UUID derived from whatever identified it.
func EventID(raw string) uuid.UUID {
	if id, err := uuid.Parse(raw); err == nil {
		return id
	}
	return uuid.NewSHA1(eventIDSpace, []byte(raw))
}

func firmOf(id string) uuid.UUID {
	firm, err := uuid.Parse(id)
	if err != nil {
		return chain.SystemFirm
	}
	return firm
}

// resources keeps up to maxResources non-empty names without control characters,
// which no resource name has (and which the store uses as a separator).
func resources(names []string) []string {
	out := make([]string, 0, min(len(names), maxResources))
	for _, n := range names {
		n = text(strings.Map(dropControl, n), maxText)
		if n != "" && len(out) < maxResources {
			out = append(out, n)
		}
	}
	return out
}

func dropControl(r rune) rune {
	if unicode.IsControl(r) {
		return -1
	}
	return r
}

// text makes s storable and hashable the same way everywhere: valid UTF-8 without
// NUL bytes (PostgreSQL refuses both), at most n bytes.
func text(s string, n int) string {
	s = strings.ToValidUTF8(s, "\uFFFD")
	s = strings.ReplaceAll(s, "\x00", "")
	if len(s) <= n {
		return s
	}
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n]
}

func orDefault(s, def string) string {
	if s == "" {
		return def
	}
	return s
}

// Outcome filters requests by their result.
type Outcome int

const (
	AnyOutcome Outcome = iota
	Succeeded
	Failed
)

// Filter is what a query of the log selects on; zero fields select everything.
type Filter struct {
	Actor    string
	Action   string
	Resource string
	Category string
	Kind     string
	Outcome  Outcome
	Start    time.Time // inclusive
	End      time.Time // exclusive
}

// Key is a canonical string of the filter, which page tokens are bound to.
func (f Filter) Key() string {
	return strings.Join([]string{
		f.Actor, f.Action, f.Resource, f.Category, f.Kind, string(rune('0' + f.Outcome)),
		f.Start.UTC().Format(time.RFC3339Nano), f.End.UTC().Format(time.RFC3339Nano),
	}, "\x1f")
}

// Validate refuses a time range that ends before it starts.
func (f Filter) Validate() error {
	if !f.Start.IsZero() && !f.End.IsZero() && !f.End.After(f.Start) {
		return apierr.InvalidArgument("end_time", "time_range", "must be after start_time")
	}
	return nil
}

// Retention bounds, in days.
const (
	DefaultRetentionDays = 400
	MaxRetentionDays     = 3650
)

// Settings are how a firm's audit log is kept.
type Settings struct {
	FirmID        string
	RetentionDays int
}

// DefaultSettings apply to a firm that never changed them.
func DefaultSettings(firmID string) Settings {
	return Settings{FirmID: firmID, RetentionDays: DefaultRetentionDays}
}

// Lengthen keeps events for days from now on. Retention never shrinks: a shorter
// period would let someone with an admin's access erase the record of what they did.
func (s *Settings) Lengthen(days int) error {
	if days < DefaultRetentionDays || days > MaxRetentionDays {
		return apierr.InvalidArgument("settings.retention_days", "int32.range", "must be between 400 and 3650")
	}
	if days < s.RetentionDays {
		return apierr.FailedPrecondition("RETENTION_SHORTENED", "audit retention can be lengthened but never shortened")
	}
	s.RetentionDays = days
	return nil
}
