package inbox_test

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"sync"
	"testing"
	"testing/fstest"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/firmflow/firmflow/pkg/inbox"
	"github.com/firmflow/firmflow/pkg/natsx"
	"github.com/firmflow/firmflow/pkg/natsx/natstest"
	"github.com/firmflow/firmflow/pkg/outbox"
	"github.com/firmflow/firmflow/pkg/pg"
	"github.com/firmflow/firmflow/pkg/pg/pgtest"
)

const (
	firmA   = "7d3c1e52-8a41-4f0b-b6f7-2a9e5c4d1a01"
	firmB   = "7d3c1e52-8a41-4f0b-b6f7-2a9e5c4d1a02"
	subject = "firmflow.inboxtest.note_added"
)

// The effect of an event in these tests is a row in notes, written with Record.
var migrations = fstest.MapFS{
	"001_inbox.sql": {Data: []byte(`
{{ template "shared/tenancy.sql" . }}
{{ template "shared/inbox.sql" . }}
create table notes (event_id uuid not null, firm_id uuid not null, body text not null);
{{ template "shared/firm_table.sql" dict "table" "notes" "runtime_role" .runtime_role "privileges" "select, insert" }}
`)},
}

type env struct {
	db *pg.DB
	js jetstream.JetStream
}

func newEnv(t *testing.T, withStream bool) env {
	t.Helper()
	db := pgtest.New(t, "inboxtest", migrations).Open(t)
	nc, js, err := natsx.Connect(natstest.Start(t), "inbox-test")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(nc.Close)
	e := env{db: db, js: js}
	if withStream {
		e.createStream(t)
	}
	return e
}

func (e env) createStream(t *testing.T) {
	t.Helper()
	if _, err := natsx.EnsureStream(context.Background(), e.js, natsx.ServiceStream("inboxtest", false, natsx.DefaultStreamMaxAge)); err != nil {
		t.Fatal(err)
	}
}

// publish sends an event as the outbox relay does; msgID differs from the event id
// to make a copy JetStream's duplicate window would not catch.
func (e env) publish(t *testing.T, eventID, firmID, body, msgID string) {
	t.Helper()
	msg := nats.NewMsg(subject)
	msg.Data = []byte(body)
	msg.Header.Set(outbox.HeaderEventID, eventID)
	msg.Header.Set(outbox.HeaderFirmID, firmID)
	msg.Header.Set(outbox.HeaderActor, "users/alice")
	msg.Header.Set(outbox.HeaderOccurredAt, time.Now().UTC().Format(time.RFC3339Nano))
	if _, err := e.js.PublishMsg(context.Background(), msg, jetstream.WithMsgID(msgID)); err != nil {
		t.Fatal(err)
	}
}

// recorder is a handler that writes a note per event and remembers every call.
type recorder struct {
	db   *pg.DB
	mu   sync.Mutex
	seen map[string]int // body -> handler calls
	fail func(m inbox.Message) error
	done chan string // bodies applied, in order
}

func newRecorder(db *pg.DB) *recorder {
	return &recorder{db: db, seen: map[string]int{}, done: make(chan string, 100)}
}

func (r *recorder) handle(ctx context.Context, m inbox.Message) error {
	r.mu.Lock()
	r.seen[string(m.Data)]++
	fail := r.fail
	r.mu.Unlock()
	if fail != nil {
		if err := fail(m); err != nil {
			return err
		}
	}
	err := r.db.InFirm(ctx, m.FirmID, func(tx pgx.Tx) error {
		first, err := inbox.Record(ctx, tx, m)
		if err != nil || !first {
			return err
		}
		_, err = tx.Exec(ctx, "insert into notes (event_id, firm_id, body) values ($1, $2, $3)", m.EventID, m.FirmID, string(m.Data))
		return err
	})
	if err == nil {
		r.done <- string(m.Data)
	}
	return err
}

func (r *recorder) calls(body string) int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.seen[body]
}

// waitFor waits until the handler has applied body (or a copy of it).
func (r *recorder) waitFor(t *testing.T, body string) {
	t.Helper()
	timeout := time.After(20 * time.Second)
	for {
		select {
		case got := <-r.done:
			if got == body {
				return
			}
		case <-timeout:
			t.Fatalf("event %q was never applied", body)
		}
	}
}

func run(t *testing.T, js jetstream.JetStream, cfg inbox.Config, h inbox.Handler) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- inbox.NewConsumer(js, cfg, h, slog.New(slog.NewTextHandler(io.Discard, nil))).Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("consumer: %v", err)
		}
	})
}

func config() inbox.Config {
	return inbox.Config{
		Stream: "FIRMFLOW_INBOXTEST", Durable: "tester", Subjects: []string{subject},
		RetryMin: 10 * time.Millisecond, RetryMax: 50 * time.Millisecond,
	}
}

