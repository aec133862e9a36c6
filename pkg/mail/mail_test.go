package mail_test

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"os"
	"strings"
	"testing"
	"testing/fstest"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/firmflow/firmflow/pkg/mail"
	"github.com/firmflow/firmflow/pkg/mail/mailtest"
	"github.com/firmflow/firmflow/pkg/pg"
	"github.com/firmflow/firmflow/pkg/pg/pgtest"
)

const firm = "0b8f5a4e-3d1c-4d7e-9a51-6f2c8b0e1a01"

var migrations = fstest.MapFS{"001_mail.sql": {Data: []byte(`
{{ template "shared/tenancy.sql" . }}
{{ template "shared/mail_outbox.sql" . }}
`)}}

var secret = bytes.Repeat([]byte("s"), mail.MinSecretSize)

type fixture struct {
	db     *pg.DB
	admin  *pgtest.Database
	outbox *mail.Outbox
	smtp   *mailtest.Server
	logs   *bytes.Buffer
	worker *mail.Worker
}

func setup(t *testing.T) *fixture {
	t.Helper()
	d := pgtest.New(t, "mailtest", migrations)
	pgtest.CheckTenancy(t, d)
	srv, err := mailtest.Start()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(srv.Stop)
	outbox, err := mail.NewOutbox(secret)
	if err != nil {
		t.Fatal(err)
	}
	sender, err := mail.NewSMTP(mail.SMTPConfig{
		Addr: srv.Addr, From: "firmflow <no-reply@firmflow.test>", TLS: mail.TLSNone,
		Username: "mailer", Password: "smtp-password-never-logged", Timeout: 2 * time.Second,
	})
	if err != nil {
		t.Fatal(err)
	}
	f := &fixture{db: d.Open(t), admin: d, outbox: outbox, smtp: srv, logs: &bytes.Buffer{}}
	logger := slog.New(slog.NewTextHandler(f.logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	f.worker = outbox.Worker(f.db, sender, logger, mail.WorkerOptions{MinBackoff: time.Millisecond, MaxBackoff: 4 * time.Millisecond})
	return f
}

func (f *fixture) enqueue(t *testing.T, m mail.Message) {
	t.Helper()
	err := f.db.InFirm(context.Background(), firm, func(tx pgx.Tx) error { return f.outbox.Enqueue(context.Background(), tx, m) })
	if err != nil {
		t.Fatal(err)
	}
}

type row struct {
	Status, LastError string
	Attempts          int
	BodyCleared       bool
}

func (f *fixture) row(t *testing.T, id string) row {
	t.Helper()
	conn, err := pgx.Connect(context.Background(), f.admin.AdminURL)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(context.Background())
	var r row
	err = conn.QueryRow(context.Background(), `select status, last_error, attempts, body is null
		from mail_outbox where message_id = $1`, id).Scan(&r.Status, &r.LastError, &r.Attempts, &r.BodyCleared)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

func message(id, to string) mail.Message {
	return mail.Message{ID: id, FirmID: firm, To: to, Content: mail.Content{
		Subject: "Reset your password", Text: "Your token: ffr_secret-token-123\n", HTML: "<p>Your token: <code>ffr_secret-token-123</code></p>",
	}}
}

func TestOutboxDeliversExactlyOnceAfterSMTPOutage(t *testing.T) {
	f := setup(t)
	ctx := context.Background()
	f.smtp.Stop()
	id := mail.MessageID("password-reset", "42", "no-reply@firmflow.test")
	f.enqueue(t, message(id, "ada@example.com"))
	f.enqueue(t, message(id, "ada@example.com")) // the same cause queues one email

	// Three attempts while the server is down: each one fails, is counted and waits.
	for i := 1; i <= 3; i++ {
		time.Sleep(10 * time.Millisecond) // past the back-off
		sent, err := f.worker.DeliverDue(ctx)
		if err != nil || sent != 0 {
			t.Fatalf("attempt %d with SMTP down: sent %d, %v", i, sent, err)
		}
		r := f.row(t, id)
		if r.Status != "pending" || r.Attempts != i || !strings.Contains(r.LastError, "cannot connect") || r.BodyCleared {
			t.Fatalf("after attempt %d: %+v", i, r)
		}
	}

	if err := f.smtp.Start(); err != nil {
		t.Fatal(err)
	}
	time.Sleep(10 * time.Millisecond)
	for range 3 { // later passes find nothing left to send
		if _, err := f.worker.DeliverDue(ctx); err != nil {
			t.Fatal(err)
		}
	}
	got := f.smtp.Messages()
	if len(got) != 1 {
		t.Fatalf("the server received %d emails, want exactly 1", len(got))
	}
	m := got[0]
	if m.MessageID != id || m.Subject != "Reset your password" || m.To[0] != "ada@example.com" ||
		!strings.Contains(m.Text, "ffr_secret-token-123") || !strings.Contains(m.HTML, "<code>ffr_secret-token-123</code>") {
		t.Fatalf("received %+v", m)
	}
	if r := f.row(t, id); r.Status != "sent" || r.Attempts != 4 || !r.BodyCleared {
		t.Fatalf("after delivery: %+v", r)
	}
	logs := f.logs.String()
	for _, secret := range []string{"ffr_secret-token-123", "smtp-password-never-logged", "ada@example.com"} {
		if strings.Contains(logs, secret) {
			t.Errorf("the log holds %q:\n%s", secret, logs)
		}
	}
	if !strings.Contains(logs, "retrying later") || !strings.Contains(logs, "email sent") {
		t.Errorf("the log does not tell the story:\n%s", logs)
	}
}

func TestBouncedEmailFailsForGoodAndIsNotRetried(t *testing.T) {
	f := setup(t)
	f.smtp.Reject(func(to string) bool { return to == "nobody@example.com" })
	bounced, delivered := "a.1@firmflow.test", "b.1@firmflow.test"
	f.enqueue(t, message(bounced, "nobody@example.com"))
	f.enqueue(t, message(delivered, "ada@example.com"))
	for range 3 {
		time.Sleep(10 * time.Millisecond)
		if _, err := f.worker.DeliverDue(context.Background()); err != nil {
			t.Fatal(err)
		}
	}
	if r := f.row(t, bounced); r.Status != "failed" || r.Attempts != 1 || !strings.Contains(r.LastError, "SMTP 550") || !r.BodyCleared {
		t.Fatalf("bounced email: %+v", r)
	}
	if r := f.row(t, delivered); r.Status != "sent" {
		t.Fatalf("the other email: %+v", r)
	}
	if n := len(f.smtp.Messages()); n != 1 {
		t.Fatalf("received %d emails, want 1", n)
	}
}

func TestRolledBackChangeSendsNoEmail(t *testing.T) {
	f := setup(t)
	ctx := context.Background()
	boom := errors.New("the change failed")
	err := f.db.InFirm(ctx, firm, func(tx pgx.Tx) error {
		if err := f.outbox.Enqueue(ctx, tx, message("c.1@firmflow.test", "ada@example.com")); err != nil {
			return err
		}
		return boom
	})
	if !errors.Is(err, boom) {
		t.Fatal(err)
	}
	if sent, err := f.worker.DeliverDue(ctx); err != nil || sent != 0 || len(f.smtp.Messages()) != 0 {
		t.Fatalf("sent %d (%v), received %d", sent, err, len(f.smtp.Messages()))
	}
}

func TestBodiesAreSealedAtRest(t *testing.T) {
	f := setup(t)
	f.enqueue(t, message("d.1@firmflow.test", "ada@example.com"))
	conn, err := pgx.Connect(context.Background(), f.admin.AdminURL)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(context.Background())
	var body []byte
	if err := conn.QueryRow(context.Background(), "select body from mail_outbox").Scan(&body); err != nil {
		t.Fatal(err)
	}
	if bytes.Contains(body, []byte("ffr_secret-token-123")) || len(body) == 0 {
		t.Fatalf("the stored body is readable: %q", body)
	}
}

func TestEnqueueRefusesMalformedMessages(t *testing.T) {
	f := setup(t)
	bad := message("no-domain", "not an address")
	bad.Content.Subject = "two\nlines"
	err := f.db.InFirm(context.Background(), firm, func(tx pgx.Tx) error { return f.outbox.Enqueue(context.Background(), tx, bad) })
	for _, want := range []string{"message id", "recipient", "subject"} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("error %v does not name the %s", err, want)
		}
	}
}

func TestTemplatesRenderBothBodiesAndEscapeHTML(t *testing.T) {
	tpl, err := mail.ParseTemplates(os.DirFS("testdata"))
	if err != nil {
		t.Fatal(err)
	}
	c, err := tpl.Render("welcome", map[string]string{"Firm": "Ledger & Co", "Name": "<Sam>", "Code": "42"})
	if err != nil {
		t.Fatal(err)
	}
	if c.Subject != "Welcome to Ledger & Co" || !strings.HasPrefix(c.Text, "Hello <Sam>,") ||
		!strings.Contains(c.HTML, "Hello &lt;Sam&gt;,") || !strings.Contains(c.HTML, "<code>42</code>") {
		t.Fatalf("rendered %+v", c)
	}
	if _, err := tpl.Render("welcome", map[string]string{"Firm": "x"}); err == nil {
		t.Fatal("a missing field rendered silently")
	}
	if _, err := mail.ParseTemplates(fstest.MapFS{"a.txt": {Data: []byte("Subject: a\n")}}); err == nil {
		t.Fatal("a text template without its HTML twin was accepted")
	}
}

func TestSMTPConfigRefusesWhatCannotWork(t *testing.T) {
	for _, c := range []struct {
		cfg  mail.SMTPConfig
		want string
	}{
		{mail.SMTPConfig{Addr: "mail.example.com", From: "a@b.c", TLS: mail.TLSStartTLS}, "host:port"},
		{mail.SMTPConfig{Addr: "mail.example.com:587", From: "nobody", TLS: mail.TLSStartTLS}, "sender"},
		{mail.SMTPConfig{Addr: "mail.example.com:587", From: "a@b.c", TLS: "maybe"}, "TLS must be"},
		{mail.SMTPConfig{Addr: "mail.example.com:587", From: "a@b.c", TLS: mail.TLSStartTLS, Username: "u"}, "go together"},
		{mail.SMTPConfig{Addr: "mail.example.com:25", From: "a@b.c", TLS: mail.TLSNone, Username: "u", Password: "hunter2-secret"}, "only over TLS"},
	} {
		err := c.cfg.Validate()
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%+v: %v, want %q", c.cfg, err, c.want)
		}
		if err != nil && strings.Contains(err.Error(), "hunter2-secret") {
			t.Errorf("the error repeats the password: %v", err)
		}
	}
	ok := mail.SMTPConfig{Addr: "127.0.0.1:1025", From: "firmflow <no-reply@firmflow.test>", TLS: mail.TLSNone, Username: "u", Password: "p"}
	if err := ok.Validate(); err != nil {
		t.Errorf("a local sink with a password: %v", err)
	}
}
