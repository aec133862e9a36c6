package app

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"strings"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/firmflow/firmflow/pkg/apierr"
	"github.com/firmflow/firmflow/services/lifecycle/certificate"
	"github.com/firmflow/firmflow/services/lifecycle/internal/domain"
	"github.com/firmflow/firmflow/services/lifecycle/internal/store"
)

// FactDestroyedKeys is the fact in which identity's deletion lists the ids of the
// firm's data keys it destroyed in the key store, comma-separated.
const FactDestroyedKeys = "destroyed_data_keys"

// unavailable is the 503 a client sees when service could not be reached.
func unavailable(service string, err error) error {
	var apiErr *apierr.Error
	if errors.As(err, &apiErr) {
		return err
	}
	if st, ok := status.FromError(err); ok && st.Code() != codes.Unknown && st.Code() != codes.Unavailable &&
		st.Code() != codes.DeadlineExceeded && st.Code() != codes.Internal {
		return err // the service's own answer (bad credentials, not found ...)
	}
	return &apierr.Error{Code: codes.Unavailable, Reason: "DEPENDENCY_UNAVAILABLE",
		Message: service + " is unavailable; try again shortly", RetryAfter: 5 * time.Second}
}

// RunDeletions works on due deletions, one step per claim, until none is due or ctx
// ends, and returns how many steps it ran. Any number of runners may call it at once,
// in one process or several: each step is claimed under a lease, so it runs once at
// a time and its outcome is saved once.
func (a *App) RunDeletions(ctx context.Context) (int, error) {
	steps := 0
	for ctx.Err() == nil {
		worked, err := a.RunDeletionStep(ctx)
		if err != nil || !worked {
			return steps, err
		}
		steps++
	}
	return steps, nil
}

// RunDeletionStep claims one due deletion and advances it by one step (or records the
// step's failure and when it is retried). worked is false when nothing was due.
func (a *App) RunDeletionStep(ctx context.Context) (worked bool, err error) {
	now := a.now().UTC()
	id, firmID, ok, err := a.store.Claim(ctx, domain.KindDeletion, a.runner, now, a.cfg.Lease)
	if err != nil || !ok {
		return false, err
	}
	op, err := a.store.Operation(ctx, firmID, id)
	if err != nil {
		return true, err
	}
	d := *op.Deletion
	before := d
	if d.State == domain.StateScheduled {
		if err := d.Begin(now); err != nil {
			return true, err
		}
		a.logger.InfoContext(ctx, "firm deletion started", "firm", firmID, "operation", id)
		return true, a.save(ctx, before, d)
	}
	step := d.Step()
	stepCtx, cancel := context.WithTimeout(ctx, a.cfg.StepTimeout)
	apply, cert, failure := a.runStep(stepCtx, &d, step, now)
	cancel()
	now = a.now().UTC()
	if failure != "" {
		if ctx.Err() != nil {
			return true, ctx.Err() // stopped: the lease runs out and another runner resumes
		}
		a.logger.WarnContext(ctx, "deletion step failed; it will be retried", "operation", id, "step", string(step),
			"attempt", d.Attempts+1, "reason", failure)
		if err := d.Fail(step, failure, now, a.cfg.Retry); err != nil {
			return true, err
		}
		return true, a.save(ctx, before, d)
	}
	if step == domain.StepCertificate {
		if err := a.store.Bury(ctx, before, a.runner, cert, now); err != nil {
			return true, a.lost(ctx, id, err)
		}
		a.logger.InfoContext(ctx, "firm deleted; certificate issued", "firm", firmID, "operation", id)
		return true, nil
	}
	if err := d.Complete(step, now, apply); err != nil {
		return true, err
	}
	return true, a.save(ctx, before, d)
}

func (a *App) save(ctx context.Context, before, d domain.Deletion) error {
	return a.lost(ctx, d.ID, a.store.SaveDeletion(ctx, before, d, a.runner))
}

