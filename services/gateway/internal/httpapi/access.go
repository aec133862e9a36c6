package httpapi

import (
	"bytes"
	"context"
	"encoding/json"
	"log/slog"
	"net/http"
	"strings"
	"time"

	"github.com/google/uuid"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"go.opentelemetry.io/otel/trace"
	"google.golang.org/grpc/codes"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/firmflow/firmflow/pkg/apierr"
	eventsv1 "github.com/firmflow/firmflow/pkg/gen/firmflow/events/v1"
	"github.com/firmflow/firmflow/pkg/outbox"
	"github.com/firmflow/firmflow/pkg/principal"
)

// AccessSubject is where access events go; the FIRMFLOW_GATEWAY stream holds them.
const AccessSubject = "firmflow.gateway.access"

// accessPublishTimeout bounds the wait for JetStream's acknowledgement; past it the
// client gets 503 rather than an answer whose access went unrecorded.
const accessPublishTimeout = 5 * time.Second

// AccessPublisher makes an access event durable; JetStream is one.
type AccessPublisher interface {
	PublishMsg(ctx context.Context, msg *nats.Msg, opts ...jetstream.PublishOpt) (*jetstream.PubAck, error)
}

// RecordAccess holds every response until its access event is durable: the handler
// writes into a buffer, the event (who, which firm, which method and resources, the
// outcome, from where) is published to JetStream and acknowledged, and only then does
// the response leave. When the event cannot be made durable the client gets 503 and
// none of the data. Liveness and readiness probes are infrastructure, not access, and
// are not recorded.
func RecordAccess(pub AccessPublisher, verifier *principal.Verifier, logger *slog.Logger) func(http.Handler) http.Handler {
	return func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if r.URL.Path == "/healthz" || r.URL.Path == "/readyz" {
				next.ServeHTTP(w, r)
				return
			}
			held := &heldResponse{header: w.Header().Clone()}
			next.ServeHTTP(held, r)

			event := accessEvent(r, held, verifier)
			ctx, cancel := context.WithTimeout(context.WithoutCancel(r.Context()), accessPublishTimeout)
			defer cancel()
			if err := publishAccess(ctx, pub, event); err != nil {
				logger.ErrorContext(r.Context(), "access event not recorded; refusing the response",
					slog.String("error", err.Error()), slog.String("event_id", event.GetEventId()))
				for k := range w.Header() {
					if k != RequestIDHeader && !strings.HasPrefix(k, "Strict-Transport") {
						w.Header().Del(k)
					}
				}
				writeError(w, http.StatusServiceUnavailable, apierr.Unavailable("AUDIT_UNAVAILABLE",
					"the request could not be recorded; try again shortly"))
				return
			}
			held.flush(w)
		})
	}
}

func publishAccess(ctx context.Context, pub AccessPublisher, e *eventsv1.AccessEvent) error {
	data, err := proto.Marshal(e)
	if err != nil {
		return err
	}
	msg := nats.NewMsg(AccessSubject)
	msg.Data = data
	msg.Header.Set(outbox.HeaderEventID, e.GetEventId())
	msg.Header.Set(outbox.HeaderFirmID, strings.TrimPrefix(e.GetFirm(), "firms/"))
	msg.Header.Set(outbox.HeaderActor, e.GetActor())
	msg.Header.Set(outbox.HeaderOccurredAt, e.GetTime().AsTime().Format(time.RFC3339Nano))
	_, err = pub.PublishMsg(ctx, msg, jetstream.WithMsgID(e.GetEventId()))
	return err
}

