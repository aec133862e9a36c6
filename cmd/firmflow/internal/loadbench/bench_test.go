package loadbench

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	mathrand "math/rand/v2"
	"net"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"runtime/pprof"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"google.golang.org/grpc/metadata"

	"github.com/firmflow/firmflow/cmd/firmflow/internal/e2e/harness"
	"github.com/firmflow/firmflow/cmd/firmflow/internal/stack"
	identityv1 "github.com/firmflow/firmflow/pkg/gen/firmflow/identity/v1"
	workflowv1 "github.com/firmflow/firmflow/pkg/gen/firmflow/workflow/v1"
	"github.com/firmflow/firmflow/pkg/pg"
	"github.com/firmflow/firmflow/pkg/pg/pgtest"
	"github.com/firmflow/firmflow/pkg/principal"
	"github.com/firmflow/firmflow/pkg/rpc"
	"github.com/firmflow/firmflow/pkg/tlsconf"
	gateway "github.com/firmflow/firmflow/services/gateway/server"
)

// Load shape. Every measurement runs for a fixed time rather than b.N requests, so
// each sub-benchmark runs once and reports its own figures (req/s, p50, p99).
const (
	tasksPerProj   = 8
	busyProjects   = 60 // per busy client, for full pages of 50
	concurrency    = 16 // requests in flight in the closed-loop runs
	measureFor     = 5 * time.Second
	warmUpFor      = time.Second
	deepPageNumber = 100 // page of 50 compared with the first
	pacedTimeout   = 5 * time.Second
)

// firmShape is how much a seeded firm holds: its clients, the tasks of its projects,
// the clients with busyProjects projects each, and one client with giantProjects.
type firmShape struct {
	clients, tasks, busyClients, giantProjects int
}

var (
	// largeFirm is the firm every scenario runs against; its giant client is for deep pages.
	largeFirm = firmShape{clients: 10_000, tasks: 200_000, busyClients: 100, giantProjects: 5_000}
	// smallFirm is a hundredth of it, for comparing the same requests (firm_size).
	smallFirm = firmShape{clients: 100, tasks: 2_000, busyClients: 10, giantProjects: busyProjects}
)

func (s firmShape) projects() int {
	return s.giantProjects + s.busyClients*busyProjects + (s.clients-1-s.busyClients)*2
}

