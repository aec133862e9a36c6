package telemetry

import (
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"

	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"
	"go.opentelemetry.io/otel/propagation"
)

func setup(t *testing.T, cfg Config) *Telemetry {
	t.Helper()
	tel, err := Setup(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := tel.Shutdown(context.Background()); err != nil {
			t.Errorf("shutdown: %v", err)
		}
	})
	return tel
}

func get(t *testing.T, url string) (int, string) {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, string(body)
}

func TestCounterRecordedThroughOtelAppearsInMetrics(t *testing.T) {
	tel := setup(t, Config{ServiceName: "workflow"})
	counter, err := otel.Meter("firmflow/workflow").Int64Counter("projects_created",
		metric.WithDescription("Projects created."))
	if err != nil {
		t.Fatal(err)
	}
	counter.Add(context.Background(), 3, metric.WithAttributes(attribute.String("template", "payroll")))

	srv := httptest.NewServer(tel.MetricsHandler())
	defer srv.Close()
	status, body := get(t, srv.URL)
	if status != http.StatusOK {
		t.Fatalf("status %d", status)
	}
	for _, want := range []string{
		`projects_created_total{`,
		`template="payroll"`,
		`service_name="workflow"`, // target_info carries the resource
		"go_goroutines",
		"process_cpu_seconds_total",
	} {
		if !strings.Contains(body, want) {
			t.Errorf("metrics lack %s", want)
		}
	}
	t.Logf("counter: %s", metricLine(body, "projects_created_total{"))
	if !strings.Contains(metricLine(body, "projects_created_total{"), "} 3") {
		t.Errorf("counter line %q, want value 3", metricLine(body, "projects_created_total{"))
	}
}

func metricLine(body, prefix string) string {
	for line := range strings.Lines(body) {
		if strings.HasPrefix(line, prefix) {
			return strings.TrimSpace(line)
		}
	}
	return ""
}

func TestSetupWithoutEndpointSamplesAndPropagatesSpans(t *testing.T) {
	setup(t, Config{ServiceName: "identity"})
	ctx, span := otel.Tracer("test").Start(context.Background(), "sign-in")
	defer span.End()
	sc := span.SpanContext()
	if !sc.IsValid() || !sc.IsSampled() {
		t.Fatalf("root span context %v: want valid and sampled", sc)
	}

	carrier := propagation.MapCarrier{}
	otel.GetTextMapPropagator().Inject(ctx, carrier)
	if want := "00-" + sc.TraceID().String() + "-" + sc.SpanID().String() + "-01"; carrier["traceparent"] != want {
		t.Errorf("traceparent = %q, want %q", carrier["traceparent"], want)
	}
}

func TestSetupWithEndpointDoesNotDialAtStart(t *testing.T) {
	// Nothing listens on this port: Setup must still succeed, as the collector may
	// start after the service does.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	setup(t, Config{ServiceName: "audit", OTLPEndpoint: addr, OTLPInsecure: true})
}

func TestSetupRequiresServiceName(t *testing.T) {
	if _, err := Setup(context.Background(), Config{}); err == nil {
		t.Error("Setup accepted an empty service name")
	}
}

func TestAdminServerHealthAndReadiness(t *testing.T) {
	tel := setup(t, Config{ServiceName: "billing"})
	tests := []struct {
		name       string
		ready      func(context.Context) error
		path       string
		wantStatus int
		wantBody   string
	}{
		{name: "healthz while not ready", ready: notReady, path: "/healthz", wantStatus: http.StatusOK, wantBody: "ok\n"},
		{name: "readyz when ready", ready: func(context.Context) error { return nil }, path: "/readyz", wantStatus: http.StatusOK, wantBody: "ok\n"},
		{name: "readyz with no check", path: "/readyz", wantStatus: http.StatusOK, wantBody: "ok\n"},
		{name: "readyz when not ready", ready: notReady, path: "/readyz", wantStatus: http.StatusServiceUnavailable, wantBody: "not ready\n"},
		{name: "metrics", ready: notReady, path: "/metrics", wantStatus: http.StatusOK},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			base := serveAdmin(t, tel, tc.ready)
			status, body := get(t, base+tc.path)
			if status != tc.wantStatus {
				t.Errorf("status %d, want %d", status, tc.wantStatus)
			}
			if tc.wantBody != "" && body != tc.wantBody {
				t.Errorf("body %q, want %q", body, tc.wantBody)
			}
			if strings.Contains(body, "postgres") {
				t.Errorf("body %q leaks the readiness error", body)
			}
		})
	}
}

func TestReadinessFollowsCheck(t *testing.T) {
	var natsUp atomic.Bool
	base := serveAdmin(t, nil, func(context.Context) error {
		if !natsUp.Load() {
			return errors.New("nats down")
		}
		return nil
	})
	if status, _ := get(t, base+"/readyz"); status != http.StatusServiceUnavailable {
		t.Errorf("status %d while the check fails, want 503", status)
	}
	natsUp.Store(true)
	if status, _ := get(t, base+"/readyz"); status != http.StatusOK {
		t.Errorf("status %d once the check passes, want 200", status)
	}
	if status, _ := get(t, base+"/metrics"); status != http.StatusNotFound {
		t.Errorf("/metrics without telemetry answered %d, want 404", status)
	}
}

func notReady(context.Context) error {
	return errors.New("postgres: connection refused")
}

// serveAdmin runs AdminServer on a loopback port until the test ends and
// returns its base URL.
func serveAdmin(t *testing.T, tel *Telemetry, ready func(context.Context) error) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := AdminServer(ln.Addr().String(), tel, ready)
	done := make(chan error, 1)
	go func() { done <- srv.Serve(ln) }()
	t.Cleanup(func() {
		if err := srv.Shutdown(context.Background()); err != nil {
			t.Errorf("admin shutdown: %v", err)
		}
		if err := <-done; !errors.Is(err, http.ErrServerClosed) {
			t.Errorf("admin serve: %v", err)
		}
	})
	return "http://" + ln.Addr().String()
}
