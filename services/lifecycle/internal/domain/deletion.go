// Package domain holds lifecycle's rules without I/O: the deletion saga as a state
// machine (grace period, ordered steps, retries with backoff, resumption), the export
// operation's states, and the deletion certificate's contents.
package domain

import (
	"fmt"
	"time"

	"github.com/firmflow/firmflow/pkg/apierr"
	"github.com/firmflow/firmflow/services/lifecycle/certificate"
)

// State is where an operation stands.
type State string

const (
	// StateScheduled is a deletion in its grace period: the firm is read-only and its
	// owners may cancel.
	StateScheduled State = "scheduled"
	// StateRunning works through the steps; a failed step waits and is retried.
	StateRunning   State = "running"
	StateSucceeded State = "succeeded"
	StateCancelled State = "cancelled"
	StateFailed    State = "failed"
)

// Done reports whether the state is final.
func (s State) Done() bool {
	return s == StateSucceeded || s == StateCancelled || s == StateFailed
}

// Grace period bounds, in days.
const (
	MinGraceDays     = 0
	MaxGraceDays     = 30
	DefaultGraceDays = 14
)

// Step is one idempotent piece of the deletion saga.
type Step string

// The services that hold firm data, in the order their data is deleted. Audit comes
// last so that its chain records everything that happened up to the deletion, and its
// final head hash goes into the certificate.
var DataServices = []string{"workflow", "billing", "identity", "audit"}

const (
	// StepInventory counts every service's rows of the firm before anything is
	// deleted (the firm is read-only by then), so that the certificate states what
	// there was even if a deletion's own answer is lost and its retry answers zero.
	StepInventory      Step = "inventory"
	StepDeleteWorkflow Step = "delete:workflow"
	StepDeleteBilling  Step = "delete:billing"
	StepDeleteIdentity Step = "delete:identity"
	StepDeleteAudit    Step = "delete:audit"
	// StepDestroyKeys destroys the firm's data keys in the key store: whatever copy
	// of the firm's ciphertext survives (backups) can no longer be read.
	StepDestroyKeys Step = "destroy_keys"
	// StepResidueScan asks every service to count the rows still carrying the firm's
	// id; any count above zero fails the step, which is retried.
	StepResidueScan Step = "residue_scan"
	// StepStreams purges the firm's messages from every JetStream stream and records,
	// per stream, by when it holds none of them any more.
	StepStreams Step = "streams"
	// StepCertificate signs the certificate and leaves only the tombstone.
	StepCertificate Step = "certificate"
)

// Steps is the saga in order.
var Steps = []Step{
	StepInventory, StepDeleteWorkflow, StepDeleteBilling, StepDeleteIdentity, StepDeleteAudit,
	StepDestroyKeys, StepResidueScan, StepStreams, StepCertificate,
}

// Service names the service a delete step addresses, or "" for other steps.
func (s Step) Service() string {
	switch s {
	case StepDeleteWorkflow:
		return "workflow"
	case StepDeleteBilling:
		return "billing"
	case StepDeleteIdentity:
		return "identity"
	case StepDeleteAudit:
		return "audit"
	}
	return ""
}

// Retry is how a failed step waits before its next attempt: exponential from Base,
// capped at Max. A step is retried for as long as it fails: a service that is down
// holds the deletion back, it never lets it finish early.
type Retry struct {
	Base time.Duration
	Max  time.Duration
}

// DefaultRetry waits 2s, 4s, 8s ... up to 5 minutes between attempts.
var DefaultRetry = Retry{Base: 2 * time.Second, Max: 5 * time.Minute}

// Delay is the wait after the given number of failed attempts (1 for the first).
func (r Retry) Delay(failures int) time.Duration {
	d := r.Base
	for i := 1; i < failures && d < r.Max; i++ {
		d *= 2
	}
	return min(d, r.Max)
}

// TableCount is a number of rows of one table.
type TableCount struct {
	Table string `json:"table"`
	Rows  int64  `json:"rows"`
}

// StreamHorizon is what a firm's deletion did to one JetStream stream, as the
// certificate states it (see certificate.Stream).
type StreamHorizon = certificate.Stream

// Record is what the steps found and did; it becomes the certificate.
type Record struct {
	// Inventory is the rows of the firm per service and table before deletion.
	Inventory map[string][]TableCount `json:"inventory,omitempty"`
	// Deleted is the rows removed, per service and table.
	Deleted map[string][]TableCount `json:"deleted,omitempty"`
	// Facts are what the services reported about their deletion, per service
	// (audit's "audit_chain_head", billing's deleted Stripe customer, ...).
	Facts map[string]map[string]string `json:"facts,omitempty"`
	// DestroyedKeys are the ids of the firm's data keys destroyed.
	DestroyedKeys []string `json:"destroyed_keys,omitempty"`
	// Residue is the last residue scan: per service, every table that has a firm
	// column, with its count of the firm's rows.
	Residue map[string][]TableCount `json:"residue,omitempty"`
	// Streams are the JetStream horizons.
	Streams []StreamHorizon `json:"streams,omitempty"`
}

