package ingest_test

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"

	eventsv1 "github.com/firmflow/firmflow/pkg/gen/firmflow/events/v1"
	"github.com/firmflow/firmflow/pkg/natsx"
	"github.com/firmflow/firmflow/pkg/natsx/natstest"
	"github.com/firmflow/firmflow/pkg/outbox"
	"github.com/firmflow/firmflow/pkg/principal"
	"github.com/firmflow/firmflow/services/audit/chain"
	"github.com/firmflow/firmflow/services/audit/internal/audittest"
	"github.com/firmflow/firmflow/services/audit/internal/domain"
	"github.com/firmflow/firmflow/services/audit/internal/ingest"
)

// broker is a JetStream server with the gateway's and identity's streams.
func broker(t testing.TB) jetstream.JetStream {
	t.Helper()
	nc, js, err := natsx.Connect(natstest.Start(t), "audit-test")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(nc.Close)
	for _, s := range []string{"gateway", "identity"} {
		if _, err := natsx.EnsureStream(context.Background(), js, natsx.ServiceStream(s, true, natsx.DefaultStreamMaxAge)); err != nil {
			t.Fatal(err)
		}
	}
	return js
}

// accessMsg is the gateway's message for one request of firm; msgID is the
// JetStream de-duplication id, normally the event id.
func accessMsg(t testing.TB, eventID, firm, actor, msgID string) *nats.Msg {
	t.Helper()
	data, err := proto.Marshal(&eventsv1.AccessEvent{
		EventId: eventID, Firm: "firms/" + firm, Actor: actor, ActorKind: "user",
		RpcMethod: "/firmflow.identity.v1.IdentityService/GetFirm", HttpMethod: "GET", Route: "/v1/{name=firms/*}",
		Resources: []string{"firms/" + firm}, HttpStatus: 200, GrpcCode: "OK", Time: timestamppb.Now(), Category: "general",
	})
	if err != nil {
		t.Fatal(err)
	}
	msg := nats.NewMsg(ingest.AccessSubject)
	msg.Data = data
	msg.Header.Set(outbox.HeaderEventID, eventID)
	msg.Header.Set(outbox.HeaderFirmID, firm)
	msg.Header.Set(jetstream.MsgIDHeader, msgID)
	return msg
}

func changeMsg(t testing.TB, eventID, firm string) *nats.Msg {
	t.Helper()
	data, err := proto.Marshal(&eventsv1.MemberJoined{Member: "firms/" + firm + "/members/" + uuid.NewString(), Role: "member", ActiveMembers: 2})
	if err != nil {
		t.Fatal(err)
	}
	msg := nats.NewMsg("firmflow.identity.member_joined")
	msg.Data = data
	msg.Header.Set(outbox.HeaderEventID, eventID)
	msg.Header.Set(outbox.HeaderFirmID, firm)
	msg.Header.Set(outbox.HeaderActor, "users/owner")
	msg.Header.Set(outbox.HeaderOccurredAt, time.Now().UTC().Format(time.RFC3339Nano))
	msg.Header.Set(jetstream.MsgIDHeader, eventID)
	return msg
}

func publish(t testing.TB, js jetstream.JetStream, msgs []*nats.Msg) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	// In windows: the client refuses too many unacknowledged asynchronous publishes.
	for window := range slices.Chunk(msgs, 2000) {
		futures := make([]jetstream.PubAckFuture, 0, len(window))
		for _, m := range window {
			f, err := js.PublishMsgAsync(m)
			if err != nil {
				t.Fatal(err)
			}
			futures = append(futures, f)
		}
		for _, f := range futures {
			select {
			case <-f.Ok():
			case err := <-f.Err():
				t.Fatal(err)
			case <-ctx.Done():
				t.Fatal("publish not acknowledged")
			}
		}
	}
}

// count reads how many events the log holds and how many distinct ids, across
// every firm (as the administrator, which row-level security does not limit).
func count(t testing.TB, admin *pgx.Conn) (events, distinct int) {
	t.Helper()
	if err := admin.QueryRow(context.Background(), "select count(*), count(distinct event_id) from audit_events").Scan(&events, &distinct); err != nil {
		t.Fatal(err)
	}
	return events, distinct
}

