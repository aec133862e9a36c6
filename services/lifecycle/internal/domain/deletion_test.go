package domain

import (
	"testing"
	"time"

	"google.golang.org/grpc/codes"

	"github.com/firmflow/firmflow/pkg/apierr"
)

var t0 = time.Date(2026, 12, 1, 9, 0, 0, 0, time.UTC)

func scheduled(t *testing.T, graceDays int) Deletion {
	t.Helper()
	d, err := NewDeletion("op", "firm", "users/u", graceDays, t0)
	if err != nil {
		t.Fatal(err)
	}
	return d
}

func TestNewDeletionRefusesGraceOutOfRange(t *testing.T) {
	for _, days := range []int{-1, 31, 365} {
		_, err := NewDeletion("op", "firm", "users/u", days, t0)
		if !apierr.HasCode(err, codes.InvalidArgument) {
			t.Errorf("grace %d: got %v, want INVALID_ARGUMENT", days, err)
		}
	}
	for _, days := range []int{0, 14, 30} {
		d, err := NewDeletion("op", "firm", "users/u", days, t0)
		if err != nil {
			t.Fatalf("grace %d: %v", days, err)
		}
		if want := t0.AddDate(0, 0, days); !d.GraceEnd.Equal(want) || d.State != StateScheduled {
			t.Errorf("grace %d: end %s state %s, want %s scheduled", days, d.GraceEnd, d.State, want)
		}
	}
}

func TestDeletionIsDueOnlyWhenGraceEnds(t *testing.T) {
	d := scheduled(t, 14)
	if d.Due(t0.AddDate(0, 0, 14).Add(-time.Second)) {
		t.Error("due before the grace period ended")
	}
	if !d.Due(t0.AddDate(0, 0, 14)) {
		t.Error("not due when the grace period ended")
	}
	if err := d.Begin(t0); err == nil {
		t.Error("began during the grace period")
	}
}

func TestCancelDuringGraceOnly(t *testing.T) {
	d := scheduled(t, 14)
	if err := d.Cancel(t0.Add(time.Hour)); err != nil {
		t.Fatal(err)
	}
	if d.State != StateCancelled || d.Due(t0.AddDate(1, 0, 0)) {
		t.Errorf("cancelled deletion: state %s, still due", d.State)
	}
	if err := d.Cancel(t0.Add(2 * time.Hour)); !apierr.HasCode(err, codes.FailedPrecondition) {
		t.Errorf("second cancel: %v", err)
	}

	late := scheduled(t, 1)
	err := late.Cancel(t0.AddDate(0, 0, 1))
	if !apierr.HasCode(err, codes.FailedPrecondition) {
		t.Errorf("cancel at grace end: %v, want FAILED_PRECONDITION", err)
	}

	running := scheduled(t, 0)
	if err := running.Begin(t0); err != nil {
		t.Fatal(err)
	}
	if err := running.Cancel(t0); !apierr.HasCode(err, codes.FailedPrecondition) {
		t.Errorf("cancel while running: %v, want FAILED_PRECONDITION", err)
	}
}

func TestSagaRunsEveryStepInOrder(t *testing.T) {
	d := scheduled(t, 0)
	if err := d.Begin(t0); err != nil {
		t.Fatal(err)
	}
	var seen []Step
	for i := 0; d.State == StateRunning; i++ {
		if i > len(Steps) {
			t.Fatal("saga does not end")
		}
		step := d.Step()
		seen = append(seen, step)
		if p := d.Progress(); p != i*100/len(Steps) {
			t.Errorf("progress before step %d: %d", i, p)
		}
		if err := d.Complete(step, t0, func(r *Record) {
			if svc := step.Service(); svc != "" {
				if r.Deleted == nil {
					r.Deleted = map[string][]TableCount{}
				}
				r.Deleted[svc] = []TableCount{{Table: "t", Rows: 1}}
			}
		}); err != nil {
			t.Fatal(err)
		}
	}
	if d.State != StateSucceeded || d.Progress() != 100 || !d.EndTime.Equal(t0) {
		t.Errorf("end: state %s progress %d end %s", d.State, d.Progress(), d.EndTime)
	}
	if len(seen) != len(Steps) || seen[0] != StepInventory || seen[4] != StepDeleteAudit || seen[5] != StepDestroyKeys || seen[8] != StepCertificate {
		t.Errorf("steps %v", seen)
	}
	if len(d.Record.Deleted) != 4 {
		t.Errorf("deleted %v", d.Record.Deleted)
	}
	if d.Due(t0.AddDate(1, 0, 0)) {
		t.Error("a succeeded deletion is due again")
	}
}

