// Package eventapi is billing's event surface, as grpcapi is its RPC surface: each
// handler decodes one identity event and calls one use case.
package eventapi

import (
	"context"
	"fmt"

	"google.golang.org/protobuf/proto"

	eventsv1 "github.com/firmflow/firmflow/pkg/gen/firmflow/events/v1"
	"github.com/firmflow/firmflow/pkg/inbox"
	"github.com/firmflow/firmflow/pkg/resource"
	"github.com/firmflow/firmflow/services/billing/internal/app"
)

// The identity events billing consumes.
const (
	FirmCreated   = "firmflow.identity.firm_created"
	MemberJoined  = "firmflow.identity.member_joined"
	MemberRemoved = "firmflow.identity.member_removed"
)

// Consumer is billing's durable consumer of identity's stream.
func Consumer() inbox.Config {
	return inbox.Config{
		Stream:   "FIRMFLOW_IDENTITY",
		Durable:  "billing",
		Subjects: []string{FirmCreated, MemberJoined, MemberRemoved},
	}
}

// Handler applies identity's events to billing.
func Handler(a *app.App) inbox.Handler {
	return func(ctx context.Context, m inbox.Message) error {
		switch m.Subject {
		case FirmCreated:
			var e eventsv1.FirmCreated
			if err := decode(m, &e); err != nil {
				return err
			}
			if e.GetFirm() != "firms/"+m.FirmID {
				return inbox.Permanent(fmt.Errorf("%s names firm %q under firm header %s", m.Subject, e.GetFirm(), m.FirmID))
			}
			return a.CreateCustomer(ctx, m)
		case MemberJoined:
			var e eventsv1.MemberJoined
			if err := decode(m, &e); err != nil {
				return err
			}
			if err := ofFirm(m, e.GetMember()); err != nil {
				return err
			}
			return a.CountMembers(ctx, m, int(e.GetActiveMembers()))
		case MemberRemoved:
			var e eventsv1.MemberRemoved
			if err := decode(m, &e); err != nil {
				return err
			}
			if err := ofFirm(m, e.GetMember()); err != nil {
				return err
			}
			return a.CountMembers(ctx, m, int(e.GetActiveMembers()))
		}
		return nil
	}
}

func decode(m inbox.Message, into proto.Message) error {
	if err := proto.Unmarshal(m.Data, into); err != nil {
		return inbox.Permanent(fmt.Errorf("decode %s: %w", m.Subject, err))
	}
	return nil
}

// ofFirm checks that a member event's member belongs to the firm in its headers.
func ofFirm(m inbox.Message, member string) error {
	if ids, err := resource.Parse("member", member, "firms/{firm}/members/{member}"); err != nil || ids[0] != m.FirmID {
		return inbox.Permanent(fmt.Errorf("%s names member %q under firm header %s", m.Subject, member, m.FirmID))
	}
	return nil
}
