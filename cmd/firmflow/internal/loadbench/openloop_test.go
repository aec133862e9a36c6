package loadbench

import (
	"cmp"
	"context"
	"fmt"
	"io"
	"maps"
	"os"
	"runtime"
	"slices"
	"strings"
	"sync"
	"text/tabwriter"
	"time"

	vegeta "github.com/tsenart/vegeta/v12/lib"
)

// The open-loop runs: requests sent at a fixed rate whatever the answers take.
var openLoopRates = []int{100, 250, 500, 1000}

const (
	openLoopFor     = 5 * time.Second
	openLoopTimeout = 5 * time.Second // a request past it counts as an error
)

// openLoop sends rate requests a second for d, each in its own goroutine, paced by
// vegeta's constant pacer, and returns vegeta's metrics of the run. Each latency is
// counted from when the request was due rather than when it was sent, so a stalled
// generator or server shows in the latencies instead of slowing the load down
// (coordinated omission). It returns once every request has finished or timed out.
func openLoop(rate int, d time.Duration, do func(context.Context) error) vegeta.Metrics {
	pacer := vegeta.ConstantPacer{Freq: rate, Per: time.Second}
	var (
		mu      sync.Mutex
		metrics vegeta.Metrics
		wg      sync.WaitGroup
	)
	start := time.Now()
	for hits := uint64(0); ; hits++ {
		elapsed := time.Since(start)
		if elapsed >= d {
			break
		}
		wait, stop := pacer.Pace(elapsed, hits)
		if stop {
			break
		}
		due := time.Now().Add(wait)
		time.Sleep(wait)
		wg.Go(func() {
			ctx, cancel := context.WithTimeout(context.Background(), openLoopTimeout)
			err := do(ctx)
			cancel()
			r := vegeta.Result{Timestamp: due, Latency: time.Since(due), Code: 200}
			if err != nil {
				r.Code, r.Error = 0, err.Error()
			}
			mu.Lock()
			metrics.Add(&r)
			mu.Unlock()
		})
	}
	wg.Wait()
	metrics.Close()
	return metrics
}

// firstError is the first error of a run, for the log, or "".
func firstError(m vegeta.Metrics) string {
	if len(m.Errors) == 0 {
		return ""
	}
	// The URL before the status says little; the reason after it says why.
	first := m.Errors[0]
	if i := strings.Index(first, ": status "); i >= 0 {
		first = first[i+2:]
	}
	return " (first: " + strings.ReplaceAll(fmt.Sprintf("%.200s", first), "\n", " ") + ")"
}

// summary collects the figures of a `make bench` run for the table printed at its end.
type summary struct {
	saturated []saturation
	firmSize  []firmSizeResult
	fixed     []fixedRate
}

// firmSizeResult is one kind of request through the full path for the small and the
// large firm, alternated in one closed loop.
type firmSizeResult struct {
	scenario     string
	small, large result
}

type saturation struct {
	scenario string
	results  [3]result // full, grpc, baseline
	// profiles are each path's CPU by part, when a profile was asked for.
	profiles []*profileParts
}

type fixedRate struct {
	scenario, path string
	rate           int
	m              vegeta.Metrics
}

// print writes the summary: throughput at saturation of each path with its ratio to
// the baseline, and the machine's busy CPU time per request of each (steal left
// out), then the small firm against the large, then the latencies at each fixed
// rate. A part the run did not measure is left out.
func (s *summary) print(out io.Writer) {
	if len(s.saturated) == 0 && len(s.firmSize) == 0 && len(s.fixed) == 0 {
		return
	}
	host, _ := os.Hostname()
	fmt.Fprintf(out, "\nloadbench summary (%s, %d CPUs, %s/%s, GOMAXPROCS %d, host %s)\n",
		cpuModel(), runtime.NumCPU(), runtime.GOOS, runtime.GOARCH, runtime.GOMAXPROCS(0), host)
	table(out, len(s.saturated), func(w io.Writer) {
		fmt.Fprintf(w, "saturated (%d in flight)\tfull req/s\tgRPC req/s\tbaseline req/s\tfull/baseline\tgRPC/baseline\tCPU ms/req full\tgRPC\tbaseline\tbaseline/full CPU\t\n", concurrency)
		for _, sat := range s.saturated {
			f, g, b := sat.results[0].rps(), sat.results[1].rps(), sat.results[2].rps()
			fc, gc, bc := ms(sat.results[0].cpuPerRequest()), ms(sat.results[1].cpuPerRequest()), ms(sat.results[2].cpuPerRequest())
			fmt.Fprintf(w, "%s\t%.0f\t%.0f\t%.0f\t%.2f\t%.2f\t%.2f\t%.2f\t%.2f\t%.2f\t\n", sat.scenario, f, g, b, f/b, g/b, fc, gc, bc, bc/fc)
		}
	})
	table(out, len(s.saturated), func(w io.Writer) { s.printByProcess(w) })
	var profiled []*profileParts
	for _, sat := range s.saturated {
		profiled = append(profiled, sat.profiles...)
	}
	table(out, len(profiled), func(w io.Writer) { printProfileParts(w, profiled) })
	table(out, len(s.firmSize), func(w io.Writer) {
		fmt.Fprintf(w, "firm size (full path, alternated)\tp50 ms %d tasks\t%d tasks\tratio\tp99 ms %d tasks\t%d tasks\tratio\t\n",
			smallFirm.tasks, largeFirm.tasks, smallFirm.tasks, largeFirm.tasks)
		for _, r := range s.firmSize {
			sp50, lp50, sp99, lp99 := ms(r.small.pct(50)), ms(r.large.pct(50)), ms(r.small.pct(99)), ms(r.large.pct(99))
			fmt.Fprintf(w, "%s\t%.1f\t%.1f\t%.2f\t%.1f\t%.1f\t%.2f\t\n", r.scenario, sp50, lp50, lp50/sp50, sp99, lp99, lp99/sp99)
		}
	})
	table(out, len(s.fixed), func(w io.Writer) {
		fmt.Fprintf(w, "open loop\tpath\toffered req/s\tanswered req/s\tp50 ms\tp99 ms\tp99.9 ms\terrors %%\t\n")
		for _, f := range s.fixed {
			fmt.Fprintf(w, "%s\t%s\t%d\t%.0f\t%.1f\t%.1f\t%.1f\t%.1f\t\n", f.scenario, f.path, f.rate, f.m.Throughput,
				ms(f.m.Latencies.P50), ms(f.m.Latencies.P99), ms(f.m.Latencies.Quantile(0.999)), 100*(1-f.m.Success))
		}
	})
}

