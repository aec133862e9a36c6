package app_test

import (
	"context"
	"testing"
	"time"

	"github.com/pquerna/otp/totp"
	"google.golang.org/grpc/codes"

	"github.com/firmflow/firmflow/pkg/apierr"
	"github.com/firmflow/firmflow/pkg/principal"
)

func TestVerifyOwnerCredentialsForDeletion(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	ctx := context.Background()
	firm, owner := f.signUp(t, "closing@alpha.test")

	if err := f.app.VerifyOwnerCredentials(ctx, firm.ID, owner.UserID, password, ""); err != nil {
		t.Fatalf("right password: %v", err)
	}
	err := f.app.VerifyOwnerCredentials(ctx, firm.ID, owner.UserID, "wrong", "")
	if !apierr.HasCode(err, codes.Unauthenticated) {
		t.Fatalf("wrong password: %v", err)
	}
	_, token, err := f.app.Invite(ctx, owner, firm.ID, "member@alpha.test", principal.RoleMember, "")
	if err != nil {
		t.Fatal(err)
	}
	m, err := f.app.AcceptInvitation(ctx, token, "Member", password)
	if err != nil {
		t.Fatal(err)
	}
	if err := f.app.VerifyOwnerCredentials(ctx, firm.ID, m.ID, password, ""); !apierr.HasCode(err, codes.PermissionDenied) {
		t.Fatalf("member: %v", err)
	}
	other, _ := f.signUp(t, "other@beta.test")
	if err := f.app.VerifyOwnerCredentials(ctx, other.ID, owner.UserID, password, ""); !apierr.HasCode(err, codes.NotFound) {
		t.Fatalf("owner of another firm: %v", err)
	}

	secret, _, err := f.app.BeginTOTP(ctx, owner)
	if err != nil {
		t.Fatal(err)
	}
	code, _ := totp.GenerateCode(secret, time.Now())
	if _, err := f.app.ConfirmTOTP(ctx, owner, code); err != nil {
		t.Fatal(err)
	}
	err = f.app.VerifyOwnerCredentials(ctx, firm.ID, owner.UserID, password, "")
	var apiErr *apierr.Error
	if !apierr.HasCode(err, codes.InvalidArgument) || !asAPIError(err, &apiErr) || apiErr.Violations[0].Field != "totp_code" {
		t.Fatalf("missing TOTP code: %v", err)
	}
	next, _ := totp.GenerateCode(secret, time.Now().Add(30*time.Second))
	if err := f.app.VerifyOwnerCredentials(ctx, firm.ID, owner.UserID, password, next); err != nil {
		t.Fatalf("password and fresh code: %v", err)
	}
	if err := f.app.VerifyOwnerCredentials(ctx, firm.ID, owner.UserID, password, next); !apierr.HasCode(err, codes.Unauthenticated) {
		t.Fatalf("replayed code: %v", err)
	}
}

func TestDeletionScheduledMarksEveryPrincipalOfTheFirm(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	ctx := context.Background()
	firm, owner := f.signUp(t, "marked@alpha.test")
	_, other := f.signUp(t, "unmarked@beta.test")
	if err := f.app.SetFirmDeletionScheduled(ctx, firm.ID, true); err != nil {
		t.Fatal(err)
	}
	p := f.login(t, "marked@alpha.test", "")
	q := f.login(t, "unmarked@beta.test", "")
	if !p.DeletionScheduled || q.DeletionScheduled || owner.DeletionScheduled || other.DeletionScheduled {
		t.Fatalf("marks: %v %v", p.DeletionScheduled, q.DeletionScheduled)
	}
	if err := f.app.SetFirmDeletionScheduled(ctx, firm.ID, false); err != nil {
		t.Fatal(err)
	}
	if p := f.login(t, "marked@alpha.test", ""); p.DeletionScheduled {
		t.Fatal("mark not cleared")
	}
}

func asAPIError(err error, target **apierr.Error) bool {
	e, ok := err.(*apierr.Error)
	*target = e
	return ok
}