func TestFailedStepWaitsWithBackoffAndStays(t *testing.T) {
	d := scheduled(t, 0)
	_ = d.Begin(t0)
	_ = d.Complete(StepInventory, t0, nil)
	retry := Retry{Base: time.Second, Max: 10 * time.Second}
	now := t0
	wantDelays := []time.Duration{1, 2, 4, 8, 10, 10}
	for i, want := range wantDelays {
		if err := d.Fail(StepDeleteWorkflow, "workflow unavailable", now, retry); err != nil {
			t.Fatal(err)
		}
		if got := d.NextAttempt.Sub(now); got != want*time.Second {
			t.Errorf("attempt %d: waits %s, want %s", i+1, got, want*time.Second)
		}
		if d.Due(d.NextAttempt.Add(-time.Nanosecond)) || !d.Due(d.NextAttempt) {
			t.Errorf("attempt %d: due before its next attempt or not at it", i+1)
		}
		if d.State != StateRunning || d.Step() != StepDeleteWorkflow || d.Attempts != i+1 {
			t.Errorf("attempt %d: state %s step %s attempts %d", i+1, d.State, d.Step(), d.Attempts)
		}
		now = d.NextAttempt
	}
	if d.LastError != "workflow unavailable" || d.Progress() != 100/len(Steps) {
		t.Errorf("last error %q progress %d", d.LastError, d.Progress())
	}
	if err := d.Complete(StepDeleteWorkflow, now, nil); err != nil {
		t.Fatal(err)
	}
	if d.Attempts != 0 || d.LastError != "" || d.Step() != StepDeleteBilling {
		t.Errorf("after success: attempts %d error %q step %s", d.Attempts, d.LastError, d.Step())
	}
}

func TestStaleRunnerCannotApplyAStepTwice(t *testing.T) {
	d := scheduled(t, 0)
	_ = d.Begin(t0)
	_ = d.Complete(StepInventory, t0, nil)
	if err := d.Complete(StepDeleteWorkflow, t0, nil); err != nil {
		t.Fatal(err)
	}
	if err := d.Complete(StepDeleteWorkflow, t0, func(r *Record) { t.Error("applied twice") }); err == nil {
		t.Error("a step completed twice")
	}
	if err := d.Fail(StepDeleteWorkflow, "x", t0, DefaultRetry); err == nil {
		t.Error("a finished step failed afterwards")
	}
	scheduledOnly := scheduled(t, 3)
	if err := scheduledOnly.Complete(StepDeleteWorkflow, t0, nil); err == nil {
		t.Error("a step completed during the grace period")
	}
}

// TestResumeFromStoredState shows that a deletion copied mid-saga (as the store
// persists it) continues from the step it stopped at.
func TestResumeFromStoredState(t *testing.T) {
	d := scheduled(t, 0)
	_ = d.Begin(t0)
	_ = d.Complete(StepInventory, t0, nil)
	_ = d.Complete(StepDeleteWorkflow, t0, nil)
	_ = d.Fail(StepDeleteBilling, "billing unavailable", t0, DefaultRetry)
	resumed := d // what a new runner reads back
	if resumed.Step() != StepDeleteBilling || resumed.Attempts != 1 || !resumed.Due(t0.Add(2*time.Second)) {
		t.Errorf("resumed at %s attempts %d", resumed.Step(), resumed.Attempts)
	}
}

func TestResidueNeedsEveryServiceAtZero(t *testing.T) {
	clean := map[string][]TableCount{}
	for _, s := range DataServices {
		clean[s] = []TableCount{{Table: "a", Rows: 0}}
	}
	if left := Residue(clean); len(left) != 0 {
		t.Errorf("clean scan reported %v", left)
	}
	dirty := map[string][]TableCount{"workflow": {{Table: "clients", Rows: 2}}, "billing": {{Table: "a"}}, "identity": {{Table: "a"}}}
	left := Residue(dirty)
	if len(left) != 2 || left[0] != "workflow.clients=2" || left[1] != "audit.(no tables scanned)" {
		t.Errorf("dirty scan: %v", left)
	}
}
