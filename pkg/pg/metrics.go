package pg

import (
	"context"
	"fmt"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"

	"github.com/firmflow/firmflow/pkg/telemetry"
)

// The pool's statistics, read from pgxpool at each scrape. The counters are the
// pool's own running totals since it opened.
var (
	meter = telemetry.Meter("pkg/pg")

	poolAcquired = telemetry.Must(meter.Int64ObservableGauge("firmflow.db.pool.acquired.connections",
		metric.WithUnit("{connection}"), metric.WithDescription("Connections currently checked out of the pool.")))
	poolIdle = telemetry.Must(meter.Int64ObservableGauge("firmflow.db.pool.idle.connections",
		metric.WithUnit("{connection}"), metric.WithDescription("Idle connections in the pool.")))
	poolTotal = telemetry.Must(meter.Int64ObservableGauge("firmflow.db.pool.total.connections",
		metric.WithUnit("{connection}"), metric.WithDescription("Connections in the pool: acquired, idle and being opened.")))
	poolMax = telemetry.Must(meter.Int64ObservableGauge("firmflow.db.pool.max.connections",
		metric.WithUnit("{connection}"), metric.WithDescription("The most connections the pool opens.")))
	poolAcquires = telemetry.Must(meter.Int64ObservableCounter("firmflow.db.pool.acquires",
		metric.WithUnit("{acquire}"), metric.WithDescription("Connections acquired from the pool.")))
	poolAcquireDuration = telemetry.Must(meter.Float64ObservableCounter("firmflow.db.pool.acquire.duration",
		metric.WithUnit("s"), metric.WithDescription("Time spent acquiring connections, in total; divide its rate by the acquires' rate for the mean wait.")))
	poolEmptyAcquires = telemetry.Must(meter.Int64ObservableCounter("firmflow.db.pool.empty_acquires",
		metric.WithUnit("{acquire}"), metric.WithDescription("Acquires that had to wait for a connection: none was idle.")))
	poolCanceledAcquires = telemetry.Must(meter.Int64ObservableCounter("firmflow.db.pool.canceled_acquires",
		metric.WithUnit("{acquire}"), metric.WithDescription("Acquires given up because their context ended first.")))
)

// ObservePool reports the pool's statistics, labelled with service and the database,
// until Close. Call it once per pool.
func (db *DB) ObservePool(service string) error {
	attrs := metric.WithAttributes(
		attribute.String("service", service),
		attribute.String("database", db.Pool.Config().ConnConfig.Database),
	)
	reg, err := meter.RegisterCallback(func(_ context.Context, o metric.Observer) error {
		s := db.Pool.Stat()
		o.ObserveInt64(poolAcquired, int64(s.AcquiredConns()), attrs)
		o.ObserveInt64(poolIdle, int64(s.IdleConns()), attrs)
		o.ObserveInt64(poolTotal, int64(s.TotalConns()), attrs)
		o.ObserveInt64(poolMax, int64(s.MaxConns()), attrs)
		o.ObserveInt64(poolAcquires, s.AcquireCount(), attrs)
		o.ObserveFloat64(poolAcquireDuration, s.AcquireDuration().Seconds(), attrs)
		o.ObserveInt64(poolEmptyAcquires, s.EmptyAcquireCount(), attrs)
		o.ObserveInt64(poolCanceledAcquires, s.CanceledAcquireCount(), attrs)
		return nil
	}, poolAcquired, poolIdle, poolTotal, poolMax, poolAcquires, poolAcquireDuration, poolEmptyAcquires, poolCanceledAcquires)
	if err != nil {
		return fmt.Errorf("observe pool: %w", err)
	}
	db.unobserve = append(db.unobserve, reg.Unregister)
	return nil
}
