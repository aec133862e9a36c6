package app

import (
	"context"
	"time"

	"github.com/firmflow/firmflow/services/lifecycle/internal/domain"
)

// RunRetention starts the retention run when one is due and no other runner holds
// it: every service prunes as of the run's clock, lifecycle removes expired export
// archives and its own queues, and the run is recorded with what each removed. A
// service that fails is recorded and does not stop the others; the next run retries
// it. ran is false when no run was due or another runner had it.
func (a *App) RunRetention(ctx context.Context) (ran bool, err error) {
	now := a.now().UTC()
	run, ok, err := a.store.ClaimRetention(ctx, a.runner, now, a.cfg.RetentionInterval, a.cfg.RetentionLease)
	if err != nil || !ok {
		return false, err
	}
	var removed []domain.RetentionCount
	failures := map[string]string{}
	add := func(service string, counts []domain.TableCount) {
		for _, c := range counts {
			removed = append(removed, domain.RetentionCount{Service: service, Table: c.Table, Rows: c.Rows})
		}
	}
	for _, name := range domain.DataServices {
		counts, err := a.prune(ctx, name, now, run.ID)
		if err != nil {
			failures[name] = describe(unavailable(name, err))
			a.logger.WarnContext(ctx, "retention: a service could not prune", "service", name, "run", run.ID, "error", err)
			continue
		}
		add(name, counts)
	}
	if counts, err := a.pruneOwn(ctx, now); err != nil {
		failures["lifecycle"] = describe(err)
		a.logger.WarnContext(ctx, "retention: lifecycle could not prune", "run", run.ID, "error", err)
	} else {
		add("lifecycle", counts)
	}
	run.Finish(removed, failures, a.now().UTC())
	return true, a.store.FinishRetention(ctx, run)
}

func (a *App) prune(ctx context.Context, service string, now time.Time, run string) ([]domain.TableCount, error) {
	ctx, cancel := context.WithTimeout(ctx, a.cfg.RetentionLease/2)
	defer cancel()
	return a.services[service].Prune(ctx, now, run)
}

// pruneOwn removes export archives past their 7 days and lifecycle's published
// outbox rows past their window.
func (a *App) pruneOwn(ctx context.Context, now time.Time) ([]domain.TableCount, error) {
	exports, err := a.sweepExports(ctx, now)
	if err != nil {
		return nil, err
	}
	queues, err := a.store.PruneQueues(ctx, now)
	if err != nil {
		return nil, err
	}
	out := []domain.TableCount{{Table: "export archives", Rows: int64(exports)}}
	for _, q := range queues {
		out = append(out, domain.TableCount{Table: q.Table, Rows: q.Rows})
	}
	return out, nil
}

// RetentionRuns lists the latest retention runs, newest first: 20 unless limit says
// otherwise.
func (a *App) RetentionRuns(ctx context.Context, limit int) ([]domain.RetentionRun, error) {
	if limit <= 0 {
		limit = 20
	}
	return a.store.RetentionRuns(ctx, limit)
}
