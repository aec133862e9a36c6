package outbox

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/trace"

	"github.com/firmflow/firmflow/pkg/natsx"
	"github.com/firmflow/firmflow/pkg/pg"
)

// notifyChannel is the channel shared/outbox.sql's insert trigger notifies.
const notifyChannel = "outbox"

const (
	minBackoff = 250 * time.Millisecond
	// maxBackoff is short on purpose: a failed attempt costs one connection attempt,
	// and a longer wait would hold events back long after a brief restart is over.
	maxBackoff = 2 * time.Second
	// bookkeepingTimeout bounds recording what JetStream acknowledged, which
	// goes on after the relay was told to stop.
	bookkeepingTimeout = 5 * time.Second
)

var errBrokerDisconnected = errors.New("nats connection is down")

// RelayOptions tunes a Relay; zero values take the defaults.
type RelayOptions struct {
	Batch int // events claimed per transaction; default 100
	// Interval is how often the relay looks for events when no notification has
	// woken it; notifications normally make it act at once. Default 2s.
	Interval time.Duration
	// AckTimeout bounds the wait for each publish acknowledgement; default 5s.
	AckTimeout time.Duration
}

// Relay publishes committed outbox events to JetStream. It marks an event published
// only after JetStream acknowledged it, in the transaction that claimed it, so an
// event is never lost; it may be published twice (a crash between acknowledgement
// and commit), and JetStream then drops the copy by Nats-Msg-Id. Any number of
// relays may run against one database: a claimed event is locked until its
// relay's transaction ends, and other relays skip it.
type Relay struct {
	db         *pg.DB
	js         jetstream.JetStream
	logger     *slog.Logger
	tracer     trace.Tracer
	batch      int
	interval   time.Duration
	ackTimeout time.Duration
}

// NewRelay returns a relay reading db's outbox as its runtime role and publishing
// through js. A nil logger means slog.Default().
func NewRelay(db *pg.DB, js jetstream.JetStream, logger *slog.Logger, opts RelayOptions) *Relay {
	if logger == nil {
		logger = slog.Default()
	}
	r := &Relay{
		db:         db,
		js:         js,
		logger:     logger,
		tracer:     otel.Tracer("github.com/firmflow/firmflow/pkg/outbox"),
		batch:      opts.Batch,
		interval:   opts.Interval,
		ackTimeout: opts.AckTimeout,
	}
	if r.batch <= 0 {
		r.batch = 100
	}
	if r.interval <= 0 {
		r.interval = 2 * time.Second
	}
	if r.ackTimeout <= 0 {
		r.ackTimeout = 5 * time.Second
	}
	return r
}

// Run publishes events as they are committed until ctx ends, then returns nil.
// A notification from the insert trigger wakes it at once; Interval polling covers
// a lost listener connection. When NATS or the database fails it logs and tries
// again after a back-off of at most 2 s, sooner when a notification arrives (the
// database is back, or the listener reconnected): events wait in the outbox
// meanwhile, and go out within moments of the outage ending.
func (r *Relay) Run(ctx context.Context) error {
	wake := make(chan struct{}, 1)
	var wg sync.WaitGroup
	defer wg.Wait()
	wg.Go(func() { r.listen(ctx, wake) })

	backoff := minBackoff
	for {
		wait := r.interval
		if _, err := r.PublishPending(ctx); err != nil {
			if ctx.Err() != nil {
				return nil
			}
			r.logger.WarnContext(ctx, "outbox relay failed; events stay queued", "error", err, "retry_in", backoff)
			// At least the shortest back-off even when notifications keep coming, so a
			// busy database during a NATS outage does not turn into a busy loop.
			if !sleep(ctx, minBackoff) {
				return nil
			}
			wait = backoff - minBackoff
			backoff = min(2*backoff, maxBackoff)
		} else {
			backoff = minBackoff
		}
		timer := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			timer.Stop()
			return nil
		case <-wake:
		case <-timer.C:
		}
		timer.Stop()
	}
}

// sleep waits for d or until ctx ends; false means ctx ended.
func sleep(ctx context.Context, d time.Duration) bool {
	timer := time.NewTimer(d)
	defer timer.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-timer.C:
		return true
	}
}

