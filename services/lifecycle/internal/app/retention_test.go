package app_test

import (
	"context"
	"testing"
	"time"

	"github.com/firmflow/firmflow/services/lifecycle/internal/domain"
)

func removed(r domain.RetentionRun, service, table string) int64 {
	for _, c := range r.Removed {
		if c.Service == service && c.Table == table {
			return c.Rows
		}
	}
	return -1
}

// TestRetentionRunsOnceAtATimeAndRecordsCounts: while one runner prunes, another
// finds the run taken and does nothing; the next run is due an interval after the
// last one started, not before; each run records per service and table what was
// removed, every service being given the run's clock; a service that is down fails
// the run without keeping the others from pruning.
func TestRetentionRunsOnceAtATimeAndRecordsCounts(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t)
	f.services["identity"].expired = map[string]int64{"sessions": 4, "invitations": 2}
	f.services["workflow"].expired = map[string]int64{"outbox": 7}
	first, second := f.runner(t), f.runner(t)

	hold := make(chan chan struct{})
	f.services["identity"].pruning = hold
	done := make(chan error, 1)
	go func() {
		ran, err := first.RunRetention(ctx)
		if err == nil && !ran {
			t.Error("the first runner did not run")
		}
		done <- err
	}()
	release := <-hold // the first runner is inside identity's Prune
	if ran, err := second.RunRetention(ctx); err != nil || ran {
		t.Fatalf("second runner during the first's run: ran=%v err=%v, want it to skip", ran, err)
	}
	f.services["identity"].mu.Lock()
	f.services["identity"].pruning = nil
	f.services["identity"].mu.Unlock()
	close(release)
	if err := <-done; err != nil {
		t.Fatal(err)
	}

	// Not due again until an hour after the first started.
	f.advance(59 * time.Minute)
	if ran, err := second.RunRetention(ctx); err != nil || ran {
		t.Fatalf("59 minutes later: ran=%v err=%v, want not due", ran, err)
	}
	f.services["billing"].setDown(true)
	f.services["workflow"].expired["outbox"] = 3
	f.advance(time.Minute)
	if ran, err := second.RunRetention(ctx); err != nil || !ran {
		t.Fatalf("an hour later: ran=%v err=%v, want a run", ran, err)
	}

	runs, err := first.RetentionRuns(ctx, 0)
	if err != nil || len(runs) != 2 {
		t.Fatalf("runs: %+v %v", runs, err)
	}
	latest, earliest := runs[0], runs[1]
	if earliest.State != domain.StateSucceeded || len(earliest.Failures) != 0 || earliest.EndTime.IsZero() {
		t.Errorf("first run: %+v", earliest)
	}
	if removed(earliest, "identity", "sessions") != 4 || removed(earliest, "identity", "invitations") != 2 ||
		removed(earliest, "workflow", "outbox") != 7 || removed(earliest, "lifecycle", "export archives") != 0 {
		t.Errorf("first run removed %+v", earliest.Removed)
	}
	if latest.State != domain.StateFailed || latest.Failures["billing"] == "" || len(latest.Failures) != 1 {
		t.Errorf("second run with billing down: state %s failures %v", latest.State, latest.Failures)
	}
	if removed(latest, "workflow", "outbox") != 3 || removed(latest, "identity", "sessions") != 0 {
		t.Errorf("second run removed %+v", latest.Removed)
	}
	want := []time.Time{earliest.StartTime, latest.StartTime}
	for _, name := range []string{"identity", "workflow", "audit"} {
		got := f.services[name].prunedAt
		if len(got) != 2 || !got[0].Equal(want[0]) || !got[1].Equal(want[1]) {
			t.Errorf("%s pruned as of %v, want the runs' clocks %v", name, got, want)
		}
	}
	if !latest.StartTime.Equal(f.clock()) {
		t.Errorf("run clock %v, want the fixture's %v", latest.StartTime, f.clock())
	}
}
