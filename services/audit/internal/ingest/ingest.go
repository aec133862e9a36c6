// Package ingest feeds the audit log from JetStream: a durable consumer on each
// stream, whose messages are taken in batches, appended to their firms' chains in
// one transaction and acknowledged only after it commits. A batch that fails is
// redelivered; an event delivered twice is recognised by its id and appended once.
package ingest

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/firmflow/firmflow/pkg/natsx"
	"github.com/firmflow/firmflow/services/audit/chain"
)

// Appender is where batches go: app.App.
type Appender interface {
	Append(ctx context.Context, events []chain.Event) (int, error)
}

// Options tune the consumers; zero values take the defaults.
type Options struct {
	// Streams are the JetStream streams read, e.g. FIRMFLOW_GATEWAY.
	Streams []string
	// Durable names the consumer on every stream; default "audit".
	Durable string
	// Batch is the most messages appended in one transaction; default 1000. A
	// message of the gateway's batches counts once, whatever the events it holds.
	Batch int
	// AckWait is how long a delivered message may wait for its acknowledgement
	// before JetStream delivers it again; default 30s.
	AckWait time.Duration
	// Linger is how long a batch stays open for more messages after its first, which
	// bounds how long an event waits to be appended; default 20ms. The response a
	// request waited for was sent once its event was durable in JetStream, so this
	// wait is nobody's latency; under load it lets one transaction carry several of
	// the gateway's messages, each of which costs the database a commit otherwise.
	Linger time.Duration
	// Lanes append in parallel, each for its own share of the firms; default 1. On a
	// small machine a second lane costs the database half as much again per event
	// (measured on 2 cores) for no gain; on a larger one it adds throughput.
	Lanes int
	// Create are streams to create when missing rather than wait for.
	Create []jetstream.StreamConfig
	Logger *slog.Logger
}

// Consumer runs one durable consumer per stream.
type Consumer struct {
	js     jetstream.JetStream
	app    Appender
	opts   Options
	logger *slog.Logger
}

const (
	minBackoff = 250 * time.Millisecond
	maxBackoff = 30 * time.Second
)

// New returns consumers reading opts.Streams through js into app.
func New(js jetstream.JetStream, app Appender, opts Options) *Consumer {
	if opts.Durable == "" {
		opts.Durable = "audit"
	}
	if opts.Batch <= 0 {
		opts.Batch = 1000
	}
	if opts.AckWait <= 0 {
		opts.AckWait = 30 * time.Second
	}
	if opts.Lanes <= 0 {
		opts.Lanes = 1
	}
	if opts.Linger <= 0 {
		opts.Linger = 20 * time.Millisecond
	}
	logger := opts.Logger
	if logger == nil {
		logger = slog.Default()
	}
	return &Consumer{js: js, app: app, opts: opts, logger: logger}
}

// Run consumes every stream until ctx ends, then returns nil. A stream that does not
// exist yet (its service has not started) or a broker or database failure is logged
// and retried with growing pauses; nothing is acknowledged that was not committed.
func (c *Consumer) Run(ctx context.Context) error {
	var wg sync.WaitGroup
	for _, stream := range c.opts.Streams {
		wg.Go(func() { c.consumeStream(ctx, stream) })
	}
	wg.Wait()
	return nil
}

func (c *Consumer) consumeStream(ctx context.Context, stream string) {
	backoff := minBackoff
	for ctx.Err() == nil {
		progressed, err := c.consume(ctx, stream)
		if ctx.Err() != nil {
			return
		}
		if progressed {
			backoff = minBackoff
		}
		c.logger.WarnContext(ctx, "audit consumer stopped; retrying", "stream", stream, "error", err, "retry_in", backoff)
		select {
		case <-ctx.Done():
			return
		case <-time.After(backoff):
		}
		backoff = min(2*backoff, maxBackoff)
	}
}

// consume reads stream until ctx ends or something fails; progressed says whether
// any batch was committed.
func (c *Consumer) consume(ctx context.Context, stream string) (progressed bool, err error) {
	s, err := c.js.Stream(ctx, stream)
	if errors.Is(err, jetstream.ErrStreamNotFound) {
		for _, cfg := range c.opts.Create {
			if cfg.Name == stream {
				s, err = c.js.CreateOrUpdateStream(ctx, cfg)
			}
		}
	}
	if err != nil {
		return false, fmt.Errorf("open stream: %w", err)
	}
	cons, err := s.CreateOrUpdateConsumer(ctx, jetstream.ConsumerConfig{
		Durable:       c.opts.Durable,
		Description:   "audit log: every event of the stream, appended to its firm's chain",
		DeliverPolicy: jetstream.DeliverAllPolicy,
		AckPolicy:     jetstream.AckExplicitPolicy,
		AckWait:       c.opts.AckWait,
		// The log must take every event: no delivery limit.
		MaxDeliver:    -1,
		MaxAckPending: 20 * c.opts.Batch,
	})
	if err != nil {
		return false, fmt.Errorf("create consumer: %w", err)
	}
	lag, err := natsx.ObserveConsumer(cons)
	if err != nil {
		return false, err
	}
	defer func() { _ = lag.Unregister() }()
	it, err := cons.Messages(jetstream.PullMaxMessages(2 * c.opts.Batch))
	if err != nil {
		return false, fmt.Errorf("pull messages: %w", err)
	}
	defer it.Stop()
	stop := context.AfterFunc(ctx, it.Stop)
	defer stop()

	lanes := c.startLanes(ctx, stream)
	defer lanes.stop()
	for {
		batch, err := c.nextBatch(ctx, it)
		if err != nil {
			return progressed, err
		}
		if err := lanes.dispatch(ctx, batch); err != nil {
			return progressed, err
		}
		progressed = true
	}
}

