package app_test

import (
	"context"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"google.golang.org/grpc/codes"

	"github.com/firmflow/firmflow/pkg/principal"
	"github.com/firmflow/firmflow/services/identity/internal/app"
)

// TestAuthenticationSeesEachChangeOnTheNextRequest authenticates, changes what a
// credential may do, and authenticates again at once: nothing is remembered between
// two authentications, so a revocation, a new role or the firm's read-only mark
// applies to the very next request.
func TestAuthenticationSeesEachChangeOnTheNextRequest(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	ctx := context.Background()
	firm, owner := f.signUp(t, "next@alpha.test")
	key, secret, err := f.app.CreateAPIKey(ctx, owner, firm.ID, "crm", []string{"identity:read"}, time.Time{}, "")
	if err != nil {
		t.Fatal(err)
	}
	inv, token, err := f.app.Invite(ctx, owner, firm.ID, "member@alpha.test", principal.RoleMember, "")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.app.AcceptInvitation(ctx, token, "Member", password); err != nil {
		t.Fatal(err)
	}
	session, err := f.app.Login(ctx, inv.Email, password, "", "ua", "ip")
	if err != nil {
		t.Fatal(err)
	}
	member, err := f.authenticate(app.Credential{SessionToken: session.SessionToken})
	if err != nil || member.Role != principal.RoleMember || member.DeletionScheduled {
		t.Fatalf("member before: %+v %v", member, err)
	}

	if _, err := f.app.ChangeRole(ctx, owner, firm.ID, member.UserID, principal.RoleAdmin, ""); err != nil {
		t.Fatal(err)
	}
	if p, err := f.authenticate(app.Credential{SessionToken: session.SessionToken}); err != nil || p.Role != principal.RoleAdmin {
		t.Errorf("after promotion: role %s %v, want admin at once", p.Role, err)
	}
	if err := f.app.SetFirmDeletionScheduled(ctx, firm.ID, true); err != nil {
		t.Fatal(err)
	}
	for name, c := range map[string]app.Credential{"session": {SessionToken: session.SessionToken}, "API key": {APIKey: secret}} {
		if p, err := f.authenticate(c); err != nil || !p.DeletionScheduled {
			t.Errorf("%s after the deletion was scheduled: %+v %v, want the read-only mark at once", name, p, err)
		}
	}

	if _, err := f.authenticate(app.Credential{APIKey: secret}); err != nil {
		t.Fatal(err)
	}
	if _, err := f.app.RevokeAPIKey(ctx, owner, firm.ID, key.ID); err != nil {
		t.Fatal(err)
	}
	_, err = f.authenticate(app.Credential{APIKey: secret})
	wantCode(t, err, codes.Unauthenticated)

	if err := f.app.RevokeSession(ctx, member, member.SessionID); err != nil {
		t.Fatal(err)
	}
	_, err = f.authenticate(app.Credential{SessionToken: session.SessionToken})
	wantCode(t, err, codes.Unauthenticated)
}

// TestAuthenticationRecordsUseAtMostOnceAMinute: the statement that authenticates an
// API key records its use, and a session's last use moves, once a minute at most.
func TestAuthenticationRecordsUseAtMostOnceAMinute(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	ctx := context.Background()
	firm, owner := f.signUp(t, "use@alpha.test")
	key, secret, err := f.app.CreateAPIKey(ctx, owner, firm.ID, "crm", []string{"identity:read"}, time.Time{}, "")
	if err != nil {
		t.Fatal(err)
	}
	res, err := f.app.Login(ctx, "use@alpha.test", password, "", "ua", "ip")
	if err != nil {
		t.Fatal(err)
	}
	admin, err := pgx.Connect(ctx, f.db.AdminURL)
	if err != nil {
		t.Fatal(err)
	}
	defer admin.Close(ctx)
	lastUse := func() (keyUse, session time.Time) {
		t.Helper()
		if err := admin.QueryRow(ctx, "select coalesce(last_used_time, 'epoch') from api_keys where id = $1", key.ID).Scan(&keyUse); err != nil {
			t.Fatal(err)
		}
		if err := admin.QueryRow(ctx, "select last_seen_time from sessions where id = $1", res.Session.ID).Scan(&session); err != nil {
			t.Fatal(err)
		}
		return keyUse, session
	}
	authenticate := func() {
		t.Helper()
		for _, c := range []app.Credential{{APIKey: secret}, {SessionToken: res.SessionToken}} {
			if _, err := f.authenticate(c); err != nil {
				t.Fatal(err)
			}
		}
	}

	authenticate()
	keyFirst, sessionFirst := lastUse()
	if keyFirst.Equal(time.Unix(0, 0)) {
		t.Fatal("the key's use was not recorded")
	}
	f.clock.advance(30 * time.Second)
	authenticate()
	if k, s := lastUse(); !k.Equal(keyFirst) || !s.Equal(sessionFirst) {
		t.Errorf("use written again within a minute: key %s -> %s, session %s -> %s", keyFirst, k, sessionFirst, s)
	}
	f.clock.advance(time.Minute)
	authenticate()
	if k, s := lastUse(); !k.After(keyFirst) || !s.After(sessionFirst) {
		t.Errorf("use not written after a minute: key %s -> %s, session %s -> %s", keyFirst, k, sessionFirst, s)
	}
}