func notes(t *testing.T, db *pg.DB, firmID string) []string {
	t.Helper()
	var bodies []string
	err := db.InFirm(context.Background(), firmID, func(tx pgx.Tx) error {
		rows, err := tx.Query(context.Background(), "select body from notes order by body")
		if err != nil {
			return err
		}
		bodies, err = pgx.CollectRows(rows, pgx.RowTo[string])
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	return bodies
}

func TestRedeliveredEventTakesEffectOnce(t *testing.T) {
	t.Parallel()
	e := newEnv(t, true)
	r := newRecorder(e.db)
	failedOnce := false
	r.fail = func(m inbox.Message) error {
		if string(m.Data) == "second" && !failedOnce {
			failedOnce = true
			return errors.New("database briefly away")
		}
		return nil
	}
	run(t, e.js, config(), r.handle)

	first := uuid.NewString()
	e.publish(t, first, firmA, "first", first)
	e.publish(t, first, firmA, "first", uuid.NewString()) // the same event again, past JetStream's dedup
	e.publish(t, uuid.NewString(), firmB, "second", uuid.NewString())
	last := uuid.NewString()
	e.publish(t, last, firmA, "last", last)

	r.waitFor(t, "last")
	r.waitFor(t, "second")
	if got := notes(t, e.db, firmA); len(got) != 2 || got[0] != "first" || got[1] != "last" {
		t.Errorf("firm A notes = %q, want first and last once each", got)
	}
	if got := notes(t, e.db, firmB); len(got) != 1 {
		t.Errorf("firm B notes = %q, want second once", got)
	}
	if n := r.calls("first"); n != 2 {
		t.Errorf("handler saw the duplicated event %d times, want 2 (the copy must reach the inbox check)", n)
	}
	if n := r.calls("second"); n != 2 {
		t.Errorf("handler saw the failing event %d times, want 2 (a failure is retried)", n)
	}
}

func TestEventWithoutHeadersIsDroppedAndTheRestFlow(t *testing.T) {
	t.Parallel()
	e := newEnv(t, true)
	r := newRecorder(e.db)
	run(t, e.js, config(), r.handle)

	if _, err := e.js.Publish(context.Background(), subject, []byte("headless")); err != nil {
		t.Fatal(err)
	}
	after := uuid.NewString()
	e.publish(t, after, firmA, "after", after)

	r.waitFor(t, "after")
	if n := r.calls("headless"); n != 0 {
		t.Errorf("handler called %d times for an event without headers", n)
	}
	waitNothingPending(t, e.js)
}

func TestPermanentFailureIsNotRetried(t *testing.T) {
	t.Parallel()
	e := newEnv(t, true)
	r := newRecorder(e.db)
	r.fail = func(m inbox.Message) error {
		if string(m.Data) == "poison" {
			return inbox.Permanent(errors.New("payload does not decode"))
		}
		return nil
	}
	run(t, e.js, config(), r.handle)

	e.publish(t, uuid.NewString(), firmA, "poison", uuid.NewString())
	e.publish(t, uuid.NewString(), firmA, "after", uuid.NewString())

	r.waitFor(t, "after")
	waitNothingPending(t, e.js)
	if n := r.calls("poison"); n != 1 {
		t.Errorf("permanently failing event handled %d times, want 1", n)
	}
}

func TestConsumerWaitsForItsStream(t *testing.T) {
	t.Parallel()
	e := newEnv(t, false)
	r := newRecorder(e.db)
	run(t, e.js, config(), r.handle)

	e.createStream(t)
	id := uuid.NewString()
	e.publish(t, id, firmA, "late", id)
	r.waitFor(t, "late")
}

func TestRecordRefusesAnotherFirmsEvent(t *testing.T) {
	t.Parallel()
	e := newEnv(t, false)
	ctx := context.Background()
	m := inbox.Message{EventID: uuid.NewString(), FirmID: firmB, Subject: subject, OccurredAt: time.Now()}
	err := e.db.InFirm(ctx, firmA, func(tx pgx.Tx) error {
		_, err := inbox.Record(ctx, tx, m)
		return err
	})
	if err == nil {
		t.Fatal("recorded firm B's event in firm A's transaction")
	}
	for i, want := range []bool{true, false} {
		err := e.db.InFirm(ctx, firmB, func(tx pgx.Tx) error {
			first, err := inbox.Record(ctx, tx, m)
			if err == nil && first != want {
				t.Errorf("record %d: first = %v, want %v", i+1, first, want)
			}
			return err
		})
		if err != nil {
			t.Fatal(err)
		}
	}
}

func TestDecodeNeedsTheOutboxHeaders(t *testing.T) {
	t.Parallel()
	good := nats.Header{}
	good.Set(outbox.HeaderEventID, uuid.NewString())
	good.Set(outbox.HeaderFirmID, firmA)
	good.Set(outbox.HeaderOccurredAt, "2026-01-02T03:04:05.123456789Z")
	if m, err := inbox.Decode(subject, good, nil); err != nil || m.OccurredAt.Nanosecond() != 123456789 {
		t.Fatalf("Decode(good) = %+v, %v", m, err)
	}
	for _, missing := range []string{outbox.HeaderEventID, outbox.HeaderFirmID, outbox.HeaderOccurredAt} {
		h := nats.Header{}
		for k, v := range good {
			h[k] = v
		}
		h.Del(missing)
		if _, err := inbox.Decode(subject, h, nil); !errors.Is(err, inbox.ErrMalformed) {
			t.Errorf("without %s: err = %v, want ErrMalformed", missing, err)
		}
	}
}

// waitNothingPending waits until the consumer has settled every message it was given.
func waitNothingPending(t *testing.T, js jetstream.JetStream) {
	t.Helper()
	ctx := context.Background()
	deadline := time.Now().Add(20 * time.Second)
	for {
		c, err := js.Consumer(ctx, "FIRMFLOW_INBOXTEST", "tester")
		if err != nil {
			t.Fatal(err)
		}
		info, err := c.Info(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if info.NumAckPending == 0 && info.NumPending == 0 {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("consumer still has %d unacknowledged, %d undelivered", info.NumAckPending, info.NumPending)
		}
		time.Sleep(20 * time.Millisecond)
	}
}
