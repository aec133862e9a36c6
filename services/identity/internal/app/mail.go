package app

import (
	"context"
	"embed"
	"io/fs"
	"time"

	"github.com/firmflow/firmflow/pkg/mail"
	"github.com/firmflow/firmflow/services/identity/internal/store"
)

// Mail is how identity sends email. The zero value means no mail server is
// configured: invitation tokens then go back to the inviter, and password reset
// requests are answered as usual but send nothing.
type Mail struct {
	Outbox *mail.Outbox
	// From is the sender, "firmflow <no-reply@example.com>"; Message-IDs use its domain.
	From string
	// PublicURL is where people reach firmflow (the gateway), for the links in emails.
	// Tokens travel in the URL fragment, which browsers never send to a server, so
	// they stay out of access logs.
	PublicURL string
}

// On reports whether email is sent.
func (m Mail) On() bool { return m.Outbox != nil }

//go:embed emails/*.txt emails/*.html
var emailFiles embed.FS

// emails are identity's email templates, checked by the tests that send each one.
var emails = func() *mail.Templates {
	t, err := mail.ParseTemplates(mustSub(emailFiles, "emails"))
	if err != nil {
		panic(err)
	}
	return t
}()

// sendMail renders the email name for to and queues it in q's transaction. kind and
// id make its Message-ID, so the same cause never queues a second email.
func (a *App) sendMail(ctx context.Context, q *store.Queries, firmID, to, kind, id, name string, data map[string]any) error {
	data["APIURL"] = a.mail.PublicURL
	content, err := emails.Render(name, data)
	if err != nil {
		return err
	}
	return q.QueueMail(ctx, a.mail.Outbox, mail.Message{
		ID: mail.MessageID(kind, id, a.mail.From), FirmID: firmID, To: to, Content: content,
	})
}

// mailTime is how emails show a time: UTC, to the minute.
func mailTime(t time.Time) string { return t.UTC().Format("2 January 2006 at 15:04 UTC") }

func mustSub(fsys embed.FS, dir string) fs.FS {
	sub, err := fs.Sub(fsys, dir)
	if err != nil {
		panic(err)
	}
	return sub
}
