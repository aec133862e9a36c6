package mail

import (
	"context"
	"errors"
	"fmt"
	"net"
	netmail "net/mail"
	"strconv"
	"time"

	gomail "github.com/wneessen/go-mail"
)

// TLS says how the SMTP connection is protected.
type TLS string

const (
	// TLSNone speaks plain SMTP: only for a sink on the same machine (Mailpit).
	TLSNone TLS = "none"
	// TLSStartTLS requires STARTTLS and refuses a server that does not offer it.
	TLSStartTLS TLS = "starttls"
	// TLSImplicit connects with TLS from the first byte (port 465).
	TLSImplicit TLS = "tls"
)

// SMTPConfig is where and how mail is handed over.
type SMTPConfig struct {
	Addr     string // host:port
	From     string // "firmflow <no-reply@example.com>"
	Username string // empty: no authentication
	Password string
	TLS      TLS
	// Timeout bounds one delivery, connection included; default 15s.
	Timeout time.Duration
}

// Validate rejects settings that cannot work; it never repeats the password.
func (c SMTPConfig) Validate() error {
	var errs []error
	host, port, err := net.SplitHostPort(c.Addr)
	if err != nil || port == "" {
		errs = append(errs, errors.New("SMTP address must be host:port"))
	}
	if _, err := netmail.ParseAddress(c.From); err != nil {
		errs = append(errs, errors.New("sender must be an email address"))
	}
	if c.TLS == TLSNone && c.Username != "" && !loopback(host) {
		errs = append(errs, errors.New("a password goes to a mail server on another machine only over TLS"))
	}
	switch c.TLS {
	case TLSNone, TLSStartTLS, TLSImplicit:
	default:
		errs = append(errs, fmt.Errorf("TLS must be %s, %s or %s", TLSNone, TLSStartTLS, TLSImplicit))
	}
	if (c.Username == "") != (c.Password == "") {
		errs = append(errs, errors.New("SMTP username and password go together"))
	}
	return errors.Join(errs...)
}

func loopback(host string) bool {
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// SMTP delivers messages to one SMTP server, a connection per delivery.
type SMTP struct {
	cfg  SMTPConfig
	host string
	port int
}

// NewSMTP returns a sender for cfg.
func NewSMTP(cfg SMTPConfig) (*SMTP, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	host, portText, _ := net.SplitHostPort(cfg.Addr)
	port, err := strconv.Atoi(portText)
	if err != nil {
		return nil, errors.New("SMTP port is not a number")
	}
	if cfg.Timeout <= 0 {
		cfg.Timeout = 15 * time.Second
	}
	return &SMTP{cfg: cfg, host: host, port: port}, nil
}

// Send delivers m. A *DeliveryError says whether trying again may help.
func (s *SMTP) Send(ctx context.Context, m Message) error {
	msg := gomail.NewMsg()
	if err := msg.From(s.cfg.From); err != nil {
		return &DeliveryError{Reason: "bad sender address"}
	}
	if err := msg.To(m.To); err != nil {
		return &DeliveryError{Reason: "bad recipient address"}
	}
	msg.SetMessageIDWithValue(m.ID)
	msg.SetDate()
	msg.Subject(m.Content.Subject)
	msg.SetBodyString(gomail.TypeTextPlain, m.Content.Text)
	if m.Content.HTML != "" {
		msg.AddAlternativeString(gomail.TypeTextHTML, m.Content.HTML)
	}

	opts := []gomail.Option{gomail.WithPort(s.port), gomail.WithTimeout(s.cfg.Timeout)}
	switch s.cfg.TLS {
	case TLSNone:
		opts = append(opts, gomail.WithTLSPolicy(gomail.NoTLS))
	case TLSStartTLS:
		opts = append(opts, gomail.WithTLSPolicy(gomail.TLSMandatory))
	case TLSImplicit:
		opts = append(opts, gomail.WithSSL())
	}
	if s.cfg.Username != "" {
		auth := gomail.SMTPAuthAutoDiscover
		if s.cfg.TLS == TLSNone {
			// go-mail will not send a password in clear on its own; TLSNone is for a
			// sink on the same machine, where nothing is on the wire.
			auth = gomail.SMTPAuthPlainNoEnc
		}
		opts = append(opts, gomail.WithSMTPAuth(auth),
			gomail.WithUsername(s.cfg.Username), gomail.WithPassword(s.cfg.Password))
	}
	client, err := gomail.NewClient(s.host, opts...)
	if err != nil {
		return &DeliveryError{Reason: "SMTP client settings refused", Temporary: false}
	}
	ctx, cancel := context.WithTimeout(ctx, s.cfg.Timeout)
	defer cancel()
	if err := client.DialAndSendWithContext(ctx, msg); err != nil {
		return classify(err)
	}
	return nil
}

// DeliveryError is a failed delivery, described without the message, its recipient
// or the server's credentials, so that it can be logged and stored.
type DeliveryError struct {
	Reason    string
	Code      int // the SMTP reply code, when the server answered
	Temporary bool
}

func (e *DeliveryError) Error() string {
	if e.Code != 0 {
		return fmt.Sprintf("%s (SMTP %d)", e.Reason, e.Code)
	}
	return e.Reason
}

// classify turns go-mail's error, whose text names recipients, into a DeliveryError.
// A 5xx answer is permanent (the address bounces, the message is refused); anything
// else, a connection that failed included, is worth another try.
func classify(err error) *DeliveryError {
	var send *gomail.SendError
	if errors.As(err, &send) {
		d := &DeliveryError{Reason: send.Reason.String(), Code: send.ErrorCode(), Temporary: send.IsTemp()}
		if d.Code == 0 || d.Code < 500 {
			d.Temporary = true
		}
		return d
	}
	var netErr net.Error
	if errors.As(err, &netErr) && netErr.Timeout() {
		return &DeliveryError{Reason: "SMTP server timed out", Temporary: true}
	}
	if errors.Is(err, context.DeadlineExceeded) || errors.Is(err, context.Canceled) {
		return &DeliveryError{Reason: "delivery interrupted", Temporary: true}
	}
	var opErr *net.OpError
	if errors.As(err, &opErr) {
		return &DeliveryError{Reason: "cannot connect to the SMTP server", Temporary: true}
	}
	return &DeliveryError{Reason: "SMTP conversation failed", Temporary: true}
}
