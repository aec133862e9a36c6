package app_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/pquerna/otp/totp"
	"google.golang.org/grpc/codes"

	"github.com/firmflow/firmflow/pkg/apierr"
	"github.com/firmflow/firmflow/pkg/paging"
	"github.com/firmflow/firmflow/pkg/principal"
	"github.com/firmflow/firmflow/services/identity/internal/app"
	"github.com/firmflow/firmflow/services/identity/internal/domain"
)

// staffMember is a staff account and its TOTP secret.
type staffMember struct {
	domain.Staff
	secret string
}

func (f fixture) createStaff(t *testing.T, email string) staffMember {
	t.Helper()
	s, secret, uri, err := f.app.CreateStaff(context.Background(), email, "Ada Support", password)
	if err != nil {
		t.Fatalf("create staff %s: %v", email, err)
	}
	if !strings.HasPrefix(uri, "otpauth://totp/") || secret == "" {
		t.Fatalf("no TOTP enrollment for %s: %q", email, uri)
	}
	return staffMember{Staff: s, secret: secret}
}

// staffLogin signs s in with a fresh code at the app's time and returns the token.
func (f fixture) staffLogin(t *testing.T, s staffMember) string {
	t.Helper()
	code, _ := totp.GenerateCode(s.secret, f.clock.now())
	res, err := f.app.StaffLogin(context.Background(), s.Email, password, code)
	if err != nil {
		t.Fatalf("staff login %s: %v", s.Email, err)
	}
	return res.Token
}

// asStaff is the principal identity signs for a staff token, acting under grant
// (a grant name, or "" for none).
func (f fixture) asStaff(t *testing.T, token, grant string) principal.Principal {
	t.Helper()
	p, err := f.authenticate(app.Credential{APIKey: token, SupportGrant: grant})
	if err != nil {
		t.Fatalf("authenticate staff: %v", err)
	}
	if p.Kind != principal.KindStaff {
		t.Fatalf("staff token authenticated as %+v", p)
	}
	return p
}

func grantName(g domain.SupportGrant) string { return "firms/" + g.FirmID + "/supportGrants/" + g.ID }

// notices counts the firm's notifications by kind, as its owner lists them.
func (f fixture) notices(t *testing.T, owner principal.Principal) map[domain.NotificationKind]int {
	t.Helper()
	notes, _, err := f.app.Notifications(context.Background(), owner, owner.FirmID, paging.Page{Size: 100})
	if err != nil {
		t.Fatal(err)
	}
	out := map[domain.NotificationKind]int{}
	for _, n := range notes {
		out[n.Kind]++
		if n.Text == "" {
			t.Errorf("notification %s has no text", n.Kind)
		}
	}
	return out
}

func (f fixture) request(t *testing.T, staff principal.Principal, firmID string) domain.SupportGrant {
	t.Helper()
	g, err := f.app.RequestSupportAccess(context.Background(), staff, firmID, "the customer's invoices do not show", "SUP-42")
	if err != nil {
		t.Fatalf("request access: %v", err)
	}
	return g
}

