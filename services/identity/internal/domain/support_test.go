package domain

import (
	"testing"
	"time"

	"google.golang.org/grpc/codes"

	"github.com/firmflow/firmflow/pkg/apierr"
	"github.com/firmflow/firmflow/pkg/principal"
)

var requestTime = time.Date(2026, 3, 2, 9, 0, 0, 0, time.UTC)

func newRequest(t *testing.T) SupportGrant {
	t.Helper()
	g, err := NewSupportRequest("g1", "f1", Staff{ID: "s1", Email: "ada@firmflow.example", DisplayName: "Ada"},
		"customer cannot see their invoices", "SUP-1", requestTime)
	if err != nil {
		t.Fatal(err)
	}
	return g
}

func TestUnansweredRequestExpiresAfterTwelveHours(t *testing.T) {
	g := newRequest(t)
	if g.State(requestTime.Add(RequestLifetime-time.Second)) != GrantRequested {
		t.Error("request lapsed early")
	}
	late := requestTime.Add(RequestLifetime)
	if g.State(late) != GrantExpired {
		t.Errorf("state at 12h = %s, want expired", g.State(late))
	}
	if err := g.Approve("", 0, "users/u", late); !apierr.HasCode(err, codes.FailedPrecondition) {
		t.Errorf("approved a lapsed request: %v", err)
	}
	if g.Opens("s1", late) {
		t.Error("a lapsed request opens the firm")
	}
}

func TestApprovalDefaultsToReadForFourHours(t *testing.T) {
	g := newRequest(t)
	now := requestTime.Add(time.Hour)
	if g.Opens("s1", now) {
		t.Error("a pending request opens the firm")
	}
	if err := g.Approve("", 0, "users/u", now); err != nil {
		t.Fatal(err)
	}
	if g.Scope != principal.GrantRead || !g.ExpireTime.Equal(now.Add(DefaultGrantTTL)) {
		t.Errorf("approved as %s until %v", g.Scope, g.ExpireTime)
	}
	if !g.Opens("s1", now.Add(DefaultGrantTTL-time.Second)) || g.Opens("s1", now.Add(DefaultGrantTTL)) {
		t.Error("grant does not end at its expiry")
	}
	if g.Opens("s2", now) {
		t.Error("grant opens the firm to another staff member")
	}
	if err := g.Deny("users/u", now); !apierr.HasCode(err, codes.FailedPrecondition) {
		t.Errorf("denied an approved grant: %v", err)
	}
}

func TestApprovalTTLIsBounded(t *testing.T) {
	for _, ttl := range []time.Duration{time.Second, MaxGrantTTL + time.Minute, -time.Hour} {
		g := newRequest(t)
		if err := g.Approve(principal.GrantWrite, ttl, "users/u", requestTime); !apierr.HasCode(err, codes.InvalidArgument) {
			t.Errorf("ttl %v: err = %v", ttl, err)
		}
	}
	g := newRequest(t)
	if err := g.Approve(principal.GrantWrite, MaxGrantTTL, "users/u", requestTime); err != nil || g.Scope != principal.GrantWrite {
		t.Errorf("72h write grant: %v %s", err, g.Scope)
	}
}

func TestRevokeEndsLiveGrantsOnce(t *testing.T) {
	now := requestTime.Add(time.Minute)
	pending := newRequest(t)
	if changed, err := pending.Revoke("users/u", now); !changed || err != nil || pending.State(now) != GrantRevoked {
		t.Errorf("withdrawing a request: %v %v", changed, err)
	}
	if changed, err := pending.Revoke("users/u", now); changed || err != nil {
		t.Errorf("second revoke: %v %v", changed, err)
	}
	denied := newRequest(t)
	_ = denied.Deny("users/u", now)
	if _, err := denied.Revoke("users/u", now); !apierr.HasCode(err, codes.FailedPrecondition) {
		t.Errorf("revoked a denied request: %v", err)
	}
	expired := newRequest(t)
	_ = expired.Approve("", time.Hour, "users/u", now)
	if _, err := expired.Revoke("users/u", now.Add(2*time.Hour)); !apierr.HasCode(err, codes.FailedPrecondition) {
		t.Errorf("revoked an expired grant: %v", err)
	}
}

func TestOffboardedStaffCannotAsk(t *testing.T) {
	s := Staff{ID: "s1"}
	s.Offboard(requestTime)
	s.Offboard(requestTime.Add(time.Hour))
	if !s.OffboardTime.Equal(requestTime) {
		t.Error("second offboarding moved the time")
	}
	if _, err := NewSupportRequest("g", "f", s, "reason enough", "T-1", requestTime); !apierr.HasCode(err, codes.PermissionDenied) {
		t.Errorf("offboarded staff asked: %v", err)
	}
}
