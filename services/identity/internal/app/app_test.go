package app_test

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/pquerna/otp/totp"
	"google.golang.org/grpc/codes"

	"github.com/firmflow/firmflow/pkg/apierr"
	"github.com/firmflow/firmflow/pkg/fieldcrypt"
	"github.com/firmflow/firmflow/pkg/keystore/keystoretest"
	"github.com/firmflow/firmflow/pkg/paging"
	"github.com/firmflow/firmflow/pkg/pg/pgtest"
	"github.com/firmflow/firmflow/pkg/principal"
	"github.com/firmflow/firmflow/services/identity/internal/app"
	"github.com/firmflow/firmflow/services/identity/internal/domain"
	"github.com/firmflow/firmflow/services/identity/internal/store"
	"github.com/firmflow/firmflow/services/identity/migrations"
)

type fixture struct {
	app      *app.App
	verifier *principal.Verifier
	db       *pgtest.Database
	clock    *clock
}

// clock is the app's time: the real time moved forward by what a test advanced it.
type clock struct {
	mu     sync.Mutex
	offset time.Duration
}

func (c *clock) now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return time.Now().Add(c.offset)
}

func (c *clock) advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.offset += d
}

func newFixture(t *testing.T) fixture {
	t.Helper()
	return newFixtureWith(t, nil)
}

// newFixtureWith is newFixture with the app's configuration adjusted by tune.
func newFixtureWith(t testing.TB, tune func(*app.Config, *pgtest.Database)) fixture {
	t.Helper()
	d := pgtest.New(t, "identity", migrations.FS)
	kek, err := fieldcrypt.ParseKEK(fieldcrypt.GenerateKEK())
	if err != nil {
		t.Fatal(err)
	}
	pub, priv, _ := ed25519.GenerateKey(rand.Reader)
	c := &clock{}
	cfg := app.Config{
		Sessions: domain.SessionPolicy{Idle: time.Hour, Absolute: 8 * time.Hour},
		Lockout:  domain.DefaultLockout,
		Now:      c.now,
	}
	if tune != nil {
		tune(&cfg, d)
	}
	a := app.New(store.New(d.Open(t)), kek, keystoretest.New(t, "identity"), principal.NewSigner(priv), cfg)
	return fixture{app: a, verifier: principal.NewVerifier(pub), db: d, clock: c}
}

const password = "correct horse battery staple"

func (f fixture) signUp(t *testing.T, email string) (domain.Firm, principal.Principal) {
	t.Helper()
	firm, owner, err := f.app.SignUp(context.Background(), "Firm of "+email, email, "Owner", password)
	if err != nil {
		t.Fatalf("sign up %s: %v", email, err)
	}
	return firm, f.login(t, owner.Email, "")
}