// BenchmarkWorkflowLoad seeds a firm and drives get project, list a client's
// projects (page of 50), create task and a mix of them (80% reads) three ways with
// the same load: through the gateway over HTTPS (the full path), straight to
// workflow over gRPC with mutual TLS (the service alone), and to a minimal net/http +
// pgx server over HTTPS doing the same SQL (the baseline). Closed-loop runs give the
// throughput at saturation of each and the full/baseline ratio; open-loop runs at
// fixed rates (openLoopRates) give p50, p99 and p99.9. It also compares first-page
// with deep-page list latency and, through the full path, the same requests for a
// firm a hundredth the size (smallFirm), and prints a summary table at the end.
func BenchmarkWorkflowLoad(b *testing.B) {
	e := setUp(b)
	scenarios := e.scenarios()
	sum := &summary{}
	defer sum.print(os.Stdout)

	for _, s := range scenarios {
		b.Run(s.name, func(b *testing.B) {
			sat := compare(b, s)
			sum.saturated = append(sum.saturated, sat)
			if s.name == "get_project" {
				e.getProjectRPS = sat.results[0].rps()
			}
		})
	}
	b.Run("list_first_vs_deep_page", func(b *testing.B) {
		first := e.gateway + "/v1/firms/" + e.firmID + "/projects?page_size=50&client=" + url.QueryEscape("firms/"+e.firmID+"/clients/"+e.giant)
		deep := first + "&page_token=" + e.deepToken
		f, d := alternate(
			func(ctx context.Context) error { return e.call(ctx, e.full, "GET", first, nil) },
			func(ctx context.Context) error { return e.call(ctx, e.full, "GET", deep, nil) })
		failOnErrors(b, f, d)
		b.ReportMetric(ms(f.pct(50)), "first_p50_ms")
		b.ReportMetric(ms(d.pct(50)), "deep_p50_ms")
		b.ReportMetric(ms(d.pct(50))/ms(f.pct(50)), "deep/first_p50")
		b.Logf("client with %d projects: page 1 p50 %.1f ms p99 %.1f ms; page %d p50 %.1f ms p99 %.1f ms",
			largeFirm.giantProjects, ms(f.pct(50)), ms(f.pct(99)), deepPageNumber, ms(d.pct(50)), ms(d.pct(99)))
	})
	// The same requests for a firm of a hundredth the size, alternated with the large
	// firm's in one closed loop.
	b.Run("firm_size", func(b *testing.B) {
		small, large := e.viaGateway(&e.small), e.viaGateway(&e.firmLoad)
		for _, kind := range []struct {
			name         string
			small, large func(context.Context) error
		}{{"get_project", small.get, large.get}, {"list_client_projects_50", small.list, large.list}, {"create_task", small.create, large.create}} {
			s, l := alternate(kind.small, kind.large)
			failOnErrors(b, s, l)
			sum.firmSize = append(sum.firmSize, firmSizeResult{scenario: kind.name, small: s, large: l})
			b.ReportMetric(ms(l.pct(50))/ms(s.pct(50)), kind.name+"_large/small_p50")
			b.Logf("%s: firm of %d tasks p50 %.1f ms p99 %.1f ms; firm of %d tasks p50 %.1f ms p99 %.1f ms",
				kind.name, smallFirm.tasks, ms(s.pct(50)), ms(s.pct(99)), largeFirm.tasks, ms(l.pct(50)), ms(l.pct(99)))
		}
	})
	pacedGet := func() error {
		return e.call(context.Background(), e.paced, "GET", e.gateway+"/v1/"+e.projectName(), nil)
	}
	b.Run("get_project_paced_half_capacity", func(b *testing.B) {
		rate := max(1, int(e.getProjectRPS/2))
		reportPaced(b, paced(rate, measureFor, pacedGet), rate)
	})
	// Open loop at fixed rates, each path in turn; a rate past a path's capacity
	// leaves a backlog, which is drained before the next run starts.
	for _, s := range scenarios {
		b.Run("open_loop_"+s.name, func(b *testing.B) {
			for _, path := range s.paths() {
				for _, rate := range openLoopRates {
					m := openLoop(rate, openLoopFor, path.do)
					sum.fixed = append(sum.fixed, fixedRate{scenario: s.name, path: path.name, rate: rate, m: m})
					b.Logf("%-8s %5d req/s offered: %7.0f req/s answered, p50 %7.1f ms, p99 %7.1f ms, p99.9 %7.1f ms, %5.1f%% errors%s",
						path.name, rate, m.Throughput, ms(m.Latencies.P50), ms(m.Latencies.P99), ms(m.Latencies.Quantile(0.999)),
						100*(1-m.Success), firstError(m))
				}
			}
		})
	}
}

// scenario is one kind of request sent along each of the three paths.
type scenario struct {
	name             string
	full, grpc, base func(context.Context) error
}

type path struct {
	name string
	do   func(context.Context) error
}

func (s scenario) paths() []path {
	return []path{{"full", s.full}, {"grpc", s.grpc}, {"baseline", s.base}}
}

func (f *firmLoad) projectName() string { return "firms/" + f.firmID + "/projects/" + pick(f.projects) }

func (f *firmLoad) clientName() string { return "firms/" + f.firmID + "/clients/" + pick(f.busy) }

