package mail

import (
	"context"
	"crypto/cipher"
	"crypto/hkdf"
	"crypto/rand"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/jackc/pgx/v5"
	"golang.org/x/crypto/chacha20poly1305"

	"github.com/firmflow/firmflow/pkg/pg"
)

// MinSecretSize is the least secret NewOutbox accepts.
const MinSecretSize = 32

// Outbox queues emails in the mail_outbox table (shared/mail_outbox.sql). Bodies are
// sealed with a key derived from a secret every replica shares, because an
// invitation or password reset email carries a token that must not sit readable in
// the database or its backups; they are cleared once the email is delivered.
type Outbox struct {
	aead cipher.AEAD
}

// NewOutbox derives the outbox's sealing key (HKDF-SHA256) from secret.
func NewOutbox(secret []byte) (*Outbox, error) {
	if len(secret) < MinSecretSize {
		return nil, fmt.Errorf("mail: the outbox secret must be at least %d bytes", MinSecretSize)
	}
	key, err := hkdf.Key(sha256.New, secret, nil, "firmflow mail outbox v1", chacha20poly1305.KeySize)
	if err != nil {
		return nil, fmt.Errorf("mail: derive outbox key: %w", err)
	}
	aead, err := chacha20poly1305.NewX(key)
	if err != nil {
		return nil, fmt.Errorf("mail: outbox key: %w", err)
	}
	return &Outbox{aead: aead}, nil
}

type sealedBody struct {
	Text string `json:"text"`
	HTML string `json:"html,omitempty"`
}

func (o *Outbox) seal(m Message) ([]byte, error) {
	plain, err := json.Marshal(sealedBody{Text: m.Content.Text, HTML: m.Content.HTML})
	if err != nil {
		return nil, err
	}
	defer clear(plain)
	nonce := make([]byte, o.aead.NonceSize(), o.aead.NonceSize()+len(plain)+o.aead.Overhead())
	if _, err := rand.Read(nonce); err != nil {
		return nil, err
	}
	// The Message-ID is bound in, so a body cannot be moved to another row.
	return o.aead.Seal(nonce, nonce, plain, []byte(m.ID)), nil
}

func (o *Outbox) open(messageID string, sealed []byte) (sealedBody, error) {
	n := o.aead.NonceSize()
	if len(sealed) < n {
		return sealedBody{}, errors.New("sealed body too short")
	}
	plain, err := o.aead.Open(nil, sealed[:n], sealed[n:], []byte(messageID))
	if err != nil {
		return sealedBody{}, errors.New("sealed body does not open with this key")
	}
	defer clear(plain)
	var b sealedBody
	err = json.Unmarshal(plain, &b)
	return b, err
}

// Enqueue queues messages in tx, the firm-scoped transaction (pg.DB.InFirm) of the
// change they announce: they are sent if and only if it commits. A message whose ID
// is already queued is left as it is.
func (o *Outbox) Enqueue(ctx context.Context, tx pgx.Tx, messages ...Message) error {
	for _, m := range messages {
		if err := m.validate(); err != nil {
			return fmt.Errorf("mail: enqueue: %w", err)
		}
		body, err := o.seal(m)
		if err != nil {
			return fmt.Errorf("mail: seal body: %w", err)
		}
		_, err = tx.Exec(ctx, `insert into mail_outbox (message_id, firm_id, recipient, subject, body)
			values ($1, $2, $3, $4, $5) on conflict (message_id) do nothing`,
			m.ID, m.FirmID, m.To, m.Content.Subject, body)
		if err != nil {
			return fmt.Errorf("mail: enqueue: %w", err)
		}
	}
	return nil
}

// Sender delivers one message; *SMTP is the real one.
type Sender interface {
	Send(ctx context.Context, m Message) error
}

// WorkerOptions tune a Worker; zero values take the defaults.
type WorkerOptions struct {
	Batch int // emails claimed per transaction; default 10
	// Interval is how often the worker looks for due emails; default 1s.
	Interval time.Duration
	// MinBackoff is the wait after the first failed attempt, doubled after each
	// further one up to MaxBackoff; defaults 5s and 1h.
	MinBackoff, MaxBackoff time.Duration
	// MaxAttempts is when the worker gives up on an email; default 30 (about a day
	// with the default back-off).
	MaxAttempts int
	// Now is the clock; nil means time.Now.
	Now func() time.Time
}

// Worker delivers queued emails. An email is marked sent only after the SMTP server
// accepted it, in the transaction that claimed it: a crash in between sends it again
// with the same Message-ID (at least once). Failures stay on the row (status,
// attempts, last_error) and in the log, never with the body, the recipient or a
// credential.
type Worker struct {
	outbox *Outbox
	db     *pg.DB
	sender Sender
	logger *slog.Logger
	opts   WorkerOptions
}

