// Package eventapi is workflow's event surface, as grpcapi is its RPC surface: each
// handler decodes one identity event and calls one use case.
package eventapi

import (
	"context"

	eventsv1 "github.com/firmflow/firmflow/pkg/gen/firmflow/events/v1"
	"github.com/firmflow/firmflow/pkg/inbox"
	"github.com/firmflow/firmflow/services/workflow/internal/app"
)

// The identity events workflow consumes: who is a member of each firm. The owner who
// signs a firm up joins it with a member_joined event too.
const (
	MemberJoined  = "firmflow.identity.member_joined"
	MemberRemoved = "firmflow.identity.member_removed"
)

// Consumer is workflow's durable consumer of identity's stream.
func Consumer() inbox.Config {
	return inbox.Config{
		Stream:   "FIRMFLOW_IDENTITY",
		Durable:  "workflow",
		Subjects: []string{MemberJoined, MemberRemoved},
	}
}

// Handler applies identity's member events to workflow.
func Handler(a *app.App) inbox.Handler {
	return func(ctx context.Context, m inbox.Message) error {
		switch m.Subject {
		case MemberJoined:
			id, err := inbox.Member(m, &eventsv1.MemberJoined{})
			if err != nil {
				return err
			}
			return a.MemberJoined(ctx, m, id)
		case MemberRemoved:
			id, err := inbox.Member(m, &eventsv1.MemberRemoved{})
			if err != nil {
				return err
			}
			return a.MemberRemoved(ctx, m, id)
		}
		return nil
	}
}