// scenarios are the requests measured: get project, list a client's projects (page
// of 50), create task, and a mix of them as an office uses the product: 80% reads
// (50% get, 30% list), 20% task creation.
func (e *env) scenarios() []scenario {
	full := e.viaGateway(&e.firmLoad)
	get := scenario{
		name: "get_project",
		full: full.get,
		grpc: func(ctx context.Context) error {
			_, err := e.grpc.GetProject(e.grpcContext(ctx), &workflowv1.GetProjectRequest{Name: e.projectName()})
			return err
		},
		base: func(ctx context.Context) error {
			return e.call(ctx, e.base, "GET", e.baseline+"/project?id="+pick(e.projects), nil)
		},
	}
	list := scenario{
		name: "list_client_projects_50",
		full: full.list,
		grpc: func(ctx context.Context) error {
			_, err := e.grpc.ListProjects(e.grpcContext(ctx), &workflowv1.ListProjectsRequest{
				Parent: "firms/" + e.firmID, Client: e.clientName(), PageSize: 50,
			})
			return err
		},
		base: func(ctx context.Context) error {
			return e.call(ctx, e.base, "GET", e.baseline+"/projects?client="+pick(e.busy), nil)
		},
	}
	create := scenario{
		name: "create_task",
		full: full.create,
		grpc: func(ctx context.Context) error {
			_, err := e.grpc.CreateTask(e.grpcContext(ctx), &workflowv1.CreateTaskRequest{
				Parent: e.projectName(), Task: &workflowv1.Task{Title: "Load task", EstimateMinutes: 15},
			})
			return err
		},
		base: func(ctx context.Context) error {
			return e.call(ctx, e.base, "POST", e.baseline+"/tasks?project="+pick(e.projects), loadTaskBody)
		},
	}
	mixOf := func(get, list, create func(context.Context) error) func(context.Context) error {
		return func(ctx context.Context) error {
			switch n := mathrand.IntN(10); {
			case n < 5:
				return get(ctx)
			case n < 8:
				return list(ctx)
			default:
				return create(ctx)
			}
		}
	}
	mix := scenario{
		name: "mix_80_reads",
		full: mixOf(get.full, list.full, create.full),
		grpc: mixOf(get.grpc, list.grpc, create.grpc),
		base: mixOf(get.base, list.base, create.base),
	}
	return []scenario{get, list, create, mix}
}

// loadTaskBody is the task every create_task request creates.
var loadTaskBody = []byte(`{"title":"Load task","estimate_minutes":15}`)

// requests are the three kinds of request, sent for one firm along one path.
type requests struct {
	get, list, create func(context.Context) error
}

// viaGateway sends the requests through the gateway (the full path) with the firm's
// API key, each for a random project or busy client of the firm.
func (e *env) viaGateway(f *firmLoad) requests {
	return requests{
		get: func(ctx context.Context) error {
			return f.call(ctx, e.full, "GET", e.gateway+"/v1/"+f.projectName(), nil)
		},
		list: func(ctx context.Context) error {
			return f.call(ctx, e.full, "GET", e.gateway+"/v1/firms/"+f.firmID+"/projects?page_size=50&client="+url.QueryEscape(f.clientName()), nil)
		},
		create: func(ctx context.Context) error {
			return f.call(ctx, e.full, "POST", e.gateway+"/v1/"+f.projectName()+"/tasks", loadTaskBody)
		},
	}
}

// turnOrders are the turns compare gives the full path (0), the service alone (1) and
// the baseline (2): every order once, so that a drift in the machine's speed during a
// run, or the work one path leaves behind (the outbox relay, audit's ingestion), falls
// on each path alike rather than on whichever comes next.
var turnOrders = [...][3]int{{0, 1, 2}, {1, 2, 0}, {2, 0, 1}, {2, 1, 0}, {1, 0, 2}, {0, 2, 1}}

// pathNames names the three paths compare measures, in the order of its results.
var pathNames = [...]string{"full", "grpc", "baseline"}

