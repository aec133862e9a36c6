package app_test

import (
	"bytes"
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc/codes"

	"github.com/firmflow/firmflow/pkg/apierr"
	"github.com/firmflow/firmflow/pkg/mail"
	"github.com/firmflow/firmflow/pkg/mail/mailtest"
	"github.com/firmflow/firmflow/pkg/pg/pgtest"
	"github.com/firmflow/firmflow/services/identity/internal/app"
	"github.com/firmflow/firmflow/services/identity/internal/domain"
)

// mailFixture is identity with email on: an SMTP server in the test and the worker
// delivering the outbox to it when the test says so.
type mailFixture struct {
	fixture
	smtp   *mailtest.Server
	worker *mail.Worker
}

func newMailFixture(t testing.TB, limits domain.ResetLimits) mailFixture {
	t.Helper()
	srv, err := mailtest.Start()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(srv.Stop)
	outbox, err := mail.NewOutbox(bytes.Repeat([]byte("k"), 32))
	if err != nil {
		t.Fatal(err)
	}
	sender, err := mail.NewSMTP(mail.SMTPConfig{Addr: srv.Addr, From: "firmflow <no-reply@firmflow.test>", TLS: mail.TLSNone})
	if err != nil {
		t.Fatal(err)
	}
	var worker *mail.Worker
	f := newFixtureWith(t, func(c *app.Config, d *pgtest.Database) {
		c.Mail = app.Mail{Outbox: outbox, From: "firmflow <no-reply@firmflow.test>", PublicURL: "https://firmflow.test"}
		c.ResetLimits = limits
		worker = outbox.Worker(d.Open(t), sender, nil, mail.WorkerOptions{})
	})
	return mailFixture{fixture: f, smtp: srv, worker: worker}
}

// deliver hands reset requests to the handler and the queued email to the SMTP server.
func (f mailFixture) deliver(t *testing.T) {
	t.Helper()
	if _, err := f.app.HandlePasswordResets(context.Background()); err != nil {
		t.Fatal(err)
	}
	if _, err := f.worker.DeliverDue(context.Background()); err != nil {
		t.Fatal(err)
	}
}

// resetToken asks for a reset of email and returns the token its email carries.
func (f mailFixture) resetToken(t *testing.T, email string) string {
	t.Helper()
	before := len(f.smtp.To(email))
	if err := f.app.RequestPasswordReset(context.Background(), email, "203.0.113.7"); err != nil {
		t.Fatal(err)
	}
	f.deliver(t)
	got := f.smtp.To(email)
	if len(got) != before+1 {
		t.Fatalf("%d new emails to %s, want 1", len(got)-before, email)
	}
	m := got[len(got)-1]
	if m.Subject != "Reset your firmflow password" || !strings.Contains(m.HTML, "https://firmflow.test/password-reset#token=ffr_") {
		t.Fatalf("reset email: %q\n%s", m.Subject, m.HTML)
	}
	token, err := m.Token(`ffr_[A-Za-z0-9_-]{43}`)
	if err != nil {
		t.Fatal(err)
	}
	return token
}

func wantReason(t *testing.T, err error, code codes.Code, reason string) {
	t.Helper()
	if !apierr.HasCode(err, code) || apierr.Reason(err) != reason {
		t.Fatalf("err = %v, want %s %s", err, code, reason)
	}
}

const newPassword = "a brand new passphrase"

func TestPasswordResetTokenWorksOnceAndEndsEverySession(t *testing.T) {
	t.Parallel()
	f := newMailFixture(t, domain.ResetLimits{})
	ctx := context.Background()
	f.signUp(t, "olive@reset.test")
	session, err := f.app.Login(ctx, "olive@reset.test", password, "", "ua", "ip")
	if err != nil {
		t.Fatal(err)
	}

	token := f.resetToken(t, "olive@reset.test")
	if err := f.app.CompletePasswordReset(ctx, token, newPassword); err != nil {
		t.Fatal(err)
	}
	_, err = f.authenticate(app.Credential{SessionToken: session.SessionToken})
	wantCode(t, err, codes.Unauthenticated)
	_, err = f.app.Login(ctx, "olive@reset.test", password, "", "ua", "ip")
	wantCode(t, err, codes.Unauthenticated)
	if _, err := f.app.Login(ctx, "olive@reset.test", newPassword, "", "ua", "ip"); err != nil {
		t.Fatalf("login with the new password: %v", err)
	}

	err = f.app.CompletePasswordReset(ctx, token, "yet another passphrase")
	wantReason(t, err, codes.FailedPrecondition, "RESET_TOKEN_INVALID")

	f.deliver(t)
	notice, err := f.smtp.Wait("olive@reset.test", "password was changed", time.Second)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(notice.Text, "with a password reset link; every session was signed out") || strings.Contains(notice.Text, "ffr_") {
		t.Fatalf("notice:\n%s", notice.Text)
	}
}

