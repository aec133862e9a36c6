package domain

import (
	"fmt"
	"time"

	"github.com/firmflow/firmflow/pkg/apierr"
	"github.com/firmflow/firmflow/pkg/principal"
)

// GrantState is where a support grant is. Requested, approved, denied and revoked
// are stored; expired is worked out from the time, so a grant ends at its
// expire_time without anything having to run.
type GrantState string

const (
	GrantRequested GrantState = "requested"
	GrantApproved  GrantState = "approved"
	GrantDenied    GrantState = "denied"
	GrantRevoked   GrantState = "revoked"
	GrantExpired   GrantState = "expired"
)

// Support grant timing.
const (
	// RequestLifetime is how long a request waits for the firm's answer.
	RequestLifetime = 12 * time.Hour
	// DefaultGrantTTL is how long an approved grant lasts unless the firm says otherwise.
	DefaultGrantTTL = 4 * time.Hour
	// MaxGrantTTL is the longest a firm can let a staff member in at once.
	MaxGrantTTL = 72 * time.Hour
	// MinGrantTTL keeps a grant long enough to be of use.
	MinGrantTTL = time.Minute
)

// OffboardingActor is who revokes grants when a staff member leaves.
const OffboardingActor = "operator"

// SupportGrant is a staff member's permission to act inside one firm for a while,
// asked for with a reason and a ticket, and answered by the firm's owners or admins.
type SupportGrant struct {
	ID          string
	FirmID      string
	StaffID     string
	StaffEmail  string // as when requested, so the firm's record outlives changes
	StaffName   string
	Reason      string
	Ticket      string
	Status      GrantState // stored state: never GrantExpired
	Scope       principal.GrantScope
	RequestTime time.Time
	DecidedBy   string
	DecideTime  time.Time
	// ExpireTime is when a pending request lapses, and once approved when the grant ends.
	ExpireTime   time.Time
	FirstUseTime time.Time
	RevokeTime   time.Time
	RevokedBy    string
}

// NewSupportRequest is s asking to enter firmID.
func NewSupportRequest(id, firmID string, s Staff, reason, ticket string, now time.Time) (SupportGrant, error) {
	if !s.Active() {
		return SupportGrant{}, apierr.PermissionDenied("STAFF_OFFBOARDED", "this staff account is closed")
	}
	return SupportGrant{
		ID: id, FirmID: firmID, StaffID: s.ID, StaffEmail: s.Email, StaffName: s.DisplayName,
		Reason: reason, Ticket: ticket, Status: GrantRequested,
		RequestTime: now, ExpireTime: now.Add(RequestLifetime),
	}, nil
}

// State at now.
func (g SupportGrant) State(now time.Time) GrantState {
	if (g.Status == GrantRequested || g.Status == GrantApproved) && !now.Before(g.ExpireTime) {
		return GrantExpired
	}
	return g.Status
}

// Opens reports whether the grant lets staffID into its firm at now.
func (g SupportGrant) Opens(staffID string, now time.Time) bool {
	return g.StaffID == staffID && g.State(now) == GrantApproved
}

// Approve lets the staff member in with scope (read when empty) for ttl (the default
// when zero).
func (g *SupportGrant) Approve(scope principal.GrantScope, ttl time.Duration, by string, now time.Time) error {
	if scope == "" {
		scope = principal.GrantRead
	}
	if scope != principal.GrantRead && scope != principal.GrantWrite {
		return apierr.InvalidArgument("scope", "scope.known", "use SUPPORT_SCOPE_READ or SUPPORT_SCOPE_WRITE")
	}
	if ttl == 0 {
		ttl = DefaultGrantTTL
	}
	if ttl < MinGrantTTL || ttl > MaxGrantTTL {
		return apierr.InvalidArgument("ttl", "ttl.range", "must be between 1 minute and 72 hours")
	}
	if err := g.requireRequested(now); err != nil {
		return err
	}
	g.Status, g.Scope, g.DecidedBy, g.DecideTime, g.ExpireTime = GrantApproved, scope, by, now, now.Add(ttl)
	return nil
}

