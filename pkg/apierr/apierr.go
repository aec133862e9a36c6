// Package apierr is the one error type services return to clients. Its code mirrors the
// gRPC codes, its reason is an UPPER_SNAKE word clients can switch on (AIP-193
// ErrorInfo), and bad input carries the field and rule that failed. Anything that is
// not an *Error reaches a client only as a generic INTERNAL error.
package apierr

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"strings"
	"time"

	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/puddle/v2"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/protoadapt"
	"google.golang.org/protobuf/types/known/durationpb"
)

// Domain is the ErrorInfo domain of every firmflow error.
const Domain = "firmflow.dev"

// FieldViolation names a request field and the rule it broke.
type FieldViolation struct {
	Field       string // dotted path, e.g. "api_key.scopes[0]"
	Rule        string // e.g. "string.pattern", "required"
	Description string
}

// Error is an error fit to show a client.
type Error struct {
	Code       codes.Code
	Reason     string
	Message    string
	Violations []FieldViolation
	RetryAfter time.Duration
}

func (e *Error) Error() string { return fmt.Sprintf("%s %s: %s", e.Code, e.Reason, e.Message) }

// GRPCStatus lets status.FromError and the gRPC server send e with its details.
func (e *Error) GRPCStatus() *status.Status {
	st := status.New(e.Code, e.Message)
	details := []protoadapt.MessageV1{&errdetails.ErrorInfo{Reason: e.Reason, Domain: Domain}}
	if len(e.Violations) > 0 {
		br := &errdetails.BadRequest{}
		for _, v := range e.Violations {
			br.FieldViolations = append(br.FieldViolations, &errdetails.BadRequest_FieldViolation{
				Field: v.Field, Description: v.Description, Reason: v.Rule,
			})
		}
		details = append(details, br)
	}
	if e.RetryAfter > 0 {
		details = append(details, &errdetails.RetryInfo{RetryDelay: durationpb.New(e.RetryAfter)})
	}
	withDetails, err := st.WithDetails(details...)
	if err != nil {
		return st
	}
	return withDetails
}

// New returns an error with the given code, reason and message.
func New(code codes.Code, reason, message string) *Error {
	return &Error{Code: code, Reason: reason, Message: message}
}

// InvalidArgument reports one field that broke a rule.
func InvalidArgument(field, rule, description string) *Error {
	return &Error{
		Code:       codes.InvalidArgument,
		Reason:     "INVALID_ARGUMENT",
		Message:    fmt.Sprintf("%s: %s", field, description),
		Violations: []FieldViolation{{Field: field, Rule: rule, Description: description}},
	}
}

// NotFound reports a resource that does not exist or belongs to another firm; the two
// are indistinguishable on purpose.
func NotFound(resource string) *Error {
	return &Error{Code: codes.NotFound, Reason: "NOT_FOUND", Message: resource + " not found"}
}

// Unauthenticated reports a missing or no longer valid credential.
func Unauthenticated(reason, message string) *Error {
	return &Error{Code: codes.Unauthenticated, Reason: reason, Message: message}
}

// PermissionDenied reports a caller whose role or scopes do not allow the action.
func PermissionDenied(reason, message string) *Error {
	return &Error{Code: codes.PermissionDenied, Reason: reason, Message: message}
}

// FailedPrecondition reports a request the resource's state does not allow now.
func FailedPrecondition(reason, message string) *Error {
	return &Error{Code: codes.FailedPrecondition, Reason: reason, Message: message}
}

// AlreadyExists reports a create that collides with an existing resource.
func AlreadyExists(reason, message string) *Error {
	return &Error{Code: codes.AlreadyExists, Reason: reason, Message: message}
}

// StaleEtag reports an update based on an outdated read (HTTP 409).
func StaleEtag(resource string) *Error {
	return &Error{Code: codes.Aborted, Reason: "ETAG_MISMATCH", Message: resource + " was changed since it was read; read it again"}
}

// RetryAfterUnavailable is how long a client is told to wait when a dependency is
// away: long enough for a pool to reconnect or a restart to finish, short enough
// not to turn a blip into an outage.
const RetryAfterUnavailable = 2 * time.Second

// Unavailable reports a dependency (database, broker, another service) that cannot
// serve now, with when to try again. The request may or may not have been applied
// (the dependency can fail after a commit); a retry with the same request_id is safe.
func Unavailable(reason, message string) *Error {
	return &Error{Code: codes.Unavailable, Reason: reason, Message: message, RetryAfter: RetryAfterUnavailable}
}

// TooMany reports throttling, with when to try again.
func TooMany(reason, message string, retryAfter time.Duration) *Error {
	return &Error{Code: codes.ResourceExhausted, Reason: reason, Message: message, RetryAfter: retryAfter}
}