// compare measures the full path, the service alone and the baseline at saturation
// with the same closed-loop load, taking turns (turnOrders) for measureFor each in
// all, and returns the three (and, when asked for, each path's CPU profile by
// part).
func compare(b *testing.B, s scenario) saturation {
	paths := [len(pathNames)]func(context.Context) error{s.full, s.grpc, s.base}
	for _, do := range paths {
		closedLoop(concurrency, warmUpFor, do)
	}
	var results [3]result
	for _, order := range turnOrders {
		for _, i := range order {
			results[i].add(closedLoop(concurrency, measureFor/time.Duration(len(turnOrders)), paths[i]))
		}
	}
	var profiles []*profileParts
	for i, path := range pathNames {
		if p := profileCPU(b, s.name, path, func() int { return closedLoop(concurrency, measureFor, paths[i]).n }); p != nil {
			profiles = append(profiles, p)
		}
	}
	f, d, bl := results[0], results[1], results[2]
	failOnErrors(b, f, d, bl)
	b.ReportMetric(float64(f.elapsed.Nanoseconds())/float64(f.n), "ns/op")
	for _, m := range []struct {
		prefix string
		r      result
	}{{"", f}, {"grpc_", d}, {"base_", bl}} {
		b.ReportMetric(m.r.rps(), m.prefix+"req/s")
		b.ReportMetric(ms(m.r.pct(50)), m.prefix+"p50_ms")
		b.ReportMetric(ms(m.r.pct(99)), m.prefix+"p99_ms")
	}
	b.ReportMetric(f.rps()/bl.rps(), "full/base")
	if f.cpu > 0 && bl.cpu > 0 {
		b.ReportMetric(ms(f.cpuPerRequest()), "cpu_ms/req")
		b.ReportMetric(ms(bl.cpuPerRequest()), "base_cpu_ms/req")
	}
	b.Logf("full path %.0f req/s p50 %.1f ms p99 %.1f ms | workflow gRPC %.0f req/s p50 %.1f ms p99 %.1f ms | "+
		"baseline %.0f req/s p50 %.1f ms p99 %.1f ms | full/baseline %.2f",
		f.rps(), ms(f.pct(50)), ms(f.pct(99)), d.rps(), ms(d.pct(50)), ms(d.pct(99)),
		bl.rps(), ms(bl.pct(50)), ms(bl.pct(99)), f.rps()/bl.rps())
	return saturation{scenario: s.name, results: results, profiles: profiles}
}

// profileCPU runs load, which sends path's requests and returns how many it served,
// under the CPU profiler of the process (the whole stack runs in it), into
// $FIRMFLOW_BENCH_PROFILE/<benchmark>_<path>.prof, when that variable names a
// directory (made if missing), and returns the profile by part
// (profileparts_test.go); it does nothing otherwise. Read the profile itself with go
// tool pprof -top.
func profileCPU(b *testing.B, scenario, path string, load func() int) *profileParts {
	dir := os.Getenv("FIRMFLOW_BENCH_PROFILE")
	if dir == "" {
		return nil
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		b.Fatal(err)
	}
	file := filepath.Join(dir, strings.ReplaceAll(b.Name(), "/", "_")+"_"+path+".prof")
	out, err := os.Create(file)
	if err != nil {
		b.Fatal(err)
	}
	if err := pprof.StartCPUProfile(out); err != nil {
		b.Fatal(err)
	}
	requests := load()
	pprof.StopCPUProfile()
	if err := out.Close(); err != nil {
		b.Fatal(err)
	}
	parts, err := readProfileParts(file, scenario, path, requests)
	if err != nil {
		b.Error(err)
		return nil
	}
	return &parts
}

// reportPaced reports an open-loop run; requests that time out count as errors.
func reportPaced(b *testing.B, r result, rate int) {
	b.ReportMetric(r.rps(), "req/s")
	b.ReportMetric(ms(r.pct(50)), "p50_ms")
	b.ReportMetric(ms(r.pct(99)), "p99_ms")
	b.ReportMetric(float64(r.errors), "errors")
	b.Logf("paced %d req/s for %s: achieved %.0f req/s, p50 %.1f ms, p99 %.1f ms, %d errors (first: %s)",
		rate, measureFor, r.rps(), ms(r.pct(50)), ms(r.pct(99)), r.errors, r.firstError)
}

func failOnErrors(b *testing.B, results ...result) {
	for _, r := range results {
		if r.errors > 0 {
			b.Fatalf("%d of %d requests failed; first: %s", r.errors, r.n, r.firstError)
		}
	}
}

// ---- load generation ----

type result struct {
	n, errors  int
	firstError string
	elapsed    time.Duration
	latencies  []time.Duration
	// cpu is the CPU time the whole machine spent busy during the run (every process,
	// the kernel included; idle, I/O wait and time stolen by the host excluded), or 0
	// where /proc/stat cannot tell.
	cpu time.Duration
	// byProcess is the CPU time each group of processes used during the run
	// (processCPU), or nil where /proc cannot tell.
	byProcess map[string]time.Duration
}

func (r result) rps() float64 { return float64(r.n) / r.elapsed.Seconds() }