func waitFor(t testing.TB, what string, timeout time.Duration, ok func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !ok() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// TestConsumerKilledMidStreamLosesAndRepeatsNothing publishes access and change
// events, some of them twice (a republish JetStream's duplicate window no longer
// catches), stops the consumer while it is appending, starts it again and expects
// each event exactly once and every chain intact.
func TestConsumerKilledMidStreamLosesAndRepeatsNothing(t *testing.T) {
	t.Parallel()
	f := audittest.New(t)
	js := broker(t)
	firms := []string{uuid.NewString(), uuid.NewString(), uuid.NewString()}
	const accesses, changes = 2400, 300
	var msgs []*nats.Msg
	for i := range accesses {
		id := uuid.NewString()
		msgs = append(msgs, accessMsg(t, id, firms[i%3], fmt.Sprintf("users/u%d", i%7), id))
		if i%10 == 0 {
			msgs = append(msgs, accessMsg(t, id, firms[i%3], fmt.Sprintf("users/u%d", i%7), "republished-"+id))
		}
	}
	for i := range changes {
		msgs = append(msgs, changeMsg(t, uuid.NewString(), firms[i%3]))
	}
	publish(t, js, msgs)

	admin, err := pgx.Connect(context.Background(), f.DB.AdminURL)
	if err != nil {
		t.Fatal(err)
	}
	defer admin.Close(context.Background())

	opts := ingest.Options{Streams: []string{"FIRMFLOW_GATEWAY", "FIRMFLOW_IDENTITY"}, Batch: 100, AckWait: time.Second}
	run := func(ctx context.Context) chan error {
		done := make(chan error, 1)
		go func() { done <- ingest.New(js, f.App, opts).Run(ctx) }()
		return done
	}
	ctx, kill := context.WithCancel(context.Background())
	done := run(ctx)
	waitFor(t, "the first batches", 30*time.Second, func() bool { n, _ := count(t, admin); return n >= 500 })
	kill()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if n, _ := count(t, admin); n >= accesses+changes {
		t.Fatalf("the consumer finished (%d events) before it was killed; the test proves nothing", n)
	}

	ctx, stop := context.WithCancel(context.Background())
	defer stop()
	done = run(ctx)
	waitFor(t, "every event", 60*time.Second, func() bool { n, _ := count(t, admin); return n >= accesses+changes })
	// Everything delivered is acknowledged: nothing is left to come twice.
	for _, stream := range opts.Streams {
		waitFor(t, stream+" acknowledged", 30*time.Second, func() bool {
			info, err := js.Consumer(context.Background(), stream, "audit")
			if err != nil {
				t.Fatal(err)
			}
			i, err := info.Info(context.Background())
			return err == nil && i.NumAckPending == 0 && i.NumPending == 0
		})
	}
	stop()
	<-done

	if n, distinct := count(t, admin); n != accesses+changes || distinct != n {
		t.Errorf("log holds %d events (%d distinct), want %d once each", n, distinct, accesses+changes)
	}
	for _, firm := range firms {
		p := principal.Principal{Kind: principal.KindUser, FirmID: firm, Role: principal.RoleOwner}
		report, err := f.App.Verify(context.Background(), p, firm)
		if err != nil || !report.Valid() || report.Events != (accesses+changes)/3 {
			t.Errorf("firm %s: %+v, %v", firm, report, err)
		}
		changesOnly, _, err := f.App.Events(context.Background(), p, firm, domain.Filter{Kind: domain.KindChange, Actor: "users/owner"}, 100, "")
		if err != nil || len(changesOnly) != 100 || len(changesOnly[0].Resources) != 1 || changesOnly[0].Action != "firmflow.identity.member_joined" {
			t.Errorf("firm %s: change events as recorded: %d, %v", firm, len(changesOnly), err)
		}
	}
}

func TestEveryMessageIsRecorded(t *testing.T) {
	t.Parallel()
	garbled := ingest.Message{Subject: ingest.AccessSubject, Header: nats.Header{}, Data: []byte{0xff, 0xff, 0xff}, Stream: "FIRMFLOW_GATEWAY", Sequence: 7}
	e := garbled.Event()
	if e.FirmID != chain.SystemFirm || e.Kind != domain.KindAccess || string(e.Payload) != "\xff\xff\xff" {
		t.Errorf("undecodable access event: %+v", e)
	}
	if again := garbled.Event(); again.ID != e.ID {
		t.Error("an event without an id gets a different id on redelivery")
	}
	foreign := ingest.Message{Subject: "firmflow.lifecycle.export_started", Header: nats.Header{}, Data: []byte("\x0a\x0ffirms/x/exports")}
	foreign.Header.Set(outbox.HeaderFirmID, "not a uuid")
	if e := foreign.Event(); e.FirmID != chain.SystemFirm || e.Resources[0] != "firms/x/exports" || e.Category != domain.CategoryChange {
		t.Errorf("event of an unknown service: %+v", e)
	}
}

// TestReplacedResponseIsRecordedAsItsOwnEventNamingTheFirst: when the gateway could
// not record a request in time it answered 503 and followed up with an event saying
// so; the log keeps both, the follow-up failed and pointing at the first.
func TestReplacedResponseIsRecordedAsItsOwnEventNamingTheFirst(t *testing.T) {
	t.Parallel()
	firm, first := uuid.NewString(), uuid.NewString()
	original := accessMsg(t, first, firm, "users/u1", first)
	followUpID := uuid.NewString()
	followUp := accessMsg(t, followUpID, firm, "users/u1", followUpID)
	var e eventsv1.AccessEvent
	if err := proto.Unmarshal(followUp.Data, &e); err != nil {
		t.Fatal(err)
	}
	e.HttpStatus, e.GrpcCode = 503, "UNAVAILABLE"
	followUp.Data, _ = proto.Marshal(&e)
	followUp.Header.Set(outbox.HeaderReplaces, first)

	was := ingest.Message{Subject: ingest.AccessSubject, Header: original.Header, Data: original.Data}.Event()
	now := ingest.Message{Subject: ingest.AccessSubject, Header: followUp.Header, Data: followUp.Data}.Event()
	if now.ID == was.ID || now.Code != "UNAVAILABLE" || was.Code != "OK" {
		t.Fatalf("follow-up %s %s after %s %s; want its own failed event", now.ID, now.Code, was.ID, was.Code)
	}
	if !slices.Contains(now.Resources, "accessEvents/"+first) || !slices.Contains(now.Resources, "firms/"+firm) {
		t.Errorf("follow-up resources = %v, want the request's resource and accessEvents/%s", now.Resources, first)
	}
	if slices.ContainsFunc(was.Resources, func(r string) bool { return strings.HasPrefix(r, "accessEvents/") }) {
		t.Errorf("an ordinary access event names another: %v", was.Resources)
	}
}

// accessBatchMsg is the gateway's group-committed message holding events.
func accessBatchMsg(t testing.TB, msgID string, events ...*eventsv1.AccessEvent) *nats.Msg {
	t.Helper()
	data, err := proto.Marshal(&eventsv1.AccessEventBatch{Events: events})
	if err != nil {
		t.Fatal(err)
	}
	msg := nats.NewMsg(ingest.AccessBatchSubject)
	msg.Data = data
	msg.Header.Set(outbox.HeaderEventID, msgID)
	msg.Header.Set(jetstream.MsgIDHeader, msgID)
	return msg
}

// TestBatchesAreUnpackedIntoEachFirmsChainOnceInOrder publishes the gateway's
// batches, each mixing three firms, some of them twice under another message id
// (a batch stored again), to a consumer with two lanes. A first round runs
// undisturbed: each firm's chain holds its events in the order the batches held them.
// In a second round the consumer is killed midway and started again: every event is
// in its firm's chain once, and every chain verifies.
func TestBatchesAreUnpackedIntoEachFirmsChainOnceInOrder(t *testing.T) {
	t.Parallel()
	f := audittest.New(t)
	js := broker(t)
	firms := []string{uuid.NewString(), uuid.NewString(), uuid.NewString()}
	const batches, perBatch = 150, 7
	order := map[string][]string{} // firm -> event ids in publish order
	round := func() []*nats.Msg {
		var msgs []*nats.Msg
		for b := range batches {
			var events []*eventsv1.AccessEvent
			for i := range perBatch {
				firm := firms[(b+i)%3]
				id := uuid.NewString()
				order[firm] = append(order[firm], id)
				events = append(events, &eventsv1.AccessEvent{
					EventId: id, Firm: "firms/" + firm, Actor: "users/u1", ActorKind: "user", HttpMethod: "GET",
					RpcMethod: "/firmflow.identity.v1.IdentityService/GetFirm", Route: "/v1/{name=firms/*}", Resources: []string{"firms/" + firm},
					HttpStatus: 200, GrpcCode: "OK", Time: timestamppb.Now(), Category: "general", RequestId: fmt.Sprint(b, "-", i),
				})
			}
			msgs = append(msgs, accessBatchMsg(t, uuid.NewString(), events...))
			if b%25 == 0 {
				msgs = append(msgs, accessBatchMsg(t, uuid.NewString(), events...))
			}
		}
		return msgs
	}

	admin, err := pgx.Connect(context.Background(), f.DB.AdminURL)
	if err != nil {
		t.Fatal(err)
	}
	defer admin.Close(context.Background())
	opts := ingest.Options{Streams: []string{"FIRMFLOW_GATEWAY"}, Batch: 20, Lanes: 2, AckWait: time.Second}
	run := func(ctx context.Context) chan error {
		done := make(chan error, 1)
		go func() { done <- ingest.New(js, f.App, opts).Run(ctx) }()
		return done
	}
	settled := func(events int) {
		waitFor(t, "every event", 60*time.Second, func() bool { n, _ := count(t, admin); return n >= events })
		waitFor(t, "every message acknowledged", 30*time.Second, func() bool {
			c, err := js.Consumer(context.Background(), "FIRMFLOW_GATEWAY", "audit")
			if err != nil {
				t.Fatal(err)
			}
			i, err := c.Info(context.Background())
			return err == nil && i.NumAckPending == 0 && i.NumPending == 0
		})
	}
	chain := func(firm string) []string {
		rows, _ := admin.Query(context.Background(), "select event_id::text from audit_events where firm_id = $1 order by seq", firm)
		ids, err := pgx.CollectRows(rows, pgx.RowTo[string])
		if err != nil {
			t.Fatal(err)
		}
		return ids
	}

	publish(t, js, round())
	ctx, stop := context.WithCancel(context.Background())
	done := run(ctx)
	settled(batches * perBatch)
	stop()
	<-done
	for _, firm := range firms {
		if got := chain(firm); !slices.Equal(got, order[firm]) {
			t.Errorf("firm %s: chain of %d events not in the order the batches held %d", firm, len(got), len(order[firm]))
		}
	}

	publish(t, js, round())
	ctx, kill := context.WithCancel(context.Background())
	done = run(ctx)
	waitFor(t, "the first batches", 30*time.Second, func() bool { n, _ := count(t, admin); return n >= batches*perBatch+200 })
	kill()
	<-done
	if n, _ := count(t, admin); n >= 2*batches*perBatch {
		t.Fatalf("the consumer finished (%d events) before it was killed; the test proves nothing", n)
	}
	ctx, stop = context.WithCancel(context.Background())
	defer stop()
	done = run(ctx)
	settled(2 * batches * perBatch)
	stop()
	<-done

	if n, distinct := count(t, admin); n != 2*batches*perBatch || distinct != n {
		t.Errorf("log holds %d events (%d distinct), want %d once each", n, distinct, 2*batches*perBatch)
	}
	for _, firm := range firms {
		if got := chain(firm); len(got) != len(order[firm]) {
			t.Errorf("firm %s: chain of %d events, want %d", firm, len(got), len(order[firm]))
		}
		p := principal.Principal{Kind: principal.KindUser, FirmID: firm, Role: principal.RoleOwner}
		if report, err := f.App.Verify(context.Background(), p, firm); err != nil || !report.Valid() || report.Events != int64(len(order[firm])) {
			t.Errorf("firm %s: %+v, %v", firm, report, err)
		}
	}
}

func TestAnUndecodableBatchIsRecorded(t *testing.T) {
	t.Parallel()
	garbled := ingest.Message{Subject: ingest.AccessBatchSubject, Header: nats.Header{}, Data: []byte{0xff, 0xff, 0xff}, Stream: "FIRMFLOW_GATEWAY", Sequence: 9}
	events := garbled.Events()
	if len(events) != 1 || events[0].FirmID != chain.SystemFirm || events[0].Kind != domain.KindAccess || string(events[0].Payload) != "\xff\xff\xff" {
		t.Errorf("undecodable batch recorded as %+v", events)
	}
}

// batchSizes is an Appender that appends nothing and remembers how many events each
// call brought.
type batchSizes struct {
	mu    sync.Mutex
	sizes []int
}

func (b *batchSizes) Append(_ context.Context, events []chain.Event) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.sizes = append(b.sizes, len(events))
	return len(events), nil
}

