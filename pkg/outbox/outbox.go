// Package outbox is how a service emits events without losing or inventing any: Write
// stores events in the transaction that makes the change they describe, and a Relay
// publishes committed events to JetStream with Nats-Msg-Id set to the event id, so a
// republish after a crash is dropped as a duplicate. Services include the table and
// the relay's functions in a migration with {{ template "shared/outbox.sql" . }}.
package outbox

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/propagation"
	"google.golang.org/protobuf/proto"
)

// Headers every published event carries besides Nats-Msg-Id and the trace context.
const (
	HeaderEventID    = "Firmflow-Event-Id"
	HeaderFirmID     = "Firmflow-Firm-Id"
	HeaderActor      = "Firmflow-Actor"
	HeaderOccurredAt = "Firmflow-Occurred-At" // RFC 3339 with nanoseconds
	// HeaderReplaces names, on an access event, the earlier event of the same request
	// whose response the client never got: the gateway answered 503 instead.
	HeaderReplaces = "Firmflow-Replaces"
)

// Event is one fact a service announces, published on Subject
// (firmflow.<service>.<event>) with Payload marshalled as protobuf.
type Event struct {
	ID      string // a UUID; Write generates one when empty
	FirmID  string
	Subject string
	Actor   string // who caused it, as the audit log names them
	Payload proto.Message
}

// Write queues events in tx, which must be the firm-scoped transaction (pg.DB.InFirm)
// making the change the events describe: they are published if and only if it
// commits. Row-level security refuses events of a firm other than the
// transaction's. The trace context of ctx travels with each event.
func Write(ctx context.Context, tx pgx.Tx, events ...Event) error {
	if len(events) == 0 {
		return nil
	}
	trace := propagation.MapCarrier{}
	otel.GetTextMapPropagator().Inject(ctx, trace)
	headers, err := json.Marshal(trace)
	if err != nil {
		return fmt.Errorf("outbox: encode trace context: %w", err)
	}

	n := len(events)
	ids, firms, subjects, actors := make([]string, n), make([]string, n), make([]string, n), make([]string, n)
	payloads := make([][]byte, n)
	for i, e := range events {
		if err := e.validate(); err != nil {
			return fmt.Errorf("outbox: event %d (%s): %w", i, e.Subject, err)
		}
		if e.ID == "" {
			e.ID = newEventID()
		}
		payload, err := proto.Marshal(e.Payload)
		if err != nil {
			return fmt.Errorf("outbox: marshal %s payload: %w", e.Subject, err)
		}
		ids[i], firms[i], subjects[i], actors[i], payloads[i] = e.ID, e.FirmID, e.Subject, e.Actor, payload
	}

	// One statement for the whole batch: one round trip, one wake-up for the relay.
	_, err = tx.Exec(ctx, `
		insert into outbox (id, firm_id, subject, actor, payload, headers)
		select id, firm_id, subject, actor, payload, $6::jsonb
		from unnest($1::uuid[], $2::uuid[], $3::text[], $4::text[], $5::bytea[])
			as e(id, firm_id, subject, actor, payload)`,
		ids, firms, subjects, actors, payloads, string(headers))
	if err != nil {
		return fmt.Errorf("outbox: insert %d events: %w", n, err)
	}
	return nil
}

func (e Event) validate() error {
	if e.ID != "" {
		if _, err := uuid.Parse(e.ID); err != nil {
			return errors.New("event id is not a UUID")
		}
	}
	if _, err := uuid.Parse(e.FirmID); err != nil {
		return errors.New("firm id is not a UUID")
	}
	if !strings.HasPrefix(e.Subject, "firmflow.") {
		return errors.New(`subject must start with "firmflow."`)
	}
	if e.Payload == nil {
		return errors.New("no payload")
	}
	return nil
}

// newEventID returns a time-ordered UUID (v7), which keeps the primary-key index
// append-mostly.
func newEventID() string {
	id, err := uuid.NewV7()
	if err != nil {
		return uuid.NewString()
	}
	return id.String()
}

// Retention is how long a published event's row is kept. A republish is dropped by
// JetStream only within its duplicate window (natsx.DuplicateWindow, 2 h), so after
// that the row protects nothing; a day leaves room to look into a recent incident.
// Unpublished rows are never pruned. The SQL is prune_queues (shared/queue_prune.sql).
const Retention = 24 * time.Hour