// add counts another run of the same load into r, as if r had gone on for it.
func (r *result) add(more result) {
	r.n += more.n
	r.errors += more.errors
	if r.firstError == "" {
		r.firstError = more.firstError
	}
	r.elapsed += more.elapsed
	r.latencies = append(r.latencies, more.latencies...)
	r.cpu += more.cpu
	for group, t := range more.byProcess {
		if r.byProcess == nil {
			r.byProcess = map[string]time.Duration{}
		}
		r.byProcess[group] += t
	}
}

// cpuPerRequest is the machine's busy CPU time per request: what a request costs the
// whole stack, leaving out the time a virtual machine's host stole, which lowers the
// throughput.
func (r result) cpuPerRequest() time.Duration {
	if r.n == 0 {
		return 0
	}
	return r.cpu / time.Duration(r.n)
}

func (r result) pct(p float64) time.Duration {
	if len(r.latencies) == 0 {
		return 0
	}
	sorted := slices.Clone(r.latencies)
	slices.Sort(sorted)
	return sorted[min(len(sorted)-1, int(float64(len(sorted))*p/100))]
}

func ms(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }

type recorder struct {
	mu sync.Mutex
	r  result
}

func (rec *recorder) record(latency time.Duration, err error) {
	rec.mu.Lock()
	defer rec.mu.Unlock()
	rec.r.n++
	rec.r.latencies = append(rec.r.latencies, latency)
	if err != nil {
		rec.r.errors++
		if rec.r.firstError == "" {
			rec.r.firstError = err.Error()
		}
	}
}

// alternate sends a and b one after the other in each of the closed loop's workers,
// so that both meet the same background load, and returns their results, warmed up
// for warmUpFor and measured for measureFor.
func alternate(a, b func(context.Context) error) (result, result) {
	var recA, recB recorder
	run := func(d time.Duration) {
		closedLoop(concurrency, d, func(ctx context.Context) error {
			for _, req := range []struct {
				do  func(context.Context) error
				rec *recorder
			}{{a, &recA}, {b, &recB}} {
				t0 := time.Now()
				err := req.do(ctx)
				req.rec.record(time.Since(t0), err)
			}
			return nil
		})
	}
	run(warmUpFor)
	recA, recB = recorder{}, recorder{}
	run(measureFor)
	return recA.r, recB.r
}

// closedLoop keeps workers requests in flight for d.
func closedLoop(workers int, d time.Duration, do func(context.Context) error) result {
	var rec recorder
	cpuBefore, processesBefore := busyCPU(), processCPU()
	start := time.Now()
	deadline := start.Add(d)
	var wg sync.WaitGroup
	for range workers {
		wg.Go(func() {
			for time.Now().Before(deadline) {
				t0 := time.Now()
				err := do(context.Background())
				rec.record(time.Since(t0), err)
			}
		})
	}
	wg.Wait()
	rec.r.elapsed = time.Since(start)
	if cpuBefore > 0 {
		rec.r.cpu = busyCPU() - cpuBefore
	}
	rec.r.byProcess = cpuSince(processesBefore, processCPU())
	return rec.r
}

// paced sends rate requests a second for d whatever the answers take (open loop)
// and times each from when it was due to be sent, so a stall shows in the latencies
// instead of slowing the load down.
func paced(rate int, d time.Duration, do func() error) result {
	var rec recorder
	interval := time.Second / time.Duration(rate)
	total := int(d / interval)
	start := time.Now()
	var wg sync.WaitGroup
	for i := range total {
		due := start.Add(time.Duration(i) * interval)
		time.Sleep(time.Until(due))
		wg.Go(func() {
			err := do()
			rec.record(time.Since(due), err)
		})
	}
	wg.Wait()
	rec.r.elapsed = time.Since(start)
	return rec.r
}

// ---- the system under test ----

type env struct {
	gateway, baseline string
	full, base        *http.Client
	paced             *http.Client // gives up after pacedTimeout, so an overload ends
	getProjectRPS     float64      // the full path's closed-loop throughput
	grpc              workflowv1.ProjectServiceClient
	signer            *principal.Signer
	tokenMu           sync.Mutex
	token             string
	tokenExpiry       time.Time
	firmLoad                   // the large firm, which every scenario reads and writes
	small             firmLoad // the small firm, for firm_size
	deepToken         string   // page token of the giant client's page deepPageNumber
}

