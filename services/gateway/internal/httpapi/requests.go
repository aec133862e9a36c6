package httpapi

import (
	"context"
	"crypto/rand"
	"log/slog"
	"net/http"
	"net/netip"
	"time"

	"github.com/grpc-ecosystem/grpc-gateway/v2/runtime"
	"go.opentelemetry.io/contrib/instrumentation/net/http/otelhttp"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/trace"

	"github.com/firmflow/firmflow/pkg/logging"
)

// RequestIDHeader returns each request's id to the client, to quote to support; the
// same id is in our logs and in the metadata of every service call.
const RequestIDHeader = "X-Request-Id"

// request is what the gateway learns about a request as it passes through, for the
// access log line written when it is done. Middleware further in fills it; all of it
// happens on the request's goroutine.
type request struct {
	id         string
	clientIP   netip.Addr
	route      string // the API path template, once the REST mux has matched one
	credential string // "session", "api_key" or "" when none was presented
	// principal is whom identity said the credential speaks for, for the access event.
	principal accessPrincipal
	// rpcMethod is the gRPC method the matched route calls.
	rpcMethod string
}

type requestKey struct{}

// requestFrom returns the request record; outside Track (in unit tests of a single
// middleware) a fresh one read from r.
func requestFrom(r *http.Request) *request {
	if req, ok := r.Context().Value(requestKey{}).(*request); ok {
		return req
	}
	return &request{clientIP: remoteIP(r)}
}

// Track gives every request an id (sent back in X-Request-Id), works out the client's
// address once for everything downstream, and writes one log line when the request
// is done: method, route, status, duration, request id, client and kind of
// credential. Never headers, cookies, tokens or bodies.
func Track(logger *slog.Logger, proxies TrustedProxies) func(http.Handler) http.Handler {
	return func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			start := time.Now()
			req := &request{id: rand.Text(), clientIP: proxies.ClientIP(r)}
			w.Header().Set(RequestIDHeader, req.id)
			// The log line below adds request_id itself, so it is logged with the
			// context from before the id was attached and names it once.
			logCtx := r.Context()
			ctx := context.WithValue(logging.WithRequestID(logCtx, req.id), requestKey{}, req)
			rec := &statusRecorder{ResponseWriter: w}
			next.ServeHTTP(rec, r.WithContext(ctx))

			route := req.route
			if route == "" {
				route = r.URL.Path
			}
			level := slog.LevelInfo
			if rec.status() >= 500 {
				level = slog.LevelWarn
			}
			logger.LogAttrs(logCtx, level, "http request",
				slog.String("method", r.Method),
				slog.String("route", route),
				slog.Int("status", rec.status()),
				logging.Duration(time.Since(start)),
				slog.String("request_id", req.id),
				slog.String("client_ip", req.clientIP.String()),
				slog.String("credential", req.credential),
			)
		})
	}
}

// RecordRoute is REST-mux middleware that notes the matched path template for the
// access log, names the trace span after it and labels the request metrics with it,
// so none of them carries resource ids.
func RecordRoute(next runtime.HandlerFunc) runtime.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request, params map[string]string) {
		if pattern, ok := runtime.HTTPPattern(r.Context()); ok {
			route := pattern.String()
			requestFrom(r).route = route
			span := trace.SpanFromContext(r.Context())
			span.SetName(r.Method + " " + route)
			span.SetAttributes(attribute.String("http.route", route))
			if labeler, ok := otelhttp.LabelerFromContext(r.Context()); ok {
				labeler.Add(attribute.String("http.route", route))
			}
		}
		next(w, r, params)
	}
}

// statusRecorder remembers the status code a handler wrote.
type statusRecorder struct {
	http.ResponseWriter
	code int
}

func (s *statusRecorder) WriteHeader(code int) {
	if s.code == 0 {
		s.code = code
	}
	s.ResponseWriter.WriteHeader(code)
}

func (s *statusRecorder) Write(b []byte) (int, error) {
	if s.code == 0 {
		s.code = http.StatusOK
	}
	return s.ResponseWriter.Write(b)
}

// Unwrap lets http.ResponseController reach the connection's writer (flush, deadlines).
func (s *statusRecorder) Unwrap() http.ResponseWriter { return s.ResponseWriter }

func (s *statusRecorder) status() int {
	if s.code == 0 {
		return http.StatusOK
	}
	return s.code
}
