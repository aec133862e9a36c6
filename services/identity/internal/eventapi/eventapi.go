// Package eventapi is identity's event surface, as grpcapi is its RPC surface: each
// handler decodes one event of another service and calls one use case.
package eventapi

import (
	"context"

	eventsv1 "github.com/firmflow/firmflow/pkg/gen/firmflow/events/v1"
	"github.com/firmflow/firmflow/pkg/inbox"
	"github.com/firmflow/firmflow/services/identity/internal/app"
)

// WebhookSubscriptionDisabled is workflow's event when it stops sending to a
// subscription whose deliveries failed for a day.
const WebhookSubscriptionDisabled = "firmflow.workflow.webhook_subscription_disabled"

// Consumer is identity's durable consumer of workflow's stream.
func Consumer() inbox.Config {
	return inbox.Config{Stream: "FIRMFLOW_WORKFLOW", Durable: "identity", Subjects: []string{WebhookSubscriptionDisabled}}
}

// Handler applies workflow's events to identity: notices to the firm.
func Handler(a *app.App) inbox.Handler {
	return func(ctx context.Context, m inbox.Message) error {
		if m.Subject != WebhookSubscriptionDisabled {
			return nil
		}
		var e eventsv1.WebhookSubscriptionDisabled
		if err := inbox.Unmarshal(m, &e); err != nil {
			return err
		}
		return a.WebhookDisabled(ctx, m, e.GetWebhookSubscription(), e.GetHost(), e.GetReason())
	}
}