// firmLoad is a seeded firm and the API key its requests are sent with.
type firmLoad struct {
	firmID, apiKey, apiKeyID string
	projects                 []string // projects with tasks
	busy                     []string // clients with busyProjects projects
	giant                    string   // the client with giantProjects projects
}

// pick is a random id: requests spread over the firm's data, not one hot row.
func pick(ids []string) string { return ids[mathrand.IntN(len(ids))] }

// call sends one request with the firm's API key and reads the whole answer; a
// status other than 2xx is an error.
func (f *firmLoad) call(ctx context.Context, c *http.Client, method, target string, body []byte) error {
	req, err := http.NewRequestWithContext(ctx, method, target, bytes.NewReader(body))
	if err != nil {
		return err
	}
	req.Header.Set("Authorization", "Bearer "+f.apiKey)
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := c.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	if err == nil && resp.StatusCode >= 300 {
		err = fmt.Errorf("%s %s: status %d: %.300s", method, target, resp.StatusCode, raw)
	}
	return err
}

// grpcContext carries a principal token for the API key's firm, as the gateway
// forwards it; tokens are re-signed before they expire.
func (e *env) grpcContext(ctx context.Context) context.Context {
	e.tokenMu.Lock()
	defer e.tokenMu.Unlock()
	if time.Until(e.tokenExpiry) < 10*time.Second {
		token, exp, err := e.signer.Sign(principal.Principal{
			Kind: principal.KindAPIKey, FirmID: e.firmID, APIKeyID: e.apiKeyID, Scopes: []string{"projects:write", "tasks:write"},
		})
		if err != nil {
			panic(err)
		}
		e.token, e.tokenExpiry = token, exp
	}
	return metadata.AppendToOutgoingContext(ctx, principal.MetadataKey, e.token)
}

func setUp(b *testing.B) *env {
	b.Helper()
	workflowAddr := freeAddr(b) // the benchmark calls workflow directly too
	sys, err := harness.Boot(harness.Options{
		// The load comes from one address and one key: lift the abuse limits.
		Tune: func(c *gateway.Config) {
			c.IPRate, c.IPBurst, c.CredentialRate, c.CredentialBurst = 1e9, 1<<30, 1e9, 1<<30
		},
		WorkflowAddr: workflowAddr, DataDir: b.TempDir(), Logger: slog.New(slog.DiscardHandler),
	})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() {
		if err := sys.Stop(); err != nil {
			b.Errorf("stop stack: %v", err)
		}
	})
	s := sys.Stack
	e := &env{gateway: sys.URL, full: httpsClient(sys.CA, nil), paced: httpsClient(sys.CA, nil)}
	e.paced.Timeout = pacedTimeout
	adminURL, err := pg.WithUserAndDatabase(pgtest.AdminURL(), "", s.Databases["workflow"])
	if err != nil {
		b.Fatal(err)
	}
	for _, firm := range []struct {
		load  *firmLoad
		name  string
		shape firmShape
	}{{&e.firmLoad, "load", largeFirm}, {&e.small, "small", smallFirm}} {
		firm.load.signUp(b, sys, firm.name)
		started := time.Now()
		firm.load.seed(b, adminURL, firm.shape)
		b.Logf("seeded the %s firm: %d clients, %d projects and %d tasks in %s", firm.name, firm.shape.clients,
			firm.shape.projects(), firm.shape.tasks, time.Since(started).Round(time.Millisecond))
	}
	e.findDeepToken(b)

	runtimeURL, err := pg.WithUserAndDatabase(pgtest.AdminURL(), pg.RolesFor("workflow").Runtime, s.Databases["workflow"])
	if err != nil {
		b.Fatal(err)
	}
	e.logPlans(b, runtimeURL)
	e.baseline, e.base = startBaseline(b, runtimeURL, e.firmID)
	e.dialWorkflow(b, s.Material, workflowAddr)
	return e
}

// freeAddr is a loopback address nothing listens on right now.
func freeAddr(b *testing.B) string {
	b.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}

