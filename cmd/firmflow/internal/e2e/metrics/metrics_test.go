// Package metrics_test checks, against the whole system, that the metrics operators
// rely on are exposed and move under use, and that the Grafana dashboard in
// deploy/grafana names only metrics the services expose.
package metrics_test

import (
	"fmt"
	"net/http"
	"os"
	"sync"
	"testing"
	"time"

	"github.com/firmflow/firmflow/cmd/firmflow/internal/e2e/harness"
	"github.com/firmflow/firmflow/pkg/telemetry"
	"github.com/firmflow/firmflow/pkg/telemetry/telemetrytest"
	"github.com/firmflow/firmflow/services/billing/stripetest"
	gateway "github.com/firmflow/firmflow/services/gateway/server"
)

var (
	sys *harness.System
	tel *telemetry.Telemetry
)

func TestMain(m *testing.M) {
	stripetest.Run(func() int {
		// As `firmflow dev` runs them: one process, every service reporting to one
		// telemetry, which each admin port's /metrics serves.
		tel = telemetrytest.Setup("firmflow")
		var err error
		sys, err = harness.Boot(harness.Options{Telemetry: tel, Tune: func(c *gateway.Config) {
			// Low enough for a test to reach in a moment, high enough for exercise.
			c.CredentialRate, c.CredentialBurst = 5, 30
		}})
		if err != nil {
			fmt.Fprintln(os.Stderr, "metrics: stack:", err)
			return 1
		}
		code := m.Run()
		if err := sys.Stop(); err != nil {
			fmt.Fprintln(os.Stderr, "metrics: stop stack:", err)
			if code == 0 {
				code = 1
			}
		}
		return code
	})
}

func scrape(t testing.TB) func() telemetrytest.Metrics {
	return func() telemetrytest.Metrics { return telemetrytest.Scrape(t, tel) }
}

var (
	exerciseOnce sync.Once
	exercised    telemetrytest.Metrics
)

// exercise uses the system as a newcomer would, with one Stripe failure and one
// locked account on the way, and returns the scrape taken once the asynchronous
// parts (audit, billing) have caught up. Tests share it: the stack is the same.
func exercise(t *testing.T) telemetrytest.Metrics {
	t.Helper()
	exerciseOnce.Do(func() {
		// Billing creates the firm's Stripe customer from identity's event: the first
		// attempt fails, the event is retried.
		sys.Stripe.Fail(http.MethodPost, "/v1/customers", 1)
		firm, err := sys.SignUp("metrics")
		if err != nil {
			t.Fatal(err)
		}
		for range 3 {
			if r, err := firm.Client.Do(http.MethodGet, "/v1/"+firm.Name, nil); err != nil || r.Status != http.StatusOK {
				t.Fatalf("get firm: %v %d", err, r.Status)
			}
		}
		// Five wrong passwords are free; the sixth locks the account, and the next
		// attempt is refused with 429 ACCOUNT_LOCKED.
		stranger := sys.Browser()
		locked := false
		for range 10 {
			r, _ := stranger.Login(firm.Email, "not the password at all", "")
			if r.Status == http.StatusTooManyRequests {
				locked = true
				break
			}
		}
		if !locked {
			t.Fatal("the account never locked")
		}
		exercised = telemetrytest.Eventually(t, scrape(t), 60*time.Second,
			"audit and billing to catch up", func(m telemetrytest.Metrics) bool {
				stripeOK, _ := m.Value("firmflow_stripe_request_duration_seconds", "operation", "POST /v1/customers")
				audited, _ := m.Value("firmflow_audit_ingestion_delay_seconds", "stream", "FIRMFLOW_IDENTITY")
				lag, ok := m.Value("firmflow_jetstream_consumer_pending_messages", "consumer", "audit")
				backlog, _ := m.Value("firmflow_outbox_backlog_events")
				return stripeOK >= 2 && audited > 0 && ok && lag == 0 && backlog == 0
			})
	})
	if exercised == nil {
		t.Fatal("exercising the system failed in an earlier test")
	}
	return exercised
}

