package inbox

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/trace"

	"github.com/firmflow/firmflow/pkg/natsx"
)

// Handler applies one event. It returns nil once the effect and Record committed
// together; an error asks for the event again later, unless it is Permanent.
type Handler func(ctx context.Context, m Message) error

// Config names the events a consumer takes and tunes its retries; zero durations
// take the defaults.
type Config struct {
	// Stream is the producing service's stream, e.g. "FIRMFLOW_IDENTITY".
	Stream string
	// Durable is the consumer's name, normally the consuming service: it keeps its
	// position across restarts and replicas of the service share it.
	Durable string
	// Subjects are the events taken, e.g. "firmflow.identity.firm_created".
	Subjects []string
	// AckWait is how long a handler may take before JetStream delivers the event
	// again elsewhere; default 30s. Handlers that call slow systems need it above
	// their own timeouts.
	AckWait time.Duration
	// RetryMin and RetryMax bound the delay before a failed event is delivered
	// again; it doubles with each attempt. Defaults 1s and 1m.
	RetryMin time.Duration
	RetryMax time.Duration
}

const (
	restartMin = 250 * time.Millisecond
	restartMax = 30 * time.Second
)

// Consumer delivers a stream's events to a Handler one at a time, in stream order
// except for events being retried.
type Consumer struct {
	js      jetstream.JetStream
	cfg     Config
	handler Handler
	logger  *slog.Logger
	tracer  trace.Tracer
}

// NewConsumer returns a consumer; Run starts it. A nil logger means slog.Default().
func NewConsumer(js jetstream.JetStream, cfg Config, handler Handler, logger *slog.Logger) *Consumer {
	if logger == nil {
		logger = slog.Default()
	}
	if cfg.AckWait <= 0 {
		cfg.AckWait = 30 * time.Second
	}
	if cfg.RetryMin <= 0 {
		cfg.RetryMin = time.Second
	}
	if cfg.RetryMax <= 0 {
		cfg.RetryMax = time.Minute
	}
	cfg.RetryMax = max(cfg.RetryMax, cfg.RetryMin)
	return &Consumer{
		js: js, cfg: cfg, handler: handler, logger: logger,
		tracer: otel.Tracer("github.com/firmflow/firmflow/pkg/inbox"),
	}
}

// Run consumes until ctx ends, then returns nil. The durable consumer is created (or
// brought to the configuration) first, and its lag reported to metrics while it runs; on a fresh one, delivery starts with the
// oldest event the stream holds, so a new service catches up on history. When the
// stream does not exist yet or NATS fails, Run logs, backs off and tries again.
func (c *Consumer) Run(ctx context.Context) error {
	backoff := restartMin
	for {
		started, err := c.consume(ctx)
		if ctx.Err() != nil {
			return nil
		}
		if started {
			backoff = restartMin
		}
		c.logger.WarnContext(ctx, "event consumer stopped; restarting", "stream", c.cfg.Stream,
			"consumer", c.cfg.Durable, "error", err, "retry_in", backoff)
		select {
		case <-ctx.Done():
			return nil
		case <-time.After(backoff):
		}
		backoff = min(2*backoff, restartMax)
	}
}

// consume handles messages until the iterator fails or ctx ends; started reports
// whether it got as far as receiving.
func (c *Consumer) consume(ctx context.Context) (started bool, err error) {
	cons, err := c.js.CreateOrUpdateConsumer(ctx, c.cfg.Stream, jetstream.ConsumerConfig{
		Durable:        c.cfg.Durable,
		FilterSubjects: c.cfg.Subjects,
		DeliverPolicy:  jetstream.DeliverAllPolicy,
		AckPolicy:      jetstream.AckExplicitPolicy,
		AckWait:        c.cfg.AckWait,
	})
	if err != nil {
		return false, fmt.Errorf("create consumer %s on %s: %w", c.cfg.Durable, c.cfg.Stream, err)
	}
	lag, err := natsx.ObserveConsumer(cons)
	if err != nil {
		return false, err
	}
	defer func() { _ = lag.Unregister() }()
	it, err := cons.Messages()
	if err != nil {
		return false, fmt.Errorf("receive from consumer %s: %w", c.cfg.Durable, err)
	}
	defer it.Stop()
	stop := context.AfterFunc(ctx, it.Stop)
	defer stop()
	for {
		msg, err := it.Next()
		if err != nil {
			if ctx.Err() != nil {
				return true, nil
			}
			return true, fmt.Errorf("next event: %w", err)
		}
		c.handle(ctx, msg)
	}
}

// handle runs the handler for one message and settles it: acknowledged after
// success, dropped when it can never succeed, otherwise delivered again after a delay.
func (c *Consumer) handle(ctx context.Context, msg jetstream.Msg) {
	m, err := Decode(msg.Subject(), msg.Headers(), msg.Data())
	if err != nil {
		c.logger.ErrorContext(ctx, "dropping an event without firmflow headers", "subject", msg.Subject(), "error", err)
		_ = msg.TermWithReason("malformed")
		return
	}
	if meta, err := msg.Metadata(); err == nil {
		m.Delivery = meta.NumDelivered
	}
	ctx, span := c.tracer.Start(natsx.ExtractTrace(ctx, msg.Headers()), "process "+m.Subject,
		trace.WithSpanKind(trace.SpanKindConsumer),
		trace.WithAttributes(
			attribute.String("messaging.system", "nats"),
			attribute.String("messaging.destination.name", m.Subject),
			attribute.String("messaging.message.id", m.EventID),
			attribute.String("messaging.consumer.group.name", c.cfg.Durable),
		))
	defer span.End()

	err = c.handler(ctx, m)
	attrs := []any{"event_id", m.EventID, "subject", m.Subject, "firm_id", m.FirmID, "delivery", m.Delivery}
	switch {
	case err == nil:
		if err := msg.Ack(); err != nil {
			// Applied and recorded: the redelivery this causes finds the inbox row.
			c.logger.WarnContext(ctx, "could not acknowledge an applied event", append(attrs, "error", err)...)
		}
	case IsPermanent(err):
		span.RecordError(err)
		span.SetStatus(codes.Error, "dropped")
		c.logger.ErrorContext(ctx, "dropping an event that cannot be applied", append(attrs, "error", err)...)
		_ = msg.TermWithReason("cannot be applied")
	default:
		span.RecordError(err)
		span.SetStatus(codes.Error, "retrying")
		delay := c.retryDelay(m.Delivery)
		if ctx.Err() == nil {
			c.logger.WarnContext(ctx, "event not applied; it will be delivered again", append(attrs, "error", err, "retry_in", delay)...)
		}
		if err := msg.NakWithDelay(delay); err != nil && !errors.Is(err, context.Canceled) {
			c.logger.DebugContext(ctx, "could not refuse an event; it returns after the ack wait", append(attrs, "error", err)...)
		}
	}
}

// retryDelay doubles from RetryMin with each delivery, up to RetryMax.
func (c *Consumer) retryDelay(delivery uint64) time.Duration {
	delay := c.cfg.RetryMin
	for i := uint64(1); i < delivery && delay < c.cfg.RetryMax; i++ {
		delay *= 2
	}
	return min(delay, c.cfg.RetryMax)
}
