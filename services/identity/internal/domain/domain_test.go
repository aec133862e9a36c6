package domain

import (
	"testing"
	"time"

	"github.com/pquerna/otp/totp"
)

func TestLockoutDoublesAfterFreeAttempts(t *testing.T) {
	now := time.Date(2026, 1, 1, 12, 0, 0, 0, time.UTC)
	var m LoginAttempts
	for range DefaultLockout.FreeAttempts {
		DefaultLockout.Failed(&m, now)
	}
	if err := DefaultLockout.Check(m, now); err != nil {
		t.Fatalf("locked after only %d failures: %v", m.FailedLogins, err)
	}
	want := []time.Duration{time.Minute, 2 * time.Minute, 4 * time.Minute}
	for _, w := range want {
		DefaultLockout.Failed(&m, now)
		if got := m.LockedUntil.Sub(now); got != w {
			t.Errorf("after %d failures locked for %v, want %v", m.FailedLogins, got, w)
		}
		if DefaultLockout.Check(m, now) == nil {
			t.Error("locked account accepted an attempt")
		}
	}
	for range 40 {
		DefaultLockout.Failed(&m, now)
	}
	if got := m.LockedUntil.Sub(now); got != DefaultLockout.MaxLock {
		t.Errorf("lock grew to %v, want cap %v", got, DefaultLockout.MaxLock)
	}
	DefaultLockout.Succeeded(&m)
	if m.FailedLogins != 0 || DefaultLockout.Check(m, now) != nil {
		t.Error("success did not clear the lockout")
	}
}

func TestSessionEndsWhenIdleOrAtAbsoluteExpiry(t *testing.T) {
	p := SessionPolicy{Idle: 30 * time.Minute, Absolute: 2 * time.Hour}
	start := time.Date(2026, 1, 1, 9, 0, 0, 0, time.UTC)
	s := p.NewSession("s", Member{ID: "m", FirmID: "f"}, start)
	if !s.Live(start.Add(29 * time.Minute)) {
		t.Error("session died before its idle expiry")
	}
	if s.Live(start.Add(31 * time.Minute)) {
		t.Error("idle session still live")
	}
	// Kept busy, it still ends at the absolute expiry.
	for at := start; at.Before(start.Add(3 * time.Hour)); at = at.Add(20 * time.Minute) {
		if s.Live(at) {
			p.Touch(&s.SessionTimes, at)
		}
	}
	if s.Live(start.Add(2*time.Hour + time.Second)) {
		t.Error("session outlived its absolute expiry")
	}
	s.RevokeTime = start
	if s.Live(start.Add(time.Minute)) {
		t.Error("revoked session live")
	}
}

func TestRoleRules(t *testing.T) {
	cases := []struct {
		name        string
		actor, from Role
		to          Role
		owners      int
		wantAllowed bool
	}{
		{"admin promotes member to admin", RoleAdmin, RoleMember, RoleAdmin, 1, true},
		{"admin cannot make an owner", RoleAdmin, RoleMember, RoleOwner, 1, false},
		{"admin cannot demote an owner", RoleAdmin, RoleOwner, RoleMember, 2, false},
		{"owner demotes one of two owners", RoleOwner, RoleOwner, RoleAdmin, 2, true},
		{"last owner stays owner", RoleOwner, RoleOwner, RoleAdmin, 1, false},
		{"member changes nothing", RoleMember, RoleMember, RoleAdmin, 1, false},
	}
	for _, c := range cases {
		err := CheckRoleChange(c.actor, c.from, c.to, c.owners)
		if (err == nil) != c.wantAllowed {
			t.Errorf("%s: err = %v", c.name, err)
		}
	}
	if CheckRemoval(RoleOwner, RoleOwner, 1) == nil {
		t.Error("last owner removed")
	}
	if CheckRemoval(RoleAdmin, RoleMember, 1) != nil {
		t.Error("admin could not remove a member")
	}
}

func TestAPIKeyRotationKeepsBothLiveForTheOverlap(t *testing.T) {
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	old, secret, err := NewAPIKey("k1", "f", "crm", []string{"clients:write"}, time.Time{}, "users/u", now)
	if err != nil {
		t.Fatal(err)
	}
	if old.Prefix != secret.Plain[:keyPrefixLen] || !SameSecret(secret.Plain, old.SecretHash) {
		t.Fatal("key does not match its secret")
	}
	next, nextSecret, err := old.Rotate("k2", time.Hour, "users/u", now)
	if err != nil {
		t.Fatal(err)
	}
	if nextSecret.Plain == secret.Plain || next.RotatedFrom != "k1" || next.Scopes[0] != "clients:write" {
		t.Errorf("bad successor %+v", next)
	}
	if old.State(now.Add(59*time.Minute)) != KeyActive || old.State(now.Add(time.Hour)) != KeyExpired {
		t.Error("old key does not expire at the end of the overlap")
	}
	old.Revoke(now)
	if _, _, err := old.Rotate("k3", time.Hour, "users/u", now); err == nil {
		t.Error("a revoked key was rotated")
	}
}

func TestAPIKeyRefusesUnknownScopesAndPastExpiry(t *testing.T) {
	now := time.Now()
	if _, _, err := NewAPIKey("k", "f", "x", []string{"payroll:read"}, time.Time{}, "u", now); err == nil {
		t.Error("unknown scope family accepted")
	}
	if _, _, err := NewAPIKey("k", "f", "x", []string{"clients:read"}, now.Add(-time.Hour), "u", now); err == nil {
		t.Error("past expiry accepted")
	}
}

func TestTOTPRefusesReplayedAndWrongCodes(t *testing.T) {
	secret, _, err := NewTOTPSecret("a@example.com")
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	code, _ := totp.GenerateCode(secret, now)
	step, ok := MatchTOTP(secret, code, 0, now)
	if !ok {
		t.Fatal("valid code refused")
	}
	if _, ok := MatchTOTP(secret, code, step, now); ok {
		t.Error("replayed code accepted")
	}
	wrong := []byte(code)
	wrong[0] = '0' + (wrong[0]-'0'+1)%10
	if _, ok := MatchTOTP(secret, string(wrong), 0, now); ok {
		t.Error("wrong code accepted")
	}
	old, _ := totp.GenerateCode(secret, now.Add(-5*time.Minute))
	if _, ok := MatchTOTP(secret, old, 0, now); ok && old != code {
		t.Error("code from five minutes ago accepted")
	}
}

func TestPasswordHashVerifies(t *testing.T) {
	hash, err := HashPassword("correct horse battery")
	if err != nil {
		t.Fatal(err)
	}
	if !CheckPassword("correct horse battery", hash) || CheckPassword("wrong horse battery", hash) || CheckPassword("x", "") {
		t.Error("password check wrong")
	}
}
