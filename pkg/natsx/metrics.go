package natsx

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"

	"github.com/firmflow/firmflow/pkg/telemetry"
)

var (
	meter = telemetry.Meter("pkg/natsx")

	publishDuration = telemetry.Must(meter.Float64Histogram("firmflow.jetstream.publish.duration",
		metric.WithUnit("s"), telemetry.LatencyBuckets,
		metric.WithDescription("Time from a publish to JetStream's acknowledgement, of publishes JetStream acknowledged.")))
	publishErrors = telemetry.Must(meter.Int64Counter("firmflow.jetstream.publish.errors",
		metric.WithUnit("{publish}"),
		metric.WithDescription("Publishes JetStream did not acknowledge, by reason: timeout, no_responders (no stream or no server), disconnected, refused (JetStream answered with an error), other.")))

	consumerPending = telemetry.Must(meter.Int64ObservableGauge("firmflow.jetstream.consumer.pending.messages",
		metric.WithUnit("{message}"),
		metric.WithDescription("Messages of the stream the durable consumer has not been delivered yet (ConsumerInfo.NumPending): its lag.")))
	consumerAckPending = telemetry.Must(meter.Int64ObservableGauge("firmflow.jetstream.consumer.ack_pending.messages",
		metric.WithUnit("{message}"),
		metric.WithDescription("Messages delivered to the durable consumer and not yet acknowledged.")))
	consumerRedelivered = telemetry.Must(meter.Int64ObservableGauge("firmflow.jetstream.consumer.redelivered.messages",
		metric.WithUnit("{message}"),
		metric.WithDescription("Messages delivered more than once and not yet acknowledged.")))
)

// metered is a JetStream whose synchronous publishes are timed and whose failures
// are counted, labelled with the publishing service. Asynchronous publishes pass
// through unmeasured; firmflow makes none.
type metered struct {
	jetstream.JetStream
	service metric.MeasurementOption
}

// publishErrorReasons are the reason label's values; see publishErrorReason.
var publishErrorReasons = []string{"timeout", "no_responders", "disconnected", "refused", "other"}

// Metered returns js with its publishes measured for service. Its error counts
// start at 0 for every reason, so that rate() and alerts see a series from the start.
func Metered(js jetstream.JetStream, service string) jetstream.JetStream {
	for _, reason := range publishErrorReasons {
		publishErrors.Add(context.Background(), 0, metric.WithAttributes(
			attribute.String("service", service), attribute.String("reason", reason)))
	}
	return metered{JetStream: js, service: metric.WithAttributes(attribute.String("service", service))}
}

func (m metered) Publish(ctx context.Context, subject string, data []byte, opts ...jetstream.PublishOpt) (*jetstream.PubAck, error) {
	start := time.Now()
	ack, err := m.JetStream.Publish(ctx, subject, data, opts...)
	m.record(ctx, start, err)
	return ack, err
}

func (m metered) PublishMsg(ctx context.Context, msg *nats.Msg, opts ...jetstream.PublishOpt) (*jetstream.PubAck, error) {
	start := time.Now()
	ack, err := m.JetStream.PublishMsg(ctx, msg, opts...)
	m.record(ctx, start, err)
	return ack, err
}

func (m metered) record(ctx context.Context, start time.Time, err error) {
	// Recorded even when the caller has gone: the publish happened either way.
	ctx = context.WithoutCancel(ctx)
	if err != nil {
		publishErrors.Add(ctx, 1, m.service, metric.WithAttributes(attribute.String("reason", publishErrorReason(err))))
		return
	}
	publishDuration.Record(ctx, time.Since(start).Seconds(), m.service)
}

// publishErrorReason sorts a publish failure into the few kinds an operator acts on
// differently.
func publishErrorReason(err error) string {
	var apiErr *jetstream.APIError
	switch {
	case errors.Is(err, context.DeadlineExceeded), errors.Is(err, nats.ErrTimeout):
		return "timeout"
	case errors.Is(err, jetstream.ErrNoStreamResponse), errors.Is(err, nats.ErrNoResponders):
		return "no_responders"
	case errors.Is(err, nats.ErrConnectionClosed), errors.Is(err, nats.ErrDisconnected),
		errors.Is(err, nats.ErrConnectionReconnecting), errors.Is(err, nats.ErrConnectionDraining),
		errors.Is(err, nats.ErrReconnectBufExceeded): // a client without a reconnect buffer, while away
		return "disconnected"
	case errors.As(err, &apiErr), errors.Is(err, nats.ErrMaxPayload):
		return "refused"
	}
	return "other"
}

// consumerInfoTimeout bounds the ConsumerInfo request a scrape makes, so a broker
// that does not answer delays the scrape by this much at most.
const consumerInfoTimeout = time.Second

// ObserveConsumer reports the durable consumer's lag (pending, acknowledgement-pending
// and redelivered messages, from ConsumerInfo) at each scrape, labelled with its
// stream and name, until the registration is unregistered. A scrape while JetStream
// does not answer reports nothing for it rather than a stale figure.
func ObserveConsumer(cons jetstream.Consumer) (metric.Registration, error) {
	cached := cons.CachedInfo()
	attrs := metric.WithAttributes(
		attribute.String("stream", cached.Stream),
		attribute.String("consumer", cached.Name),
	)
	reg, err := meter.RegisterCallback(func(ctx context.Context, o metric.Observer) error {
		ctx, cancel := context.WithTimeout(ctx, consumerInfoTimeout)
		defer cancel()
		info, err := cons.Info(ctx)
		if err != nil {
			return nil // the gap in the series is the signal; the log has the outage
		}
		o.ObserveInt64(consumerPending, int64(info.NumPending), attrs)
		o.ObserveInt64(consumerAckPending, int64(info.NumAckPending), attrs)
		o.ObserveInt64(consumerRedelivered, int64(info.NumRedelivered), attrs)
		return nil
	}, consumerPending, consumerAckPending, consumerRedelivered)
	if err != nil {
		return nil, fmt.Errorf("observe consumer %s: %w", cached.Name, err)
	}
	return reg, nil
}
