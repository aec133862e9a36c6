// Package logging builds the slog loggers every firmflow service uses, so that
// each line names its service and carries the request and trace ids of the
// context it was logged with, joining logs to traces and to access records.
package logging

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"time"

	"go.opentelemetry.io/otel/trace"
)

// New returns a logger writing to w at level and above, as JSON lines when json
// is set and as logfmt-style text otherwise. Every line carries service; lines
// logged with a context (InfoContext and friends) also carry trace_id and span_id
// of the span in it and the request id set by WithRequestID. Under a
// Logger.WithGroup those ids land inside the group, so services keep their base
// logger ungrouped.
func New(w io.Writer, service string, level slog.Level, json bool) *slog.Logger {
	opts := &slog.HandlerOptions{Level: level}
	var h slog.Handler
	if json {
		h = slog.NewJSONHandler(w, opts)
	} else {
		h = slog.NewTextHandler(w, opts)
	}
	h = h.WithAttrs([]slog.Attr{slog.String("service", service)})
	return slog.New(contextHandler{inner: h})
}

// ParseLevel reads a level as written in configuration: debug, info, warn (or
// warning), error, case-insensitively, with an optional offset such as "info+2".
// An empty string means info, the documented default.
func ParseLevel(s string) (slog.Level, error) {
	s = strings.TrimSpace(s)
	if s == "" {
		return slog.LevelInfo, nil
	}
	if strings.EqualFold(s, "warning") {
		return slog.LevelWarn, nil
	}
	var level slog.Level
	if err := level.UnmarshalText([]byte(s)); err != nil {
		return 0, fmt.Errorf("parse log level %q: %w", s, err)
	}
	return level, nil
}

type requestIDKey struct{}

// WithRequestID returns a context whose log lines carry id as request_id.
func WithRequestID(ctx context.Context, id string) context.Context {
	return context.WithValue(ctx, requestIDKey{}, id)
}

// RequestID is the request id stored by WithRequestID, or "" if there is none.
func RequestID(ctx context.Context) string {
	id, _ := ctx.Value(requestIDKey{}).(string)
	return id
}

// contextHandler copies the ids found in a record's context into the record.
type contextHandler struct {
	inner slog.Handler
}

func (h contextHandler) Enabled(ctx context.Context, level slog.Level) bool {
	return h.inner.Enabled(ctx, level)
}

func (h contextHandler) Handle(ctx context.Context, r slog.Record) error {
	if attrs := contextAttrs(ctx); len(attrs) > 0 {
		// The record may share its attribute storage with a caller's copy.
		r = r.Clone()
		r.AddAttrs(attrs...)
	}
	return h.inner.Handle(ctx, r)
}

func (h contextHandler) WithAttrs(attrs []slog.Attr) slog.Handler {
	return contextHandler{inner: h.inner.WithAttrs(attrs)}
}

func (h contextHandler) WithGroup(name string) slog.Handler {
	return contextHandler{inner: h.inner.WithGroup(name)}
}

func contextAttrs(ctx context.Context) []slog.Attr {
	if ctx == nil {
		return nil
	}
	var attrs []slog.Attr
	if sc := trace.SpanContextFromContext(ctx); sc.IsValid() {
		attrs = append(attrs,
			slog.String("trace_id", sc.TraceID().String()),
			slog.String("span_id", sc.SpanID().String()))
	}
	if id := RequestID(ctx); id != "" {
		attrs = append(attrs, slog.String("request_id", id))
	}
	return attrs
}

// Duration is how every log line says how long something took: duration_ms, in
// milliseconds with microsecond precision, a number log tools read without knowing
// that Go counts nanoseconds.
func Duration(d time.Duration) slog.Attr {
	return slog.Float64("duration_ms", float64(d.Microseconds())/1000)
}
