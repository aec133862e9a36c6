// Package eventapi is billing's event surface, as grpcapi is its RPC surface: each
// handler decodes one identity event and calls one use case.
package eventapi

import (
	"context"
	"fmt"

	eventsv1 "github.com/firmflow/firmflow/pkg/gen/firmflow/events/v1"
	"github.com/firmflow/firmflow/pkg/inbox"
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
			if err := inbox.Unmarshal(m, &e); err != nil {
				return err
			}
			if e.GetFirm() != "firms/"+m.FirmID {
				return inbox.Permanent(fmt.Errorf("%s names firm %q under firm header %s", m.Subject, e.GetFirm(), m.FirmID))
			}
			return a.CreateCustomer(ctx, m)
		case MemberJoined:
			var e eventsv1.MemberJoined
			if _, err := inbox.Member(m, &e); err != nil {
				return err
			}
			return a.CountMembers(ctx, m, int(e.GetActiveMembers()))
		case MemberRemoved:
			var e eventsv1.MemberRemoved
			if _, err := inbox.Member(m, &e); err != nil {
				return err
			}
			return a.CountMembers(ctx, m, int(e.GetActiveMembers()))
		}
		return nil
	}
}