// Deletion is the deletion saga of one firm.
type Deletion struct {
	ID          string
	FirmID      string
	RequestedBy string // users/{user}
	RequestTime time.Time
	GraceEnd    time.Time
	State       State
	// Next is the index in Steps of the step to run next.
	Next int
	// Attempts are the failed attempts of the current step.
	Attempts    int
	NextAttempt time.Time
	LastError   string
	EndTime     time.Time
	Record      Record
}

// NewDeletion schedules a firm's deletion graceDays from now.
func NewDeletion(id, firmID, requestedBy string, graceDays int, now time.Time) (Deletion, error) {
	if graceDays < MinGraceDays || graceDays > MaxGraceDays {
		return Deletion{}, apierr.InvalidArgument("grace_days", "int32.range",
			fmt.Sprintf("must be between %d and %d days", MinGraceDays, MaxGraceDays))
	}
	graceEnd := now.Add(time.Duration(graceDays) * 24 * time.Hour)
	return Deletion{
		ID: id, FirmID: firmID, RequestedBy: requestedBy, RequestTime: now, GraceEnd: graceEnd,
		State: StateScheduled, NextAttempt: graceEnd,
	}, nil
}

// ErrDeletionStarted refuses a cancellation after the grace period.
func ErrDeletionStarted() error {
	return apierr.FailedPrecondition("DELETION_STARTED", "the grace period has ended and the deletion has started; it can no longer be cancelled")
}

// Cancel stops the deletion while its grace period lasts.
func (d *Deletion) Cancel(now time.Time) error {
	switch {
	case d.State.Done():
		return apierr.FailedPrecondition("OPERATION_DONE", "the operation has already finished")
	case d.State != StateScheduled || !now.Before(d.GraceEnd):
		return ErrDeletionStarted()
	}
	d.State, d.EndTime, d.NextAttempt = StateCancelled, now, time.Time{}
	return nil
}

// Due reports whether a runner should work on the deletion now.
func (d *Deletion) Due(now time.Time) bool {
	switch d.State {
	case StateScheduled:
		return !now.Before(d.GraceEnd)
	case StateRunning:
		return !now.Before(d.NextAttempt)
	}
	return false
}

// Begin ends the grace period: the steps start.
func (d *Deletion) Begin(now time.Time) error {
	if d.State != StateScheduled || now.Before(d.GraceEnd) {
		return fmt.Errorf("deletion %s cannot begin in state %s before %s", d.ID, d.State, d.GraceEnd)
	}
	d.State, d.Next, d.Attempts, d.NextAttempt = StateRunning, 0, 0, now
	return nil
}

// Step is the step to run next; "" unless running.
func (d *Deletion) Step() Step {
	if d.State != StateRunning || d.Next >= len(Steps) {
		return ""
	}
	return Steps[d.Next]
}

// Complete records that step succeeded and moves to the next one; after the last
// the deletion has succeeded. A runner that lost its claim (step is no longer the
// current one) is refused, so a step's outcome is applied once.
func (d *Deletion) Complete(step Step, now time.Time, apply func(*Record)) error {
	if d.Step() != step || step == "" {
		return fmt.Errorf("deletion %s: step %q is not the current step %q", d.ID, step, d.Step())
	}
	if apply != nil {
		apply(&d.Record)
	}
	d.Next++
	d.Attempts, d.LastError, d.NextAttempt = 0, "", now
	if d.Next == len(Steps) {
		d.State, d.EndTime, d.NextAttempt = StateSucceeded, now, time.Time{}
	}
	return nil
}

// Fail records a failed attempt of step: the deletion waits and tries it again.
// reason must be fit to show the firm's owners (no secrets, no raw errors).
func (d *Deletion) Fail(step Step, reason string, now time.Time, retry Retry) error {
	if d.Step() != step || step == "" {
		return fmt.Errorf("deletion %s: step %q is not the current step %q", d.ID, step, d.Step())
	}
	d.Attempts++
	d.LastError = reason
	d.NextAttempt = now.Add(retry.Delay(d.Attempts))
	return nil
}

// Progress is the share of steps done, 0..100.
func (d *Deletion) Progress() int {
	switch d.State {
	case StateSucceeded:
		return 100
	case StateRunning:
		return d.Next * 100 / len(Steps)
	}
	return 0
}

// Residue lists "service.table" entries that still hold rows of the firm; empty
// means the scan is clean. A service that reported no table at all is residue too:
// a scan that saw nothing proves nothing.
func Residue(scan map[string][]TableCount) []string {
	var left []string
	for _, service := range DataServices {
		tables, ok := scan[service]
		if !ok || len(tables) == 0 {
			left = append(left, service+".(no tables scanned)")
			continue
		}
		for _, t := range tables {
			if t.Rows != 0 {
				left = append(left, fmt.Sprintf("%s.%s=%d", service, t.Table, t.Rows))
			}
		}
	}
	return left
}
