package app

import (
	"context"
	"fmt"

	"github.com/firmflow/firmflow/pkg/inbox"
	"github.com/firmflow/firmflow/services/identity/internal/domain"
	"github.com/firmflow/firmflow/services/identity/internal/store"
)

// WebhookDisabled tells the firm's owners and admins, in the app and by email, that
// workflow disabled one of its webhook subscriptions (workflow's
// webhook_subscription_disabled event). The notification takes the event's id and
// the emails' Message-IDs derive from it, so a redelivered event tells no one twice.
func (a *App) WebhookDisabled(ctx context.Context, m inbox.Message, subscription, host, reason string) error {
	return a.store.InFirm(ctx, m.FirmID, func(q *store.Queries) error {
		text := fmt.Sprintf("Webhook deliveries to %s stopped: the subscription %s was disabled because %s. "+
			"Fix the endpoint, then set the subscription's state to WEBHOOK_SUBSCRIPTION_STATE_ACTIVE; the changes since wait for it.",
			host, subscription, reason)
		added, err := q.AddWebhookNotification(ctx, domain.Notification{
			ID: m.EventID, FirmID: m.FirmID, Kind: domain.NoticeWebhookDisabled, WebhookSubscription: subscription,
			Text: text, CreateTime: a.now(),
		})
		if err != nil || !added || !a.mail.On() {
			return err
		}
		firm, err := q.Firm(ctx, m.FirmID)
		if err != nil {
			return err
		}
		managers, err := q.Managers(ctx)
		if err != nil {
			return err
		}
		for _, mgr := range managers {
			err := a.sendMail(ctx, q, m.FirmID, mgr.Email, "webhook-disabled", m.EventID+"."+mgr.ID, "webhook_disabled", map[string]any{
				"Name": mgr.DisplayName, "Firm": firm.DisplayName, "Text": text,
				"SubscriptionURL": a.mail.PublicURL + "/v1/" + subscription,
			})
			if err != nil {
				return err
			}
		}
		return nil
	})
}