// PublishPending publishes every event due now, batch after batch, and returns how
// many JetStream acknowledged. Events JetStream refuses (too large, say) are logged
// and retried later with growing delays instead of failing the call, so one bad
// event cannot stall the rest. An error means NATS or the database failed; the
// events not yet acknowledged stay queued.
func (r *Relay) PublishPending(ctx context.Context) (int, error) {
	total := 0
	for {
		claimed, published, err := r.publishBatch(ctx)
		total += published
		if err != nil || claimed < r.batch {
			return total, err
		}
	}
}

// publishBatch claims up to one batch, publishes it and records the outcome in one
// transaction, whose row locks keep other relays off the same events.
func (r *Relay) publishBatch(ctx context.Context) (claimed, published int, err error) {
	if nc := r.js.Conn(); nc != nil && !nc.IsConnected() {
		// Publishing now would only fill the client's reconnect buffer.
		return 0, 0, errBrokerDisconnected
	}
	tx, err := r.db.Pool.Begin(ctx)
	if err != nil {
		return 0, 0, fmt.Errorf("begin outbox transaction: %w", err)
	}
	defer func() {
		rctx, cancel := detached(ctx)
		defer cancel()
		_ = tx.Rollback(rctx) // a no-op once committed
	}()

	events, err := claim(ctx, tx, r.batch)
	if err != nil {
		return 0, 0, err
	}
	var acked, refused []string
	var brokerErr error
	for _, e := range events {
		err := r.publish(ctx, e)
		if err == nil {
			acked = append(acked, e.ID)
			continue
		}
		if refusedEvent(err) {
			r.logger.ErrorContext(ctx, "jetstream refused an outbox event; retrying it later",
				"event_id", e.ID, "subject", e.Subject, "error", err)
			refused = append(refused, e.ID)
			continue
		}
		// The broker's trouble, not the event's: stop, keep the order, back off.
		brokerErr = fmt.Errorf("publish event %s to %s: %w", e.ID, e.Subject, err)
		break
	}

	// Record what JetStream acknowledged even when ctx was cancelled mid-batch, so a
	// stopped relay leaves as few events as possible to publish again.
	bctx, cancel := detached(ctx)
	defer cancel()
	if err := record(bctx, tx, acked, refused); err != nil {
		return len(events), 0, errors.Join(brokerErr, err)
	}
	if err := tx.Commit(bctx); err != nil {
		return len(events), 0, errors.Join(brokerErr, fmt.Errorf("commit outbox transaction: %w", err))
	}
	if len(acked) > 0 {
		r.logger.DebugContext(ctx, "published outbox events", "count", len(acked))
	}
	return len(events), len(acked), brokerErr
}

// detached is ctx without its cancellation but with a short deadline, for
// recording outcomes that already happened in NATS.
func detached(ctx context.Context) (context.Context, context.CancelFunc) {
	return context.WithTimeout(context.WithoutCancel(ctx), bookkeepingTimeout)
}

// publish sends one event and waits for JetStream's acknowledgement, under a
// producer span that continues the trace of the request that wrote the event.
func (r *Relay) publish(ctx context.Context, e pendingEvent) error {
	msg := nats.NewMsg(e.Subject)
	msg.Data = e.Payload
	written := nats.Header{}
	for k, v := range e.Headers {
		written.Set(k, v)
	}
	ctx, span := r.tracer.Start(natsx.ExtractTrace(ctx, written), "publish "+e.Subject,
		trace.WithSpanKind(trace.SpanKindProducer),
		trace.WithAttributes(
			attribute.String("messaging.system", "nats"),
			attribute.String("messaging.destination.name", e.Subject),
			attribute.String("messaging.message.id", e.ID),
		))
	defer span.End()

	natsx.InjectTrace(ctx, msg.Header)
	msg.Header.Set(HeaderEventID, e.ID)
	msg.Header.Set(HeaderFirmID, e.FirmID)
	msg.Header.Set(HeaderActor, e.Actor)
	msg.Header.Set(HeaderOccurredAt, e.CreatedAt.UTC().Format(time.RFC3339Nano))

	ctx, cancel := context.WithTimeout(ctx, r.ackTimeout)
	defer cancel()
	ack, err := r.js.PublishMsg(ctx, msg, jetstream.WithMsgID(e.ID))
	if err != nil {
		span.RecordError(err)
		span.SetStatus(codes.Error, "publish failed")
		return err
	}
	if ack.Duplicate {
		r.logger.DebugContext(ctx, "outbox event was already in the stream", "event_id", e.ID, "stream", ack.Stream)
	}
	return nil
}