func TestStaffLoginAlwaysNeedsACurrentTOTPCode(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	ctx := context.Background()
	ada := f.createStaff(t, "ada@firmflow.example")
	if _, _, _, err := f.app.CreateStaff(ctx, "ADA@firmflow.example", "Twin", password); !apierr.HasCode(err, codes.AlreadyExists) {
		t.Errorf("second account with the same email: %v", err)
	}

	code, _ := totp.GenerateCode(ada.secret, f.clock.now())
	wrong := []byte(code)
	wrong[0] = '0' + (wrong[0]-'0'+1)%10
	refusals := map[string]struct{ email, password, code string }{
		"no code":        {ada.Email, password, ""},
		"wrong code":     {ada.Email, password, string(wrong)},
		"wrong password": {ada.Email, "not the password", code},
		"unknown email":  {"eve@firmflow.example", password, code},
	}
	for name, r := range refusals {
		if _, err := f.app.StaffLogin(ctx, r.email, r.password, r.code); !apierr.HasCode(err, codes.Unauthenticated) {
			t.Errorf("%s: err = %v, want UNAUTHENTICATED", name, err)
		}
	}

	res, err := f.app.StaffLogin(ctx, ada.Email, password, code)
	if err != nil {
		t.Fatalf("login with a current code: %v", err)
	}
	if !strings.HasPrefix(res.Token, domain.StaffTokenPrefix) {
		t.Errorf("staff token %q lacks the staff prefix", res.Token[:6])
	}
	if _, err := f.app.StaffLogin(ctx, ada.Email, password, code); !apierr.HasCode(err, codes.Unauthenticated) {
		t.Errorf("replayed code accepted: %v", err)
	}
	p := f.asStaff(t, res.Token, "")
	if p.StaffID != ada.ID || p.FirmID != "" || p.GrantID != "" || p.Actor() != "staff/"+ada.ID {
		t.Errorf("staff principal without a grant = %+v", p)
	}

	// The secret is ciphertext under the realm key, not a firm's.
	conn, err := pgx.Connect(ctx, f.db.AdminURL)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	var stored []byte
	if err := conn.QueryRow(ctx, "select totp_secret from staff where id = $1", ada.ID).Scan(&stored); err != nil {
		t.Fatal(err)
	}
	if len(stored) == 0 || strings.Contains(string(stored), ada.secret) {
		t.Error("staff TOTP secret stored in clear")
	}

	if err := f.app.StaffLogout(ctx, p); err != nil {
		t.Fatal(err)
	}
	if _, err := f.authenticate(app.Credential{APIKey: res.Token}); !apierr.HasCode(err, codes.Unauthenticated) {
		t.Errorf("token works after logout: %v", err)
	}
}