func (b *batchSizes) total() (events int, sizes []int) {
	b.mu.Lock()
	defer b.mu.Unlock()
	for _, n := range b.sizes {
		events += n
	}
	return events, slices.Clone(b.sizes)
}

// TestABatchClosesLingerAfterItsFirstMessage: messages arriving one every 25 ms for a
// second, each sooner after the last than the linger time (100 ms), are appended in
// batches that close 100 ms after their first message, about ten of them, not held
// in one batch while the stream keeps coming.
func TestABatchClosesLingerAfterItsFirstMessage(t *testing.T) {
	t.Parallel()
	js := broker(t)
	appender := &batchSizes{}
	ctx, stop := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		done <- ingest.New(js, appender, ingest.Options{Streams: []string{"FIRMFLOW_GATEWAY"}, Linger: 100 * time.Millisecond}).Run(ctx)
	}()
	defer func() {
		stop()
		if err := <-done; err != nil {
			t.Error(err)
		}
	}()

	const messages = 40
	firm := uuid.NewString()
	for range messages {
		id := uuid.NewString()
		publish(t, js, []*nats.Msg{accessMsg(t, id, firm, "users/u", id)})
		time.Sleep(25 * time.Millisecond)
	}
	waitFor(t, "every event appended", 30*time.Second, func() bool { n, _ := appender.total(); return n >= messages })
	// A second of messages makes about ten batches; a slow machine makes more. One
	// batch open for the whole stream, or nearly, is what a window counted from the
	// last message gives.
	if events, sizes := appender.total(); events != messages || len(sizes) < 4 {
		t.Errorf("%d events in %d batches %v; want %d in at least 4", events, len(sizes), sizes, messages)
	}
}
