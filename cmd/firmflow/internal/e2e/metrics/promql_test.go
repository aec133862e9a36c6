package metrics_test

import (
	"encoding/json"
	"os"
	"regexp"
	"slices"
	"testing"
)

// dashboardExprs reads every PromQL expression of a Grafana dashboard: panel
// targets, panels inside rows, and query variables.
func dashboardExprs(path string) ([]string, error) {
	raw, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	type target struct {
		Expr string `json:"expr"`
	}
	type panel struct {
		Targets []target `json:"targets"`
		Panels  []panel  `json:"panels"`
	}
	var dash struct {
		Panels     []panel `json:"panels"`
		Templating struct {
			List []struct {
				Definition string `json:"definition"`
			} `json:"list"`
		} `json:"templating"`
	}
	if err := json.Unmarshal(raw, &dash); err != nil {
		return nil, err
	}
	var exprs []string
	var walk func([]panel)
	walk = func(panels []panel) {
		for _, p := range panels {
			for _, t := range p.Targets {
				exprs = append(exprs, t.Expr)
			}
			walk(p.Panels)
		}
	}
	walk(dash.Panels)
	for _, v := range dash.Templating.List {
		if v.Definition != "" {
			exprs = append(exprs, v.Definition)
		}
	}
	return exprs, nil
}

var (
	// What PromQL holds besides metric names, removed before names are read.
	quoted    = regexp.MustCompile(`"(?:[^"\\]|\\.)*"`)
	matchers  = regexp.MustCompile(`\{[^}]*\}`)
	ranges    = regexp.MustCompile(`\[[^\]]*\]`)
	grouping  = regexp.MustCompile(`\b(?:by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)`)
	called    = regexp.MustCompile(`\b[a-zA-Z_][a-zA-Z0-9_]*\s*\(`)
	name      = regexp.MustCompile(`[a-zA-Z_:][a-zA-Z0-9_:]*`)
	operators = []string{"and", "or", "unless", "bool", "offset", "by", "without", "on", "ignoring", "group_left", "group_right", "inf", "nan"}
)

// metricNames lists the metric names a PromQL expression selects. Grafana's
// label_values(metric, label) names its metric as its first argument.
func metricNames(expr string) []string {
	expr = quoted.ReplaceAllString(expr, " ")
	expr = matchers.ReplaceAllString(expr, " ")
	expr = ranges.ReplaceAllString(expr, " ")
	expr = grouping.ReplaceAllString(expr, " ")
	if m := regexp.MustCompile(`label_values\(\s*([a-zA-Z_:][a-zA-Z0-9_:]*)\s*,[^)]*\)`).FindStringSubmatch(expr); m != nil {
		return []string{m[1]}
	}
	expr = called.ReplaceAllString(expr, " ")
	var names []string
	for _, n := range name.FindAllString(expr, -1) {
		if !slices.Contains(operators, n) {
			names = append(names, n)
		}
	}
	return names
}

func TestMetricNamesAreReadFromPromQL(t *testing.T) {
	t.Parallel()
	tests := []struct {
		expr string
		want []string
	}{
		{`sum by (kind) (rate(firmflow_gateway_rate_limit_rejections_total[$__rate_interval]))`, []string{"firmflow_gateway_rate_limit_rejections_total"}},
		{`histogram_quantile(0.95, sum by (le, service) (rate(firmflow_jetstream_publish_duration_seconds_bucket{service=~"$service"}[5m])))`, []string{"firmflow_jetstream_publish_duration_seconds_bucket"}},
		{`sum(rate(a_total{code=~"5.."}[1m])) / sum(rate(b_total[1m]))`, []string{"a_total", "b_total"}},
		{`sum by (stream, consumer) (x_pending + y_ack_pending) > 0`, []string{"x_pending", "y_ack_pending"}},
		{`topk(10, max(z) without (instance))`, []string{"z"}},
		{`label_values(firmflow_db_pool_max_connections, service)`, []string{"firmflow_db_pool_max_connections"}},
	}
	for _, tt := range tests {
		if got := metricNames(tt.expr); !slices.Equal(got, tt.want) {
			t.Errorf("metricNames(%s) = %v, want %v", tt.expr, got, tt.want)
		}
	}
}
