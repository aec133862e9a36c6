// Package telemetrytest reads metrics the way Prometheus does, for tests that check a
// metric appears and moves: it scrapes a /metrics handler (or URL) and parses the
// exposition text.
package telemetrytest

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"

	"github.com/firmflow/firmflow/pkg/telemetry"
)

// Setup installs telemetry for a test binary as every firmflow process does and
// returns it; call it once, from TestMain, before any instrument records.
func Setup(service string) *telemetry.Telemetry {
	tel, err := telemetry.Setup(context.Background(), telemetry.Config{ServiceName: service})
	if err != nil {
		panic(err)
	}
	return tel
}

// Metrics is one scrape: metric families by name.
type Metrics map[string]*dto.MetricFamily

// Scrape gets tel's /metrics as Prometheus would.
func Scrape(t testing.TB, tel *telemetry.Telemetry) Metrics {
	t.Helper()
	rec := httptest.NewRecorder()
	tel.MetricsHandler().ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/metrics", nil))
	if rec.Code != http.StatusOK {
		t.Fatalf("/metrics answered %d", rec.Code)
	}
	m, err := Parse(rec.Body)
	if err != nil {
		t.Fatal(err)
	}
	return m
}

// ScrapeURL gets url (an admin port's /metrics) over HTTP.
func ScrapeURL(t testing.TB, url string) Metrics {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("%s answered %d", url, resp.StatusCode)
	}
	m, err := Parse(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return m
}

// Parse reads the Prometheus text exposition format.
func Parse(r io.Reader) (Metrics, error) {
	parser := expfmt.NewTextParser(model.UTF8Validation)
	families, err := parser.TextToMetricFamilies(r)
	if err != nil {
		return nil, fmt.Errorf("parse metrics: %w", err)
	}
	return families, nil
}

// Has reports whether a series of name exists. A histogram is found by its base
// name or by any of its _bucket, _sum and _count series, as PromQL names them.
func (m Metrics) Has(name string) bool {
	if _, ok := m[name]; ok {
		return true
	}
	for _, suffix := range []string{"_bucket", "_sum", "_count"} {
		if base, ok := strings.CutSuffix(name, suffix); ok {
			if f, ok := m[base]; ok && f.GetType() == dto.MetricType_HISTOGRAM {
				return true
			}
		}
	}
	return false
}

// Value sums the series of name whose labels include every pair of labels (name,
// value, name, value...): a counter's or gauge's value, a histogram's count. ok is
// false when no series matches.
func (m Metrics) Value(name string, labels ...string) (value float64, ok bool) {
	f := m[name]
	if f == nil {
		return 0, false
	}
	for _, metric := range f.GetMetric() {
		if !hasLabels(metric, labels) {
			continue
		}
		ok = true
		switch {
		case metric.GetCounter() != nil:
			value += metric.GetCounter().GetValue()
		case metric.GetGauge() != nil:
			value += metric.GetGauge().GetValue()
		case metric.GetHistogram() != nil:
			value += float64(metric.GetHistogram().GetSampleCount())
		case metric.GetUntyped() != nil:
			value += metric.GetUntyped().GetValue()
		}
	}
	return value, ok
}

// Sum is the sum of the observations of histogram name in the matching series.
func (m Metrics) Sum(name string, labels ...string) float64 {
	var sum float64
	if f := m[name]; f != nil {
		for _, metric := range f.GetMetric() {
			if hasLabels(metric, labels) && metric.GetHistogram() != nil {
				sum += metric.GetHistogram().GetSampleSum()
			}
		}
	}
	return sum
}

func hasLabels(metric *dto.Metric, labels []string) bool {
	for i := 0; i+1 < len(labels); i += 2 {
		found := false
		for _, l := range metric.GetLabel() {
			if l.GetName() == labels[i] && l.GetValue() == labels[i+1] {
				found = true
				break
			}
		}
		if !found {
			return false
		}
	}
	return true
}

// Eventually scrapes until cond holds for the scrape or the timeout passes, and
// returns the last scrape; observable gauges are read at scrape time, so a test
// waits for the state it expects rather than sleeping.
func Eventually(t testing.TB, scrape func() Metrics, timeout time.Duration, what string, cond func(Metrics) bool) Metrics {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		m := scrape()
		if cond(m) {
			return m
		}
		if time.Now().After(deadline) {
			t.Fatalf("after %s: %s never held", timeout, what)
		}
		time.Sleep(50 * time.Millisecond)
	}
}
