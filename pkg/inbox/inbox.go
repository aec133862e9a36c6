// Package inbox is how a service consumes other services' events with exactly one
// effect each: a durable JetStream consumer hands every event to the service's
// handler, the handler applies it and calls Record in the same transaction, and the
// event is acknowledged only after that transaction committed. A redelivered event
// finds its id recorded and changes nothing. Services include the table with
// {{ template "shared/inbox.sql" . }}.
package inbox

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/nats-io/nats.go"

	"github.com/firmflow/firmflow/pkg/outbox"
)

// Message is one event as a consumer receives it: the outbox headers decoded, the
// payload still protobuf bytes for the handler to unmarshal.
type Message struct {
	EventID    string
	FirmID     string
	Subject    string
	Actor      string
	OccurredAt time.Time
	Data       []byte
	// Delivery counts the attempts, 1 for the first: handlers may log it, never
	// branch on it.
	Delivery uint64
}

// ErrMalformed marks a message without the headers every firmflow event carries; it
// can never be applied and is dropped.
var ErrMalformed = errors.New("inbox: malformed event")

// Decode reads the outbox headers of a NATS message.
func Decode(subject string, header nats.Header, data []byte) (Message, error) {
	m := Message{
		EventID: header.Get(outbox.HeaderEventID),
		FirmID:  header.Get(outbox.HeaderFirmID),
		Subject: subject,
		Actor:   header.Get(outbox.HeaderActor),
		Data:    data,
	}
	if _, err := uuid.Parse(m.EventID); err != nil {
		return Message{}, fmt.Errorf("%w: %s is not a UUID", ErrMalformed, outbox.HeaderEventID)
	}
	if _, err := uuid.Parse(m.FirmID); err != nil {
		return Message{}, fmt.Errorf("%w: %s is not a UUID", ErrMalformed, outbox.HeaderFirmID)
	}
	occurred, err := time.Parse(time.RFC3339Nano, header.Get(outbox.HeaderOccurredAt))
	if err != nil {
		return Message{}, fmt.Errorf("%w: %s is not an RFC 3339 time", ErrMalformed, outbox.HeaderOccurredAt)
	}
	m.OccurredAt = occurred
	return m, nil
}

// Record notes in tx, the firm-scoped transaction applying m, that m has been
// applied. It reports false when m was recorded before: the caller then skips the
// effect. Call it first in the transaction: a second delivery being handled at the
// same time waits on the first one's row and then sees it, so the two never both
// apply the event.
func Record(ctx context.Context, tx pgx.Tx, m Message) (bool, error) {
	tag, err := tx.Exec(ctx, `insert into inbox (event_id, firm_id, subject, occurred_at) values ($1, $2, $3, $4)
		on conflict (event_id) do nothing`, m.EventID, m.FirmID, m.Subject, m.OccurredAt)
	if err != nil {
		return false, fmt.Errorf("inbox: record event %s: %w", m.EventID, err)
	}
	return tag.RowsAffected() == 1, nil
}

// permanentError marks a handler failure that no retry can cure.
type permanentError struct{ err error }

func (p permanentError) Error() string { return p.err.Error() }
func (p permanentError) Unwrap() error { return p.err }

// Permanent wraps a handler error that retrying cannot fix (a payload that does not
// decode, say): the consumer logs it and stops redelivering the event instead of
// retrying it forever.
func Permanent(err error) error {
	if err == nil {
		return nil
	}
	return permanentError{err: err}
}

// IsPermanent reports whether err was marked with Permanent.
func IsPermanent(err error) bool {
	var p permanentError
	return errors.As(err, &p)
}

// Retention is how long a processed event's id is kept. JetStream redelivers an
// event only until it is acknowledged, which happens right after the transaction
// that recorded its id; a week covers any redelivery, a consumer restarted after a
// long outage included. The SQL is prune_queues (shared/queue_prune.sql).
const Retention = 7 * 24 * time.Hour
