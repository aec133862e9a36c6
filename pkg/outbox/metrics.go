package outbox

import (
	"context"
	"fmt"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"

	"github.com/firmflow/firmflow/pkg/pg"
	"github.com/firmflow/firmflow/pkg/telemetry"
)

var (
	meter = telemetry.Meter("pkg/outbox")

	backlogEvents = telemetry.Must(meter.Int64ObservableGauge("firmflow.outbox.backlog.events",
		metric.WithUnit("{event}"),
		metric.WithDescription("Events committed to the outbox and not yet acknowledged by JetStream.")))
	oldestEventAge = telemetry.Must(meter.Float64ObservableGauge("firmflow.outbox.oldest_event.age",
		metric.WithUnit("s"),
		metric.WithDescription("How long the oldest unpublished outbox event has waited; 0 when none waits.")))
)

// backlogQueryTimeout bounds the query a scrape makes, so a database that does not
// answer delays the scrape by this much at most.
const backlogQueryTimeout = time.Second

// ObserveBacklog reports db's outbox backlog (unpublished events and the age of the
// oldest), labelled with service, at each scrape until the registration is
// unregistered: one query through outbox_backlog(), which the service's migrations
// include from shared/outbox_backlog.sql. A scrape the database does not answer
// reports nothing for the service rather than a stale figure.
func ObserveBacklog(db *pg.DB, service string) (metric.Registration, error) {
	attrs := metric.WithAttributes(attribute.String("service", service))
	reg, err := meter.RegisterCallback(func(ctx context.Context, o metric.Observer) error {
		ctx, cancel := context.WithTimeout(ctx, backlogQueryTimeout)
		defer cancel()
		var events int64
		var age float64
		if err := db.Pool.QueryRow(ctx, "select events, oldest_age_seconds from outbox_backlog()").Scan(&events, &age); err != nil {
			return nil // the gap in the series is the signal; readiness says why
		}
		o.ObserveInt64(backlogEvents, events, attrs)
		o.ObserveFloat64(oldestEventAge, age, attrs)
		return nil
	}, backlogEvents, oldestEventAge)
	if err != nil {
		return nil, fmt.Errorf("observe outbox backlog: %w", err)
	}
	return reg, nil
}