// printByProcess writes where each saturated run's CPU went, per request: this
// process, PostgreSQL's backends by role, and the rest, the groups that used the
// most first.
func (s *summary) printByProcess(w io.Writer) {
	var used []map[string]time.Duration
	for _, sat := range s.saturated {
		for _, r := range sat.results {
			used = append(used, r.byProcess)
		}
	}
	groups := largestFirst(used)
	fmt.Fprintf(w, "CPU ms/req by process\tpath\t%s\t\n", strings.Join(groups, "\t"))
	for _, sat := range s.saturated {
		for i, path := range pathNames {
			r := sat.results[i]
			fmt.Fprintf(w, "%s\t%s\t", sat.scenario, path)
			for _, group := range groups {
				fmt.Fprintf(w, "%.3f\t", ms(r.byProcess[group])/float64(max(r.n, 1)))
			}
			fmt.Fprintln(w)
		}
	}
}

// printProfileParts writes the CPU of this process by part, per request, one column
// a profiled scenario and path, the parts that used the most first, and their total.
func printProfileParts(w io.Writer, profiled []*profileParts) {
	var used []map[string]time.Duration
	for _, p := range profiled {
		used = append(used, p.parts)
	}
	// "other" goes last whatever its size: it is what no rule named.
	parts := largestFirst(used)
	if i := slices.Index(parts, otherPart); i >= 0 {
		parts = append(slices.Delete(parts, i, i+1), otherPart)
	}
	fmt.Fprint(w, "this process by part (profile), ms/req\t")
	for _, p := range profiled {
		fmt.Fprintf(w, "%s %s\t", p.scenario, p.path)
	}
	fmt.Fprintln(w)
	perRequest := func(p *profileParts, t time.Duration) float64 { return ms(t) / float64(max(p.requests, 1)) }
	for _, part := range parts {
		fmt.Fprintf(w, "%s\t", part)
		for _, p := range profiled {
			fmt.Fprintf(w, "%.3f\t", perRequest(p, p.parts[part]))
		}
		fmt.Fprintln(w)
	}
	fmt.Fprint(w, "total\t")
	for _, p := range profiled {
		var all time.Duration
		for _, t := range p.parts {
			all += t
		}
		fmt.Fprintf(w, "%.3f\t", perRequest(p, all))
	}
	fmt.Fprintln(w)
}

// largestFirst is the names in used, the one whose times sum to the most first.
func largestFirst(used []map[string]time.Duration) []string {
	total := map[string]time.Duration{}
	for _, m := range used {
		for name, t := range m {
			total[name] += t
		}
	}
	return slices.SortedFunc(maps.Keys(total), func(a, b string) int { return cmp.Compare(total[b], total[a]) })
}

// table writes one aligned table of the summary, when it has rows, after a blank line.
func table(out io.Writer, rows int, write func(w io.Writer)) {
	if rows == 0 {
		return
	}
	fmt.Fprintln(out)
	w := tabwriter.NewWriter(out, 0, 0, 2, ' ', tabwriter.AlignRight)
	write(w)
	w.Flush()
}

// cpuModel names the processor, from /proc/cpuinfo where there is one.
func cpuModel() string {
	raw, err := os.ReadFile("/proc/cpuinfo")
	if err != nil {
		return "unknown CPU"
	}
	for line := range strings.Lines(string(raw)) {
		if name, ok := strings.CutPrefix(line, "model name"); ok {
			return strings.TrimSpace(strings.TrimLeft(name, " \t:"))
		}
	}
	return "unknown CPU"
}
