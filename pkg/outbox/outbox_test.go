package outbox_test

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"testing/fstest"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/trace"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/wrapperspb"

	"github.com/firmflow/firmflow/pkg/natsx"
	"github.com/firmflow/firmflow/pkg/natsx/natstest"
	"github.com/firmflow/firmflow/pkg/outbox"
	"github.com/firmflow/firmflow/pkg/pg"
	"github.com/firmflow/firmflow/pkg/pg/pgtest"
	"github.com/firmflow/firmflow/pkg/telemetry"
	"github.com/firmflow/firmflow/pkg/telemetry/telemetrytest"
)

const (
	firmA   = "7d3c1e52-8a41-4f0b-b6f7-2a9e5c4d1a01"
	firmB   = "7d3c1e52-8a41-4f0b-b6f7-2a9e5c4d1a02"
	subject = "firmflow.outboxtest.note_added"
	actor   = "user:alice"
)

var migrations = fstest.MapFS{
	"001_outbox.sql": {Data: []byte(`
{{ template "shared/tenancy.sql" . }}
{{ template "shared/outbox.sql" . }}
{{ template "shared/outbox_backlog.sql" . }}
`)},
}

var tel *telemetry.Telemetry

func TestMain(m *testing.M) {
	tel = telemetrytest.Setup("outbox-test")
	otel.SetTextMapPropagator(propagation.TraceContext{})
	os.Exit(m.Run())
}

func TestCommittedEventsArePublishedOnceWithTheirHeaders(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	traceID := trace.TraceID{0xa1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16}
	ctx := trace.ContextWithSpanContext(context.Background(), trace.NewSpanContext(trace.SpanContextConfig{
		TraceID: traceID, SpanID: trace.SpanID{1, 2, 3, 4, 5, 6, 7, 8}, TraceFlags: trace.FlagsSampled,
	}))

	explicitID := uuid.NewString()
	write(t, e.db, firmA,
		outbox.Event{ID: explicitID, FirmID: firmA, Subject: subject, Actor: actor, Payload: wrapperspb.String("first")},
		outbox.Event{FirmID: firmA, Subject: subject, Actor: actor, Payload: wrapperspb.String("second")},
	)
	writeCtx(ctx, t, e.db, firmB, outbox.Event{FirmID: firmB, Subject: subject, Actor: "api_key:crm", Payload: wrapperspb.String("third")})

	relay := e.relay(t, outbox.RelayOptions{})
	if n, err := relay.PublishPending(ctx); err != nil || n != 3 {
		t.Fatalf("PublishPending = %d, %v; want 3 events", n, err)
	}
	if n, err := relay.PublishPending(ctx); err != nil || n != 0 {
		t.Fatalf("second PublishPending = %d, %v; want nothing left", n, err)
	}

	msgs := streamMessages(t, e.stream)
	if len(msgs) != 3 {
		t.Fatalf("stream holds %d messages, want 3", len(msgs))
	}
	wants := []struct{ text, firm, actor string }{
		{"first", firmA, actor}, {"second", firmA, actor}, {"third", firmB, "api_key:crm"},
	}
	for i, want := range wants {
		msg := msgs[i]
		var payload wrapperspb.StringValue
		if err := proto.Unmarshal(msg.Data, &payload); err != nil {
			t.Fatalf("message %d payload: %v", i, err)
		}
		if payload.GetValue() != want.text {
			t.Errorf("message %d carries %q, want %q (in write order)", i, payload.GetValue(), want.text)
		}
		id := msg.Header.Get(outbox.HeaderEventID)
		if _, err := uuid.Parse(id); err != nil {
			t.Errorf("message %d event id %q: %v", i, id, err)
		}
		if got := msg.Header.Get(jetstream.MsgIDHeader); got != id {
			t.Errorf("message %d Nats-Msg-Id = %q, want the event id %q", i, got, id)
		}
		if got := msg.Header.Get(outbox.HeaderFirmID); got != want.firm {
			t.Errorf("message %d firm = %q, want %q", i, got, want.firm)
		}
		if got := msg.Header.Get(outbox.HeaderActor); got != want.actor {
			t.Errorf("message %d actor = %q, want %q", i, got, want.actor)
		}
		if _, err := time.Parse(time.RFC3339Nano, msg.Header.Get(outbox.HeaderOccurredAt)); err != nil {
			t.Errorf("message %d occurred-at: %v", i, err)
		}
	}
	if got := msgs[0].Header.Get(outbox.HeaderEventID); got != explicitID {
		t.Errorf("first event published as %q, want the id it was written with, %q", got, explicitID)
	}
	if tp := msgs[2].Header.Get("traceparent"); !strings.Contains(tp, traceID.String()) {
		t.Errorf("traceparent %q does not continue the writer's trace %s", tp, traceID)
	}
	if n := e.unpublished(t); n != 0 {
		t.Errorf("%d events still unpublished", n)
	}
}

