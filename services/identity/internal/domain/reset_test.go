package domain_test

import (
	"errors"
	"testing"
	"time"

	"google.golang.org/grpc/codes"

	"github.com/firmflow/firmflow/pkg/apierr"
	"github.com/firmflow/firmflow/services/identity/internal/domain"
)

func TestPasswordResetWorksOnceWithinThirtyMinutes(t *testing.T) {
	now := time.Date(2026, 12, 3, 9, 0, 0, 0, time.UTC)
	m := domain.Member{ID: "m", FirmID: "f"}
	for _, c := range []struct {
		name  string
		after time.Duration
		ok    bool
	}{
		{"at once", 0, true},
		{"a second before it expires", 30*time.Minute - time.Second, true},
		{"when it expires", 30 * time.Minute, false},
		{"a day later", 24 * time.Hour, false},
	} {
		r, token := domain.NewPasswordReset("r", m, now)
		if len(token.Plain) != len("ffr_")+43 || !domain.SameSecret(token.Plain, r.TokenHash) {
			t.Fatalf("token %q does not match its hash", token.Plain)
		}
		err := r.Use(now.Add(c.after))
		if (err == nil) != c.ok {
			t.Errorf("%s: %v", c.name, err)
		}
		if c.ok {
			if err := r.Use(now.Add(c.after)); apierr.Reason(err) != "RESET_TOKEN_INVALID" {
				t.Errorf("%s: a second use: %v", c.name, err)
			}
		}
	}
}

func TestResetLimitsSayWhenToComeBack(t *testing.T) {
	now := time.Date(2026, 12, 3, 9, 0, 0, 0, time.UTC)
	l := domain.ResetLimits{PerEmail: 2, PerAddress: 3, Window: time.Hour}
	if err := l.Check(domain.RecentRequests{ByEmail: 1, ByAddress: 2}, now); err != nil {
		t.Fatal(err)
	}
	err := l.Check(domain.RecentRequests{ByEmail: 2, OldestEmail: now.Add(-40 * time.Minute)}, now)
	var e *apierr.Error
	if !apierr.HasCode(err, codes.ResourceExhausted) || !errors.As(err, &e) || e.RetryAfter != 20*time.Minute {
		t.Fatalf("over the email limit: %v", err)
	}
	if err := l.Check(domain.RecentRequests{ByAddress: 3, OldestAddress: now.Add(-time.Minute)}, now); !apierr.HasCode(err, codes.ResourceExhausted) {
		t.Fatalf("over the address limit: %v", err)
	}
}