// lost turns a lost claim into a log line: another runner's newer state stands.
func (a *App) lost(ctx context.Context, id string, err error) error {
	if errors.Is(err, store.ErrClaimLost) {
		a.logger.WarnContext(ctx, "deletion changed under this runner; its result is discarded", "operation", id)
		return nil
	}
	return err
}

// runStep performs one step. It returns the change to the record on success, the
// signed certificate for the last step, or a failure reason fit for the firm's
// owners (the raw error is logged, never shown).
func (a *App) runStep(ctx context.Context, d *domain.Deletion, step domain.Step, now time.Time) (apply func(*domain.Record), cert []byte, failure string) {
	fail := func(what string, err error) (func(*domain.Record), []byte, string) {
		a.logger.WarnContext(ctx, "deletion step error", "operation", d.ID, "step", string(step), "error", err)
		return nil, nil, what + " " + describe(err)
	}
	switch step {
	case domain.StepDeleteWorkflow, domain.StepDeleteBilling, domain.StepDeleteIdentity, domain.StepDeleteAudit:
		service := step.Service()
		res, err := a.services[service].Delete(ctx, d.FirmID, "operations/"+d.ID)
		if err != nil {
			return fail(service, err)
		}
		return func(r *domain.Record) {
			if r.Deleted == nil {
				r.Deleted = map[string][]domain.TableCount{}
			}
			// A retry after a lost answer reports only what was left: add up.
			r.Deleted[service] = addCounts(r.Deleted[service], res.Tables)
			if len(res.Facts) > 0 {
				if r.Facts == nil {
					r.Facts = map[string]map[string]string{}
				}
				if r.Facts[service] == nil {
					r.Facts[service] = map[string]string{}
				}
				for k, v := range res.Facts {
					r.Facts[service][k] = v
				}
			}
		}, nil, ""
	case domain.StepDestroyKeys:
		// Identity's deletion destroys the firm's keys of every service and reports
		// their ids; destroying again here catches a key made after that (the key
		// store refuses new ones once a firm is destroyed) and confirms it.
		ids, err := a.keys.DestroyFirm(ctx, d.FirmID)
		if err != nil {
			return fail("key store", err)
		}
		if reported := d.Record.Facts["identity"][FactDestroyedKeys]; reported != "" {
			ids = append(ids, strings.Split(reported, ",")...)
		}
		return func(r *domain.Record) { r.DestroyedKeys = union(r.DestroyedKeys, ids) }, nil, ""
	case domain.StepInventory:
		scan, service, err := a.countAll(ctx, d.FirmID)
		if err != nil {
			return fail(service, err)
		}
		return func(r *domain.Record) { r.Inventory = scan }, nil, ""
	case domain.StepResidueScan:
		scan, service, err := a.countAll(ctx, d.FirmID)
		if err != nil {
			return fail(service, err)
		}
		if left := domain.Residue(scan); len(left) > 0 {
			a.logger.ErrorContext(ctx, "residue found after deletion", "operation", d.ID, "residue", strings.Join(left, ","))
			return nil, nil, "rows of the firm remain: " + strings.Join(left, ", ")
		}
		return func(r *domain.Record) { r.Residue = scan }, nil, ""
	case domain.StepStreams:
		horizons, err := a.streams.Purge(ctx, d.FirmID, now)
		if err != nil {
			return fail("NATS", err)
		}
		return func(r *domain.Record) { r.Streams = horizons }, nil, ""
	case domain.StepCertificate:
		// The firm's export archives go too: only the tombstone stays.
		if err := a.removeArchives(ctx, d.FirmID); err != nil {
			return fail("export storage", err)
		}
		signed, err := certificate.Sign(a.certificate(d, now), a.signer)
		if err != nil {
			return fail("certificate", err)
		}
		return nil, signed, ""
	}
	return nil, nil, fmt.Sprintf("unknown step %q", step)
}

// countAll asks every service for its counts of the firm's rows; on failure it names
// the service that failed.
func (a *App) countAll(ctx context.Context, firmID string) (map[string][]domain.TableCount, string, error) {
	scan := map[string][]domain.TableCount{}
	for _, service := range domain.DataServices {
		counts, err := a.services[service].Count(ctx, firmID)
		if err != nil {
			return nil, service, err
		}
		scan[service] = counts
	}
	return scan, "", nil
}

