package app

import (
	"context"

	"google.golang.org/protobuf/proto"

	eventsv1 "github.com/firmflow/firmflow/pkg/gen/firmflow/events/v1"
	"github.com/firmflow/firmflow/pkg/outbox"
	"github.com/firmflow/firmflow/pkg/resource"
	"github.com/firmflow/firmflow/services/identity/internal/domain"
	"github.com/firmflow/firmflow/services/identity/internal/store"
)

// emit queues one identity event in the use case's transaction.
func emit(ctx context.Context, q *store.Queries, firmID, actor, event string, payload proto.Message) error {
	return q.Emit(ctx, outbox.Event{FirmID: firmID, Subject: "firmflow.identity." + event, Actor: actor, Payload: payload})
}

func memberName(m domain.Member) string { return resource.Name("firms", m.FirmID, "members", m.ID) }

func apiKeyName(k domain.APIKey) string { return resource.Name("firms", k.FirmID, "apiKeys", k.ID) }

// memberJoined reports a new member with the firm's member count after it, which
// billing turns into seats.
func memberJoined(ctx context.Context, q *store.Queries, m domain.Member, actor string) error {
	n, err := q.CountMembers(ctx)
	if err != nil {
		return err
	}
	return emit(ctx, q, m.FirmID, actor, "member_joined",
		&eventsv1.MemberJoined{Member: memberName(m), Role: string(m.Role), ActiveMembers: int32(n)})
}