// Worker returns a worker delivering o's emails from db through sender.
func (o *Outbox) Worker(db *pg.DB, sender Sender, logger *slog.Logger, opts WorkerOptions) *Worker {
	if logger == nil {
		logger = slog.Default()
	}
	if opts.Batch <= 0 {
		opts.Batch = 10
	}
	if opts.Interval <= 0 {
		opts.Interval = time.Second
	}
	if opts.MinBackoff <= 0 {
		opts.MinBackoff = 5 * time.Second
	}
	if opts.MaxBackoff < opts.MinBackoff {
		opts.MaxBackoff = max(time.Hour, opts.MinBackoff)
	}
	if opts.MaxAttempts <= 0 {
		opts.MaxAttempts = 30
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	return &Worker{outbox: o, db: db, sender: sender, logger: logger, opts: opts}
}

// Run delivers due emails every Interval until ctx ends, then returns nil. A failing
// database is logged and tried again at the next tick.
func (w *Worker) Run(ctx context.Context) error {
	tick := time.NewTicker(w.opts.Interval)
	defer tick.Stop()
	for {
		if _, err := w.DeliverDue(ctx); err != nil && ctx.Err() == nil {
			w.logger.WarnContext(ctx, "mail worker could not read its outbox", "error", err)
		}
		select {
		case <-ctx.Done():
			return nil
		case <-tick.C:
		}
	}
}

// DeliverDue attempts every email due now, batch after batch, and returns how many
// were sent. Delivery failures are recorded on their rows, not returned; an error
// means the database failed.
func (w *Worker) DeliverDue(ctx context.Context) (int, error) {
	total := 0
	for {
		claimed, sent, err := w.deliverBatch(ctx)
		total += sent
		if err != nil || claimed < w.opts.Batch {
			return total, err
		}
	}
}

type queued struct {
	MessageID string `db:"message_id"`
	FirmID    string `db:"firm_id"`
	Recipient string `db:"recipient"`
	Subject   string `db:"subject"`
	Body      []byte `db:"body"`
	Attempts  int    `db:"attempts"`
}

func (w *Worker) deliverBatch(ctx context.Context) (claimed, sent int, err error) {
	err = w.db.InTx(ctx, func(tx pgx.Tx) error {
		rows, err := tx.Query(ctx, `select message_id, firm_id::text as firm_id, recipient, subject, body, attempts
			from mail_outbox_claim($1, $2)`, w.opts.Batch, w.opts.Now())
		if err != nil {
			return fmt.Errorf("claim emails: %w", err)
		}
		batch, err := pgx.CollectRows(rows, pgx.RowToStructByNameLax[queued])
		if err != nil {
			return fmt.Errorf("claim emails: %w", err)
		}
		claimed = len(batch)
		for _, q := range batch {
			status, failure, next := w.attempt(ctx, q)
			if status == "sent" {
				sent++
			}
			// Recorded even when ctx ends mid-batch: the SMTP server has answered.
			rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
			_, err := tx.Exec(rctx, "select mail_outbox_record($1, $2, $3, $4, $5)",
				q.MessageID, status, failure, next, w.opts.Now())
			cancel()
			if err != nil {
				return fmt.Errorf("record delivery of %s: %w", q.MessageID, err)
			}
		}
		return nil
	})
	return claimed, sent, err
}

// attempt delivers one email and says what to record: the new status, why it
// failed, and when to try again.
func (w *Worker) attempt(ctx context.Context, q queued) (status, failure string, next *time.Time) {
	log := w.logger.With("message_id", q.MessageID, "firm_id", q.FirmID, "attempt", q.Attempts+1)
	body, err := w.outbox.open(q.MessageID, q.Body)
	if err != nil {
		log.ErrorContext(ctx, "email body cannot be opened; giving up on it", "error", err)
		return "failed", err.Error(), nil
	}
	m := Message{ID: q.MessageID, FirmID: q.FirmID, To: q.Recipient,
		Content: Content{Subject: q.Subject, Text: body.Text, HTML: body.HTML}}
	err = w.sender.Send(ctx, m)
	if err == nil {
		log.InfoContext(ctx, "email sent")
		return "sent", "", nil
	}
	var d *DeliveryError
	if !errors.As(err, &d) {
		d = &DeliveryError{Reason: "sender failed", Temporary: true}
	}
	if !d.Temporary || q.Attempts+1 >= w.opts.MaxAttempts {
		log.ErrorContext(ctx, "email delivery failed for good", "error", d.Error(), "permanent", !d.Temporary)
		return "failed", d.Error(), nil
	}
	wait := w.backoff(q.Attempts)
	at := w.opts.Now().Add(wait)
	log.WarnContext(ctx, "email delivery failed; retrying later", "error", d.Error(), "retry_in", wait)
	return "pending", d.Error(), &at
}

// backoff is the wait after the given number of earlier failed attempts plus this one.
func (w *Worker) backoff(earlier int) time.Duration {
	wait := w.opts.MinBackoff
	for range earlier {
		if wait >= w.opts.MaxBackoff {
			break
		}
		wait *= 2
	}
	return min(wait, w.opts.MaxBackoff)
}