// dialWorkflow connects to workflow as the gateway does (mutual TLS with the
// gateway's certificate) and signs principal tokens as identity does.
func (e *env) dialWorkflow(b *testing.B, m stack.Material, addr string) {
	b.Helper()
	tlsConfig, err := tlsconf.ClientConfig(m.PKI.CAFile, m.PKI.CertFile("gateway"), m.PKI.KeyFile("gateway"))
	if err != nil {
		b.Fatal(err)
	}
	conn, err := rpc.Dial(addr, tlsConfig)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { conn.Close() })
	key, err := principal.LoadPrivateKey(m.SigningKey)
	if err != nil {
		b.Fatal(err)
	}
	e.grpc, e.signer = workflowv1.NewProjectServiceClient(conn), principal.NewSigner(key)
}

// logPlans shows how PostgreSQL runs a client's first and deep project pages, as the
// runtime role under row-level security: an index range scan either way, no sort.
func (e *env) logPlans(b *testing.B, runtimeURL string) {
	b.Helper()
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, runtimeURL)
	if err != nil {
		b.Fatal(err)
	}
	defer conn.Close(ctx)
	err = pgx.BeginFunc(ctx, conn, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, sqlScope, e.firmID); err != nil {
			return err
		}
		var at time.Time
		var id string
		if err := tx.QueryRow(ctx, "select create_time, id::text from projects where client_id = $1 order by create_time, id offset $2 limit 1",
			e.giant, (deepPageNumber-1)*50-1).Scan(&at, &id); err != nil {
			return err
		}
		for name, q := range map[string][]any{
			"first page": {"explain (analyze, costs off) select id from projects where client_id = $1 order by create_time, id limit 51", e.giant},
			"deep page": {`explain (analyze, costs off) select id from projects where client_id = $1 and (create_time, id) > ($2, $3)
				order by create_time, id limit 51`, e.giant, at, id},
		} {
			rows, err := tx.Query(ctx, q[0].(string), q[1:]...)
			if err != nil {
				return err
			}
			lines, err := pgx.CollectRows(rows, pgx.RowTo[string])
			if err != nil {
				return err
			}
			b.Logf("plan of the %s:\n  %s", name, strings.Join(lines, "\n  "))
		}
		return nil
	})
	if err != nil {
		b.Fatal(err)
	}
}

func httpsClient(pool *x509.CertPool, jar http.CookieJar) *http.Client {
	return &http.Client{
		Jar: jar, Timeout: 30 * time.Second,
		Transport: &http.Transport{
			TLSClientConfig: &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}, ForceAttemptHTTP2: true,
			MaxIdleConnsPerHost: concurrency * 2,
		},
	}
}

// signUp makes the firm and an API key for the load, as a firm would.
func (fl *firmLoad) signUp(b *testing.B, sys *harness.System, name string) {
	b.Helper()
	f, err := sys.SignUp(name)
	if err != nil {
		b.Fatal(err)
	}
	fl.firmID = f.ID()
	r, err := f.Client.Do("POST", "/v1/"+f.Name+"/apiKeys", map[string]any{
		"display_name": "load", "scopes": []string{"projects:write", "tasks:write"},
	})
	key := &identityv1.ApiKey{}
	if err == nil && (r.Status != http.StatusCreated || r.Message(key) != nil) {
		err = fmt.Errorf("create API key: %d %s", r.Status, r.Raw)
	}
	if err != nil {
		b.Fatal(err)
	}
	fl.apiKey = key.GetSecret()
	fl.apiKeyID = key.GetName()[strings.LastIndex(key.GetName(), "/")+1:]
}

