package eventapi

import (
	"context"
	"fmt"
	"slices"
	"sort"
	"strings"

	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"

	eventsv1 "github.com/firmflow/firmflow/pkg/gen/firmflow/events/v1"
	"github.com/firmflow/firmflow/pkg/inbox"
	"github.com/firmflow/firmflow/services/workflow/internal/app"
	"github.com/firmflow/firmflow/services/workflow/internal/domain"
)

// webhookEvent says how one of workflow's own events becomes a webhook change: its
// type, the payload field naming the object, and the changed fields when the event
// does not list them.
type webhookEvent struct {
	typ     string
	payload func() proto.Message
	object  protoreflect.Name
	changed []string
}

const workflowPrefix = "firmflow.workflow."

// webhookEvents maps workflow's change events (after "firmflow.workflow.") to what
// subscriptions receive. Reads and exports (client_revealed, clients_exported) are
// not changes and are not sent.
var webhookEvents = map[string]webhookEvent{
	"client_created":          {typ: "client.created", payload: func() proto.Message { return &eventsv1.ClientCreated{} }, object: "client"},
	"client_updated":          {typ: "client.updated", payload: func() proto.Message { return &eventsv1.ClientUpdated{} }, object: "client"},
	"client_deleted":          {typ: "client.deleted", payload: func() proto.Message { return &eventsv1.ClientDeleted{} }, object: "client"},
	"contact_created":         {typ: "contact.created", payload: contactChanged, object: "contact"},
	"contact_updated":         {typ: "contact.updated", payload: contactChanged, object: "contact"},
	"contact_deleted":         {typ: "contact.deleted", payload: contactChanged, object: "contact"},
	"client_contact_linked":   {typ: "client_contact.created", payload: clientContactChanged, object: "client_contact"},
	"client_contact_updated":  {typ: "client_contact.updated", payload: clientContactChanged, object: "client_contact"},
	"client_contact_unlinked": {typ: "client_contact.deleted", payload: clientContactChanged, object: "client_contact"},
	"custom_field_created":    {typ: "custom_field.created", payload: customFieldChanged, object: "custom_field"},
	"custom_field_updated":    {typ: "custom_field.updated", payload: customFieldChanged, object: "custom_field"},
	"custom_field_deleted":    {typ: "custom_field.deleted", payload: customFieldChanged, object: "custom_field"},
	"template_created":        {typ: "template.created", payload: templateChanged, object: "template"},
	"template_updated":        {typ: "template.updated", payload: templateChanged, object: "template"},
	"template_deleted":        {typ: "template.deleted", payload: templateChanged, object: "template"},
	"project_created":         {typ: "project.created", payload: projectChanged, object: "project"},
	"project_updated":         {typ: "project.updated", payload: projectChanged, object: "project"},
	"project_deleted":         {typ: "project.deleted", payload: projectChanged, object: "project"},
	"project_status_changed": {typ: "project.updated", payload: func() proto.Message { return &eventsv1.ProjectStatusChanged{} },
		object: "project", changed: []string{"status"}},
	"project_replanned": {typ: "project.updated", payload: func() proto.Message { return &eventsv1.ProjectReplanned{} },
		object: "project", changed: []string{"template_revision", "tasks"}},
	"task_created":   {typ: "task.created", payload: taskChanged, object: "task"},
	"task_updated":   {typ: "task.updated", payload: taskChanged, object: "task"},
	"task_deleted":   {typ: "task.deleted", payload: taskChanged, object: "task"},
	"series_created": {typ: "series.created", payload: seriesChanged, object: "series"},
	"series_updated": {typ: "series.updated", payload: seriesChanged, object: "series"},
	"series_deleted": {typ: "series.deleted", payload: seriesChanged, object: "series"},
	"member_capacity_changed": {typ: "member_capacity.updated", payload: func() proto.Message { return &eventsv1.MemberCapacityChanged{} },
		object: "member", changed: []string{"weekly_minutes"}},
}

func contactChanged() proto.Message       { return &eventsv1.ContactChanged{} }
func clientContactChanged() proto.Message { return &eventsv1.ClientContactChanged{} }
func customFieldChanged() proto.Message   { return &eventsv1.CustomFieldChanged{} }
func templateChanged() proto.Message      { return &eventsv1.TemplateChanged{} }
func projectChanged() proto.Message       { return &eventsv1.ProjectChanged{} }
func taskChanged() proto.Message          { return &eventsv1.TaskChanged{} }
func seriesChanged() proto.Message        { return &eventsv1.SeriesChanged{} }

// WebhookConsumer is workflow's durable consumer of its own change events, which
// feeds webhook deliveries.
func WebhookConsumer() inbox.Config {
	subjects := make([]string, 0, len(webhookEvents))
	for event := range webhookEvents {
		subjects = append(subjects, workflowPrefix+event)
	}
	sort.Strings(subjects)
	return inbox.Config{Stream: "FIRMFLOW_WORKFLOW", Durable: "workflow-webhooks", Subjects: subjects}
}

// WebhookHandler queues each change event for the firm's subscriptions.
func WebhookHandler(a *app.App) inbox.Handler {
	return func(ctx context.Context, m inbox.Message) error {
		c, ok, err := WebhookChange(m)
		if err != nil || !ok {
			return err
		}
		return a.QueueWebhookChange(ctx, m, c)
	}
}

// WebhookChange reads a workflow event as a webhook change; ok is false for events
// webhooks do not send.
func WebhookChange(m inbox.Message) (c domain.WebhookChange, ok bool, err error) {
	event, _ := strings.CutPrefix(m.Subject, workflowPrefix)
	e, ok := webhookEvents[event]
	if !ok {
		return c, false, nil
	}
	payload := e.payload()
	if err := inbox.Unmarshal(m, payload); err != nil {
		return c, false, err
	}
	msg := payload.ProtoReflect()
	fields := msg.Descriptor().Fields()
	object := fields.ByName(e.object)
	if object == nil || msg.Get(object).String() == "" {
		return c, false, inbox.Permanent(fmt.Errorf("%s without %s", m.Subject, e.object))
	}
	changed := slices.Clone(e.changed)
	if f := fields.ByName("changed_fields"); f != nil && f.IsList() {
		list := msg.Get(f).List()
		for i := range list.Len() {
			changed = append(changed, list.Get(i).String())
		}
	}
	slices.Sort(changed)
	return domain.WebhookChange{Type: e.typ, Object: msg.Get(object).String(), ChangedFields: changed, OccurredAt: m.OccurredAt}, true, nil
}
