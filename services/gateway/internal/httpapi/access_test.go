package httpapi

import (
	"context"
	"io"
	"net"
	"net/http"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	eventsv1 "github.com/firmflow/firmflow/pkg/gen/firmflow/events/v1"
	"github.com/firmflow/firmflow/pkg/natsx"
	"github.com/firmflow/firmflow/pkg/natsx/natstest"
	"github.com/firmflow/firmflow/pkg/outbox"
)

// stallingProxy forwards TCP to a server and can hold what the client sends, as a
// hung broker or a partition does: the bytes are not lost, only late.
type stallingProxy struct {
	ln      net.Listener
	target  string
	mu      sync.Mutex
	stalled bool
	resumed chan struct{}
}

func startStallingProxy(t *testing.T, target string) *stallingProxy {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &stallingProxy{ln: ln, target: target, resumed: make(chan struct{})}
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			client, err := ln.Accept()
			if err != nil {
				return
			}
			server, err := net.Dial("tcp", target)
			if err != nil {
				client.Close()
				continue
			}
			t.Cleanup(func() { client.Close(); server.Close() })
			go p.copy(server, client, true)
			go p.copy(client, server, false)
		}
	}()
	return p
}

func (p *stallingProxy) copy(dst io.Writer, src io.Reader, stallable bool) {
	buf := make([]byte, 32<<10)
	for {
		n, err := src.Read(buf)
		if n > 0 && stallable {
			p.mu.Lock()
			stalled, resumed := p.stalled, p.resumed
			p.mu.Unlock()
			if stalled {
				<-resumed
			}
		}
		if n > 0 {
			if _, werr := dst.Write(buf[:n]); werr != nil {
				return
			}
		}
		if err != nil {
			return
		}
	}
}

func (p *stallingProxy) stall() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.stalled, p.resumed = true, make(chan struct{})
}

func (p *stallingProxy) resume() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.stalled = false
	close(p.resumed)
}

// storedEvent is an access event as the stream holds it, with the event it replaces.
type storedEvent struct {
	event    *eventsv1.AccessEvent
	replaces string
}