// accessEvent describes the finished request. The principal comes from the token
// identity signed (verified again here), never from anything the client sent.
func accessEvent(r *http.Request, held *heldResponse, verifier *principal.Verifier) *eventsv1.AccessEvent {
	req := requestFrom(r)
	e := &eventsv1.AccessEvent{
		EventId:    uuid.Must(uuid.NewV7()).String(),
		Actor:      "anonymous",
		ActorKind:  "anonymous",
		RpcMethod:  req.rpcMethod,
		HttpMethod: r.Method,
		Route:      req.route,
		HttpStatus: int32(held.status()),
		GrpcCode:   held.grpcCode(),
		UserAgent:  printableASCII(r.UserAgent()),
		RequestId:  req.id,
		Time:       timestamppb.Now(),
	}
	if e.Route == "" {
		e.Route = "unmatched"
	}
	if req.clientIP.IsValid() {
		e.ClientIp = req.clientIP.String()
	}
	if sc := trace.SpanContextFromContext(r.Context()); sc.HasTraceID() {
		e.TraceId = sc.TraceID().String()
	}
	if req.principalToken != "" && verifier != nil {
		if p, err := verifier.Verify(req.principalToken); err == nil {
			e.Actor, e.ActorKind = p.Actor(), string(p.Kind)
			if p.FirmID != "" {
				e.Firm = "firms/" + p.FirmID
			}
			if p.GrantID != "" {
				e.SupportGrant = "firms/" + p.FirmID + "/supportGrants/" + p.GrantID
			}
		}
	}
	if name := resourceOf(r.URL.Path); name != "" && req.route != "" {
		// A path that is not UTF-8 is refused, but still recorded: its raw bytes
		// escaped, since a protobuf string cannot hold them.
		e.Resources = []string{escapeInvalidUTF8(name)}
	}
	e.Category = categoryOf(e.GetRpcMethod(), e.GetRoute())
	return e
}

// resourceOf is the resource name a /v1 path addresses, without custom verbs:
// /v1/firms/F/apiKeys/K:rotate -> firms/F/apiKeys/K.
func resourceOf(path string) string {
	name, ok := strings.CutPrefix(path, "/v1/")
	if !ok {
		return ""
	}
	name, _, _ = strings.Cut(name, ":")
	return strings.TrimSuffix(name, "/")
}

// authMethods are the identity methods about signing in and credentials.
var authMethods = []string{"/SignUp", "/Login", "/Logout", "/StaffLogin", "/StaffLogout", "Session", "ApiKey", "Totp", "AcceptInvitation"}

// categoryOf sorts a request for the audit log: billing for anything touching payment
// or billing data, auth for credentials and sessions, general for the rest.
func categoryOf(rpcMethod, route string) string {
	switch {
	case strings.HasPrefix(rpcMethod, "/firmflow.billing."), strings.Contains(route, "/billing"),
		strings.Contains(route, "subscription"), strings.Contains(route, "invoices"):
		return "billing"
	case strings.HasPrefix(rpcMethod, "/firmflow.identity."):
		for _, m := range authMethods {
			if strings.Contains(rpcMethod, m) {
				return "auth"
			}
		}
	}
	return "general"
}

// heldResponse keeps a response in memory until its access event is durable.
type heldResponse struct {
	header http.Header
	code   int
	body   bytes.Buffer
}

func (h *heldResponse) Header() http.Header { return h.header }

func (h *heldResponse) WriteHeader(code int) {
	if h.code == 0 {
		h.code = code
	}
}

func (h *heldResponse) Write(b []byte) (int, error) {
	if h.code == 0 {
		h.code = http.StatusOK
	}
	return h.body.Write(b)
}

func (h *heldResponse) status() int {
	if h.code == 0 {
		return http.StatusOK
	}
	return h.code
}

// grpcCode is the outcome's gRPC code name: read from the JSON error the gateway
// wrote, or OK for a success.
func (h *heldResponse) grpcCode() string {
	if h.status() < 400 {
		return codes.OK.String()
	}
	var body struct {
		Error struct {
			Status string `json:"status"`
		} `json:"error"`
	}
	if json.Unmarshal(h.body.Bytes(), &body) == nil && body.Error.Status != "" {
		return body.Error.Status
	}
	return "UNKNOWN"
}

func (h *heldResponse) flush(w http.ResponseWriter) {
	dst := w.Header()
	for k := range dst {
		if _, ok := h.header[k]; !ok {
			dst.Del(k)
		}
	}
	for k, v := range h.header {
		dst[k] = v
	}
	w.WriteHeader(h.status())
	_, _ = w.Write(h.body.Bytes())
}