// jsErrCodeHeaderExceedsMaximum is JetStream's refusal of a message whose headers
// are over 64 KiB; nats.go names no constant for it.
const jsErrCodeHeaderExceedsMaximum jetstream.ErrorCode = 10097

// refusedEvent reports whether the message itself was rejected (too large for the
// connection or the stream) rather than the broker being unwell. Retrying such an
// event at once would fail again while the events behind it wait, so it is set
// aside with a growing delay instead.
func refusedEvent(err error) bool {
	if errors.Is(err, nats.ErrMaxPayload) {
		return true
	}
	var apiErr *jetstream.APIError
	return errors.As(err, &apiErr) &&
		(apiErr.ErrorCode == jetstream.JSErrCodeStreamMessageExceedsMaximum || apiErr.ErrorCode == jsErrCodeHeaderExceedsMaximum)
}

// pendingEvent is an outbox row as the relay claims it.
type pendingEvent struct {
	ID        string
	FirmID    string
	Subject   string
	Actor     string
	Payload   []byte
	Headers   map[string]string
	CreatedAt time.Time
}

func claim(ctx context.Context, tx pgx.Tx, batch int) ([]pendingEvent, error) {
	rows, err := tx.Query(ctx, `
		select id::text as id, firm_id::text as firm_id, subject, actor, payload, headers, created_at
		from outbox_claim($1)`, batch)
	if err != nil {
		return nil, fmt.Errorf("claim outbox events: %w", err)
	}
	events, err := pgx.CollectRows(rows, pgx.RowToStructByNameLax[pendingEvent])
	if err != nil {
		return nil, fmt.Errorf("claim outbox events: %w", err)
	}
	return events, nil
}

func record(ctx context.Context, tx pgx.Tx, acked, refused []string) error {
	if len(acked) > 0 {
		if _, err := tx.Exec(ctx, "select outbox_mark_published($1::uuid[])", acked); err != nil {
			return fmt.Errorf("mark outbox events published: %w", err)
		}
	}
	for _, id := range refused {
		if _, err := tx.Exec(ctx, "select outbox_record_refusal($1::uuid)", id); err != nil {
			return fmt.Errorf("record refused outbox event: %w", err)
		}
	}
	return nil
}

// listen turns the insert trigger's notifications into wake-ups until ctx ends,
// reconnecting when its connection drops; polling covers the gaps.
func (r *Relay) listen(ctx context.Context, wake chan<- struct{}) {
	backoff := minBackoff
	for {
		listened, err := r.listenOnce(ctx, wake)
		if ctx.Err() != nil {
			return
		}
		if listened {
			backoff = minBackoff
		}
		r.logger.WarnContext(ctx, "outbox relay lost its notification connection; polling meanwhile", "error", err, "retry_in", backoff)
		if !sleep(ctx, backoff) {
			return
		}
		backoff = min(2*backoff, maxBackoff)
	}
}

// listenOnce listens until its connection fails; listened reports whether it got as
// far as listening.
func (r *Relay) listenOnce(ctx context.Context, wake chan<- struct{}) (listened bool, err error) {
	// A connection of its own: a pooled one would go back to the pool still
	// listening, or be held for the relay's whole life.
	conn, err := pgx.ConnectConfig(ctx, r.db.Pool.Config().ConnConfig)
	if err != nil {
		return false, fmt.Errorf("connect: %w", err)
	}
	defer func() {
		closeCtx, cancel := detached(ctx)
		defer cancel()
		_ = conn.Close(closeCtx)
	}()
	if _, err := conn.Exec(ctx, "listen "+notifyChannel); err != nil {
		return false, fmt.Errorf("listen: %w", err)
	}
	// Events committed before LISTEN took effect sent no notification we saw.
	signal(wake)
	for {
		if _, err := conn.WaitForNotification(ctx); err != nil {
			return true, fmt.Errorf("wait for notification: %w", err)
		}
		signal(wake)
	}
}

// signal records a wake-up without blocking; one pending wake-up covers any number
// of notifications, since the relay publishes everything due when it wakes.
func signal(wake chan<- struct{}) {
	select {
	case wake <- struct{}{}:
	default:
	}
}