func (f fixture) login(t *testing.T, email, code string) principal.Principal {
	t.Helper()
	ctx := context.Background()
	res, err := f.app.Login(ctx, email, password, code, "test", "127.0.0.1")
	if err != nil {
		t.Fatalf("login %s: %v", email, err)
	}
	p, err := f.authenticate(app.Credential{SessionToken: res.SessionToken})
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func (f fixture) authenticate(c app.Credential) (principal.Principal, error) {
	signed, err := f.app.Authenticate(context.Background(), c)
	token := signed.Token
	if err != nil {
		return principal.Principal{}, err
	}
	return f.verifier.Verify(token)
}

func wantCode(t *testing.T, err error, code codes.Code) {
	t.Helper()
	if !apierr.HasCode(err, code) {
		t.Fatalf("err = %v, want %s", err, code)
	}
}

func TestSignUpLoginAndSessionRevocation(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	ctx := context.Background()
	firm, owner := f.signUp(t, "owner@alpha.test")
	if owner.FirmID != firm.ID || owner.Role != principal.RoleOwner {
		t.Fatalf("principal %+v", owner)
	}
	res, err := f.app.Login(ctx, "OWNER@alpha.test", password, "", "ua", "ip")
	if err != nil {
		t.Fatalf("login with other letter case: %v", err)
	}
	if _, err := f.authenticate(app.Credential{SessionToken: res.SessionToken, RequireCSRF: true}); !apierr.HasCode(err, codes.PermissionDenied) {
		t.Errorf("write without CSRF token: %v", err)
	}
	if _, err := f.authenticate(app.Credential{SessionToken: res.SessionToken, RequireCSRF: true, CSRFToken: res.CSRFToken}); err != nil {
		t.Errorf("write with CSRF token: %v", err)
	}
	if err := f.app.RevokeSession(ctx, owner, res.Session.ID); err != nil {
		t.Fatal(err)
	}
	_, err = f.authenticate(app.Credential{SessionToken: res.SessionToken})
	wantCode(t, err, codes.Unauthenticated)
	_, _, err = f.app.SignUp(ctx, "Other", "owner@alpha.test", "X", password)
	wantCode(t, err, codes.AlreadyExists)
}

func TestRepeatedWrongPasswordsLockTheAccount(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	ctx := context.Background()
	f.signUp(t, "lock@alpha.test")
	for i := range domain.DefaultLockout.FreeAttempts + 1 {
		_, err := f.app.Login(ctx, "lock@alpha.test", "wrong password!", "", "", "")
		wantCode(t, err, codes.Unauthenticated)
		_ = i
	}
	_, err := f.app.Login(ctx, "lock@alpha.test", password, "", "", "")
	wantCode(t, err, codes.ResourceExhausted)
	if apierr.Reason(apierr.Status(ctx, nil, err).Err()) != "ACCOUNT_LOCKED" {
		t.Errorf("reason of %v", err)
	}
	_, err = f.app.Login(ctx, "nobody@alpha.test", password, "", "", "")
	wantCode(t, err, codes.Unauthenticated)
}

func TestTOTPEnrollmentThenLoginNeedsAFreshCode(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	ctx := context.Background()
	_, owner := f.signUp(t, "totp@alpha.test")
	secret, uri, err := f.app.BeginTOTP(ctx, owner)
	if err != nil || !strings.HasPrefix(uri, "otpauth://totp/") {
		t.Fatalf("begin: %v %q", err, uri)
	}
	code, _ := totp.GenerateCode(secret, time.Now())
	m, err := f.app.ConfirmTOTP(ctx, owner, code)
	if err != nil || !m.TOTPEnabled() {
		t.Fatalf("confirm: %v", err)
	}
	_, err = f.app.Login(ctx, "totp@alpha.test", password, "", "", "")
	wantCode(t, err, codes.FailedPrecondition)
	// The code used for enrollment cannot be replayed to log in.
	_, err = f.app.Login(ctx, "totp@alpha.test", password, code, "", "")
	wantCode(t, err, codes.Unauthenticated)
	next, _ := totp.GenerateCode(secret, time.Now().Add(30*time.Second))
	f.login(t, "totp@alpha.test", next)

	// The secret is ciphertext in the table.
	var stored []byte
	conn, err := pgx.Connect(ctx, f.db.AdminURL)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	if err := conn.QueryRow(ctx, "select totp_secret from members where email = 'totp@alpha.test'").Scan(&stored); err != nil {
		t.Fatal(err)
	}
	if strings.Contains(string(stored), secret) || len(stored) == 0 {
		t.Error("TOTP secret stored in clear")
	}
}

func TestFirmRequiringTOTPRestrictsUnenrolledSessions(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	ctx := context.Background()
	firm, owner := f.signUp(t, "strict@alpha.test")
	yes := true
	if _, err := f.app.UpdateFirm(ctx, owner, firm.ID, app.FirmPatch{RequireTOTP: &yes}); err != nil {
		t.Fatal(err)
	}
	again := f.login(t, "strict@alpha.test", "")
	if !again.Enrolling {
		t.Error("session of an unenrolled member in a TOTP firm is not restricted")
	}
}

func TestAnotherFirmsObjectsAreNotFound(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	ctx := context.Background()
	firmA, ownerA := f.signUp(t, "a@alpha.test")
	firmB, ownerB := f.signUp(t, "b@beta.test")
	key, _, err := f.app.CreateAPIKey(ctx, ownerA, firmA.ID, "crm", []string{"clients:read"}, time.Time{}, "")
	if err != nil {
		t.Fatal(err)
	}
	checks := map[string]error{}
	_, checks["get firm"] = f.app.Firm(ctx, ownerB, firmA.ID)
	_, checks["get member"] = f.app.Member(ctx, ownerB, firmA.ID, ownerA.UserID)
	_, checks["member via own firm"] = f.app.Member(ctx, ownerB, firmB.ID, ownerA.UserID)
	_, checks["get key"] = f.app.APIKey(ctx, ownerB, firmB.ID, key.ID)
	_, checks["revoke key"] = f.app.RevokeAPIKey(ctx, ownerB, firmB.ID, key.ID)
	checks["remove member"] = f.app.RemoveMember(ctx, ownerB, firmB.ID, ownerA.UserID)
	checks["revoke session"] = f.app.RevokeSession(ctx, ownerB, ownerA.SessionID)
	for name, err := range checks {
		if !apierr.HasCode(err, codes.NotFound) {
			t.Errorf("%s across firms: err = %v, want NOT_FOUND", name, err)
		}
	}
	got, err := f.app.APIKey(ctx, ownerA, firmA.ID, key.ID)
	if err != nil || !got.RevokeTime.IsZero() {
		t.Errorf("firm A's key changed: %+v %v", got, err)
	}
	members, _, err := f.app.Members(ctx, ownerA, firmA.ID, paging.Page{Size: 10})
	if err != nil || len(members) != 1 {
		t.Errorf("firm A members = %d, %v", len(members), err)
	}
}

func TestAPIKeyRotationAndRevocation(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	ctx := context.Background()
	firm, owner := f.signUp(t, "keys@alpha.test")
	key, secret, err := f.app.CreateAPIKey(ctx, owner, firm.ID, "crm", []string{"identity:read"}, time.Time{}, "req-1")
	if err != nil {
		t.Fatal(err)
	}
	retry, retrySecret, err := f.app.CreateAPIKey(ctx, owner, firm.ID, "crm", []string{"identity:read"}, time.Time{}, "req-1")
	if err != nil || retry.ID != key.ID || retrySecret != "" {
		t.Errorf("retried create: id %s vs %s, secret shown again: %v, err %v", retry.ID, key.ID, retrySecret != "", err)
	}
	p, err := f.authenticate(app.Credential{APIKey: secret})
	if err != nil || p.APIKeyID != key.ID || !p.HasScope("identity", "read") {
		t.Fatalf("authenticate key: %+v %v", p, err)
	}
	next, nextSecret, err := f.app.RotateAPIKey(ctx, owner, firm.ID, key.ID, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range []string{secret, nextSecret} {
		if _, err := f.authenticate(app.Credential{APIKey: s}); err != nil {
			t.Errorf("key unusable during the overlap: %v", err)
		}
	}
	_, _, err = f.app.RotateAPIKey(ctx, owner, firm.ID, key.ID, time.Hour)
	wantCode(t, err, codes.FailedPrecondition)
	if _, err := f.app.RevokeAPIKey(ctx, owner, firm.ID, key.ID); err != nil {
		t.Fatal(err)
	}
	_, err = f.authenticate(app.Credential{APIKey: secret})
	wantCode(t, err, codes.Unauthenticated)
	if _, err := f.authenticate(app.Credential{APIKey: nextSecret}); err != nil {
		t.Errorf("successor stopped working with its predecessor: %v", err)
	}
	_ = next
}

func TestLastOwnerCannotLeaveOrBeDemoted(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	ctx := context.Background()
	firm, owner := f.signUp(t, "solo@alpha.test")
	err := f.app.RemoveMember(ctx, owner, firm.ID, owner.UserID)
	wantCode(t, err, codes.FailedPrecondition)
	_, err = f.app.ChangeRole(ctx, owner, firm.ID, owner.UserID, principal.RoleAdmin, "")
	wantCode(t, err, codes.FailedPrecondition)
}

func TestInvitedMemberJoinsOnceAndRemovalEndsTheirSessions(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	ctx := context.Background()
	firm, owner := f.signUp(t, "boss@alpha.test")
	inv, token, err := f.app.Invite(ctx, owner, firm.ID, "staff@alpha.test", principal.RoleMember, "")
	if err != nil || token == "" {
		t.Fatalf("invite: %v", err)
	}
	m, err := f.app.AcceptInvitation(ctx, token, "Staff", password)
	if err != nil || m.Role != principal.RoleMember || m.Email != inv.Email {
		t.Fatalf("accept: %+v %v", m, err)
	}
	_, err = f.app.AcceptInvitation(ctx, token, "Again", password)
	wantCode(t, err, codes.FailedPrecondition)
	member := f.login(t, "staff@alpha.test", "")
	res, _ := f.app.Login(ctx, "staff@alpha.test", password, "", "", "")
	if err := f.app.RemoveMember(ctx, owner, firm.ID, member.UserID); err != nil {
		t.Fatal(err)
	}
	_, err = f.authenticate(app.Credential{SessionToken: res.SessionToken})
	wantCode(t, err, codes.Unauthenticated)
}

func TestInvitationRefusalSaysWhatIsRefused(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	ctx := context.Background()
	firm, _ := f.signUp(t, "keys@alpha.test")
	key := principal.Principal{Kind: principal.KindAPIKey, FirmID: firm.ID, APIKeyID: "0b0e5f6e-4c2a-4a37-9d0b-1f0e7f4b2a11", Scopes: []string{"identity:write"}}

	for _, role := range []principal.Role{principal.RoleMember, principal.RoleAdmin, principal.RoleOwner} {
		_, _, err := f.app.Invite(ctx, key, firm.ID, "new-"+string(role)+"@alpha.test", role, "")
		wantCode(t, err, codes.PermissionDenied)
		var apiErr *apierr.Error
		if !errors.As(err, &apiErr) || apiErr.Reason != "API_KEY_CANNOT_INVITE" || strings.Contains(apiErr.Message, "owners") {
			t.Errorf("invite a %s with an API key: %v, want API_KEY_CANNOT_INVITE saying API keys cannot invite", role, err)
		}
	}
}