func TestApprovedGrantOpensOnlyItsFirmForItsStaffMember(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	ctx := context.Background()
	firmA, ownerA := f.signUp(t, "owner@alpha.test")
	firmB, ownerB := f.signUp(t, "owner@beta.test")
	ada, bob := f.createStaff(t, "ada@firmflow.example"), f.createStaff(t, "bob@firmflow.example")
	adaToken, bobToken := f.staffLogin(t, ada), f.staffLogin(t, bob)
	staff := f.asStaff(t, adaToken, "")

	if _, err := f.app.RequestSupportAccess(ctx, staff, "00000000-0000-7000-8000-000000000000", "reason enough", "T-1"); !apierr.HasCode(err, codes.NotFound) {
		t.Errorf("request to a firm that does not exist: %v", err)
	}
	g := f.request(t, staff, firmA.ID)
	if g.State(f.clock.now()) != domain.GrantRequested || g.StaffEmail != ada.Email {
		t.Fatalf("request = %+v", g)
	}
	if got := f.notices(t, ownerA)[domain.NoticeSupportRequested]; got != 1 {
		t.Errorf("%d requested notifications, want 1", got)
	}
	if p := f.asStaff(t, adaToken, grantName(g)); p.FirmID != "" {
		t.Errorf("a pending request opened the firm: %+v", p)
	}
	// Firm B cannot see, approve or deny firm A's request.
	if _, err := f.app.ApproveSupportGrant(ctx, ownerB, firmB.ID, g.ID, "", 0); !apierr.HasCode(err, codes.NotFound) {
		t.Errorf("another firm approved the request: %v", err)
	}
	if _, err := f.app.SupportGrant(ctx, ownerB, firmA.ID, g.ID); !apierr.HasCode(err, codes.NotFound) {
		t.Errorf("another firm read the request: %v", err)
	}

	g, err := f.app.ApproveSupportGrant(ctx, ownerA, firmA.ID, g.ID, "", 0)
	if err != nil {
		t.Fatal(err)
	}
	if g.Scope != principal.GrantRead || g.DecidedBy != ownerA.Actor() {
		t.Errorf("approved as %+v", g)
	}
	if _, err := f.app.DenySupportGrant(ctx, ownerA, firmA.ID, g.ID); !apierr.HasCode(err, codes.FailedPrecondition) {
		t.Errorf("denied an approved grant: %v", err)
	}

	inA := f.asStaff(t, adaToken, grantName(g))
	if inA.FirmID != firmA.ID || inA.GrantID != g.ID || inA.GrantScope != principal.GrantRead {
		t.Fatalf("staff on an approved grant = %+v", inA)
	}
	f.asStaff(t, adaToken, grantName(g)) // a second request is not a first use
	if got := f.notices(t, ownerA)[domain.NoticeSupportFirstUsed]; got != 1 {
		t.Errorf("%d first-used notifications, want 1", got)
	}
	if _, err := f.app.Firm(ctx, inA, firmA.ID); err != nil {
		t.Errorf("staff on the grant cannot read firm A: %v", err)
	}
	if _, err := f.app.Firm(ctx, inA, firmB.ID); !apierr.HasCode(err, codes.NotFound) {
		t.Errorf("a grant to firm A reached firm B: %v", err)
	}
	// The same grant id under firm B's name, and the grant in another staff
	// member's hands, open nothing.
	if p := f.asStaff(t, adaToken, "firms/"+firmB.ID+"/supportGrants/"+g.ID); p.FirmID != "" {
		t.Errorf("firm A's grant named under firm B opened %s", p.FirmID)
	}
	if p := f.asStaff(t, bobToken, grantName(g)); p.FirmID != "" {
		t.Errorf("another staff member used Ada's grant: %+v", p)
	}
	for _, garbage := range []string{"firms/x/supportGrants/y", "firms/" + firmA.ID, "firms/------------------------------------/supportGrants/------------------------------------"} {
		if p := f.asStaff(t, adaToken, garbage); p.FirmID != "" {
			t.Errorf("grant %q opened %s", garbage, p.FirmID)
		}
	}

	mine, _, err := f.app.MySupportGrants(ctx, staff, paging.Page{Size: 10})
	if err != nil || len(mine) != 1 || mine[0].ID != g.ID {
		t.Errorf("Ada's grants = %v, %v", mine, err)
	}
	theirs, _, err := f.app.MySupportGrants(ctx, f.asStaff(t, bobToken, ""), paging.Page{Size: 10})
	if err != nil || len(theirs) != 0 {
		t.Errorf("Bob sees grants %v, %v", theirs, err)
	}

	if _, err := f.app.RevokeSupportGrant(ctx, ownerA, firmA.ID, g.ID); err != nil {
		t.Fatal(err)
	}
	if p := f.asStaff(t, adaToken, grantName(g)); p.FirmID != "" {
		t.Errorf("revoked grant still opens the firm: %+v", p)
	}
	if _, err := f.app.RevokeSupportGrant(ctx, ownerA, firmA.ID, g.ID); err != nil {
		t.Errorf("second revoke: %v", err)
	}
	got := f.notices(t, ownerA)
	want := map[domain.NotificationKind]int{
		domain.NoticeSupportRequested: 1, domain.NoticeSupportApproved: 1, domain.NoticeSupportFirstUsed: 1, domain.NoticeSupportRevoked: 1,
	}
	for kind, n := range want {
		if got[kind] != n {
			t.Errorf("%d %s notifications, want %d (all: %v)", got[kind], kind, n, got)
		}
	}
	if len(f.notices(t, ownerB)) != 0 {
		t.Error("firm B was told about firm A's grant")
	}
	if events := f.outboxSubjects(t, "firmflow.identity.support_grant_%"); len(events) != 4 {
		t.Errorf("grant events in the outbox: %v, want requested, approved, first_used, revoked", events)
	}
}