// Status turns any error into the status a client may see. Unknown errors are logged
// with their detail and become a generic INTERNAL error.
func Status(ctx context.Context, logger *slog.Logger, err error) *status.Status {
	var apiErr *Error
	switch {
	case errors.As(err, &apiErr):
		return apiErr.GRPCStatus()
	case errors.Is(err, context.Canceled):
		return status.New(codes.Canceled, "request canceled")
	case errors.Is(err, context.DeadlineExceeded) && ctx.Err() != nil:
		return status.New(codes.DeadlineExceeded, "deadline exceeded")
	case dependencyUnavailable(err):
		logger.WarnContext(ctx, "dependency unavailable", slog.String("error", err.Error()))
		return unavailable.GRPCStatus()
	}
	if st, ok := status.FromError(err); ok && st.Code() != codes.Unknown {
		// Already a status, e.g. from the gRPC runtime or a downstream service. The
		// runtime's UNAVAILABLE describes the connection and says nothing of when to
		// retry; ours replaces it.
		if st.Code() == codes.Unavailable && retryDelay(st) == 0 {
			logger.WarnContext(ctx, "dependency unavailable", slog.String("error", st.Message()))
			return unavailable.GRPCStatus()
		}
		return st
	}
	logger.ErrorContext(ctx, "internal error", slog.String("error", err.Error()))
	return (&Error{Code: codes.Internal, Reason: "INTERNAL", Message: "internal error"}).GRPCStatus()
}

// unavailable is what a client sees of an unreachable dependency; the cause, which
// may name hosts and ports, stays in our logs.
var unavailable = Unavailable("UNAVAILABLE", "a service the request needs is unavailable; try again shortly")

// dependencyUnavailable reports an error that says a dependency could not be reached
// or went away, rather than that the request was wrong or our code failed: the
// database refusing or dropping connections, the broker gone, another service
// unreachable, or a bounded wait on one of them (a pool acquire, a publish
// acknowledgement) running out while the request itself still had time.
func dependencyUnavailable(err error) bool {
	var (
		connectErr *pgconn.ConnectError
		pgErr      *pgconn.PgError
		netErr     net.Error
	)
	switch {
	case errors.As(err, &connectErr), errors.As(err, &netErr),
		errors.Is(err, context.DeadlineExceeded),
		errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF),
		errors.Is(err, puddle.ErrClosedPool):
		return true
	case errors.As(err, &pgErr):
		return serverUnavailable(pgErr.Code)
	case pgconn.Timeout(err):
		return true
	}
	for _, e := range brokerUnavailable {
		if errors.Is(err, e) {
			return true
		}
	}
	return false
}

// retryDelay is the RetryInfo delay a status carries, or 0.
func retryDelay(st *status.Status) time.Duration {
	for _, d := range st.Details() {
		if info, ok := d.(*errdetails.RetryInfo); ok && info.GetRetryDelay() != nil {
			return info.GetRetryDelay().AsDuration()
		}
	}
	return 0
}

// serverUnavailable reports a PostgreSQL error code that means the server cannot
// serve now: connection exceptions (class 08), shutting down or starting up (57P01-
// 57P03), or out of connections (53300).
func serverUnavailable(sqlState string) bool {
	switch sqlState {
	case "57P01", "57P02", "57P03", "53300":
		return true
	}
	return strings.HasPrefix(sqlState, "08")
}

// brokerUnavailable are the NATS client's errors for a broker that is away or not
// answering.
var brokerUnavailable = []error{
	nats.ErrNoServers, nats.ErrConnectionClosed, nats.ErrConnectionReconnecting,
	nats.ErrConnectionDraining, nats.ErrTimeout, nats.ErrNoResponders,
	jetstream.ErrNoStreamResponse,
}

// Reason returns the ErrorInfo reason of a status error, or "".
func Reason(err error) string {
	st, ok := status.FromError(err)
	if !ok {
		return ""
	}
	for _, d := range st.Details() {
		if info, ok := d.(*errdetails.ErrorInfo); ok {
			return info.GetReason()
		}
	}
	return ""
}

// HasCode reports whether err is an *Error with the code.
func HasCode(err error, code codes.Code) bool {
	var apiErr *Error
	return errors.As(err, &apiErr) && apiErr.Code == code
}

// Within places err, about one item of a list request, under that item: each field
// violation's field gets prefix ("requests[3]." before "client.display_name") and
// the message starts with the item ("requests[3]: ..."). err itself is not changed;
// errors other than *Error pass as they are.
func Within(err error, prefix string) error {
	var e *Error
	if !errors.As(err, &e) {
		return err
	}
	out := *e
	out.Message = strings.TrimSuffix(prefix, ".") + ": " + e.Message
	out.Violations = make([]FieldViolation, len(e.Violations))
	for i, v := range e.Violations {
		v.Field = prefix + v.Field
		out.Violations[i] = v
	}
	return &out
}
