package app_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/firmflow/firmflow/pkg/paging"
	"github.com/firmflow/firmflow/pkg/principal"
	"github.com/firmflow/firmflow/services/identity/internal/domain"
)

// join invites email into the firm with role and accepts the invitation from its
// email, as the invitee does.
func (f mailFixture) join(t *testing.T, owner principal.Principal, firmID, email string, role domain.Role) string {
	t.Helper()
	ctx := context.Background()
	if _, _, err := f.app.Invite(ctx, owner, firmID, email, role, ""); err != nil {
		t.Fatal(err)
	}
	f.deliver(t)
	m, err := f.smtp.Wait(email, "invited you", time.Second)
	if err != nil {
		t.Fatal(err)
	}
	token, err := m.Token(`ffi_[A-Za-z0-9_-]{43}`)
	if err != nil {
		t.Fatal(err)
	}
	member, err := f.app.AcceptInvitation(ctx, token, "Joined "+string(role), password)
	if err != nil {
		t.Fatal(err)
	}
	return member.ID
}

func TestIncidentNoticeEmailsEachOwnerAndAdminOnce(t *testing.T) {
	t.Parallel()
	f := newMailFixture(t, domain.ResetLimits{})
	ctx := context.Background()
	firm, owner := f.signUp(t, "owner@struck.test")
	adminID := f.join(t, owner, firm.ID, "admin@struck.test", domain.RoleAdmin)
	f.join(t, owner, firm.ID, "member@struck.test", domain.RoleMember)
	f.signUp(t, "owner@bystander.test")
	before := len(f.smtp.Messages())

	incident := uuid.NewString()
	text := "Security incident: leaked key\nResources touched (2 requests):\n- firms/" + firm.ID + "/clients/c1\n"
	for range 2 { // a repeated notify queues nothing more
		queued, err := f.app.PostIncidentNotification(ctx, firm.ID, incident, text)
		if err != nil || !queued {
			t.Fatalf("post: queued %v, %v", queued, err)
		}
		f.deliver(t)
	}

	if got := len(f.smtp.Messages()) - before; got != 2 {
		t.Fatalf("%d incident emails, want 2 (the owner and the admin)", got)
	}
	for email, userID := range map[string]string{"owner@struck.test": owner.UserID, "admin@struck.test": adminID} {
		var notices int
		for _, m := range f.smtp.To(email) {
			if !strings.Contains(m.Subject, "Security incident notice for Firm of owner@struck.test") {
				continue
			}
			notices++
			if want := "incident-notice." + incident + "." + firm.ID + "." + userID + "@firmflow.test"; m.MessageID != want {
				t.Errorf("Message-ID %s, want %s", m.MessageID, want)
			}
			body := strings.ReplaceAll(m.Text, "\r\n", "\n") // as the SMTP server received it
			if !strings.Contains(body, text) || !strings.Contains(body, "https://firmflow.test/v1/firms/"+firm.ID+"/incidents") ||
				!strings.Contains(m.HTML, "/clients/c1") {
				t.Errorf("incident email to %s:\n%s\n%s", email, m.Text, m.HTML)
			}
		}
		if notices != 1 {
			t.Errorf("%s got %d incident emails, want 1", email, notices)
		}
	}
	for _, email := range []string{"member@struck.test", "owner@bystander.test"} {
		for _, m := range f.smtp.To(email) {
			if strings.Contains(m.Subject, "incident") {
				t.Errorf("%s got %q", email, m.Subject)
			}
		}
	}
}

func TestIncidentNoticeQueuesNoEmailWithoutAMailServer(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	ctx := context.Background()
	firm, owner := f.signUp(t, "owner@nomail.test")
	queued, err := f.app.PostIncidentNotification(ctx, firm.ID, uuid.NewString(), "Security incident: leaked key\n")
	if err != nil || queued {
		t.Fatalf("post without mail: queued %v, %v", queued, err)
	}
	notes, _, err := f.app.Notifications(ctx, owner, firm.ID, paging.Page{Size: 10})
	if err != nil || len(notes) != 1 || notes[0].Kind != domain.NoticeIncident {
		t.Fatalf("notifications %+v, %v", notes, err)
	}
}