func TestRolledBackTransactionPublishesNothing(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	ctx := context.Background()
	errRule := errors.New("domain rule broken")
	err := e.db.InFirm(ctx, firmA, func(tx pgx.Tx) error {
		if err := outbox.Write(ctx, tx, note(firmA, "never happened")); err != nil {
			return err
		}
		return errRule
	})
	if !errors.Is(err, errRule) {
		t.Fatalf("transaction error = %v, want the domain error", err)
	}
	if n, err := e.relay(t, outbox.RelayOptions{}).PublishPending(ctx); err != nil || n != 0 {
		t.Fatalf("PublishPending = %d, %v; want nothing", n, err)
	}
	if msgs := streamMessages(t, e.stream); len(msgs) != 0 {
		t.Errorf("stream holds %d messages from a rolled-back transaction", len(msgs))
	}
}

func TestRuntimeRoleCannotReadOrChangeQueuedEvents(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	ctx := context.Background()
	write(t, e.db, firmA, note(firmA, "a"))
	write(t, e.db, firmB, note(firmB, "b"))

	tests := []struct {
		name string
		sql  string
		args []any
	}{
		{"read queued events", "select count(*) from outbox", nil},
		{"read another firm's event", "select payload from outbox where firm_id = $1", []any{firmB}},
		{"mark another firm's event published", "update outbox set published_at = now() where firm_id = $1", []any{firmB}},
		{"delete another firm's event", "delete from outbox where firm_id = $1", []any{firmB}},
		{"queue an event for another firm", "insert into outbox (id, firm_id, subject, payload) values (gen_random_uuid(), $1, 'firmflow.outboxtest.x', '')", []any{firmB}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := e.db.InFirm(ctx, firmA, func(tx pgx.Tx) error {
				_, err := tx.Exec(ctx, tt.sql, tt.args...)
				return err
			})
			if err == nil {
				t.Fatal("runtime role was allowed")
			}
		})
	}
	if n := e.unpublished(t); n != 2 {
		t.Errorf("%d events queued after the refused statements, want the 2 written", n)
	}
}

func TestWriteRefusesMalformedEvents(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	ctx := context.Background()
	tests := []struct {
		name  string
		event outbox.Event
	}{
		{"event id not a uuid", outbox.Event{ID: "42", FirmID: firmA, Subject: subject, Payload: wrapperspb.String("x")}},
		{"firm id not a uuid", outbox.Event{FirmID: "firm-a", Subject: subject, Payload: wrapperspb.String("x")}},
		{"subject outside firmflow", outbox.Event{FirmID: firmA, Subject: "other.thing", Payload: wrapperspb.String("x")}},
		{"no payload", outbox.Event{FirmID: firmA, Subject: subject}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := e.db.InFirm(ctx, firmA, func(tx pgx.Tx) error {
				return outbox.Write(ctx, tx, note(firmA, "valid"), tt.event)
			})
			if err == nil {
				t.Fatal("Write accepted the event")
			}
		})
	}
	if n := e.unpublished(t); n != 0 {
		t.Errorf("%d events queued by refused writes", n)
	}
}