func TestPasswordResetTokenExpiresAfterThirtyMinutes(t *testing.T) {
	t.Parallel()
	f := newMailFixture(t, domain.ResetLimits{})
	ctx := context.Background()
	f.signUp(t, "late@reset.test")
	f.signUp(t, "prompt@reset.test")
	late, prompt := f.resetToken(t, "late@reset.test"), f.resetToken(t, "prompt@reset.test")

	f.clock.advance(29 * time.Minute)
	if err := f.app.CompletePasswordReset(ctx, prompt, newPassword); err != nil {
		t.Fatalf("after 29 minutes: %v", err)
	}
	f.clock.advance(time.Minute)
	err := f.app.CompletePasswordReset(ctx, late, newPassword)
	wantReason(t, err, codes.FailedPrecondition, "RESET_TOKEN_INVALID")
	if _, err := f.app.Login(ctx, "late@reset.test", password, "", "ua", "ip"); err != nil {
		t.Fatalf("an expired token changed the password: %v", err)
	}
}

func TestPasswordResetRefusesAWrongToken(t *testing.T) {
	t.Parallel()
	f := newMailFixture(t, domain.ResetLimits{})
	f.signUp(t, "wrong@reset.test")
	token := f.resetToken(t, "wrong@reset.test")
	for _, wrong := range []string{token[:len(token)-1] + "x", "ffr_" + strings.Repeat("A", 43), strings.TrimPrefix(token, "ffr_")} {
		err := f.app.CompletePasswordReset(context.Background(), wrong, newPassword)
		wantReason(t, err, codes.FailedPrecondition, "RESET_TOKEN_INVALID")
	}
	if err := f.app.CompletePasswordReset(context.Background(), token, newPassword); err != nil {
		t.Fatalf("the right token after wrong ones: %v", err)
	}
}

func TestPasswordResetForAnUnknownEmailSendsNothing(t *testing.T) {
	t.Parallel()
	f := newMailFixture(t, domain.ResetLimits{})
	if err := f.app.RequestPasswordReset(context.Background(), "nobody@reset.test", "203.0.113.7"); err != nil {
		t.Fatalf("the answer differs for an unknown email: %v", err)
	}
	n, err := f.app.HandlePasswordResets(context.Background())
	if err != nil || n != 1 {
		t.Fatalf("handled %d requests (%v), want 1", n, err)
	}
	f.deliver(t)
	if got := f.smtp.Messages(); len(got) != 0 {
		t.Fatalf("an email went out for an unknown address: %+v", got)
	}
}

func TestPasswordResetRequestsAreRateLimitedPerEmailAndPerAddress(t *testing.T) {
	t.Parallel()
	f := newMailFixture(t, domain.ResetLimits{PerEmail: 2, PerAddress: 3, Window: time.Hour})
	ctx := context.Background()
	ask := func(email, ip string) error { return f.app.RequestPasswordReset(ctx, email, ip) }
	for range 2 {
		if err := ask("flood@reset.test", "198.51.100.1"); err != nil {
			t.Fatal(err)
		}
	}
	// The third for the email is refused from any address, known account or not.
	err := ask("FLOOD@reset.test", "198.51.100.2")
	wantReason(t, err, codes.ResourceExhausted, "RATE_LIMITED")
	if !strings.Contains(err.Error(), "this email") {
		t.Errorf("refusal does not say which limit: %v", err)
	}
	// One more from the first address reaches its limit of three; a fourth email is refused.
	if err := ask("other@reset.test", "198.51.100.1"); err != nil {
		t.Fatal(err)
	}
	err = ask("third@reset.test", "198.51.100.1")
	wantReason(t, err, codes.ResourceExhausted, "RATE_LIMITED")
	if !strings.Contains(err.Error(), "this address") {
		t.Errorf("refusal does not say which limit: %v", err)
	}
	// An hour later both limits have room again.
	f.clock.advance(time.Hour + time.Second)
	if err := ask("flood@reset.test", "198.51.100.1"); err != nil {
		t.Fatalf("after the window: %v", err)
	}
}

