// Package mailtest is an SMTP server in the test process (emersion/go-smtp) that
// keeps what it receives, so tests assert on the mail that actually arrived. It can
// be stopped and started again on the same address, refuse recipients like a bounce,
// and answer the two Mailpit API calls the README's examples make.
package mailtest

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"mime/multipart"
	"mime/quotedprintable"
	"net"
	"net/http"
	"net/http/httptest"
	netmail "net/mail"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/emersion/go-sasl"
	"github.com/emersion/go-smtp"
)

// Message is one email as the server received it.
type Message struct {
	// MessageID is the Message-ID header without its angle brackets.
	MessageID string
	From      string
	To        []string // envelope recipients
	Subject   string
	Text      string
	HTML      string
	Raw       []byte
}

// Server is a running SMTP server.
type Server struct {
	// Addr is host:port, the same across Stop and Start.
	Addr string

	mu       sync.Mutex
	smtp     *smtp.Server
	messages []Message
	reject   func(to string) bool
	arrived  chan struct{}
}

// Start runs a server on a free loopback port.
func Start() (*Server, error) {
	s := &Server{Addr: "127.0.0.1:0", arrived: make(chan struct{})}
	if err := s.Start(); err != nil {
		return nil, err
	}
	return s, nil
}

// Start (re)starts a stopped server on its address.
func (s *Server) Start() error {
	l, err := net.Listen("tcp", s.Addr)
	if err != nil {
		return fmt.Errorf("mailtest: listen: %w", err)
	}
	srv := smtp.NewServer(backend{s})
	srv.Domain = "mailtest.localhost"
	srv.ReadTimeout, srv.WriteTimeout = 10*time.Second, 10*time.Second
	srv.MaxMessageBytes = 1 << 20
	srv.AllowInsecureAuth = true // loopback only: lets tests pass credentials
	s.mu.Lock()
	s.Addr, s.smtp = l.Addr().String(), srv
	s.mu.Unlock()
	go func() { _ = srv.Serve(l) }()
	return nil
}

// Stop closes the listener and every connection; mail sent meanwhile fails to connect.
func (s *Server) Stop() {
	s.mu.Lock()
	srv := s.smtp
	s.smtp = nil
	s.mu.Unlock()
	if srv != nil {
		_ = srv.Close()
	}
}

// Reject makes the server refuse recipients for which reject is true with a
// permanent 550, as a mailbox that does not exist; nil accepts everyone.
func (s *Server) Reject(reject func(to string) bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.reject = reject
}

// Messages returns everything received so far.
func (s *Server) Messages() []Message {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]Message(nil), s.messages...)
}

// To returns the messages received for one recipient.
func (s *Server) To(addr string) []Message {
	var out []Message
	for _, m := range s.Messages() {
		for _, to := range m.To {
			if strings.EqualFold(to, addr) {
				out = append(out, m)
				break
			}
		}
	}
	return out
}

// Wait returns the first message for addr whose subject contains subject, waiting
// up to timeout for it to arrive.
func (s *Server) Wait(addr, subject string, timeout time.Duration) (Message, error) {
	deadline := time.After(timeout)
	for {
		s.mu.Lock()
		arrived := s.arrived
		s.mu.Unlock()
		for _, m := range s.To(addr) {
			if strings.Contains(m.Subject, subject) {
				return m, nil
			}
		}
		select {
		case <-arrived:
		case <-deadline:
			return Message{}, fmt.Errorf("mailtest: no email %q to %s within %s", subject, addr, timeout)
		}
	}
}

func (s *Server) add(m Message) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.messages = append(s.messages, m)
	close(s.arrived)
	s.arrived = make(chan struct{})
}

type backend struct{ s *Server }

func (b backend) NewSession(*smtp.Conn) (smtp.Session, error) { return &session{s: b.s}, nil }

type session struct {
	s    *Server
	from string
	to   []string
}

// AuthMechanisms offers PLAIN and takes any credentials: tests check that the sender
// authenticates, not what with.
func (ss *session) AuthMechanisms() []string { return []string{sasl.Plain} }

func (ss *session) Auth(string) (sasl.Server, error) {
	return sasl.NewPlainServer(func(_, _, _ string) error { return nil }), nil
}

func (ss *session) Reset()        { ss.from, ss.to = "", nil }
func (ss *session) Logout() error { return nil }

func (ss *session) Mail(from string, _ *smtp.MailOptions) error {
	ss.from = from
	return nil
}

