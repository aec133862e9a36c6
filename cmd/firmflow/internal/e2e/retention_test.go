package e2e

import (
	"context"
	"testing"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	lifecyclev1 "github.com/firmflow/firmflow/pkg/gen/firmflow/lifecycle/v1"
)

// retentionAdmin is lifecycle's RetentionAdminService as a holder of the named
// development certificate reaches it: what `firmflow lifecycle retention-runs` does
// with "operator".
func (s *system) retentionAdmin(t *testing.T, certificate string) lifecyclev1.RetentionAdminServiceClient {
	t.Helper()
	return lifecyclev1.NewRetentionAdminServiceClient(s.dialAs(t, certificate, s.stack.LifecycleAddr))
}

// TestRetentionRunReachesEveryService: the stack's first retention run (due at
// start) asks every service to prune over mTLS with lifecycle's certificate, audit's
// partition retention included, and records what each removed; operators read the
// runs, and no other certificate may.
func TestRetentionRunReachesEveryService(t *testing.T) {
	sys := start(t, nil)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	var run *lifecyclev1.RetentionRun
	for run == nil || run.GetState() == "RUNNING" {
		res, err := sys.retentionAdmin(t, "operator").ListRetentionRuns(ctx, &lifecyclev1.ListRetentionRunsRequest{PageSize: 1})
		if err != nil {
			t.Fatalf("operator lists retention runs: %v", err)
		}
		if runs := res.GetRetentionRuns(); len(runs) > 0 {
			run = runs[0]
		}
		if run == nil || run.GetState() == "RUNNING" {
			select {
			case <-ctx.Done():
				t.Fatalf("no finished retention run: %v", run)
			case <-time.After(200 * time.Millisecond):
			}
		}
	}
	if run.GetState() != "SUCCEEDED" || len(run.GetFailures()) > 0 {
		t.Fatalf("retention run %s: %s %v", run.GetName(), run.GetState(), run.GetFailures())
	}
	tables := map[string]bool{}
	for _, c := range run.GetRemoved() {
		tables[c.GetService()+"/"+c.GetTable()] = true
		if c.GetRows() < 0 {
			t.Errorf("%s/%s: %d rows", c.GetService(), c.GetTable(), c.GetRows())
		}
	}
	for _, want := range []string{
		"identity/outbox", "identity/sessions", "identity/invitations", "identity/support_grants", "identity/notifications",
		"workflow/outbox", "workflow/inbox", "workflow/webhook_deliveries", "billing/outbox", "billing/inbox", "audit/outbox", "audit/audit_events partitions",
		"lifecycle/export archives", "lifecycle/outbox",
	} {
		if !tables[want] {
			t.Errorf("run %s does not account for %s: %v", run.GetName(), want, run.GetRemoved())
		}
	}
	_, err := sys.retentionAdmin(t, "gateway").ListRetentionRuns(ctx, &lifecyclev1.ListRetentionRunsRequest{})
	if status.Code(err) != codes.PermissionDenied {
		t.Errorf("gateway's certificate lists retention runs: %v, want PermissionDenied", err)
	}
}
