package app_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/firmflow/firmflow/pkg/inbox"
	"github.com/firmflow/firmflow/pkg/paging"
	"github.com/firmflow/firmflow/services/identity/internal/domain"
)

// workflow's webhook_subscription_disabled event becomes one notification and one
// email to each owner and admin, however often it is delivered.
func TestDisabledWebhookNoticeReachesOwnersAndAdminsOnce(t *testing.T) {
	t.Parallel()
	f := newMailFixture(t, domain.ResetLimits{})
	ctx := context.Background()
	firm, owner := f.signUp(t, "owner@hooked.test")
	f.join(t, owner, firm.ID, "admin@hooked.test", domain.RoleAdmin)
	f.join(t, owner, firm.ID, "member@hooked.test", domain.RoleMember)
	before := len(f.smtp.Messages())

	sub := "firms/" + firm.ID + "/webhookSubscriptions/" + uuid.NewString()
	m := inbox.Message{EventID: uuid.NewString(), FirmID: firm.ID, Subject: "firmflow.workflow.webhook_subscription_disabled",
		Actor: "system:webhooks", OccurredAt: time.Now()}
	for range 2 { // a redelivered event tells no one twice
		if err := f.app.WebhookDisabled(ctx, m, sub, "hooks.example.com", "every delivery failed for a day; the last: http 503"); err != nil {
			t.Fatal(err)
		}
		f.deliver(t)
	}
	notes, _, err := f.app.Notifications(ctx, owner, firm.ID, paging.Page{Size: 10})
	if err != nil {
		t.Fatal(err)
	}
	var hooks []domain.Notification
	for _, n := range notes {
		if n.Kind == domain.NoticeWebhookDisabled {
			hooks = append(hooks, n)
		}
	}
	if len(hooks) != 1 || hooks[0].WebhookSubscription != sub || !strings.Contains(hooks[0].Text, "hooks.example.com") {
		t.Fatalf("webhook notifications %+v", hooks)
	}
	if got := len(f.smtp.Messages()) - before; got != 2 {
		t.Fatalf("%d emails, want 2 (the owner and the admin)", got)
	}
	for _, email := range []string{"owner@hooked.test", "admin@hooked.test"} {
		msgs := f.smtp.To(email)
		last := msgs[len(msgs)-1]
		if !strings.Contains(last.Subject, "Webhook deliveries") || !strings.Contains(last.Text, "/v1/"+sub+"/deliveries") {
			t.Errorf("email to %s: %s\n%s", email, last.Subject, last.Text)
		}
	}
	for _, m := range f.smtp.To("member@hooked.test") {
		if strings.Contains(m.Subject, "Webhook") {
			t.Error("a member was emailed")
		}
	}
}
