// Package httpapi is the gateway's HTTP surface: the REST mux that grpc-gateway drives,
// and the middleware every request passes through on its way to a service (request
// ids and access log, security headers, CORS, rate limits, body limits,
// authentication) together with the one JSON error shape they all answer with.
package httpapi

import (
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"math"
	"net/http"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/grpc-ecosystem/grpc-gateway/v2/runtime"
	"google.golang.org/genproto/googleapis/rpc/code"
	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/encoding/protojson"

	"github.com/firmflow/firmflow/pkg/apierr"
)

// errorBody is the AIP-193 JSON error:
// {"error":{"code":404,"status":"NOT_FOUND","message":"...","details":[...]}}.
type errorBody struct {
	Error errorPayload `json:"error"`
}

type errorPayload struct {
	Code    int               `json:"code"`
	Status  string            `json:"status"`
	Message string            `json:"message"`
	Details []json.RawMessage `json:"details,omitempty"`
}

// detailJSON writes status details with the same snake_case names as the rest of the
// API; "@type" tells clients which google.rpc message each one is.
var detailJSON = protojson.MarshalOptions{UseProtoNames: true}

// writeStatus writes st as the JSON error. The HTTP status is always the status
// code's AIP-193 mapping, never chosen separately, so that "code" and "status" in the
// body and the status line agree for every error: a body over the limit or of the
// wrong media type is INVALID_ARGUMENT and 400, a method a route does not take is
// UNIMPLEMENTED and 501, with the reason telling which. A RetryInfo detail becomes
// Retry-After, and 401 names the schemes a client may authenticate with.
func writeStatus(w http.ResponseWriter, st *status.Status) {
	writeStatusCode(w, runtime.HTTPStatusFromCode(st.Code()), st)
}

// writeStatusCode writes st with HTTP status httpCode, for the one case HTTP has a
// more precise code for: 412 for a failed If-Match, which is FAILED_PRECONDITION.
func writeStatusCode(w http.ResponseWriter, httpCode int, st *status.Status) {
	body := errorBody{Error: errorPayload{
		Code:    httpCode,
		Status:  code.Code(st.Code()).String(),
		Message: st.Message(),
	}}
	for _, d := range st.Proto().GetDetails() {
		raw, err := detailJSON.Marshal(d)
		if err != nil {
			continue // a detail type this binary does not know; the rest still helps
		}
		body.Error.Details = append(body.Error.Details, raw)
	}
	if delay, ok := retryAfter(st); ok {
		w.Header().Set("Retry-After", delay)
	}
	if httpCode == http.StatusUnauthorized {
		w.Header().Set("WWW-Authenticate", `Bearer realm="firmflow"`)
	}
	buf, err := json.Marshal(body)
	if err != nil {
		buf = []byte(`{"error":{"code":500,"status":"INTERNAL","message":"internal error"}}`)
		httpCode = http.StatusInternalServerError
	}
	w.Header().Del("Content-Length")
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(httpCode)
	_, _ = w.Write(buf)
}

// writeError writes an *apierr.Error raised by the gateway itself.
func writeError(w http.ResponseWriter, err *apierr.Error) {
	writeStatus(w, err.GRPCStatus())
}

// retryAfter is the Retry-After value, in whole seconds rounded up, of a
// RESOURCE_EXHAUSTED status that says when to retry, and of every UNAVAILABLE one:
// a dependency that is away always tells the client when to come back, with
// apierr's default when the status names no delay.
func retryAfter(st *status.Status) (string, bool) {
	if st.Code() != codes.ResourceExhausted && st.Code() != codes.Unavailable {
		return "", false
	}
	var delay time.Duration
	for _, d := range st.Details() {
		if info, ok := d.(*errdetails.RetryInfo); ok && info.GetRetryDelay() != nil {
			delay = info.GetRetryDelay().AsDuration()
		}
	}
	if delay <= 0 {
		if st.Code() != codes.Unavailable {
			return "", false
		}
		delay = apierr.RetryAfterUnavailable
	}
	return strconv.Itoa(max(1, int(math.Ceil(delay.Seconds())))), true
}

// Errors turns whatever went wrong behind the REST mux into the JSON error. Statuses
// that carry a firmflow ErrorInfo were made client-safe by the service and pass
// unchanged; anything else came from grpc-gateway itself or the transport, and is
// rewritten so that a malformed body is a 400 naming what was wrong and nothing about
// our network or internals reaches the client.
type Errors struct {
	Logger *slog.Logger
}

// Handle is a runtime.ErrorHandlerFunc.
func (e Errors) Handle(ctx context.Context, _ *runtime.ServeMux, _ runtime.Marshaler, w http.ResponseWriter, r *http.Request, err error) {
	var withStatus *runtime.HTTPStatusError
	if errors.As(err, &withStatus) {
		// Only the mux raises these, for paths with malformed escapes.
		err = apierr.New(codes.InvalidArgument, "MALFORMED_PATH", "the request path is malformed")
	}
	st := e.clientStatus(ctx, err)
	if apierr.Reason(st.Err()) == "ACCOUNT_LOCKED" {
		reject(ctx, rejectLogin)
	}
	if st, ok := ifMatchFailed(r.Context(), st); ok {
		writeStatusCode(w, http.StatusPreconditionFailed, st)
		return
	}
	writeStatus(w, st)
}

