package e2e

import (
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	identityv1 "github.com/firmflow/firmflow/pkg/gen/firmflow/identity/v1"
)

func TestInvitationArrivesByEmailAndLetsTheInviteeIn(t *testing.T) {
	t.Parallel()
	sys := start(t, nil)
	f := sys.signUp(t, "mailinvite")
	invitee := "sam@" + strings.TrimPrefix(f.email, "owner@")

	inv := message[*identityv1.Invitation](t, want(t, f.client.do("POST", "/v1/"+f.name+"/invitations", map[string]any{"email": invitee, "role": "ROLE_ADMIN"}),
		http.StatusCreated, "invite"))
	if inv.GetToken() != "" {
		t.Fatalf("the token went back to the inviter although mail is on: %v", inv)
	}
	m, err := sys.h.Mail.Wait(invitee, "invited you", 20*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(m.Subject, "mailinvite Bookkeeping") || !strings.Contains(m.Text, "as admin") ||
		!strings.Contains(m.HTML, "<strong>mailinvite Bookkeeping</strong>") || !strings.HasPrefix(m.MessageID, "invitation.") {
		t.Fatalf("invitation email %q (%s):\n%s\n%s", m.Subject, m.MessageID, m.Text, m.HTML)
	}
	token, err := m.Token(invitationTokenPattern)
	if err != nil {
		t.Fatal(err)
	}
	want(t, sys.browser().do("POST", "/v1/invitations:accept", map[string]any{
		"token": token, "display_name": "Sam", "password": password,
	}), http.StatusCreated, "accept the emailed invitation")
	sam := sys.browser()
	sam.login(t, invitee, "")
	if c := message[*identityv1.Caller](t, want(t, sam.do("GET", "/v1/caller", nil), http.StatusOK, "caller")); c.GetMember().GetRole() != identityv1.Role_ROLE_ADMIN {
		t.Fatalf("caller %v", c)
	}
	if n := len(sys.h.Mail.To(invitee)); n != 1 {
		t.Errorf("%d emails to the invitee, want 1", n)
	}
	if strings.Contains(sys.logs.String(), token) {
		t.Error("the invitation token is in the logs")
	}
}

func TestPasswordResetOverRESTWithTheTokenFromTheEmail(t *testing.T) {
	t.Parallel()
	sys := start(t, nil)
	f := sys.signUp(t, "mailreset")
	anon := sys.browser()

	known := want(t, anon.do("POST", "/v1/passwordResets", map[string]any{"email": f.email}), http.StatusAccepted, "reset a known email")
	unknown := want(t, anon.do("POST", "/v1/passwordResets", map[string]any{"email": "nobody-" + f.email}), http.StatusAccepted, "reset an unknown email")
	if string(known.raw) != string(unknown.raw) {
		t.Fatalf("the answers differ: %s vs %s", known.raw, unknown.raw)
	}
	r := want(t, anon.do("POST", "/v1/passwordResets", map[string]any{"email": "not an email"}), http.StatusBadRequest, "bad email")
	if fields := r.fields(); len(fields) != 1 || fields[0] != "email" {
		t.Errorf("violations name %v", fields)
	}

	token := sys.mailToken(t, f.email, "Reset your firmflow password", resetTokenPattern)
	r = want(t, anon.do("POST", "/v1/passwordResets:complete", map[string]any{"token": token, "password": "short"}),
		http.StatusBadRequest, "a password sign-up refuses")
	if fields := r.fields(); len(fields) != 1 || fields[0] != "password" {
		t.Errorf("violations name %v", fields)
	}
	const newPassword = "a brand new passphrase"
	want(t, anon.do("POST", "/v1/passwordResets:complete", map[string]any{"token": token, "password": newPassword}),
		http.StatusOK, "complete the reset")

	want(t, f.client.do("GET", "/v1/caller", nil), http.StatusUnauthorized, "the session from before the reset")
	want(t, sys.browser().do("POST", "/v1/login", map[string]any{"email": f.email, "password": password}),
		http.StatusUnauthorized, "login with the old password")
	want(t, sys.browser().do("POST", "/v1/login", map[string]any{"email": f.email, "password": newPassword}),
		http.StatusOK, "login with the new password")
	r = want(t, anon.do("POST", "/v1/passwordResets:complete", map[string]any{"token": token, "password": "yet another passphrase"}),
		http.StatusBadRequest, "the token a second time")
	if r.reason() != "RESET_TOKEN_INVALID" {
		t.Errorf("reason %q", r.reason())
	}

	notice, err := sys.h.Mail.Wait(f.email, "password was changed", 20*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(notice.Text, "ffr_") {
		t.Error("the notice carries a token")
	}
	if len(sys.h.Mail.To("nobody-"+f.email)) != 0 {
		t.Error("an email went to the address without an account")
	}
	if strings.Contains(sys.logs.String(), token) {
		t.Error("the reset token is in the logs")
	}
}

func TestPasswordResetsAreRateLimitedPerEmail(t *testing.T) {
	t.Parallel()
	sys := start(t, nil)
	email := "flood@" + strings.TrimPrefix(sys.signUp(t, "mailflood").email, "owner@")
	anon := sys.browser()
	for i := range 5 {
		want(t, anon.do("POST", "/v1/passwordResets", map[string]any{"email": email}), http.StatusAccepted, fmt.Sprintf("request %d", i+1))
	}
	r := want(t, anon.do("POST", "/v1/passwordResets", map[string]any{"email": email}), http.StatusTooManyRequests, "the sixth")
	if r.reason() != "RATE_LIMITED" || r.header.Get("Retry-After") == "" {
		t.Fatalf("reason %q, Retry-After %q", r.reason(), r.header.Get("Retry-After"))
	}
}

func TestChangePasswordEndsTheOtherSessions(t *testing.T) {
	t.Parallel()
	sys := start(t, nil)
	f := sys.signUp(t, "mailchange")
	other := sys.browser()
	other.login(t, f.email, "")

	r := want(t, f.client.do("POST", "/v1/caller:changePassword", map[string]any{"current_password": "not it", "new_password": "a brand new passphrase"}),
		http.StatusBadRequest, "wrong current password")
	if fields := r.fields(); len(fields) != 1 || fields[0] != "current_password" {
		t.Errorf("violations name %v", fields)
	}
	want(t, f.client.do("POST", "/v1/caller:changePassword", map[string]any{"current_password": password, "new_password": "a brand new passphrase"}),
		http.StatusOK, "change password")
	want(t, f.client.do("GET", "/v1/caller", nil), http.StatusOK, "the session that changed it")
	want(t, other.do("GET", "/v1/caller", nil), http.StatusUnauthorized, "the other session")
	if _, err := sys.h.Mail.Wait(f.email, "password was changed", 20*time.Second); err != nil {
		t.Fatal(err)
	}
}
