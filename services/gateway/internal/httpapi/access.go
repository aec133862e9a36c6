package httpapi

import (
	"bytes"
	"context"
	"encoding/json"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/google/uuid"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"go.opentelemetry.io/otel/trace"
	"google.golang.org/genproto/googleapis/rpc/code"
	"google.golang.org/grpc/codes"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/firmflow/firmflow/pkg/apierr"
	eventsv1 "github.com/firmflow/firmflow/pkg/gen/firmflow/events/v1"
	"github.com/firmflow/firmflow/pkg/outbox"
)

// AccessSubject carries a lone access event: the follow-up saying a response was
// replaced by 503. AccessBatchSubject carries the group-committed batches
// (eventsv1.AccessEventBatch). The FIRMFLOW_GATEWAY stream holds both.
const (
	AccessSubject      = "firmflow.gateway.access"
	AccessBatchSubject = "firmflow.gateway.access_batch"
)

// accessPublishTimeout bounds the wait for JetStream's acknowledgement, counted from
// when the first event of a batch was queued; past it the client gets 503 rather
// than an answer whose access went unrecorded.
const accessPublishTimeout = 5 * time.Second

// AccessPublisher makes an access event durable; JetStream is one.
type AccessPublisher interface {
	PublishMsg(ctx context.Context, msg *nats.Msg, opts ...jetstream.PublishOpt) (*jetstream.PubAck, error)
}

// RecordAccess holds every response until its access event is durable: the handler
// writes into a buffer, the event (who, which firm, which method and resources, the
// outcome, from where) is made durable in JetStream (group-committed with the events
// of concurrent requests, see accessLog), and only then does the response leave.
// When the event cannot be made durable the client gets 503 and none of the data.
// Liveness and readiness probes are infrastructure, not access, and are not recorded.
//
// A publish whose acknowledgement did not come may still have reached JetStream
// (NATS hung rather than died) and be stored later with the outcome the client never
// saw. So every refusal is followed by a second event for the same request, saying
// the response was replaced by 503 (HeaderReplaces names the first), published in the
// background until JetStream takes it: the log ends saying what the client received.
func RecordAccess(pub AccessPublisher, logger *slog.Logger) func(http.Handler) http.Handler {
	log := &accessLog{pub: pub}
	replaced := &replacements{pub: pub, logger: logger}
	return func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if r.URL.Path == "/healthz" || r.URL.Path == "/readyz" {
				next.ServeHTTP(w, r)
				return
			}
			held := &heldResponse{header: w.Header().Clone()}
			next.ServeHTTP(held, r)

			event := accessEvent(r, held)
			if err := log.record(event); err != nil {
				logger.ErrorContext(r.Context(), "access event not recorded; refusing the response",
					slog.String("error", err.Error()), slog.String("event_id", event.GetEventId()))
				replaced.add(event)
				for k := range w.Header() {
					if k != RequestIDHeader && !strings.HasPrefix(k, "Strict-Transport") {
						w.Header().Del(k)
					}
				}
				writeError(w, apierr.Unavailable("AUDIT_UNAVAILABLE",
					"the request could not be recorded; try again shortly"))
				return
			}
			held.flush(w)
		})
	}
}

// A batch holds at most this many events and bytes, well inside NATS's default
// 1 MB message limit; an event past either waits for the next write.
const (
	maxBatchEvents = 512
	maxBatchBytes  = 512 << 10
)

// accessLog group-commits access events. With the stream syncing every write, a
// durable publish costs about one fsync whatever its size, so instead of one write
// per request there is one write at a time: the events that arrive while it is in
// flight gather into the next batch, which goes out as one message the moment the
// write before it is acknowledged. Each request waits for its own batch's
// acknowledgement, so none leaves before its event is durable; under light load a
// batch is one event and nothing waits longer than before.
//
// Batches go out one after another in the order they were formed, so the events of a
// firm reach the stream in the order its requests finished. A batch is never
// retried: its requests are refused and their follow-ups say so.
type accessLog struct {
	pub AccessPublisher

	mu      sync.Mutex
	queue   []*accessBatch // formed or forming, not yet taken by the writer
	writing bool
}

// accessBatch is events that share one durable write.
type accessBatch struct {
	batch    eventsv1.AccessEventBatch
	size     int
	deadline time.Time
	done     chan struct{} // closed once err is set
	err      error
}

// record makes e durable and returns nil, or returns why it could not.
func (l *accessLog) record(e *eventsv1.AccessEvent) error {
	size := proto.Size(e) + 8 // with its tag and length in the batch
	l.mu.Lock()
	var b *accessBatch
	if n := len(l.queue); n > 0 && len(l.queue[n-1].batch.Events) < maxBatchEvents && l.queue[n-1].size+size <= maxBatchBytes {
		b = l.queue[n-1]
	} else {
		b = &accessBatch{deadline: time.Now().Add(accessPublishTimeout), done: make(chan struct{})}
		l.queue = append(l.queue, b)
	}
	b.batch.Events = append(b.batch.Events, e)
	b.size += size
	if !l.writing {
		l.writing = true
		go l.write()
	}
	l.mu.Unlock()
	<-b.done
	return b.err
}

// write publishes the queued batches one at a time until none is left. Taking a
// batch off the queue closes it: later events form the next one.
func (l *accessLog) write() {
	for {
		l.mu.Lock()
		if len(l.queue) == 0 {
			l.writing = false
			l.mu.Unlock()
			return
		}
		b := l.queue[0]
		l.queue[0] = nil
		l.queue = l.queue[1:]
		l.mu.Unlock()

		ctx, cancel := context.WithDeadline(context.Background(), b.deadline)
		b.err = publishBatch(ctx, l.pub, &b.batch)
		cancel()
		close(b.done)
	}
}

