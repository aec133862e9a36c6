package logging

import (
	"bytes"
	"context"
	"encoding/json"
	"log/slog"
	"strings"
	"testing"
	"time"

	"go.opentelemetry.io/otel/trace"
)

const (
	traceHex = "4bf92f3577b34da6a3ce929d0e0e4736"
	spanHex  = "00f067aa0ba902b7"
)

func spanContext(t *testing.T) trace.SpanContext {
	t.Helper()
	traceID, err := trace.TraceIDFromHex(traceHex)
	if err != nil {
		t.Fatal(err)
	}
	spanID, err := trace.SpanIDFromHex(spanHex)
	if err != nil {
		t.Fatal(err)
	}
	return trace.NewSpanContext(trace.SpanContextConfig{TraceID: traceID, SpanID: spanID, TraceFlags: trace.FlagsSampled})
}

// logLine logs one message with ctx through a JSON logger and returns the line
// as decoded fields.
func logLine(t *testing.T, ctx context.Context, log func(*slog.Logger, context.Context)) map[string]any {
	t.Helper()
	var buf bytes.Buffer
	log(New(&buf, "identity", slog.LevelDebug, true), ctx)
	var fields map[string]any
	if err := json.Unmarshal(buf.Bytes(), &fields); err != nil {
		t.Fatalf("line %q is not one JSON object: %v", buf.String(), err)
	}
	return fields
}

func TestLogLinesCarryIDsFromContext(t *testing.T) {
	withSpan := func(ctx context.Context) context.Context { return trace.ContextWithSpanContext(ctx, spanContext(t)) }
	tests := []struct {
		name string
		ctx  context.Context
		want map[string]string // "" means the field must be absent
	}{
		{name: "bare context", ctx: context.Background(),
			want: map[string]string{"trace_id": "", "span_id": "", "request_id": ""}},
		{name: "request id only", ctx: WithRequestID(context.Background(), "req-1"),
			want: map[string]string{"trace_id": "", "span_id": "", "request_id": "req-1"}},
		{name: "span only", ctx: withSpan(context.Background()),
			want: map[string]string{"trace_id": traceHex, "span_id": spanHex, "request_id": ""}},
		{name: "span and request id", ctx: WithRequestID(withSpan(context.Background()), "req-2"),
			want: map[string]string{"trace_id": traceHex, "span_id": spanHex, "request_id": "req-2"}},
		{name: "invalid span context ignored", ctx: trace.ContextWithSpanContext(context.Background(), trace.SpanContext{}),
			want: map[string]string{"trace_id": "", "span_id": ""}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			fields := logLine(t, tc.ctx, func(l *slog.Logger, ctx context.Context) {
				l.InfoContext(ctx, "signed in", "user", "u-7")
			})
			if fields["service"] != "identity" || fields["msg"] != "signed in" || fields["user"] != "u-7" {
				t.Errorf("line lost its own fields: %v", fields)
			}
			for key, want := range tc.want {
				got, present := fields[key]
				switch {
				case want == "" && present:
					t.Errorf("%s = %v, want absent", key, got)
				case want != "" && got != want:
					t.Errorf("%s = %v, want %s", key, got, want)
				}
			}
		})
	}
}

func TestDerivedLoggersKeepIDs(t *testing.T) {
	ctx := WithRequestID(trace.ContextWithSpanContext(context.Background(), spanContext(t)), "req-3")
	fields := logLine(t, ctx, func(l *slog.Logger, ctx context.Context) {
		l.With("firm_id", "f-1").WarnContext(ctx, "quota near")
	})
	for key, want := range map[string]string{"service": "identity", "firm_id": "f-1", "trace_id": traceHex, "request_id": "req-3", "level": "WARN"} {
		if fields[key] != want {
			t.Errorf("%s = %v, want %s", key, fields[key], want)
		}
	}
}

func TestTextLoggerCarriesIDs(t *testing.T) {
	var buf bytes.Buffer
	logger := New(&buf, "gateway", slog.LevelInfo, false)
	ctx := WithRequestID(trace.ContextWithSpanContext(context.Background(), spanContext(t)), "req-4")
	logger.InfoContext(ctx, "request done")
	line := buf.String()
	for _, want := range []string{"service=gateway", "trace_id=" + traceHex, "span_id=" + spanHex, "request_id=req-4", `msg="request done"`} {
		if !strings.Contains(line, want) {
			t.Errorf("line %q lacks %s", line, want)
		}
	}
}

func TestLoggerDropsLinesBelowLevel(t *testing.T) {
	var buf bytes.Buffer
	logger := New(&buf, "gateway", slog.LevelWarn, true)
	logger.InfoContext(WithRequestID(context.Background(), "req-5"), "chatty")
	if buf.Len() != 0 {
		t.Errorf("info line written at warn level: %q", buf.String())
	}
}

func TestRequestIDAbsentFromBareContext(t *testing.T) {
	if id := RequestID(context.Background()); id != "" {
		t.Errorf("RequestID = %q, want empty", id)
	}
}

func TestParseLevel(t *testing.T) {
	tests := []struct {
		in      string
		want    slog.Level
		wantErr bool
	}{
		{in: "", want: slog.LevelInfo},
		{in: "debug", want: slog.LevelDebug},
		{in: "INFO", want: slog.LevelInfo},
		{in: " warn ", want: slog.LevelWarn},
		{in: "Warning", want: slog.LevelWarn},
		{in: "error", want: slog.LevelError},
		{in: "info+2", want: slog.LevelInfo + 2},
		{in: "verbose", wantErr: true},
		{in: "3", wantErr: true},
	}
	for _, tc := range tests {
		t.Run(tc.in, func(t *testing.T) {
			got, err := ParseLevel(tc.in)
			if tc.wantErr {
				if err == nil {
					t.Errorf("ParseLevel(%q) = %v, want error", tc.in, got)
				}
				return
			}
			if err != nil || got != tc.want {
				t.Errorf("ParseLevel(%q) = %v, %v; want %v", tc.in, got, err, tc.want)
			}
		})
	}
}

func TestDurationIsMillisecondsAsANumber(t *testing.T) {
	var buf bytes.Buffer
	New(&buf, "svc", slog.LevelInfo, true).Info("rpc", Duration(1234567*time.Nanosecond))
	var line map[string]any
	if err := json.Unmarshal(buf.Bytes(), &line); err != nil {
		t.Fatal(err)
	}
	if got, ok := line["duration_ms"].(float64); !ok || got != 1.234 {
		t.Errorf("duration_ms = %v (%T), want 1.234", line["duration_ms"], line["duration_ms"])
	}
	if _, ok := line["duration"]; ok {
		t.Error("a raw nanosecond duration is still logged")
	}
}
