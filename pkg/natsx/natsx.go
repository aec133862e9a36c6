// Package natsx is how firmflow processes reach NATS JetStream: connecting with the
// project's reconnect policy, declaring each service's event stream by convention,
// carrying OpenTelemetry trace context in message headers, and running nats-server
// in-process for `firmflow dev` and tests.
package natsx

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// DuplicateWindow is how long JetStream remembers a Nats-Msg-Id. It must outlast
// the time between an event's first publish and any republish of it: the outbox
// relay republishes an event whose acknowledgement it could not record, normally
// within seconds, so two hours leaves a wide margin for a relay that stops between
// publishing and committing and comes back much later.
const DuplicateWindow = 2 * time.Hour

// DefaultStreamMaxAge is FIRMFLOW_STREAM_MAX_AGE's default: every stream keeps a
// message 30 days.
const DefaultStreamMaxAge = 30 * 24 * time.Hour

// SyncMetadataKey is set to "always" in the metadata of streams that carry audit or
// money. JetStream has no per-stream fsync option (PersistMode only offers a less
// durable async mode), so fsync on every write is the server's sync_interval=always
// setting (EmbeddedOptions.SyncAlways); the key records which streams rely on it.
const SyncMetadataKey = "firmflow.sync"

// Connect dials NATS for the named client and opens JetStream on the connection,
// its publishes measured (Metered) under the client's name, which is the service's.
// The connection reconnects forever: a service outlives broker restarts, and
// publishers such as the outbox relay keep their events until JetStream
// acknowledges them. The first connection attempt must succeed, so a wrong URL fails
// at start.
//
// extra options go after the defaults, e.g. nats.ReconnectBufSize(-1) for a publisher
// that must fail at once during an outage rather than buffer.
func Connect(url, name string, extra ...nats.Option) (*nats.Conn, jetstream.JetStream, error) {
	logger := slog.Default().With("nats_client", name)
	opts := []nats.Option{
		nats.Name(name),
		nats.Timeout(5 * time.Second),
		nats.MaxReconnects(-1),
		nats.ReconnectWait(500 * time.Millisecond),
		nats.ReconnectJitter(250*time.Millisecond, time.Second),
		nats.PingInterval(20 * time.Second),
		nats.MaxPingsOutstanding(3),
		nats.DisconnectErrHandler(func(_ *nats.Conn, err error) {
			if err != nil {
				logger.Warn("nats disconnected; reconnecting", "error", err)
			}
		}),
		nats.ReconnectHandler(func(nc *nats.Conn) {
			logger.Info("nats reconnected", "server", nc.ConnectedServerId())
		}),
		nats.ErrorHandler(func(_ *nats.Conn, sub *nats.Subscription, err error) {
			attrs := []any{"error", err}
			if sub != nil {
				attrs = append(attrs, "subject", sub.Subject)
			}
			logger.Warn("nats asynchronous error", attrs...)
		}),
	}
	nc, err := nats.Connect(url, append(opts, extra...)...)
	if err != nil {
		return nil, nil, fmt.Errorf("connect to nats: %w", err)
	}
	js, err := jetstream.New(nc, jetstream.WithDefaultTimeout(5*time.Second))
	if err != nil {
		nc.Close()
		return nil, nil, fmt.Errorf("open jetstream: %w", err)
	}
	return nc, Metered(js, name), nil
}

// EnsureStream creates the stream or brings an existing one to cfg, so every
// service start declares its stream idempotently. A cfg that leaves Replicas at
// zero keeps an existing stream's replica count: replicas are the deployment's
// choice (3 on a JetStream cluster, set once by an operator or a job, see
// deploy/README.md), and a service restart must not take them back to 1.
func EnsureStream(ctx context.Context, js jetstream.JetStream, cfg jetstream.StreamConfig) (jetstream.Stream, error) {
	if cfg.Replicas == 0 {
		existing, err := js.Stream(ctx, cfg.Name)
		switch {
		case err == nil:
			cfg.Replicas = existing.CachedInfo().Config.Replicas
		case !errors.Is(err, jetstream.ErrStreamNotFound):
			return nil, fmt.Errorf("ensure stream %s: %w", cfg.Name, err)
		}
	}
	s, err := js.CreateOrUpdateStream(ctx, cfg)
	if err != nil {
		return nil, fmt.Errorf("ensure stream %s: %w", cfg.Name, err)
	}
	return s, nil
}

// ServiceStream is the stream that carries a service's events: FIRMFLOW_<SERVICE>
// holding firmflow.<service>.>, on disk, with the project's duplicate window, each
// message kept for maxAge (FIRMFLOW_STREAM_MAX_AGE): a firm's deletion purges the
// messages that name it alone, and maxAge bounds how long any other message about it
// (an access batch shared with other firms) survives. EnsureStream applies a changed
// maxAge to an existing stream, which then drops what is older at once.
// syncAlways marks streams carrying audit or money, which need every write synced
// before it is acknowledged; see SyncMetadataKey for how that is achieved.
func ServiceStream(service string, syncAlways bool, maxAge time.Duration) jetstream.StreamConfig {
	cfg := jetstream.StreamConfig{
		Name:       "FIRMFLOW_" + strings.ToUpper(service),
		Subjects:   []string{"firmflow." + service + ".>"},
		Storage:    jetstream.FileStorage,
		Retention:  jetstream.LimitsPolicy,
		Duplicates: DuplicateWindow,
		MaxAge:     maxAge,
	}
	if syncAlways {
		cfg.Metadata = map[string]string{SyncMetadataKey: "always"}
	}
	return cfg
}

// Ready is a readiness probe for a service's NATS: connected, and JetStream answering
// (a server up without JetStream, or one that lost its quorum, accepts connections
// but stores nothing).
func Ready(nc *nats.Conn, js jetstream.JetStream) func(context.Context) error {
	return func(ctx context.Context) error {
		if !nc.IsConnected() {
			return fmt.Errorf("nats connection %s", nc.Status())
		}
		if _, err := js.AccountInfo(ctx); err != nil {
			return fmt.Errorf("jetstream: %w", err)
		}
		return nil
	}
}