// seed writes the firm's clients, projects and tasks in a few set-based statements
// as the administrator.
func (f *firmLoad) seed(b *testing.B, adminURL string, shape firmShape) {
	b.Helper()
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, adminURL)
	if err != nil {
		b.Fatal(err)
	}
	defer conn.Close(ctx)
	statements := []string{
		`insert into clients (id, firm_id, display_name, kind, priority, create_time, update_time)
		 select gen_random_uuid(), $1, 'Client ' || i, 'business', 'normal', now() - make_interval(secs => i), now()
		 from generate_series(1, ` + fmt.Sprint(shape.clients) + `) i`,
		`create temporary table seed_clients as
		 select id, row_number() over (order by id) as n from clients where firm_id = $1`,
		// Client 1 has giantProjects projects, the next busyClients have busyProjects, the rest two.
		`insert into projects (id, firm_id, client_id, display_name, status, start_date, due_date, budget_minutes,
		   task_count, completed_task_count, version, create_time, update_time)
		 select gen_random_uuid(), $1, c.id, 'Project ' || c.n || '-' || k, 'not_started', date '2026-01-01',
		   date '2026-01-01' + (k % 90), 240, 0, 0, 1, now() - make_interval(secs => c.n * 10000 + k), now()
		 from seed_clients c cross join lateral generate_series(1,
		   case when c.n = 1 then ` + fmt.Sprint(shape.giantProjects) + ` when c.n <= ` + fmt.Sprint(shape.busyClients+1) + ` then ` +
			fmt.Sprint(busyProjects) + ` else 2 end) k`,
		`create temporary table seed_projects as
		 select p.id, p.client_id, p.due_date, p.create_time from projects p join seed_clients c on c.id = p.client_id
		 where p.firm_id = $1 and c.n > 1 order by p.id limit ` + fmt.Sprint(shape.tasks/tasksPerProj),
		`insert into tasks (id, firm_id, project_id, client_id, position, title, status, due_date, estimate_minutes,
		   version, create_time, update_time)
		 select gen_random_uuid(), $1, p.id, p.client_id, k, 'Task ' || k, case when k <= 2 then 'complete' else 'ready' end,
		   p.due_date - (` + fmt.Sprint(tasksPerProj) + ` - k), 30, 1, p.create_time, p.create_time
		 from seed_projects p cross join generate_series(1, ` + fmt.Sprint(tasksPerProj) + `) k`,
		`update projects set task_count = ` + fmt.Sprint(tasksPerProj) + `, completed_task_count = 2, status = 'in_progress'
		 where id in (select id from seed_projects)`,
		`analyze`,
	}
	// Nothing here needs to survive a crash before the benchmark reads it.
	if _, err := conn.Exec(ctx, "set synchronous_commit = off"); err != nil {
		b.Fatal(err)
	}
	for _, sql := range statements {
		args := []any{f.firmID}
		if !strings.Contains(sql, "$1") {
			args = nil
		}
		started := time.Now()
		if _, err := conn.Exec(ctx, sql, args...); err != nil {
			b.Fatalf("seed: %v\n%s", err, sql)
		}
		words := strings.Fields(sql)
		b.Logf("seed %5dms  %s", time.Since(started).Milliseconds(), strings.Join(words[:min(3, len(words))], " "))
	}
	rows, _ := conn.Query(ctx, "select id::text from seed_projects")
	if f.projects, err = pgx.CollectRows(rows, pgx.RowTo[string]); err != nil {
		b.Fatal(err)
	}
	rows, _ = conn.Query(ctx, "select id::text from seed_clients where n between 2 and $1", shape.busyClients+1)
	if f.busy, err = pgx.CollectRows(rows, pgx.RowTo[string]); err != nil {
		b.Fatal(err)
	}
	if err := conn.QueryRow(ctx, "select id::text from seed_clients where n = 1").Scan(&f.giant); err != nil {
		b.Fatal(err)
	}
}

// findDeepToken pages through the giant client's projects to page deepPageNumber, as
// a client of the API would.
func (e *env) findDeepToken(b *testing.B) {
	b.Helper()
	client := url.QueryEscape("firms/" + e.firmID + "/clients/" + e.giant)
	first := e.gateway + "/v1/firms/" + e.firmID + "/projects?page_size=50&client=" + client
	token := ""
	for range deepPageNumber - 1 {
		req, _ := http.NewRequest(http.MethodGet, first+"&page_token="+token, nil)
		req.Header.Set("Authorization", "Bearer "+e.apiKey)
		resp, err := e.full.Do(req)
		if err != nil {
			b.Fatal(err)
		}
		var page struct {
			NextPageToken string `json:"next_page_token"`
		}
		err = json.NewDecoder(resp.Body).Decode(&page)
		resp.Body.Close()
		if err != nil || page.NextPageToken == "" {
			b.Fatalf("paging the giant client stopped early: %v", err)
		}
		token = page.NextPageToken
	}
	e.deepToken = token
}
