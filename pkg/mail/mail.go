// Package mail sends firmflow's email: messages rendered from embedded templates
// (Templates), queued in the transaction of the change that causes them (Enqueue),
// and delivered over SMTP at least once by an outbox Worker that retries with
// exponential back-off and records every outcome on the message's row.
package mail

import (
	"errors"
	"net/mail"
	"strings"
)

// Message is one email to one recipient.
type Message struct {
	// ID becomes the Message-ID header (without angle brackets) and is the outbox's
	// key: enqueueing the same ID twice queues one email, and a receiver that sees it
	// twice (delivery is at least once) can tell the copy. Derive it from what caused
	// the email (MessageID), so a retried use case cannot send a second one.
	ID      string
	FirmID  string
	To      string
	Content Content
}

// Content is a rendered email: its subject and both bodies.
type Content struct {
	Subject string
	Text    string
	HTML    string
}

// MessageID returns a Message-ID for the email of kind about a thing with the given
// id, under the sender's domain: "password-reset.<id>@example.com".
func MessageID(kind, id, from string) string {
	domain := "firmflow.localhost"
	if addr, err := mail.ParseAddress(from); err == nil {
		if _, d, ok := strings.Cut(addr.Address, "@"); ok && d != "" {
			domain = d
		}
	}
	return kind + "." + id + "@" + domain
}

func (m Message) validate() error {
	var errs []error
	if m.ID == "" || strings.ContainsAny(m.ID, "<> \r\n") || !strings.Contains(m.ID, "@") {
		errs = append(errs, errors.New("message id must be local@domain without brackets or spaces"))
	}
	if _, err := mail.ParseAddress(m.To); err != nil {
		errs = append(errs, errors.New("recipient is not an email address"))
	}
	if m.Content.Subject == "" || strings.ContainsAny(m.Content.Subject, "\r\n") {
		errs = append(errs, errors.New("subject must be one non-empty line"))
	}
	if m.Content.Text == "" {
		errs = append(errs, errors.New("no plain-text body"))
	}
	return errors.Join(errs...)
}
