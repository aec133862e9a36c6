package httpapi

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"sort"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// blockedDownstream holds every request until released, as a saturated access write
// or upstream does.
type blockedDownstream struct {
	release chan struct{}
	entered atomic.Int64
}

func (d *blockedDownstream) ServeHTTP(w http.ResponseWriter, _ *http.Request) {
	d.entered.Add(1)
	<-d.release
	w.WriteHeader(http.StatusOK)
}

func TestFloodBeyondTheLimitIsRefusedAtOnceWith503(t *testing.T) {
	const limit, queue, flood = 10, 5, 200
	down := &blockedDownstream{release: make(chan struct{})}
	h := Admit(NewConcurrencyLimit(AdmissionOptions{Initial: limit, Min: limit, Max: limit, Queue: queue, QueueWait: 20 * time.Millisecond}))(down)

	var refused, withRetryAfter, ok atomic.Int64
	var wg sync.WaitGroup
	for range flood {
		wg.Go(func() {
			res := serve(h, httptest.NewRequest(http.MethodGet, "/v1/caller", nil))
			switch res.StatusCode {
			case http.StatusServiceUnavailable:
				// Counted after its headers are checked, so that once every refusal is
				// counted every check is too.
				if res.Header.Get("Retry-After") != "" && decodeError(t, res).reason() == "OVERLOADED" {
					withRetryAfter.Add(1)
				}
				refused.Add(1)
			case http.StatusOK:
				ok.Add(1)
			}
		})
	}
	// Every request beyond the limit is answered while the downstream still holds
	// the admitted ones: none of them waits for it.
	waitFor(t, "the excess to be refused", func() bool { return refused.Load() == flood-limit })
	if n := down.entered.Load(); n != limit {
		t.Errorf("%d requests reached the downstream, want the limit %d", n, limit)
	}
	if withRetryAfter.Load() != refused.Load() {
		t.Errorf("%d of %d refusals carry Retry-After and reason OVERLOADED", withRetryAfter.Load(), refused.Load())
	}
	close(down.release)
	wg.Wait()
	if ok.Load() != limit {
		t.Errorf("%d admitted requests succeeded, want %d", ok.Load(), limit)
	}
}

func TestQueuedRequestGetsTheNextSlot(t *testing.T) {
	down := &blockedDownstream{release: make(chan struct{})}
	h := Admit(NewConcurrencyLimit(AdmissionOptions{Initial: 1, Min: 1, Max: 1, Queue: 1, QueueWait: time.Minute}))(down)
	codes := make(chan int, 2)
	for range 2 {
		go func() { codes <- serve(h, httptest.NewRequest(http.MethodGet, "/v1/caller", nil)).StatusCode }()
	}
	waitFor(t, "the first request to be admitted", func() bool { return down.entered.Load() == 1 })
	close(down.release)
	if a, b := <-codes, <-codes; a != http.StatusOK || b != http.StatusOK {
		t.Errorf("statuses %d, %d; want the queued request served once a slot freed", a, b)
	}
}

func TestLimitGrowsWhileUsedAndFastAndShrinksWhenSlow(t *testing.T) {
	c := NewConcurrencyLimit(AdmissionOptions{Initial: 50, Min: 5, Max: 100, Floor: time.Millisecond})
	take := func(n int) {
		for range n {
			if !c.acquire(t.Context()) {
				t.Fatal("refused below the limit")
			}
		}
	}
	for range 10 {
		n := c.Limit()
		take(n)
		for range n {
			c.release(time.Millisecond, false)
		}
	}
	grown := c.Limit()
	if grown <= 50 {
		t.Fatalf("limit %d after fast requests using it, want more than 50", grown)
	}
	for i := range 20 {
		take(1)
		c.release(time.Duration(i+10)*10*time.Millisecond, false) // ten times slower and worse
		time.Sleep(time.Millisecond)                              // let each count as its own round trip
	}
	if shrunk := c.Limit(); shrunk >= grown {
		t.Errorf("limit %d after slow requests, want below %d", shrunk, grown)
	}
}

func waitFor(t *testing.T, what string, done func() bool) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for !done() {
		if time.Now().After(deadline) {
			t.Fatalf("gave up waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// slowDownstream serves at most workers requests at a time, each taking work; the
// rest queue for a worker, as the access write and upstreams do under overload.
type slowDownstream struct {
	workers chan struct{}
	work    time.Duration
}

func (d *slowDownstream) ServeHTTP(w http.ResponseWriter, _ *http.Request) {
	d.workers <- struct{}{}
	time.Sleep(d.work)
	<-d.workers
	w.WriteHeader(http.StatusOK)
}

// BenchmarkOverloadAt2xCapacity offers twice what the downstream can serve, open
// loop, for one second, with and without admission control, and reports the goodput
// and the p99 latency of the requests that were served.
func BenchmarkOverloadAt2xCapacity(b *testing.B) {
	const workers, work = 8, 4 * time.Millisecond
	capacity := float64(workers) / work.Seconds() // requests per second
	for _, limited := range []bool{false, true} {
		b.Run(fmt.Sprintf("admission=%v", limited), func(b *testing.B) {
			for range b.N {
				var h http.Handler = &slowDownstream{workers: make(chan struct{}, workers), work: work}
				if limited {
					h = Admit(NewConcurrencyLimit(AdmissionOptions{Initial: 2 * workers, Min: workers / 2, Max: 16 * workers, Floor: 2 * work}))(h)
				}
				served, refused, took, p99 := offer(h, 2*capacity, time.Second)
				// Per second until the last answer: a backlog served late is slower goodput.
				b.ReportMetric(float64(served)/took.Seconds(), "goodput/s")
				b.ReportMetric(float64(refused)/took.Seconds(), "refused/s")
				b.ReportMetric(float64(p99.Microseconds())/1000, "p99-ms")
			}
		})
	}
}

// offer sends rate requests a second for d, each on its own goroutine whatever
// happened to the earlier ones, and waits for all of them; took is until the last
// answer.
func offer(h http.Handler, rate float64, d time.Duration) (served, refused int, took, p99 time.Duration) {
	var mu sync.Mutex
	var latencies []time.Duration
	var wg sync.WaitGroup
	// Arrivals follow the clock, not the loop: a late wake-up sends the requests due.
	sent := 0
	start := time.Now()
	for ; time.Since(start) < d; time.Sleep(time.Millisecond) {
		for due := int(rate * time.Since(start).Seconds()); sent < due; sent++ {
			wg.Go(func() {
				began := time.Now()
				rec := httptest.NewRecorder()
				h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/v1/caller", nil))
				took := time.Since(began)
				mu.Lock()
				defer mu.Unlock()
				if rec.Code == http.StatusOK {
					latencies = append(latencies, took)
				} else {
					refused++
				}
			})
		}
	}
	wg.Wait()
	took = time.Since(start)
	sort.Slice(latencies, func(i, j int) bool { return latencies[i] < latencies[j] })
	if len(latencies) > 0 {
		p99 = latencies[len(latencies)*99/100]
	}
	return len(latencies), refused, took, p99
}