// publishBatch makes a batch durable as one message under an id of its own; each
// event inside keeps its own id, which the audit log goes by. The message names every
// firm its events belong to (HeaderFirmID, once per firm, at most maxBatchEvents
// values of 36 bytes: well under JetStream's 64 KiB of headers), so that a firm's
// deletion finds, without decoding payloads, the batches that are its alone to purge.
func publishBatch(ctx context.Context, pub AccessPublisher, batch *eventsv1.AccessEventBatch) error {
	if err := ctx.Err(); err != nil {
		// Waited past its deadline behind a write that hung: never sent.
		return err
	}
	data, err := proto.Marshal(batch)
	if err != nil {
		return err
	}
	id := uuid.Must(uuid.NewV7()).String()
	msg := nats.NewMsg(AccessBatchSubject)
	msg.Data = data
	msg.Header.Set(outbox.HeaderEventID, id)
	msg.Header.Set(outbox.HeaderOccurredAt, time.Now().UTC().Format(time.RFC3339Nano))
	named := map[string]bool{}
	for _, e := range batch.GetEvents() {
		if firm := strings.TrimPrefix(e.GetFirm(), "firms/"); firm != "" && !named[firm] {
			named[firm] = true
			msg.Header.Add(outbox.HeaderFirmID, firm)
		}
	}
	_, err = pub.PublishMsg(ctx, msg, jetstream.WithMsgID(id))
	return err
}

// publishAccess makes a lone event durable: the follow-up e of the event whose
// response it replaced.
func publishAccess(ctx context.Context, pub AccessPublisher, e *eventsv1.AccessEvent, replaces string) error {
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
	msg.Header.Set(outbox.HeaderReplaces, replaces)
	_, err = pub.PublishMsg(ctx, msg, jetstream.WithMsgID(e.GetEventId()))
	return err
}

// maxReplacements bounds the follow-up events waiting for JetStream during an outage:
// some 1 KB each, so about 10 MB at worst.
const maxReplacements = 10_000

// A follow-up that JetStream did not take is tried again after 250 ms, doubling up
// to 2 s: soon after NATS returns, without hammering it while it is away.
const (
	replacementFirstRetry = 250 * time.Millisecond
	replacementRetry      = 2 * time.Second
)

// replacements publishes, in the order the requests were refused and retrying until
// JetStream acknowledges, the follow-up events of responses replaced by 503. One
// goroutine drains the queue while it has anything in it.
type replacements struct {
	pub    AccessPublisher
	logger *slog.Logger

	mu       sync.Mutex
	queue    []*replacement
	draining bool
}

type replacement struct {
	event    *eventsv1.AccessEvent
	replaces string
}

// add queues the follow-up of refused: the same request, answered 503.
func (q *replacements) add(refused *eventsv1.AccessEvent) {
	e := proto.Clone(refused).(*eventsv1.AccessEvent)
	e.EventId = uuid.Must(uuid.NewV7()).String()
	e.HttpStatus = http.StatusServiceUnavailable
	e.GrpcCode = code.Code(codes.Unavailable).String()
	e.Time = timestamppb.Now()

	q.mu.Lock()
	defer q.mu.Unlock()
	if len(q.queue) >= maxReplacements {
		dropped := q.queue[0]
		q.queue = q.queue[1:]
		q.logger.Error("too many follow-up access events waiting; dropping the oldest",
			slog.String("event_id", dropped.event.GetEventId()), slog.String("request_id", dropped.event.GetRequestId()))
	}
	q.queue = append(q.queue, &replacement{event: e, replaces: refused.GetEventId()})
	if !q.draining {
		q.draining = true
		go q.drain()
	}
}

// drain publishes the queue's head until the queue is empty. Each event keeps its id
// across attempts, so an attempt that was stored after all is not stored twice.
func (q *replacements) drain() {
	wait := replacementFirstRetry
	for {
		q.mu.Lock()
		if len(q.queue) == 0 {
			q.draining = false
			q.mu.Unlock()
			return
		}
		head := q.queue[0]
		q.mu.Unlock()

		ctx, cancel := context.WithTimeout(context.Background(), accessPublishTimeout)
		err := publishAccess(ctx, q.pub, head.event, head.replaces)
		cancel()
		if err != nil {
			q.logger.Warn("follow-up access event not recorded yet; retrying",
				slog.String("error", err.Error()), slog.String("request_id", head.event.GetRequestId()))
			time.Sleep(wait)
			wait = min(2*wait, replacementRetry)
			continue
		}
		wait = replacementFirstRetry
		q.mu.Lock()
		if len(q.queue) > 0 && q.queue[0] == head {
			q.queue = q.queue[1:]
		}
		q.mu.Unlock()
	}
}

// accessPrincipal is whom a request's credential speaks for, as identity's reply to
// Authenticate named it.
type accessPrincipal struct {
	actor, kind, firm, supportGrant string
}

// accessEvent describes the finished request. The principal comes from identity's
// answer about the credential, which reached the gateway over mutual TLS beside the
// token it signed, never from anything the client sent. (Verifying the token's
// Ed25519 signature here again, as the gateway once did, taught it nothing new.)
func accessEvent(r *http.Request, held *heldResponse) *eventsv1.AccessEvent {
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
	if p := req.principal; p.actor != "" {
		e.Actor, e.ActorKind, e.Firm, e.SupportGrant = p.actor, p.kind, p.firm, p.supportGrant
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