// storedAccess reads every access event in stream, in order, unpacking batches.
func storedAccess(t *testing.T, stream jetstream.Stream) []storedEvent {
	t.Helper()
	info, err := stream.Info(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	var out []storedEvent
	for seq := info.State.FirstSeq; info.State.Msgs > 0 && seq <= info.State.LastSeq; seq++ {
		msg, err := stream.GetMsg(context.Background(), seq)
		if err != nil {
			t.Fatal(err)
		}
		events, err := decodeAccess(msg.Subject, msg.Data)
		if err != nil {
			t.Fatal(err)
		}
		for _, e := range events {
			out = append(out, storedEvent{event: e, replaces: msg.Header.Get(outbox.HeaderReplaces)})
		}
	}
	return out
}

// TestLogEndsWithTheResponseTheClientGot stalls NATS while a request's access event
// is on the wire: the client gets 503, and when NATS resumes and stores the event
// that says 201, the log must go on to say the response was replaced by 503.
func TestLogEndsWithTheResponseTheClientGot(t *testing.T) {
	url := natstest.Start(t)
	admin, err := nats.Connect(url)
	if err != nil {
		t.Fatal(err)
	}
	defer admin.Close()
	adminJS, _ := jetstream.New(admin)
	stream, err := natsx.EnsureStream(context.Background(), adminJS, natsx.ServiceStream("gateway", true, natsx.DefaultStreamMaxAge))
	if err != nil {
		t.Fatal(err)
	}

	proxy := startStallingProxy(t, admin.ConnectedAddr())
	nc, js, err := natsx.Connect("nats://"+proxy.ln.Addr().String(), "gateway-test", nats.ReconnectBufSize(-1))
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	h := Track(discardLogger(), nil)(RecordAccess(js, discardLogger())(newRESTForTest(t, &fakeIdentity{})))

	proxy.stall()
	res := serve(h, jsonRequest(http.MethodPost, "/v1/signup", `{"firm_display_name":"Ledger & Co"}`))
	if res.StatusCode != http.StatusServiceUnavailable {
		t.Fatalf("status with NATS stalled = %d, want 503", res.StatusCode)
	}
	requestID := res.Header.Get(RequestIDHeader)
	proxy.resume()

	// The stream ends up with the event that was on the wire (201) followed by the
	// follow-up (503) that names it.
	var events []*eventsv1.AccessEvent
	var replaces []string
	deadline := time.Now().Add(20 * time.Second)
	for {
		events, replaces = nil, nil
		for _, s := range storedAccess(t, stream) {
			if s.event.GetRequestId() == requestID {
				events = append(events, s.event)
				replaces = append(replaces, s.replaces)
			}
		}
		if len(events) >= 2 || time.Now().After(deadline) {
			break
		}
		time.Sleep(50 * time.Millisecond)
	}
	if len(events) != 2 {
		t.Fatalf("stream holds %d events of the request, want the stalled one and its follow-up", len(events))
	}
	first, last := events[0], events[1]
	if first.GetHttpStatus() != http.StatusCreated {
		t.Errorf("first event says %d, want the 201 that was on the wire", first.GetHttpStatus())
	}
	if last.GetHttpStatus() != http.StatusServiceUnavailable || last.GetGrpcCode() != "UNAVAILABLE" || replaces[1] != first.GetEventId() {
		t.Errorf("last event says %d %s replacing %q, want 503 UNAVAILABLE replacing %s",
			last.GetHttpStatus(), last.GetGrpcCode(), replaces[1], first.GetEventId())
	}
	if last.GetEventId() == first.GetEventId() || last.GetRoute() != first.GetRoute() {
		t.Errorf("follow-up %+v does not describe the same request as %+v as an event of its own", last, first)
	}
}

// gatedPublisher holds every publish until the gate opens, counting them.
type gatedPublisher struct {
	next     AccessPublisher
	gate     chan struct{}
	mu       sync.Mutex
	attempts int
}

func (g *gatedPublisher) PublishMsg(ctx context.Context, msg *nats.Msg, opts ...jetstream.PublishOpt) (*jetstream.PubAck, error) {
	g.mu.Lock()
	g.attempts++
	g.mu.Unlock()
	<-g.gate
	return g.next.PublishMsg(ctx, msg, opts...)
}

// TestConcurrentRequestsShareDurableWrites holds JetStream's first write while 40
// requests finish: none of them is answered before its event is acknowledged, and
// the 40 events reach the stream in fewer messages than requests, each exactly once.
func TestConcurrentRequestsShareDurableWrites(t *testing.T) {
	url := natstest.Start(t)
	nc, js, err := natsx.Connect(url, "gateway-test")
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	stream, err := natsx.EnsureStream(context.Background(), js, natsx.ServiceStream("gateway", true, natsx.DefaultStreamMaxAge))
	if err != nil {
		t.Fatal(err)
	}
	pub := &gatedPublisher{next: js, gate: make(chan struct{})}
	h := Track(discardLogger(), nil)(RecordAccess(pub, discardLogger())(newRESTForTest(t, &fakeIdentity{})))

	const requests = 40
	answered := make(chan *http.Response, requests)
	for range requests {
		go func() {
			answered <- serve(h, jsonRequest(http.MethodPost, "/v1/signup", `{"firm_display_name":"Ledger & Co"}`))
		}()
	}
	// Wait until the first write is held and the rest have queued behind it.
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(10 * time.Millisecond) {
		pub.mu.Lock()
		attempts := pub.attempts
		pub.mu.Unlock()
		if attempts == 1 || time.Now().After(deadline) {
			break
		}
	}
	time.Sleep(200 * time.Millisecond)
	select {
	case res := <-answered:
		t.Fatalf("a response (%d) left while its access event was not yet durable", res.StatusCode)
	default:
	}
	close(pub.gate)

	ids := map[string]bool{}
	for range requests {
		res := <-answered
		if res.StatusCode != http.StatusCreated {
			t.Fatalf("status %d, want 201", res.StatusCode)
		}
		ids[res.Header.Get(RequestIDHeader)] = true
	}

	info, err := stream.Info(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	stored := map[string]int{}
	for _, s := range storedAccess(t, stream) {
		stored[s.event.GetRequestId()]++
	}
	for id := range ids {
		if stored[id] != 1 {
			t.Errorf("request %s has %d events in the stream, want 1", id, stored[id])
		}
	}
	if len(stored) != requests {
		t.Errorf("stream holds events of %d requests, want %d", len(stored), requests)
	}
	if info.State.Msgs >= requests || pub.attempts >= requests {
		t.Errorf("%d requests took %d messages (%d writes): no write was shared", requests, info.State.Msgs, pub.attempts)
	}
	t.Logf("%d requests, %d durable writes", requests, pub.attempts)
}

// capturingPublisher keeps the messages it is given and acknowledges them.
type capturingPublisher struct{ msgs []*nats.Msg }

func (c *capturingPublisher) PublishMsg(_ context.Context, msg *nats.Msg, _ ...jetstream.PublishOpt) (*jetstream.PubAck, error) {
	c.msgs = append(c.msgs, msg)
	return &jetstream.PubAck{}, nil
}

// TestBatchNamesEachFirmOnce: a batch's message carries the firm header once per
// firm its events belong to, and none for events outside any firm, so that a firm's
// deletion can tell the batches that are its alone from those it shares.
func TestBatchNamesEachFirmOnce(t *testing.T) {
	const a, b = "0190a4b2-0000-7000-8000-00000000000a", "0190a4b2-0000-7000-8000-00000000000b"
	pub := &capturingPublisher{}
	batch := &eventsv1.AccessEventBatch{Events: []*eventsv1.AccessEvent{
		{EventId: "1", Firm: "firms/" + a}, {EventId: "2"}, {EventId: "3", Firm: "firms/" + b}, {EventId: "4", Firm: "firms/" + a},
	}}
	if err := publishBatch(context.Background(), pub, batch); err != nil {
		t.Fatal(err)
	}
	if len(pub.msgs) != 1 {
		t.Fatalf("%d messages, want 1", len(pub.msgs))
	}
	if got := pub.msgs[0].Header.Values(outbox.HeaderFirmID); len(got) != 2 || got[0] != a || got[1] != b {
		t.Errorf("firm headers %q, want [%s %s]", got, a, b)
	}
}