// nextBatch waits for one message, then takes whatever else arrives within the
// linger time after it, up to a batch. The window is counted from the first message,
// not from the last, so that a steady stream does not hold a batch open until it is
// full.
func (c *Consumer) nextBatch(ctx context.Context, it jetstream.MessagesContext) ([]jetstream.Msg, error) {
	first, err := it.Next(jetstream.NextContext(ctx))
	if err != nil {
		return nil, fmt.Errorf("next message: %w", err)
	}
	batch := make([]jetstream.Msg, 1, c.opts.Batch)
	batch[0] = first
	closes := time.Now().Add(c.opts.Linger)
	for len(batch) < c.opts.Batch {
		wait := time.Until(closes)
		if wait <= 0 {
			break
		}
		msg, err := it.Next(jetstream.NextMaxWait(wait))
		if errors.Is(err, nats.ErrTimeout) {
			break
		}
		if err != nil {
			// Append what we have; the iterator's failure shows on the next call.
			break
		}
		batch = append(batch, msg)
	}
	return batch, nil
}

// part is the share of a batch that falls to one lane: events, and for each message
// they came from, the delivery to settle once the share is appended.
type part struct {
	msgs   []*delivery
	events []chain.Event
}

// delivery is one message whose events may fall to several lanes (a batch of the
// gateway's access events spans firms): it is acknowledged when the last of its
// shares is appended, and asked for again as soon as one fails. Events appended
// before a redelivery are recognised by their ids and not appended twice.
type delivery struct {
	msg     jetstream.Msg
	pending atomic.Int32
	failed  atomic.Bool
}

// appended settles one share of the message; it acknowledges the message when it
// was the last and none failed.
func (d *delivery) appended() (ack bool) {
	return d.pending.Add(-1) == 0 && !d.failed.Load()
}

// lanes append a stream's batches in parallel, each lane the firms whose id hashes
// to it, so that two lanes never wait for the same chain head and each firm's events
// keep their order. The next batch is read while lanes append the last.
type lanes struct {
	c     *Consumer
	queue []chan part
	wg    sync.WaitGroup
}

func (c *Consumer) startLanes(ctx context.Context, stream string) *lanes {
	l := &lanes{c: c, queue: make([]chan part, c.opts.Lanes)}
	for i := range l.queue {
		l.queue[i] = make(chan part, 1)
		l.wg.Go(func() { l.run(ctx, stream, l.queue[i]) })
	}
	return l
}

// dispatch splits a batch by lane and queues each share.
func (l *lanes) dispatch(ctx context.Context, batch []jetstream.Msg) error {
	parts := make([]part, len(l.queue))
	for _, msg := range batch {
		d := &delivery{msg: msg}
		for _, e := range Events(msg) {
			lane := int(binary.BigEndian.Uint32(e.FirmID[12:]) % uint32(len(parts)))
			p := &parts[lane]
			if n := len(p.msgs); n == 0 || p.msgs[n-1] != d {
				p.msgs = append(p.msgs, d)
				d.pending.Add(1)
			}
			p.events = append(p.events, e)
		}
	}
	for i, p := range parts {
		if len(p.msgs) == 0 {
			continue
		}
		select {
		case l.queue[i] <- p:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	return nil
}

// stop lets the lanes finish what is queued and waits for them.
func (l *lanes) stop() {
	for _, q := range l.queue {
		close(q)
	}
	l.wg.Wait()
}

// run appends a lane's shares one after another. A share that fails is asked for
// again after a pause, so nothing is lost; the lane pauses too, growing the pause
// while the database stays away.
func (l *lanes) run(ctx context.Context, stream string, queue <-chan part) {
	backoff := minBackoff
	for p := range queue {
		if err := l.c.appendPart(ctx, p, backoff); err != nil {
			if ctx.Err() == nil {
				l.c.logger.WarnContext(ctx, "audit batch not appended; it will be redelivered", "stream", stream, "error", err, "retry_in", backoff)
			}
			select {
			case <-ctx.Done():
			case <-time.After(backoff):
			}
			backoff = min(2*backoff, maxBackoff)
			continue
		}
		backoff = minBackoff
	}
}

// appendPart appends a share and acknowledges its messages after the commit (a
// message spread over lanes once all its shares are in); on failure it asks for them
// again after delay.
func (c *Consumer) appendPart(ctx context.Context, p part, delay time.Duration) error {
	if _, err := c.app.Append(ctx, p.events); err != nil {
		for _, d := range p.msgs {
			if !d.failed.Swap(true) {
				_ = d.msg.NakWithDelay(delay)
			}
			d.appended()
		}
		return fmt.Errorf("append %d events of %d messages: %w", len(p.events), len(p.msgs), err)
	}
	appended := time.Now()
	for _, d := range p.msgs {
		if !d.appended() {
			continue
		}
		observeDelay(ctx, d.msg, appended)
		// A lost acknowledgement means a redelivery, which the log recognises.
		if err := d.msg.Ack(); err != nil {
			c.logger.WarnContext(ctx, "acknowledging an audited event failed; it will be redelivered and skipped",
				"subject", d.msg.Subject(), "error", err)
		}
	}
	return nil
}
