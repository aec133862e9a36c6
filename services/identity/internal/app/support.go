package app

import (
	"context"
	"strings"
	"time"

	"google.golang.org/protobuf/types/known/timestamppb"

	eventsv1 "github.com/firmflow/firmflow/pkg/gen/firmflow/events/v1"
	"github.com/firmflow/firmflow/pkg/paging"
	"github.com/firmflow/firmflow/pkg/principal"
	"github.com/firmflow/firmflow/pkg/resource"
	"github.com/firmflow/firmflow/services/identity/internal/domain"
	"github.com/firmflow/firmflow/services/identity/internal/store"
)

// sweepActor names the expiry sweeper in events.
const sweepActor = "system"

// sweepBatch bounds one sweep; what is left waits for the next.
const sweepBatch = 500

// RequestSupportAccess is a staff member asking to enter firmID; the firm's owners and
// admins are notified.
func (a *App) RequestSupportAccess(ctx context.Context, p principal.Principal, firmID, reason, ticket string) (domain.SupportGrant, error) {
	var g domain.SupportGrant
	err := a.store.InFirm(ctx, firmID, func(q *store.Queries) error {
		if _, err := q.Firm(ctx, firmID); err != nil {
			return err
		}
		s, err := q.Staff(ctx, p.StaffID)
		if err != nil {
			return err
		}
		now := a.now()
		if g, err = domain.NewSupportRequest(newID(), firmID, s, reason, ticket, now); err != nil {
			return err
		}
		if err := q.CreateSupportGrant(ctx, g); err != nil {
			return err
		}
		return a.announce(ctx, q, g, domain.NoticeSupportRequested, p.Actor(), now)
	})
	return g, err
}

// MySupportGrants lists a page of the calling staff member's grants in every firm,
// newest first.
func (a *App) MySupportGrants(ctx context.Context, p principal.Principal, page paging.Page) ([]domain.SupportGrant, bool, error) {
	var grants []domain.SupportGrant
	err := a.store.InRealm(ctx, func(q *store.Queries) error {
		var before *time.Time
		var beforeID string
		if page.After != nil {
			before, beforeID = &page.After.Time, page.After.ID
		}
		var err error
		grants, err = q.StaffSupportGrants(ctx, p.StaffID, before, beforeID, page.Size+1)
		return err
	})
	more := len(grants) > page.Size
	return grants[:min(len(grants), page.Size)], more, err
}

// SupportGrants lists a page of the firm's support grants, newest first.
func (a *App) SupportGrants(ctx context.Context, p principal.Principal, firmID string, page paging.Page) ([]domain.SupportGrant, bool, error) {
	var grants []domain.SupportGrant
	var more bool
	err := a.inFirm(ctx, p, firmID, func(q *store.Queries) error {
		var err error
		grants, more, err = q.SupportGrants(ctx, page)
		return err
	})
	return grants, more, err
}

// SupportGrant returns one of the firm's support grants.
func (a *App) SupportGrant(ctx context.Context, p principal.Principal, firmID, grantID string) (domain.SupportGrant, error) {
	var g domain.SupportGrant
	err := a.inFirm(ctx, p, firmID, func(q *store.Queries) error {
		var err error
		g, err = q.SupportGrant(ctx, grantID)
		return err
	})
	return g, err
}

// ApproveSupportGrant lets the staff member in with scope (read when empty) for ttl
// (the default when zero).
func (a *App) ApproveSupportGrant(ctx context.Context, p principal.Principal, firmID, grantID string, scope principal.GrantScope, ttl time.Duration) (domain.SupportGrant, error) {
	return a.decide(ctx, p, firmID, grantID, domain.NoticeSupportApproved, func(g *domain.SupportGrant, now time.Time) (bool, error) {
		return true, g.Approve(scope, ttl, p.Actor(), now)
	})
}

// DenySupportGrant refuses a pending request.
func (a *App) DenySupportGrant(ctx context.Context, p principal.Principal, firmID, grantID string) (domain.SupportGrant, error) {
	return a.decide(ctx, p, firmID, grantID, domain.NoticeSupportDenied, func(g *domain.SupportGrant, now time.Time) (bool, error) {
		return true, g.Deny(p.Actor(), now)
	})
}

