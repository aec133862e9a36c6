// Package readiness answers whether a process can serve: each dependency it needs
// (its database, NATS, the services behind it) is a named probe, and a failure names
// the dependencies that failed so an operator reading /readyz knows where to look.
// Probe errors stay in the log: their text may hold addresses or credentials.
package readiness

import (
	"context"
	"errors"
	"slices"
	"strings"
	"sync"
	"time"
)

// Timeout bounds one round of probes, so a hung dependency makes the check fail
// rather than hang the orchestrator's request.
const Timeout = 2 * time.Second

// Probe is one dependency's check.
type Probe struct {
	// Name is what /readyz reports when the probe fails: "database", "nats", "identity".
	Name  string
	Check func(context.Context) error
}

// Probes are every dependency a process needs before it takes traffic.
type Probes []Probe

// Error says which dependencies failed.
type Error struct {
	Failed []string
	errs   []error
}

func (e *Error) Error() string { return "not ready: " + strings.Join(e.Failed, ", ") }

// Unwrap returns the probes' own errors, for the log.
func (e *Error) Unwrap() []error { return e.errs }

// Check runs every probe at once under Timeout and returns nil or an *Error naming
// the failed ones in the order they were given.
func (ps Probes) Check(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, Timeout)
	defer cancel()
	errs := make([]error, len(ps))
	var wg sync.WaitGroup
	for i, p := range ps {
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs[i] = p.Check(ctx)
		}()
	}
	wg.Wait()
	var out Error
	for i, err := range errs {
		if err != nil {
			out.Failed = append(out.Failed, ps[i].Name)
			out.errs = append(out.errs, errors.Join(errors.New(ps[i].Name), err))
		}
	}
	if len(out.Failed) == 0 {
		return nil
	}
	return &out
}

// Failed names the dependencies err reports as failed, or nil when err is not from
// Check.
func Failed(err error) []string {
	var e *Error
	if errors.As(err, &e) {
		return slices.Clone(e.Failed)
	}
	return nil
}
