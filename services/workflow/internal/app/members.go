package app

import (
	"context"
	"errors"
	"time"

	"github.com/google/uuid"

	"github.com/firmflow/firmflow/pkg/apierr"
	eventsv1 "github.com/firmflow/firmflow/pkg/gen/firmflow/events/v1"
	"github.com/firmflow/firmflow/pkg/inbox"
	"github.com/firmflow/firmflow/services/workflow/internal/domain"
	"github.com/firmflow/firmflow/services/workflow/internal/store"
)

// Workflow knows the firm's members from identity's member_joined and member_removed
// events. A write that names a member (an assignee, a capacity) is refused unless
// that member is in the firm. Identity's event follows its commit by milliseconds,
// so a reference to someone workflow has not heard of yet waits for the event, up to
// memberWait, before it is refused: an invitation accepted a moment ago works.

// defaultMemberWait bounds that wait; longer than the outbox relay's usual delay by
// far, short enough that a wrong id is answered promptly.
const defaultMemberWait = 2 * time.Second

// memberRef is one field of a request that names a member.
type memberRef struct {
	field, id string
}

// optionalMember is the reference a patch makes when it sets the field.
func optionalMember(field string, id *string) memberRef {
	if id == nil {
		return memberRef{field: field}
	}
	return memberRef{field, *id}
}

// unknownMember is a reference to an id no identity event has mentioned yet.
type unknownMember struct{ ref memberRef }

func (u unknownMember) Error() string { return u.ref.field + " names a member not known yet" }

func notMember(field string) error {
	return apierr.InvalidArgument(field, "member", "is not a member of this firm")
}

// requireMembers refuses references to anyone who is not a member of the firm, and
// holds the members named against removal until the transaction ends, so a removal
// that races the write clears what it wrote. Empty ids are no reference.
func requireMembers(ctx context.Context, q *store.Queries, refs ...memberRef) error {
	ids := make([]string, 0, len(refs))
	for _, r := range refs {
		if r.id == "" {
			continue
		}
		if _, err := uuid.Parse(r.id); err != nil {
			return notMember(r.field)
		}
		ids = append(ids, r.id)
	}
	if len(ids) == 0 {
		return nil
	}
	known, err := q.Memberships(ctx, ids)
	if err != nil {
		return err
	}
	for _, r := range refs {
		switch {
		case r.id == "" || known[r.id] == domain.MembershipActive:
		case known[r.id] == domain.MembershipRemoved:
			return notMember(r.field)
		default:
			return unknownMember{ref: r}
		}
	}
	return nil
}

// awaitMember polls until an event about the member has arrived or the wait is
// over; the caller then runs its use case once more and gets the verdict.
func (a *App) awaitMember(ctx context.Context, firmID, memberID string) error {
	deadline := time.Now().Add(a.memberWait)
	for time.Now().Before(deadline) {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(20 * time.Millisecond):
		}
		var known map[string]domain.Membership
		err := a.store.InFirm(ctx, firmID, func(q *store.Queries) (err error) {
			known, err = q.Memberships(ctx, []string{memberID})
			return err
		})
		if err != nil {
			return err
		}
		if known[memberID] != domain.MembershipUnknown {
			return nil
		}
	}
	return nil
}

// runAwaitingMembers runs fn in the firm; when it names a member not known yet, it
// waits for identity's event and runs fn once more. fn must change nothing it did
// not write in its own transaction, as every use case here does.
func (a *App) runAwaitingMembers(ctx context.Context, firmID string, fn func(*store.Queries) error) error {
	err := a.store.InFirm(ctx, firmID, fn)
	var u unknownMember
	if !errors.As(err, &u) {
		return err
	}
	if err := a.awaitMember(ctx, firmID, u.ref.id); err != nil {
		return err
	}
	if err = a.store.InFirm(ctx, firmID, fn); errors.As(err, &u) {
		return notMember(u.ref.field)
	}
	return err
}

// MemberJoined records a member of the firm, from identity's member_joined event.
func (a *App) MemberJoined(ctx context.Context, m inbox.Message, memberID string) error {
	return a.store.InFirm(ctx, m.FirmID, func(q *store.Queries) error {
		if first, err := q.RecordEvent(ctx, m); err != nil || !first {
			return err
		}
		return q.JoinMember(ctx, memberID, m.OccurredAt)
	})
}

// MemberRemoved records that a member left the firm, from identity's member_removed
// event, and releases their open work: tasks not complete, projects not completed
// and series lose them as assignee (the firm assigns someone else), clients drop
// them from their assignees and member fields, and their capacity goes. Each change is announced as
// the firm's own edits are, by the actor who removed the member.
func (a *App) MemberRemoved(ctx context.Context, m inbox.Message, memberID string) error {
	return a.store.InFirm(ctx, m.FirmID, func(q *store.Queries) error {
		if first, err := q.RecordEvent(ctx, m); err != nil || !first {
			return err
		}
		if err := q.RemoveMember(ctx, memberID, m.OccurredAt); err != nil {
			return err
		}
		released, err := q.ReleaseWork(ctx, memberID, a.stamp())
		if err != nil {
			return err
		}
		firmID := m.FirmID
		assignee := []string{"assignee"}
		events := newEventBatch(q, m.Actor)
		for _, t := range released.Tasks {
			events.add("task_updated", &eventsv1.TaskChanged{
				Task: taskName(firmID, t.ProjectID, t.ID), Project: projectName(firmID, t.ProjectID), ChangedFields: assignee, Status: string(t.Status),
			})
		}
		for _, p := range released.Projects {
			events.add("project_updated", &eventsv1.ProjectChanged{
				Project: projectName(firmID, p.ID), Client: ClientName(firmID, p.ClientID), ChangedFields: assignee,
			})
		}
		for _, id := range released.SeriesIDs {
			events.add("series_updated", &eventsv1.SeriesChanged{Series: seriesName(firmID, id), ChangedFields: assignee})
		}
		for _, c := range released.Clients {
			events.add("client_updated", &eventsv1.ClientUpdated{Client: ClientName(firmID, c.ID), ChangedFields: c.Fields})
		}
		if released.Capacities > 0 {
			events.add("member_capacity_changed", &eventsv1.MemberCapacityChanged{
				Member: workMemberName(firmID, memberID), WeeklyMinutes: int32(domain.DefaultWeeklyCapacityMinutes),
			})
		}
		return events.write(ctx, q)
	})
}