func TestEveryMetricFamilyIsExposedAndMoves(t *testing.T) {
	m := exercise(t)
	type series struct {
		name   string
		labels []string
	}
	positive := []series{
		{"http_server_request_duration_seconds", nil},
		{"rpc_server_call_duration_seconds", nil},
		{"firmflow_gateway_rate_limit_rejections_total", []string{"kind", "login"}},
		{"firmflow_gateway_identity_calls_total", nil},
		{"firmflow_jetstream_publish_duration_seconds", []string{"service", "gateway"}},
		{"firmflow_jetstream_publish_duration_seconds", []string{"service", "identity"}},
		{"firmflow_audit_ingestion_delay_seconds", []string{"stream", "FIRMFLOW_GATEWAY"}},
		{"firmflow_stripe_request_duration_seconds", []string{"operation", "POST /v1/customers"}},
		{"firmflow_stripe_request_errors_total", []string{"operation", "POST /v1/customers", "reason", "server_error"}},
	}
	for _, service := range []string{"identity", "workflow", "audit", "billing", "lifecycle"} {
		positive = append(positive,
			series{"firmflow_db_pool_acquires_total", []string{"service", service}},
			series{"firmflow_db_pool_max_connections", []string{"service", service}})
	}
	for _, p := range positive {
		if v, ok := m.Value(p.name, p.labels...); !ok || v <= 0 {
			t.Errorf("%s%v = %v (present %v), want above 0", p.name, p.labels, v, ok)
		}
	}
	// Present, at rest: nothing waits in any outbox (exercise waited for that), the
	// consumers have caught up.
	for _, service := range []string{"identity", "workflow", "audit", "billing", "lifecycle"} {
		if v, ok := m.Value("firmflow_outbox_backlog_events", "service", service); !ok || v != 0 {
			t.Errorf("outbox backlog of %s = %v (present %v), want 0", service, v, ok)
		}
	}
	for _, consumer := range [][]string{
		{"stream", "FIRMFLOW_GATEWAY", "consumer", "audit"},
		{"stream", "FIRMFLOW_IDENTITY", "consumer", "billing"},
	} {
		if _, ok := m.Value("firmflow_jetstream_consumer_pending_messages", consumer...); !ok {
			t.Errorf("no consumer lag for %v", consumer)
		}
	}
	if v, ok := m.Value("firmflow_jetstream_publish_errors_total", "service", "gateway", "reason", "timeout"); !ok || v != 0 {
		t.Errorf("gateway publish timeouts = %v (present %v), want a series at 0", v, ok)
	}
}

func TestDashboardNamesOnlyMetricsTheServicesExpose(t *testing.T) {
	exposed := exercise(t)
	exprs, err := dashboardExprs("../../../../../deploy/grafana/firmflow.json")
	if err != nil {
		t.Fatal(err)
	}
	names := map[string]bool{}
	for _, expr := range exprs {
		for _, name := range metricNames(expr) {
			names[name] = true
		}
	}
	if len(names) < 20 {
		t.Fatalf("the dashboard names %d metrics: %v; the parser lost some", len(names), names)
	}
	for name := range names {
		if !exposed.Has(name) {
			t.Errorf("the dashboard charts %s, which no service exposes", name)
		}
	}
	t.Logf("%d panels' queries name %d metrics, all exposed", len(exprs), len(names))
}

func TestEach429FromTheCredentialLimitIsCounted(t *testing.T) {
	exercise(t)
	firm, err := sys.SignUp("limited")
	if err != nil {
		t.Fatal(err)
	}
	before, _ := telemetrytest.Scrape(t, tel).Value("firmflow_gateway_rate_limit_rejections_total", "kind", "credential")
	limited := 0
	for i := 0; i < 200 && limited < 3; i++ {
		r, err := firm.Client.Do(http.MethodGet, "/v1/"+firm.Name, nil)
		if err != nil {
			t.Fatal(err)
		}
		if r.Status == http.StatusTooManyRequests {
			limited++
		}
	}
	if limited == 0 {
		t.Fatal("the credential limit never answered 429")
	}
	after, _ := telemetrytest.Scrape(t, tel).Value("firmflow_gateway_rate_limit_rejections_total", "kind", "credential")
	if after-before != float64(limited) {
		t.Errorf("credential rejections went up by %v for %d responses 429", after-before, limited)
	}
}

// Last: it takes NATS away from the shared stack.
func TestAccessEventsNATSNeverTookAreCountedAsPublishErrors(t *testing.T) {
	exercise(t)
	firm, err := sys.SignUp("outage")
	if err != nil {
		t.Fatal(err)
	}
	errorsOf := func(m telemetrytest.Metrics) float64 {
		v, _ := m.Value("firmflow_jetstream_publish_errors_total", "service", "gateway")
		return v
	}
	before := errorsOf(telemetrytest.Scrape(t, tel))

	sys.Stack.StopNATS()
	r, err := firm.Client.Do(http.MethodGet, "/v1/"+firm.Name, nil)
	if err != nil {
		t.Fatal(err)
	}
	if r.Status != http.StatusServiceUnavailable {
		t.Fatalf("request while NATS is down answered %d, want 503", r.Status)
	}
	during := telemetrytest.Scrape(t, tel)
	if n := errorsOf(during) - before; n < 1 {
		t.Errorf("gateway publish errors went up by %v after a refused access event, want at least 1", n)
	}
	if n, _ := during.Value("firmflow_jetstream_publish_errors_total", "service", "gateway", "reason", "other"); n != 0 {
		t.Errorf("%v gateway publish errors of no known reason; an outage is \"disconnected\" or \"timeout\"", n)
	}

	if err := sys.Stack.StartNATS(); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(30 * time.Second)
	for {
		r, err := firm.Client.Do(http.MethodGet, "/v1/"+firm.Name, nil)
		if err == nil && r.Status == http.StatusOK {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the gateway never served again after NATS returned: %v %d", err, r.Status)
		}
		time.Sleep(100 * time.Millisecond)
	}
	// The relays publish what waited, and the 503's follow-up access event goes out.
	telemetrytest.Eventually(t, scrape(t), 30*time.Second, "every outbox to drain after the outage", func(m telemetrytest.Metrics) bool {
		backlog, ok := m.Value("firmflow_outbox_backlog_events")
		return ok && backlog == 0
	})
}