// certificate builds the certificate from the saga's record.
func (a *App) certificate(d *domain.Deletion, now time.Time) certificate.Certificate {
	r := d.Record
	c := certificate.Certificate{
		Deletion: "operations/" + d.ID, Firm: "firms/" + d.FirmID, RequestedBy: d.RequestedBy,
		RequestTime: d.RequestTime, GraceEnd: d.GraceEnd, CompleteAt: now,
		Inventory: map[string][]certificate.TableCount{},
		Deleted:   map[string][]certificate.TableCount{}, Residue: map[string][]certificate.TableCount{},
		Facts: r.Facts, DestroyedKeys: r.DestroyedKeys, ResidueClean: len(domain.Residue(r.Residue)) == 0,
		BackupsClearAfter: now.Add(a.cfg.BackupRetention), KeyBackupsClearAfter: now.Add(a.cfg.KeyBackupRetention),
	}
	if c.DestroyedKeys == nil {
		c.DestroyedKeys = []string{}
	}
	if head, ok := r.Facts["audit"]["audit_chain_head"]; ok {
		c.AuditChainHead = head
	}
	for svc, tables := range r.Deleted {
		c.Deleted[svc] = certCounts(tables)
	}
	for svc, tables := range r.Inventory {
		c.Inventory[svc] = certCounts(nonZero(tables))
	}
	for svc, tables := range r.Residue {
		c.Residue[svc] = certCounts(tables)
	}
	bounded := true
	for _, h := range r.Streams {
		// The bound runs from completion: a message about the firm published after
		// the purge (an access record) is gone by then too.
		if maxAge, err := time.ParseDuration(h.MaxAge); err == nil && !h.Unbounded {
			h.ClearAfter = now.Add(maxAge)
		}
		c.Streams = append(c.Streams, h)
		if h.Unbounded {
			bounded = false
		}
		if h.ClearAfter.After(c.StreamsClearAfter) {
			c.StreamsClearAfter = h.ClearAfter
		}
	}
	if !bounded {
		// An unbounded stream gives no date; claiming the bounded ones' would mislead.
		c.StreamsClearAfter = time.Time{}
	}
	if c.Streams == nil {
		c.Streams = []certificate.Stream{}
	}
	return c
}

func certCounts(in []domain.TableCount) []certificate.TableCount {
	out := make([]certificate.TableCount, len(in))
	for i, t := range in {
		out[i] = certificate.TableCount(t)
	}
	return out
}

// nonZero keeps the tables that had rows: the inventory lists what there was.
func nonZero(in []domain.TableCount) []domain.TableCount {
	out := []domain.TableCount{}
	for _, t := range in {
		if t.Rows != 0 {
			out = append(out, t)
		}
	}
	return out
}

func addCounts(have, more []domain.TableCount) []domain.TableCount {
	sum := map[string]int64{}
	for _, t := range append(append([]domain.TableCount(nil), have...), more...) {
		sum[t.Table] += t.Rows
	}
	out := make([]domain.TableCount, 0, len(sum))
	for table, rows := range sum {
		out = append(out, domain.TableCount{Table: table, Rows: rows})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Table < out[j].Table })
	return out
}

func union(have, more []string) []string {
	seen := map[string]bool{}
	var out []string
	for _, id := range append(append([]string(nil), have...), more...) {
		if !seen[id] {
			seen[id] = true
			out = append(out, id)
		}
	}
	sort.Strings(out)
	return out
}

// describe names an error's kind without its text, which may carry details the
// firm's owners should not see.
func describe(err error) string {
	if errors.Is(err, context.DeadlineExceeded) {
		return "did not answer in time; retrying"
	}
	if st, ok := status.FromError(err); ok {
		switch st.Code() {
		case codes.Unavailable:
			return "is unavailable; retrying"
		case codes.DeadlineExceeded:
			return "did not answer in time; retrying"
		default:
			return "answered " + st.Code().String() + "; retrying"
		}
	}
	return "failed; retrying"
}