func TestChangePasswordNeedsTheCurrentOneAndEndsOtherSessions(t *testing.T) {
	t.Parallel()
	f := newMailFixture(t, domain.ResetLimits{})
	ctx := context.Background()
	_, here := f.signUp(t, "change@reset.test")
	elsewhere, err := f.app.Login(ctx, "change@reset.test", password, "", "ua", "ip")
	if err != nil {
		t.Fatal(err)
	}

	err = f.app.ChangePassword(ctx, here, "not my password", newPassword)
	wantCode(t, err, codes.InvalidArgument)
	if !strings.Contains(err.Error(), "current password") {
		t.Fatalf("refusal: %v", err)
	}
	if _, err := f.authenticate(app.Credential{SessionToken: elsewhere.SessionToken}); err != nil {
		t.Fatalf("a refused change ended a session: %v", err)
	}

	if err := f.app.ChangePassword(ctx, here, password, newPassword); err != nil {
		t.Fatal(err)
	}
	_, err = f.authenticate(app.Credential{SessionToken: elsewhere.SessionToken})
	wantCode(t, err, codes.Unauthenticated)
	if _, err := f.app.Sessions(ctx, here); err != nil {
		t.Fatalf("the session that changed the password ended: %v", err)
	}
	if _, err := f.app.Login(ctx, "change@reset.test", newPassword, "", "ua", "ip"); err != nil {
		t.Fatal(err)
	}
	f.deliver(t)
	notice, err := f.smtp.Wait("change@reset.test", "password was changed", time.Second)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(notice.Text, "your other sessions were signed out") {
		t.Fatalf("notice:\n%s", notice.Text)
	}
}

func TestWrongCurrentPasswordsLockTheAccount(t *testing.T) {
	t.Parallel()
	f := newMailFixture(t, domain.ResetLimits{})
	_, p := f.signUp(t, "guess@reset.test")
	var err error
	for range domain.DefaultLockout.FreeAttempts + 1 {
		err = f.app.ChangePassword(context.Background(), p, "a wrong guess", newPassword)
	}
	wantReason(t, f.app.ChangePassword(context.Background(), p, password, newPassword), codes.ResourceExhausted, "ACCOUNT_LOCKED")
	wantCode(t, err, codes.InvalidArgument)
}

func TestInvitationTokenGoesByEmailWhenMailIsOn(t *testing.T) {
	t.Parallel()
	f := newMailFixture(t, domain.ResetLimits{})
	ctx := context.Background()
	firm, owner := f.signUp(t, "inviter@invite.test")
	inv, token, err := f.app.Invite(ctx, owner, firm.ID, "sam@invite.test", domain.RoleMember, "")
	if err != nil {
		t.Fatal(err)
	}
	if token != "" {
		t.Fatal("the invitation token went back to the inviter although mail is on")
	}
	f.deliver(t)
	m, err := f.smtp.Wait("sam@invite.test", "invited you to Firm of inviter@invite.test", time.Second)
	if err != nil {
		t.Fatal(err)
	}
	if m.MessageID != "invitation."+inv.ID+"@firmflow.test" || !strings.Contains(m.Text, "as member") {
		t.Fatalf("invitation email %s:\n%s", m.MessageID, m.Text)
	}
	token, err = m.Token(`ffi_[A-Za-z0-9_-]{43}`)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.app.AcceptInvitation(ctx, token, "Sam", newPassword); err != nil {
		t.Fatal(err)
	}
}

// BenchmarkPasswordResetRequest times asking for a reset for an email that has an
// account and for one that has none, alternately in one loop so that both see the
// same database and machine load. The two must be equal within noise: the answer may
// not reveal whether an account exists.
func BenchmarkPasswordResetRequest(b *testing.B) {
	f := newMailFixture(b, domain.ResetLimits{PerEmail: 1 << 30, PerAddress: 1 << 30, Window: time.Hour})
	ctx := context.Background()
	if _, _, err := f.app.SignUp(ctx, "Bench", "known@bench.test", "Known", password); err != nil {
		b.Fatal(err)
	}
	ask := func(email, ip string) time.Duration {
		start := time.Now()
		if err := f.app.RequestPasswordReset(ctx, email, ip); err != nil {
			b.Fatal(err)
		}
		return time.Since(start)
	}
	var known, unknown time.Duration
	n := 0
	for b.Loop() {
		if n%2 == 0 { // alternate which goes first
			known += ask("known@bench.test", "192.0.2.1")
			unknown += ask("unknown@bench.test", "192.0.2.2")
		} else {
			unknown += ask("unknown@bench.test", "192.0.2.2")
			known += ask("known@bench.test", "192.0.2.1")
		}
		n++
	}
	perKnown, perUnknown := known/time.Duration(n), unknown/time.Duration(n)
	b.ReportMetric(float64(perKnown.Nanoseconds()), "ns/known")
	b.ReportMetric(float64(perUnknown.Nanoseconds()), "ns/unknown")
	fmt.Printf("password reset request over %d pairs: known email %v, unknown email %v, unknown/known %.3f\n",
		n, perKnown, perUnknown, float64(perUnknown)/float64(perKnown))
}