// HandleRouting is a runtime.RoutingErrorHandlerFunc: no route, or no such method on it.
func (e Errors) HandleRouting(_ context.Context, _ *runtime.ServeMux, _ runtime.Marshaler, w http.ResponseWriter, _ *http.Request, httpCode int) {
	switch httpCode {
	case http.StatusMethodNotAllowed:
		writeError(w, apierr.New(codes.NotFound, "METHOD_NOT_ALLOWED", "this route does not accept the HTTP method"))
	case http.StatusNotFound:
		writeError(w, apierr.New(codes.NotFound, "ROUTE_NOT_FOUND", "no API route matches the request path"))
	default:
		writeError(w, apierr.New(codes.InvalidArgument, "MALFORMED_PATH", "the request path is malformed"))
	}
}

// clientStatus is the status a client may see for err.
func (e Errors) clientStatus(ctx context.Context, err error) *status.Status {
	st, ok := status.FromError(err)
	if ok && fromFirmflow(st) {
		return st
	}
	if ok && st.Code() == codes.InvalidArgument {
		return malformedRequest(st.Message())
	}
	c := codes.Internal
	if ok {
		c = st.Code()
	}
	level := slog.LevelWarn
	if c == codes.Internal || c == codes.Unknown || c == codes.DataLoss {
		level = slog.LevelError
	}
	if c != codes.Canceled {
		e.Logger.Log(ctx, level, "request failed outside a service", slog.String("code", c.String()), slog.String("error", err.Error()))
	}
	return genericStatus(c)
}

// reasonOf is the reason of st's firmflow ErrorInfo, or "".
func reasonOf(st *status.Status) string {
	for _, d := range st.Details() {
		if info, ok := d.(*errdetails.ErrorInfo); ok && info.GetDomain() == apierr.Domain {
			return info.GetReason()
		}
	}
	return ""
}

// fromFirmflow reports a status made by apierr, which is fit for clients.
func fromFirmflow(st *status.Status) bool {
	for _, d := range st.Details() {
		if info, ok := d.(*errdetails.ErrorInfo); ok && info.GetDomain() == apierr.Domain {
			return true
		}
	}
	return false
}

// genericStatus replaces a status whose message may describe our network (dial
// errors, addresses) with a fixed one.
func genericStatus(c codes.Code) *status.Status {
	switch c {
	case codes.Unavailable:
		return apierr.Unavailable("UNAVAILABLE", "the service is unavailable; try again shortly").GRPCStatus()
	case codes.DeadlineExceeded:
		return apierr.New(c, "DEADLINE_EXCEEDED", "the request took too long").GRPCStatus()
	case codes.Canceled:
		return apierr.New(c, "CANCELED", "request canceled").GRPCStatus()
	case codes.Unimplemented:
		return apierr.New(c, "UNIMPLEMENTED", "this method is not available").GRPCStatus()
	case codes.Unauthenticated:
		return apierr.New(c, "UNAUTHENTICATED", "credential not accepted").GRPCStatus()
	}
	return apierr.New(codes.Internal, "INTERNAL", "internal error").GRPCStatus()
}

// protojson prefixes its errors with "proto:" and a space it randomly makes
// non-breaking so that nobody matches on them; clients need neither.
var protoPrefix = regexp.MustCompile(`^proto:[\s\x{00a0}]*`)

// decodeFaults recognise the decoder messages that name a field (grpc-gateway's for
// path and query, protojson's for bodies).
var decodeFaults = []struct {
	pattern     *regexp.Regexp
	rule        string
	description string
}{
	{regexp.MustCompile(`unknown field "([^"]+)"`), "unknown_field", "no such field"},
	{regexp.MustCompile(`duplicate field "([^"]+)"`), "duplicate_field", "the field is given more than once"},
	{regexp.MustCompile(`invalid value for [a-z0-9. ]*field ([A-Za-z0-9_]+):`), "type", "the value has the wrong type"},
	{regexp.MustCompile(`parsing field "([^"]+)"`), "type", "the value has the wrong type"},
	{regexp.MustCompile(`parameter: ([A-Za-z0-9_.]+),`), "type", "the value has the wrong type"},
}

// malformedRequest is the 400 for a body, query or path grpc-gateway could not
// decode. The decoder's message says what is wrong; when it names a field, the field
// becomes a BadRequest violation, as in the services' own validation errors.
func malformedRequest(message string) *status.Status {
	message = strings.TrimSpace(protoPrefix.ReplaceAllString(message, ""))
	out := &apierr.Error{Code: codes.InvalidArgument, Reason: "INVALID_ARGUMENT", Message: "malformed request"}
	if message != "" {
		out.Message += ": " + message
	}
	for _, fault := range decodeFaults {
		if m := fault.pattern.FindStringSubmatch(message); m != nil {
			field := m[1] // unknown and duplicate fields keep the name the client sent
			if fault.rule == "type" {
				field = protoName(field)
			}
			out.Violations = []apierr.FieldViolation{{Field: field, Rule: fault.rule, Description: fault.description}}
			break
		}
	}
	return out.GRPCStatus()
}

// protoName turns protojson's lowerCamelCase field names back into the snake_case
// names the API uses; snake_case passes unchanged.
func protoName(field string) string {
	var b strings.Builder
	for _, r := range field {
		if r >= 'A' && r <= 'Z' {
			b.WriteByte('_')
			r += 'a' - 'A'
		}
		b.WriteRune(r)
	}
	return b.String()
}
