package eventapi

import (
	"slices"
	"testing"
	"time"

	"github.com/google/uuid"
	"google.golang.org/protobuf/proto"

	eventsv1 "github.com/firmflow/firmflow/pkg/gen/firmflow/events/v1"
	"github.com/firmflow/firmflow/pkg/inbox"
	"github.com/firmflow/firmflow/services/workflow/internal/domain"
)

// Every type a subscription may ask for comes from some event, and every event
// sent is of a type a subscription may ask for.
func TestWebhookEventTypesMatchTheEvents(t *testing.T) {
	sent := map[string]bool{}
	for event, e := range webhookEvents {
		if !slices.Contains(domain.WebhookEventTypes, e.typ) {
			t.Errorf("%s becomes %q, which subscriptions cannot ask for", event, e.typ)
		}
		if e.payload().ProtoReflect().Descriptor().Fields().ByName(e.object) == nil {
			t.Errorf("%s: payload has no field %s", event, e.object)
		}
		sent[e.typ] = true
	}
	for _, typ := range domain.WebhookEventTypes {
		if !sent[typ] {
			t.Errorf("subscriptions may ask for %q, which no event makes", typ)
		}
	}
}

func TestWebhookChangeReadsObjectAndChangedFields(t *testing.T) {
	data, _ := proto.Marshal(&eventsv1.TaskChanged{Task: "firms/f/projects/p/tasks/t", Project: "firms/f/projects/p",
		ChangedFields: []string{"status", "assignee"}, Status: "complete"})
	at := time.Date(2026, 3, 10, 9, 0, 0, 0, time.UTC)
	c, ok, err := WebhookChange(inbox.Message{EventID: uuid.NewString(), Subject: "firmflow.workflow.task_updated", Data: data, OccurredAt: at})
	if err != nil || !ok {
		t.Fatalf("ok=%v err=%v", ok, err)
	}
	want := domain.WebhookChange{Type: "task.updated", Object: "firms/f/projects/p/tasks/t", ChangedFields: []string{"assignee", "status"}, OccurredAt: at}
	if c.Type != want.Type || c.Object != want.Object || !slices.Equal(c.ChangedFields, want.ChangedFields) || !c.OccurredAt.Equal(at) {
		t.Fatalf("change = %+v, want %+v", c, want)
	}
	if _, ok, _ := WebhookChange(inbox.Message{Subject: "firmflow.workflow.client_revealed"}); ok {
		t.Fatal("a read (client_revealed) became a webhook")
	}
}
