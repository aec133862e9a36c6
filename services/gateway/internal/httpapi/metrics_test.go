package httpapi

import (
	"context"
	"net/http"
	"net/http/httptest"
	"os"
	"testing"
	"time"

	"google.golang.org/grpc/codes"

	"github.com/firmflow/firmflow/pkg/apierr"
	"github.com/firmflow/firmflow/pkg/telemetry"
	"github.com/firmflow/firmflow/pkg/telemetry/telemetrytest"
)

var tel *telemetry.Telemetry

func TestMain(m *testing.M) {
	tel = telemetrytest.Setup("gateway-test")
	os.Exit(m.Run())
}

// Not parallel: it counts every rejection the package makes while it runs, and
// parallel tests only start once the sequential ones are done.
func TestEveryRefusalIsCountedByKind(t *testing.T) {
	rejected := func(kind string) float64 {
		v, _ := telemetrytest.Scrape(t, tel).Value("firmflow_gateway_rate_limit_rejections_total", "kind", kind)
		return v
	}
	before := map[string]float64{}
	for _, kind := range []string{rejectIP, rejectCredential, rejectOverload, rejectLogin} {
		before[kind] = rejected(kind)
	}

	perIP, _ := frozenLimiter(1, 1, 10)
	byIP := LimitClients(perIP)(&recordingHandler{})
	for range 3 {
		serve(byIP, requestFromAddr("192.0.2.1:1000"))
	}

	perKey, _ := frozenLimiter(1, 1, 10)
	byKey := LimitCredentials(perKey)(&recordingHandler{})
	for range 2 {
		r := requestFromAddr("192.0.2.1:1000")
		r.Header.Set("Authorization", "Bearer key-a")
		serve(byKey, r)
	}

	down := &blockedDownstream{release: make(chan struct{})}
	admit := Admit(NewConcurrencyLimit(AdmissionOptions{Initial: 1, Min: 1, Max: 1, Queue: -1, QueueWait: time.Millisecond}))(down)
	held := make(chan struct{})
	go func() { serve(admit, httptest.NewRequest(http.MethodGet, "/v1/caller", nil)); close(held) }()
	waitFor(t, "the one slot to be taken", func() bool { return down.entered.Load() == 1 })
	if res := serve(admit, httptest.NewRequest(http.MethodGet, "/v1/caller", nil)); res.StatusCode != http.StatusServiceUnavailable {
		t.Fatalf("request over the admission limit: %d, want 503", res.StatusCode)
	}
	close(down.release)
	<-held

	locked := apierr.TooMany("ACCOUNT_LOCKED", "too many failed sign-in attempts; try again later", time.Minute)
	rec := httptest.NewRecorder()
	Errors{}.Handle(context.Background(), nil, nil, rec, httptest.NewRequest(http.MethodPost, "/v1/sessions:login", nil), locked.GRPCStatus().Err())
	if rec.Code != http.StatusTooManyRequests {
		t.Fatalf("locked account answered %d, want 429", rec.Code)
	}
	notLocked := apierr.New(codes.NotFound, "FIRM_NOT_FOUND", "no such firm")
	Errors{}.Handle(context.Background(), nil, nil, httptest.NewRecorder(), httptest.NewRequest(http.MethodGet, "/v1/firms/x", nil), notLocked.GRPCStatus().Err())

	for kind, want := range map[string]float64{rejectIP: 2, rejectCredential: 1, rejectOverload: 1, rejectLogin: 1} {
		if got := rejected(kind) - before[kind]; got != want {
			t.Errorf("rejections of kind %s went up by %v, want %v", kind, got, want)
		}
	}
}
