package httpapi

import (
	"context"
	"net/http"
	"sync"
	"time"

	"github.com/firmflow/firmflow/pkg/apierr"
)

// AdmissionOptions tune a ConcurrencyLimit; zero values take the defaults.
type AdmissionOptions struct {
	// Initial, Min and Max bound how many requests may be in flight at once; the
	// limit moves between Min and Max with the latency the gateway sees. Defaults
	// 128, 32 and 1024.
	Initial, Min, Max int
	// Queue is how many requests may wait for a slot (default Max/4), and QueueWait
	// how long each may wait (default 50ms) before it is refused.
	Queue     int
	QueueWait time.Duration
	// Tolerance is how many times the lowest recent latency a request may take before
	// the limit is lowered (default 2); latencies under Floor (default 1s) never
	// lower it, so requests that are slow by nature (a login's password hash) do not
	// count as congestion, while the multi-second waits of a saturated access write
	// or upstream do.
	Tolerance float64
	Floor     time.Duration
}

// ConcurrencyLimit is an adaptive limit on requests in flight (AIMD on latency): it
// grows by about one slot per round trip while requests finish within Tolerance x
// the lowest recent latency, and shrinks by a tenth when they take longer or end
// in 503/504, the signs that the access write or an upstream is saturated. A
// request over the limit waits briefly in a bounded queue; when that is full or the
// wait ends it is refused at once with 503 and Retry-After, rather than hanging
// until the client gives up.
type ConcurrencyLimit struct {
	opts AdmissionOptions

	mu           sync.Mutex
	limit        float64
	inflight     int
	waiting      []chan struct{} // FIFO; a closed channel hands over a slot
	minRTT       time.Duration   // lowest latency in the current window
	prevMinRTT   time.Duration   // of the previous window, so a window starts informed
	windowStart  time.Time
	lastDecrease time.Time
}

// minRTTWindow is how long a lowest latency is remembered: the floor of what the
// upstreams can do drifts with load and deployments.
const minRTTWindow = 30 * time.Second

// NewConcurrencyLimit returns a limit with opts.
func NewConcurrencyLimit(opts AdmissionOptions) *ConcurrencyLimit {
	if opts.Max <= 0 {
		opts.Max = 1024
	}
	if opts.Min <= 0 {
		opts.Min = min(32, opts.Max)
	}
	if opts.Initial <= 0 {
		opts.Initial = min(128, opts.Max)
	}
	opts.Initial = max(opts.Min, min(opts.Initial, opts.Max))
	if opts.Queue < 0 {
		opts.Queue = 0
	} else if opts.Queue == 0 {
		opts.Queue = max(1, opts.Max/4)
	}
	if opts.QueueWait <= 0 {
		opts.QueueWait = 50 * time.Millisecond
	}
	if opts.Tolerance <= 1 {
		opts.Tolerance = 2
	}
	if opts.Floor <= 0 {
		opts.Floor = time.Second
	}
	return &ConcurrencyLimit{opts: opts, limit: float64(opts.Initial), windowStart: time.Now()}
}

// Limit is the current limit on requests in flight.
func (c *ConcurrencyLimit) Limit() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return int(c.limit)
}

// acquire takes a slot, waiting at most QueueWait in the queue; false means refused.
func (c *ConcurrencyLimit) acquire(ctx context.Context) bool {
	c.mu.Lock()
	if c.inflight < int(c.limit) && len(c.waiting) == 0 {
		c.inflight++
		c.mu.Unlock()
		return true
	}
	if len(c.waiting) >= c.opts.Queue {
		c.mu.Unlock()
		return false
	}
	slot := make(chan struct{})
	c.waiting = append(c.waiting, slot)
	c.mu.Unlock()

	timer := time.NewTimer(c.opts.QueueWait)
	defer timer.Stop()
	select {
	case <-slot:
		return true
	case <-timer.C:
	case <-ctx.Done():
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	for i, w := range c.waiting {
		if w == slot {
			c.waiting = append(c.waiting[:i], c.waiting[i+1:]...)
			return false
		}
	}
	// Handed a slot just as the wait ended: take it after all.
	return true
}

// release returns a slot and adjusts the limit by how the request went.
func (c *ConcurrencyLimit) release(latency time.Duration, congested bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	now := time.Now()
	if now.Sub(c.windowStart) > minRTTWindow {
		c.prevMinRTT, c.minRTT, c.windowStart = c.minRTT, 0, now
	}
	if c.minRTT == 0 || latency < c.minRTT {
		c.minRTT = latency
	}
	floor := c.minRTT
	if c.prevMinRTT > 0 && c.prevMinRTT < floor {
		floor = c.prevMinRTT
	}
	slow := latency > c.opts.Floor && float64(latency) > c.opts.Tolerance*float64(floor)
	switch {
	case congested || slow:
		// Once per round trip: the requests in flight together saw the same queue.
		if now.Sub(c.lastDecrease) > latency {
			c.limit = max(float64(c.opts.Min), c.limit*0.9)
			c.lastDecrease = now
		}
	case float64(c.inflight) >= c.limit/2:
		// Grow only while the limit is in use; an idle gateway learns nothing.
		c.limit = min(float64(c.opts.Max), c.limit+1/c.limit)
	}
	if len(c.waiting) > 0 {
		// Hand the slot straight to the longest waiter: inflight is unchanged.
		next := c.waiting[0]
		c.waiting = c.waiting[1:]
		close(next)
		return
	}
	c.inflight--
}

// Admit is middleware that lets a request through only within limit; refused ones
// get 503 OVERLOADED with Retry-After at once. Liveness and readiness probes pass
// regardless: a probe refused under load would restart a healthy gateway.
func Admit(limit *ConcurrencyLimit) func(http.Handler) http.Handler {
	return func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if r.URL.Path == "/healthz" || r.URL.Path == "/readyz" {
				next.ServeHTTP(w, r)
				return
			}
			if !limit.acquire(r.Context()) {
				reject(r.Context(), rejectOverload)
				writeError(w, apierr.Unavailable("OVERLOADED",
					"the service is busy; try again shortly"))
				return
			}
			start := time.Now()
			rec := &statusRecorder{ResponseWriter: w}
			defer func() {
				status := rec.status()
				limit.release(time.Since(start), status == http.StatusServiceUnavailable || status == http.StatusGatewayTimeout)
			}()
			next.ServeHTTP(rec, r)
		})
	}
}