func TestRelayStoppedMidwayAndRestartedPublishesEveryEventOnce(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	ctx := context.Background()
	var ids []string
	for i := range 30 {
		firm := []string{firmA, firmB}[i%2]
		events := make([]outbox.Event, 10)
		for j := range events {
			events[j] = note(firm, fmt.Sprintf("note %d.%d", i, j))
			ids = append(ids, events[j].ID)
		}
		write(t, e.db, firm, events...)
	}
	// A relay that died after JetStream acknowledged these but before its commit.
	for _, id := range ids[:10] {
		if _, err := e.js.Publish(ctx, subject, nil, jetstream.WithMsgID(id)); err != nil {
			t.Fatal(err)
		}
	}

	// Stop the first relay while it is publishing: on the 30th event it sends.
	ctx, cancel := context.WithCancel(ctx)
	var published atomic.Int32
	sub, err := e.nc.Subscribe(subject, func(*nats.Msg) {
		if published.Add(1) == 30 {
			cancel()
		}
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := e.nc.Flush(); err != nil {
		t.Fatal(err)
	}
	stop := runRelayUntil(ctx, t, e.relay(t, outbox.RelayOptions{Batch: 7}))
	<-ctx.Done()
	stop()
	_ = sub.Unsubscribe()
	left := e.unpublished(t)
	if left == 0 {
		t.Fatal("the first relay published everything before it was stopped")
	}
	t.Logf("first relay stopped with %d of %d events unpublished", left, len(ids))

	stop = runRelay(t, e.relay(t, outbox.RelayOptions{Batch: 7}))
	waitFor(t, "every event to be published", func() bool { return e.unpublished(t) == 0 })
	stop()

	assertEachOnce(t, e.stream, ids)
}

func TestEventsWaitForNATSAndArriveWhenItReturns(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	store := t.TempDir()
	ns := runNATS(t, -1, store)
	port := ns.Addr().(*net.TCPAddr).Port
	e := newEnvOn(t, ns.ClientURL())

	var ids []string
	for i := range 20 {
		ev := note(firmA, fmt.Sprintf("note %d", i))
		ids = append(ids, ev.ID)
		write(t, e.db, firmA, ev)
	}

	ns.Shutdown()
	ns.WaitForShutdown()
	waitFor(t, "the client to notice NATS is gone", func() bool { return !e.nc.IsConnected() })
	relay := e.relay(t, outbox.RelayOptions{Batch: 5, AckTimeout: time.Second})
	if n, err := relay.PublishPending(ctx); err == nil || n != 0 {
		t.Fatalf("PublishPending with NATS down = %d, %v; want an error and nothing published", n, err)
	}
	stop := runRelay(t, relay)
	if n := e.unpublished(t); n != 20 {
		t.Fatalf("%d events queued while NATS is down, want all 20", n)
	}

	runNATS(t, port, store)
	waitFor(t, "every event to be published", func() bool { return e.unpublished(t) == 0 })
	stop()
	assertEachOnce(t, e.stream, ids)
}

func TestConcurrentRelaysPublishEachEventOnce(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	other := e.withOwnConnections(t)
	stopFirst := runRelay(t, e.relay(t, outbox.RelayOptions{Batch: 5}))
	stopSecond := runRelay(t, other.relay(t, outbox.RelayOptions{Batch: 5}))

	var mu sync.Mutex
	var ids []string
	var wg sync.WaitGroup
	for w := range 4 {
		wg.Go(func() {
			for i := range 25 {
				firm := []string{firmA, firmB}[(w+i)%2]
				events := []outbox.Event{note(firm, "x"), note(firm, "y")}
				write(t, e.db, firm, events...)
				mu.Lock()
				ids = append(ids, events[0].ID, events[1].ID)
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	waitFor(t, "every event to be published", func() bool { return e.unpublished(t) == 0 })
	stopFirst()
	stopSecond()
	assertEachOnce(t, e.stream, ids)
}

func TestRelayWakesWhenEventsAreCommitted(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	stop := runRelay(t, e.relay(t, outbox.RelayOptions{Interval: time.Hour}))
	defer stop()
	waitFor(t, "the relay to listen", func() bool {
		var n int
		err := e.admin.Pool.QueryRow(context.Background(),
			"select count(*) from pg_stat_activity where datname = current_database() and query = 'listen outbox'").Scan(&n)
		if err != nil {
			t.Fatal(err)
		}
		return n == 1
	})
	ev := note(firmA, "wake up")
	write(t, e.db, firmA, ev)
	waitFor(t, "the event to be published without polling", func() bool { return e.unpublished(t) == 0 })
	assertEachOnce(t, e.stream, []string{ev.ID})
}

func TestOversizedEventIsSetAsideWithoutHoldingUpOthers(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	ctx := context.Background()
	cfg := natsx.ServiceStream("outboxtest", false, natsx.DefaultStreamMaxAge)
	cfg.MaxMsgSize = 512
	if _, err := natsx.EnsureStream(ctx, e.js, cfg); err != nil {
		t.Fatal(err)
	}
	big := note(firmA, strings.Repeat("x", 2048))
	small := note(firmA, "small")
	write(t, e.db, firmA, big)
	write(t, e.db, firmA, small)

	relay := e.relay(t, outbox.RelayOptions{})
	if n, err := relay.PublishPending(ctx); err != nil || n != 1 {
		t.Fatalf("PublishPending = %d, %v; want the small event published", n, err)
	}
	assertEachOnce(t, e.stream, []string{small.ID})

	var attempts int
	var deferred bool
	err := e.admin.Pool.QueryRow(ctx,
		"select attempts, not_before > now() from outbox where id = $1 and published_at is null", big.ID).Scan(&attempts, &deferred)
	if err != nil {
		t.Fatal(err)
	}
	if attempts != 1 || !deferred {
		t.Errorf("refused event has attempts=%d deferred=%v, want 1 and true", attempts, deferred)
	}
	if n, err := relay.PublishPending(ctx); err != nil || n != 0 {
		t.Errorf("PublishPending right after the refusal = %d, %v; want the refused event left for later", n, err)
	}
}

// env is one test's database (migrated with the outbox) and JetStream stream.
type env struct {
	database *pgtest.Database
	db       *pg.DB // runtime role
	admin    *pg.DB // to inspect what the runtime role may not see
	nc       *nats.Conn
	js       jetstream.JetStream
	stream   jetstream.Stream
}

func newEnv(t *testing.T) *env {
	return newEnvOn(t, natstest.Start(t))
}

func newEnvOn(t *testing.T, natsURL string) *env {
	t.Helper()
	ctx := context.Background()
	e := &env{database: pgtest.New(t, "outboxtest", migrations)}
	e.db = e.database.Open(t)
	admin, err := pg.Open(ctx, e.database.AdminURL)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(admin.Close)
	e.admin = admin
	e.nc, e.js = connectNATS(t, natsURL)
	e.stream, err = natsx.EnsureStream(ctx, e.js, natsx.ServiceStream("outboxtest", false, natsx.DefaultStreamMaxAge))
	if err != nil {
		t.Fatal(err)
	}
	return e
}

// withOwnConnections is the same database and stream reached through another
// pool and NATS connection, as a second relay process would.
func (e *env) withOwnConnections(t *testing.T) *env {
	t.Helper()
	other := *e
	other.db = e.database.Open(t)
	other.nc, other.js = connectNATS(t, e.nc.ConnectedUrl())
	return &other
}

func (e *env) relay(t *testing.T, opts outbox.RelayOptions) *outbox.Relay {
	logger := slog.New(slog.NewTextHandler(t.Output(), &slog.HandlerOptions{Level: slog.LevelDebug}))
	return outbox.NewRelay(e.db, e.js, logger, opts)
}

func (e *env) unpublished(t *testing.T) int {
	t.Helper()
	var n int
	if err := e.admin.Pool.QueryRow(context.Background(), "select count(*) from outbox where published_at is null").Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}

func note(firm, text string) outbox.Event {
	return outbox.Event{ID: uuid.NewString(), FirmID: firm, Subject: subject, Actor: actor, Payload: wrapperspb.String(text)}
}

func write(t *testing.T, db *pg.DB, firm string, events ...outbox.Event) {
	t.Helper()
	writeCtx(context.Background(), t, db, firm, events...)
}

func writeCtx(ctx context.Context, t *testing.T, db *pg.DB, firm string, events ...outbox.Event) {
	t.Helper()
	if err := db.InFirm(ctx, firm, func(tx pgx.Tx) error { return outbox.Write(ctx, tx, events...) }); err != nil {
		t.Errorf("write events: %v", err)
	}
}

// runRelay runs r until the returned stop is called (or the test ends) and checks
// that Run returned cleanly.
func runRelay(t *testing.T, r *outbox.Relay) (stop func()) {
	t.Helper()
	return runRelayUntil(context.Background(), t, r)
}

// runRelayUntil is runRelay that also stops when ctx ends.
func runRelayUntil(ctx context.Context, t *testing.T, r *outbox.Relay) (stop func()) {
	t.Helper()
	ctx, cancel := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- r.Run(ctx) }()
	var once sync.Once
	stop = func() {
		once.Do(func() {
			cancel()
			if err := <-done; err != nil {
				t.Errorf("Run returned %v after being stopped", err)
			}
		})
	}
	t.Cleanup(stop)
	return stop
}

func runNATS(t *testing.T, port int, store string) *server.Server {
	t.Helper()
	ns, err := natsx.RunEmbedded(natsx.EmbeddedOptions{Port: port, StoreDir: store})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ns.Shutdown(); ns.WaitForShutdown() })
	return ns
}

func connectNATS(t *testing.T, url string) (*nats.Conn, jetstream.JetStream) {
	t.Helper()
	nc, js, err := natsx.Connect(url, t.Name())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(nc.Close)
	return nc, js
}

func streamInfo(t *testing.T, s jetstream.Stream) *jetstream.StreamInfo {
	t.Helper()
	info, err := s.Info(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	return info
}

func streamMessages(t *testing.T, s jetstream.Stream) []*jetstream.RawStreamMsg {
	t.Helper()
	state := streamInfo(t, s).State
	var msgs []*jetstream.RawStreamMsg
	for seq := state.FirstSeq; state.Msgs > 0 && seq <= state.LastSeq; seq++ {
		msg, err := s.GetMsg(context.Background(), seq)
		if err != nil {
			t.Fatalf("get message %d: %v", seq, err)
		}
		msgs = append(msgs, msg)
	}
	return msgs
}

// assertEachOnce checks that the stream holds exactly the events ids, each once.
func assertEachOnce(t *testing.T, s jetstream.Stream, ids []string) {
	t.Helper()
	seen := map[string]int{}
	for _, msg := range streamMessages(t, s) {
		seen[msg.Header.Get(jetstream.MsgIDHeader)]++
	}
	for _, id := range ids {
		if seen[id] != 1 {
			t.Errorf("event %s is in the stream %d times, want once", id, seen[id])
		}
		delete(seen, id)
	}
	for id, n := range seen {
		t.Errorf("stream holds %d messages with unexpected id %q", n, id)
	}
}

func waitFor(t *testing.T, what string, done func() bool) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for !done() {
		if time.Now().After(deadline) {
			t.Fatalf("gave up waiting for %s", what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// TestRelayCatchesUpSoonAfterTheDatabaseReturns stops the relay's PostgreSQL long
// enough for its back-off to grow, starts it again and commits events: the relay
// must publish them promptly (woken by their notification, its back-off capped),
// not after sitting out a back-off that grew during the outage.
func TestRelayCatchesUpSoonAfterTheDatabaseReturns(t *testing.T) {
	t.Parallel()
	cluster := pgtest.NewCluster(t)
	e := &env{database: pgtest.NewOn(t, cluster.URL(), "outboxtest", migrations)}
	e.db = e.database.Open(t)
	admin, err := pg.Open(context.Background(), e.database.AdminURL)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(admin.Close)
	e.admin = admin
	e.nc, e.js = connectNATS(t, natstest.Start(t))
	if e.stream, err = natsx.EnsureStream(context.Background(), e.js, natsx.ServiceStream("outboxtest", false, natsx.DefaultStreamMaxAge)); err != nil {
		t.Fatal(err)
	}
	// Frequent polling, so that the relay meets the outage and backs off.
	stop := runRelay(t, e.relay(t, outbox.RelayOptions{Interval: 200 * time.Millisecond}))
	defer stop()
	before := note(firmA, "before the outage")
	write(t, e.db, firmA, before)
	waitFor(t, "the first event to be published", func() bool { return e.unpublished(t) == 0 })

	cluster.Stop(t)
	// An outage long enough for a doubling back-off to grow to 16 s (retries at about
	// 0.25, 0.75, 1.75, 3.75, 7.75 and 15.75 s, the next at 31.75 s).
	time.Sleep(17 * time.Second)
	cluster.Start(t)

	var ids []string
	for i := range 10 {
		ev := note(firmA, fmt.Sprintf("after the outage %d", i))
		ids = append(ids, ev.ID)
		for {
			err := e.db.InFirm(context.Background(), firmA, func(tx pgx.Tx) error { return outbox.Write(context.Background(), tx, ev) })
			if err == nil {
				break // the pool's first attempts may meet connections the restart ended
			}
			time.Sleep(50 * time.Millisecond)
		}
	}
	// Generous against the 2 s promise; the unbounded back-off needed some 13 s more.
	deadline := time.Now().Add(6 * time.Second)
	for e.unpublished(t) > 0 {
		if time.Now().After(deadline) {
			t.Fatalf("%d events still queued 6 s after the database returned", e.unpublished(t))
		}
		time.Sleep(50 * time.Millisecond)
	}
	assertEachOnce(t, e.stream, append(ids, before.ID))
}