func TestWriteAccessOnlyWhenChosenAndDenialIsFinal(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	ctx := context.Background()
	firm, owner := f.signUp(t, "owner@alpha.test")
	ada := f.createStaff(t, "ada@firmflow.example")
	token := f.staffLogin(t, ada)
	staff := f.asStaff(t, token, "")

	g := f.request(t, staff, firm.ID)
	if _, err := f.app.ApproveSupportGrant(ctx, owner, firm.ID, g.ID, principal.GrantWrite, 73*time.Hour); !apierr.HasCode(err, codes.InvalidArgument) {
		t.Errorf("73 hour grant: %v", err)
	}
	g, err := f.app.ApproveSupportGrant(ctx, owner, firm.ID, g.ID, principal.GrantWrite, 72*time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	if p := f.asStaff(t, token, grantName(g)); p.GrantScope != principal.GrantWrite {
		t.Errorf("write grant signed as %q", p.GrantScope)
	}

	denied := f.request(t, staff, firm.ID)
	if _, err := f.app.DenySupportGrant(ctx, owner, firm.ID, denied.ID); err != nil {
		t.Fatal(err)
	}
	if _, err := f.app.ApproveSupportGrant(ctx, owner, firm.ID, denied.ID, "", 0); !apierr.HasCode(err, codes.FailedPrecondition) {
		t.Errorf("approved after denial: %v", err)
	}
	if p := f.asStaff(t, token, grantName(denied)); p.FirmID != "" {
		t.Errorf("denied grant opened the firm: %+v", p)
	}
	if got := f.notices(t, owner)[domain.NoticeSupportDenied]; got != 1 {
		t.Errorf("%d denied notifications", got)
	}

	first, more, err := f.app.MySupportGrants(ctx, staff, paging.Page{Size: 1})
	if err != nil || len(first) != 1 || !more || first[0].ID != denied.ID {
		t.Fatalf("first page of own grants: %v more=%v %v", first, more, err)
	}
	rest, more, err := f.app.MySupportGrants(ctx, staff, paging.Page{Size: 1, After: &paging.Cursor{Time: first[0].RequestTime, ID: first[0].ID}})
	if err != nil || len(rest) != 1 || more || rest[0].ID != g.ID {
		t.Errorf("second page of own grants: %v more=%v %v", rest, more, err)
	}
}

func TestGrantsExpireAndTheSweeperTellsTheFirmOnce(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	ctx := context.Background()
	firm, owner := f.signUp(t, "owner@alpha.test")
	ada := f.createStaff(t, "ada@firmflow.example")
	staff := f.asStaff(t, f.staffLogin(t, ada), "")

	approved := f.request(t, staff, firm.ID)
	approved, err := f.app.ApproveSupportGrant(ctx, owner, firm.ID, approved.ID, "", 30*time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	unanswered := f.request(t, staff, firm.ID)
	if n, err := f.app.SweepSupportGrants(ctx, f.clock.now()); err != nil || n != 0 {
		t.Errorf("sweep before anything expired: %d, %v", n, err)
	}

	f.clock.advance(30 * time.Minute)
	token := f.staffLogin(t, ada) // the old session went idle meanwhile
	if p := f.asStaff(t, token, grantName(approved)); p.FirmID != "" {
		t.Errorf("grant still opens the firm at its expiry: %+v", p)
	}
	if n, err := f.app.SweepSupportGrants(ctx, f.clock.now()); err != nil || n != 1 {
		t.Errorf("sweep at the grant's expiry announced %d, %v; want 1", n, err)
	}

	f.clock.advance(domain.RequestLifetime)
	if _, err := f.app.ApproveSupportGrant(ctx, owner, firm.ID, unanswered.ID, "", 0); !apierr.HasCode(err, codes.FailedPrecondition) {
		t.Errorf("approved a request unanswered for 12 hours: %v", err)
	}
	if n, err := f.app.SweepSupportGrants(ctx, f.clock.now()); err != nil || n != 1 {
		t.Errorf("sweep after 12 hours announced %d, %v; want the unanswered request", n, err)
	}
	if n, err := f.app.SweepSupportGrants(ctx, f.clock.now()); err != nil || n != 0 {
		t.Errorf("second sweep announced %d again, %v", n, err)
	}
	if got := f.notices(t, owner)[domain.NoticeSupportExpired]; got != 2 {
		t.Errorf("%d expired notifications, want one per grant", got)
	}
	if _, err := f.app.RevokeSupportGrant(ctx, owner, firm.ID, approved.ID); !apierr.HasCode(err, codes.FailedPrecondition) {
		t.Errorf("revoked an expired grant: %v", err)
	}
	got, err := f.app.SupportGrant(ctx, owner, firm.ID, unanswered.ID)
	if err != nil || got.State(f.clock.now()) != domain.GrantExpired {
		t.Errorf("unanswered request is %s, %v", got.State(f.clock.now()), err)
	}
}

func TestOffboardingEndsSessionsAndRevokesEveryGrantAtOnce(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	ctx := context.Background()
	firmA, ownerA := f.signUp(t, "owner@alpha.test")
	firmB, ownerB := f.signUp(t, "owner@beta.test")
	ada, bob := f.createStaff(t, "ada@firmflow.example"), f.createStaff(t, "bob@firmflow.example")
	token, bobToken := f.staffLogin(t, ada), f.staffLogin(t, bob)
	staff := f.asStaff(t, token, "")

	inA := f.request(t, staff, firmA.ID)
	if _, err := f.app.ApproveSupportGrant(ctx, ownerA, firmA.ID, inA.ID, principal.GrantWrite, 0); err != nil {
		t.Fatal(err)
	}
	pendingB := f.request(t, staff, firmB.ID)
	bobs := f.request(t, f.asStaff(t, bobToken, ""), firmA.ID)

	left, revoked, err := f.app.OffboardStaff(ctx, app.StaffRef{Email: "ADA@firmflow.example"})
	if err != nil {
		t.Fatal(err)
	}
	if revoked != 2 || left.Active() {
		t.Errorf("offboarding revoked %d grants, account active %v", revoked, left.Active())
	}
	if _, err := f.authenticate(app.Credential{APIKey: token, SupportGrant: grantName(inA)}); !apierr.HasCode(err, codes.Unauthenticated) {
		t.Errorf("session of an offboarded staff member still works: %v", err)
	}
	code, _ := totp.GenerateCode(ada.secret, f.clock.now().Add(30*time.Second))
	if _, err := f.app.StaffLogin(ctx, ada.Email, password, code); !apierr.HasCode(err, codes.Unauthenticated) {
		t.Errorf("offboarded staff signed in: %v", err)
	}
	for _, c := range []struct {
		owner principal.Principal
		grant domain.SupportGrant
	}{{ownerA, inA}, {ownerB, pendingB}} {
		g, err := f.app.SupportGrant(ctx, c.owner, c.owner.FirmID, c.grant.ID)
		if err != nil || g.State(f.clock.now()) != domain.GrantRevoked || g.RevokedBy != domain.OffboardingActor {
			t.Errorf("grant in %s after offboarding: %+v %v", c.owner.FirmID, g, err)
		}
		if got := f.notices(t, c.owner)[domain.NoticeSupportRevoked]; got != 1 {
			t.Errorf("firm %s got %d revoked notifications, want 1", c.owner.FirmID, got)
		}
	}
	if g, _ := f.app.SupportGrant(ctx, ownerA, firmA.ID, bobs.ID); g.State(f.clock.now()) != domain.GrantRequested {
		t.Errorf("offboarding Ada touched Bob's request: %s", g.State(f.clock.now()))
	}
	if p := f.asStaff(t, bobToken, ""); p.StaffID != bob.ID {
		t.Error("offboarding Ada ended Bob's session")
	}

	if _, again, err := f.app.OffboardStaff(ctx, app.StaffRef{ID: ada.ID}); err != nil || again != 0 {
		t.Errorf("second offboarding revoked %d, %v", again, err)
	}
	if _, _, err := f.app.OffboardStaff(ctx, app.StaffRef{Email: "nobody@firmflow.example"}); !apierr.HasCode(err, codes.NotFound) {
		t.Errorf("offboarding an unknown account: %v", err)
	}
	if _, err := f.app.RequestSupportAccess(ctx, staff, firmA.ID, "one more try please", "T-2"); !apierr.HasCode(err, codes.PermissionDenied) {
		t.Errorf("offboarded staff requested access: %v", err)
	}
}

// outboxSubjects lists the subjects of queued events matching a LIKE pattern.
func (f fixture) outboxSubjects(t *testing.T, like string) []string {
	t.Helper()
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, f.db.AdminURL)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	rows, err := conn.Query(ctx, "select subject from outbox where subject like $1 order by created_at, seq", like)
	if err != nil {
		t.Fatal(err)
	}
	subjects, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		t.Fatal(err)
	}
	return subjects
}
