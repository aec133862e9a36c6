// Package telemetry wires OpenTelemetry for a firmflow service: traces exported
// over OTLP, W3C trace-context propagation across HTTP, gRPC and NATS, and
// metrics exposed for Prometheus on the service's admin port.
package telemetry

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"github.com/prometheus/otlptranslator"
	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracegrpc"
	otelprom "go.opentelemetry.io/otel/exporters/prometheus"
	"go.opentelemetry.io/otel/propagation"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"go.opentelemetry.io/otel/sdk/resource"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	semconv "go.opentelemetry.io/otel/semconv/v1.43.0"
)

// Config says where a service's telemetry goes.
type Config struct {
	// ServiceName becomes service.name on every span and metric.
	ServiceName string
	// OTLPEndpoint is the OTLP/gRPC collector, as host:port or a URL. Empty means
	// spans are still created (so trace ids reach logs and peers) but not exported.
	OTLPEndpoint string
	// OTLPInsecure sends spans without TLS, for a collector on the same host.
	OTLPInsecure bool
}

// Telemetry holds the providers Setup installed, for serving metrics and for
// flushing at shutdown.
type Telemetry struct {
	tracerProvider *sdktrace.TracerProvider
	meterProvider  *sdkmetric.MeterProvider
	registry       *prometheus.Registry
}

// Setup builds the tracer and meter providers and installs them, with the
// TraceContext and Baggage propagators, as the OpenTelemetry globals, so
// instrumentation libraries pick them up without further wiring. Every span is
// sampled unless its parent was not. It does not contact the collector: the
// exporter connects when it first sends.
func Setup(ctx context.Context, cfg Config) (*Telemetry, error) {
	if cfg.ServiceName == "" {
		return nil, errors.New("telemetry: service name is required")
	}
	res, err := resource.New(ctx,
		resource.WithSchemaURL(semconv.SchemaURL),
		resource.WithAttributes(semconv.ServiceName(cfg.ServiceName)),
		resource.WithTelemetrySDK(),
		resource.WithFromEnv(),
	)
	if err != nil {
		return nil, fmt.Errorf("telemetry: describe resource: %w", err)
	}
	tp, err := newTracerProvider(ctx, cfg, res)
	if err != nil {
		return nil, err
	}
	registry, mp, err := newMeterProvider(res)
	if err != nil {
		return nil, errors.Join(err, tp.Shutdown(ctx))
	}

	otel.SetTracerProvider(tp)
	otel.SetMeterProvider(mp)
	otel.SetTextMapPropagator(propagation.NewCompositeTextMapPropagator(
		propagation.TraceContext{}, propagation.Baggage{}))
	return &Telemetry{tracerProvider: tp, meterProvider: mp, registry: registry}, nil
}

func newTracerProvider(ctx context.Context, cfg Config, res *resource.Resource) (*sdktrace.TracerProvider, error) {
	opts := []sdktrace.TracerProviderOption{
		sdktrace.WithResource(res),
		sdktrace.WithSampler(sdktrace.ParentBased(sdktrace.AlwaysSample())),
	}
	if cfg.OTLPEndpoint != "" {
		exporter, err := otlptracegrpc.New(ctx, exporterOptions(cfg)...)
		if err != nil {
			return nil, fmt.Errorf("telemetry: create OTLP trace exporter: %w", err)
		}
		opts = append(opts, sdktrace.WithBatcher(exporter))
	}
	return sdktrace.NewTracerProvider(opts...), nil
}

func exporterOptions(cfg Config) []otlptracegrpc.Option {
	var opts []otlptracegrpc.Option
	if strings.Contains(cfg.OTLPEndpoint, "://") {
		opts = append(opts, otlptracegrpc.WithEndpointURL(cfg.OTLPEndpoint))
	} else {
		opts = append(opts, otlptracegrpc.WithEndpoint(cfg.OTLPEndpoint))
	}
	if cfg.OTLPInsecure {
		opts = append(opts, otlptracegrpc.WithInsecure())
	}
	return opts
}

// newMeterProvider gives the service a registry of its own rather than the
// Prometheus default one, so what /metrics shows is exactly what we registered.
func newMeterProvider(res *resource.Resource) (*prometheus.Registry, *sdkmetric.MeterProvider, error) {
	registry := prometheus.NewRegistry()
	if err := registry.Register(collectors.NewGoCollector()); err != nil {
		return nil, nil, fmt.Errorf("telemetry: register Go collector: %w", err)
	}
	if err := registry.Register(collectors.NewProcessCollector(collectors.ProcessCollectorOpts{})); err != nil {
		return nil, nil, fmt.Errorf("telemetry: register process collector: %w", err)
	}
	// Pinned rather than left to the exporter's default, which is due to change: the
	// dashboard and alerts name metrics the Prometheus way, units and _total included.
	exporter, err := otelprom.New(otelprom.WithRegisterer(registry),
		otelprom.WithTranslationStrategy(otlptranslator.UnderscoreEscapingWithSuffixes))
	if err != nil {
		return nil, nil, fmt.Errorf("telemetry: create Prometheus exporter: %w", err)
	}
	mp := sdkmetric.NewMeterProvider(sdkmetric.WithReader(exporter), sdkmetric.WithResource(res))
	return registry, mp, nil
}

// MetricsHandler serves the service's metrics in the Prometheus exposition format.
func (t *Telemetry) MetricsHandler() http.Handler {
	return promhttp.HandlerFor(t.registry, promhttp.HandlerOpts{ErrorHandling: promhttp.ContinueOnError})
}

// Shutdown flushes spans still buffered and stops both providers; call it once
// the service has stopped serving, with a context that bounds the flush.
func (t *Telemetry) Shutdown(ctx context.Context) error {
	err := errors.Join(t.tracerProvider.Shutdown(ctx), t.meterProvider.Shutdown(ctx))
	if err != nil {
		return fmt.Errorf("telemetry: shutdown: %w", err)
	}
	return nil
}