// RevokeSupportGrant ends a grant or withdraws a request; the staff member's next
// request is refused.
func (a *App) RevokeSupportGrant(ctx context.Context, p principal.Principal, firmID, grantID string) (domain.SupportGrant, error) {
	return a.decide(ctx, p, firmID, grantID, domain.NoticeSupportRevoked, func(g *domain.SupportGrant, now time.Time) (bool, error) {
		return g.Revoke(p.Actor(), now)
	})
}

// decide applies one of the firm's answers to a grant under its row lock, and when it
// changed the grant, saves it and tells the firm.
func (a *App) decide(ctx context.Context, p principal.Principal, firmID, grantID string, kind domain.NotificationKind,
	change func(*domain.SupportGrant, time.Time) (bool, error)) (domain.SupportGrant, error) {
	var g domain.SupportGrant
	err := a.inFirm(ctx, p, firmID, func(q *store.Queries) error {
		var err error
		if g, err = q.SupportGrantForUpdate(ctx, grantID); err != nil {
			return err
		}
		now := a.now()
		changed, err := change(&g, now)
		if err != nil || !changed {
			return err
		}
		if err := q.SaveSupportGrant(ctx, g); err != nil {
			return err
		}
		return a.announce(ctx, q, g, kind, p.Actor(), now)
	})
	return g, err
}

// Notifications lists a page of the firm's notifications, newest first.
func (a *App) Notifications(ctx context.Context, p principal.Principal, firmID string, page paging.Page) ([]domain.Notification, bool, error) {
	var notes []domain.Notification
	var more bool
	err := a.inFirm(ctx, p, firmID, func(q *store.Queries) error {
		var err error
		notes, more, err = q.Notifications(ctx, page)
		return err
	})
	return notes, more, err
}

// SweepSupportGrants tells each firm, once, about its grants and requests that ran
// out by now. Expiry itself needs no sweep (every request checks the time); this is
// only the notice. It returns how many expired grants it found to announce (a second
// sweeper running at once may have written some of those notices); a grant revoked
// while the sweep ran is left alone.
func (a *App) SweepSupportGrants(ctx context.Context, now time.Time) (int, error) {
	var refs []store.GrantRef
	err := a.store.InRealm(ctx, func(q *store.Queries) error {
		var err error
		refs, err = q.ExpiredGrantsToNotify(ctx, now, sweepBatch)
		return err
	})
	if err != nil {
		return 0, err
	}
	announced := 0
	for _, r := range refs {
		err := a.store.InFirm(ctx, r.FirmID, func(q *store.Queries) error {
			g, err := q.SupportGrantForUpdate(ctx, r.GrantID)
			if err != nil || g.State(now) != domain.GrantExpired {
				return err
			}
			announced++
			return a.announce(ctx, q, g, domain.NoticeSupportExpired, sweepActor, now)
		})
		if err != nil {
			return announced, err
		}
	}
	return announced, nil
}

// announce writes the firm's notification of kind about g and, with it, the event
// that puts it in the firm's audit log. A kind the grant already had is not repeated.
func (a *App) announce(ctx context.Context, q *store.Queries, g domain.SupportGrant, kind domain.NotificationKind, actor string, now time.Time) error {
	added, err := q.AddNotification(ctx, domain.SupportNotice(newID(), kind, g, now))
	if err != nil || !added {
		return err
	}
	event := "support_grant_" + strings.TrimPrefix(string(kind), "support_")
	return emit(ctx, q, g.FirmID, actor, event, &eventsv1.SupportGrantChanged{
		SupportGrant: supportGrantName(g), Staff: "staff/" + g.StaffID, Scope: string(g.Scope),
		Ticket: g.Ticket, ExpireTime: timestamppb.New(g.ExpireTime),
	})
}

func supportGrantName(g domain.SupportGrant) string {
	return resource.Name("firms", g.FirmID, "supportGrants", g.ID)
}