func (ss *session) Rcpt(to string, _ *smtp.RcptOptions) error {
	ss.s.mu.Lock()
	reject := ss.s.reject
	ss.s.mu.Unlock()
	if reject != nil && reject(to) {
		return &smtp.SMTPError{Code: 550, EnhancedCode: smtp.EnhancedCode{5, 1, 1}, Message: "no such mailbox"}
	}
	ss.to = append(ss.to, to)
	return nil
}

func (ss *session) Data(r io.Reader) error {
	raw, err := io.ReadAll(r)
	if err != nil {
		return err
	}
	m, err := parse(raw)
	if err != nil {
		return &smtp.SMTPError{Code: 554, Message: "unreadable message: " + err.Error()}
	}
	m.From, m.To = ss.from, append([]string(nil), ss.to...)
	ss.s.add(m)
	return nil
}

var decoder = new(mime.WordDecoder)

// parse reads the headers and the text and HTML parts of a message.
func parse(raw []byte) (Message, error) {
	msg, err := netmail.ReadMessage(bytes.NewReader(raw))
	if err != nil {
		return Message{}, err
	}
	subject, err := decoder.DecodeHeader(msg.Header.Get("Subject"))
	if err != nil {
		return Message{}, err
	}
	m := Message{
		MessageID: strings.Trim(msg.Header.Get("Message-Id"), "<>"),
		Subject:   subject,
		Raw:       raw,
	}
	err = readPart(&m, msg.Header.Get("Content-Type"), msg.Header.Get("Content-Transfer-Encoding"), msg.Body)
	return m, err
}

func readPart(m *Message, contentType, encoding string, body io.Reader) error {
	mediaType, params, err := mime.ParseMediaType(contentType)
	if err != nil {
		return err
	}
	if strings.HasPrefix(mediaType, "multipart/") {
		mr := multipart.NewReader(body, params["boundary"])
		for {
			p, err := mr.NextRawPart()
			if errors.Is(err, io.EOF) {
				return nil
			}
			if err != nil {
				return err
			}
			if err := readPart(m, p.Header.Get("Content-Type"), p.Header.Get("Content-Transfer-Encoding"), p); err != nil {
				return err
			}
		}
	}
	if strings.EqualFold(encoding, "quoted-printable") {
		body = quotedprintable.NewReader(body)
	}
	content, err := io.ReadAll(body)
	if err != nil {
		return err
	}
	switch mediaType {
	case "text/plain":
		m.Text = string(content)
	case "text/html":
		m.HTML = string(content)
	}
	return nil
}

// MailpitAPI serves the part of Mailpit's HTTP API that the README uses, over this
// server's mail: GET /api/v1/search?query=to:ADDR (newest first, IDs only) and
// GET /api/v1/message/{ID} (Subject, Text, HTML). Close it when done.
func (s *Server) MailpitAPI() *httptest.Server {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /api/v1/search", func(w http.ResponseWriter, r *http.Request) {
		to, ok := strings.CutPrefix(r.URL.Query().Get("query"), "to:")
		if !ok {
			http.Error(w, "only to:ADDRESS queries", http.StatusBadRequest)
			return
		}
		type summary struct {
			ID      string
			Subject string
		}
		all := s.Messages()
		found := []summary{}
		for i := len(all) - 1; i >= 0; i-- {
			for _, rcpt := range all[i].To {
				if strings.EqualFold(rcpt, strings.Trim(to, `"`)) {
					found = append(found, summary{ID: strconv.Itoa(i), Subject: all[i].Subject})
					break
				}
			}
		}
		writeJSON(w, map[string]any{"messages": found, "messages_count": len(found)})
	})
	mux.HandleFunc("GET /api/v1/message/{id}", func(w http.ResponseWriter, r *http.Request) {
		all := s.Messages()
		i, err := strconv.Atoi(r.PathValue("id"))
		if err != nil || i < 0 || i >= len(all) {
			http.NotFound(w, r)
			return
		}
		m := all[i]
		writeJSON(w, map[string]any{"ID": r.PathValue("id"), "MessageID": m.MessageID, "Subject": m.Subject, "Text": m.Text, "HTML": m.HTML})
	})
	return httptest.NewServer(mux)
}

func writeJSON(w http.ResponseWriter, v any) {
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(v)
}

// Token returns the first match of pattern (a token like `ffr_[A-Za-z0-9_-]+`) in the
// message's plain-text body.
func (m Message) Token(pattern string) (string, error) {
	found := regexp.MustCompile(pattern).FindString(m.Text)
	if found == "" {
		return "", fmt.Errorf("mailtest: no %s in the email %q", pattern, m.Subject)
	}
	return found, nil
}