// Deny refuses a pending request.
func (g *SupportGrant) Deny(by string, now time.Time) error {
	if err := g.requireRequested(now); err != nil {
		return err
	}
	g.Status, g.DecidedBy, g.DecideTime = GrantDenied, by, now
	return nil
}

// Revoke ends a live grant or withdraws a pending request at now. It reports whether
// anything changed: revoking twice is harmless, revoking what already ended is an error.
func (g *SupportGrant) Revoke(by string, now time.Time) (bool, error) {
	switch g.State(now) {
	case GrantRevoked:
		return false, nil
	case GrantRequested, GrantApproved:
		g.Status, g.RevokeTime, g.RevokedBy = GrantRevoked, now, by
		return true, nil
	}
	return false, apierr.FailedPrecondition("SUPPORT_GRANT_ENDED", "the grant was denied or has expired; there is nothing to revoke")
}

func (g SupportGrant) requireRequested(now time.Time) error {
	if g.State(now) != GrantRequested {
		return apierr.FailedPrecondition("SUPPORT_GRANT_NOT_REQUESTED",
			"only a pending request can be approved or denied; this one is "+string(g.State(now)))
	}
	return nil
}

// NotificationKind is what a notification tells the firm.
type NotificationKind string

const (
	NoticeSupportRequested NotificationKind = "support_requested"
	NoticeSupportApproved  NotificationKind = "support_approved"
	NoticeSupportDenied    NotificationKind = "support_denied"
	NoticeSupportFirstUsed NotificationKind = "support_first_used"
	NoticeSupportExpired   NotificationKind = "support_expired"
	NoticeSupportRevoked   NotificationKind = "support_revoked"
	// NoticeIncident is a security incident's notice, posted by lifecycle.
	NoticeIncident NotificationKind = "incident"
	// NoticeWebhookDisabled says workflow stopped sending to a webhook subscription
	// whose deliveries failed for a day.
	NoticeWebhookDisabled NotificationKind = "webhook_disabled"
)

// Notification tells a firm's owners and admins about something that happened to
// their firm. Each kind is written at most once per grant.
type Notification struct {
	ID      string
	FirmID  string
	Kind    NotificationKind
	GrantID string
	// IncidentID is set on NoticeIncident.
	IncidentID string
	// WebhookSubscription is set on NoticeWebhookDisabled: its resource name.
	WebhookSubscription string
	Text                string
	CreateTime          time.Time
}

// SupportNotice is the notification of kind about g.
func SupportNotice(id string, kind NotificationKind, g SupportGrant, now time.Time) Notification {
	who := fmt.Sprintf("%s (%s)", g.StaffName, g.StaffEmail)
	var text string
	switch kind {
	case NoticeSupportRequested:
		text = fmt.Sprintf("%s of firmflow support asks for access to your firm: %s (ticket %s).", who, g.Reason, g.Ticket)
	case NoticeSupportApproved:
		text = fmt.Sprintf("Support access for %s approved, %s, until %s.", who, scopeWords(g.Scope), g.ExpireTime.UTC().Format("2006-01-02 15:04 MST"))
	case NoticeSupportDenied:
		text = fmt.Sprintf("Support access request from %s denied.", who)
	case NoticeSupportFirstUsed:
		text = fmt.Sprintf("%s started using support access (%s).", who, scopeWords(g.Scope))
	case NoticeSupportExpired:
		if g.Status == GrantRequested {
			text = fmt.Sprintf("Support access request from %s expired unanswered.", who)
		} else {
			text = fmt.Sprintf("Support access for %s expired.", who)
		}
	case NoticeSupportRevoked:
		if g.RevokedBy == OffboardingActor {
			text = fmt.Sprintf("Support access for %s revoked: they no longer work at firmflow.", who)
		} else {
			text = fmt.Sprintf("Support access for %s revoked.", who)
		}
	}
	return Notification{ID: id, FirmID: g.FirmID, Kind: kind, GrantID: g.ID, Text: text, CreateTime: now}
}

func scopeWords(s principal.GrantScope) string {
	if s == principal.GrantWrite {
		return "read and write"
	}
	return "read-only"
}
