// Package stripefake is a Stripe for development and end-to-end tests that keeps
// state, so that what billing reads back is what happened (see Fake). Its helpers
// render Stripe's objects and events and sign webhooks as Stripe does.
package stripefake

import (
	"bytes"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"html"
	"io"
	"net/http"
	"net/url"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"
)

// Fake is a Stripe that remembers: the customers, Checkout sessions, subscriptions and
// invoices billing creates and later reads again. stripe-mock answers every request
// with the same fixture (a subscription whose period ended in 2000), so a firm that
// paid would read as lapsed; the Fake answers with what happened. Its Checkout page
// is a page of its own: opening it pays, creates the subscription and its first paid
// invoice, and delivers the events Stripe would send, signed, to the webhook endpoint.
// Requests for objects it does not hold go to Next (stripe-mock, in tests), or are
// answered 404 as Stripe does.
//
// It is for development and tests only: no card, no money, no Stripe account.
type Fake struct {
	// Next takes the requests the Fake has no state for; nil answers 404.
	Next http.Handler

	mu         sync.Mutex
	delivering sync.Mutex // one delivery at a time
	now        func() time.Time
	pages      string // base URL of the Checkout and portal pages
	customers  map[string]*fakeCustomer
	sessions   map[string]*fakeSession
	subs       map[string]*Subscription
	items      map[string]string // subscription item id -> subscription id
	invoices   map[string][]map[string]any
	events     []json.RawMessage     // newest first, as Stripe lists them
	replies    map[string]keyedReply // idempotency key -> first request and answer
	hook       webhookTarget
}

// keyedReply is a request made with an idempotency key, and what it answered.
type keyedReply struct {
	params string // the request's form, as sent
	body   []byte
}

type fakeCustomer struct {
	object  map[string]any
	deleted bool
}

type fakeSession struct {
	object                     map[string]any
	customer, price, firmID    string
	quantity, trialDays        int64
	successURL, subscriptionID string
}

// webhookTarget is where the Fake delivers events; the client trusts the gateway's
// certificate.
type webhookTarget struct {
	url, secret string
	client      func() (*http.Client, error)
}

// NewFake returns an empty Fake whose pages are served under pagesURL, the address it
// is reachable at (http://127.0.0.1:12111).
func NewFake(pagesURL string) *Fake {
	return &Fake{
		now: time.Now, pages: strings.TrimSuffix(pagesURL, "/"),
		customers: map[string]*fakeCustomer{}, sessions: map[string]*fakeSession{}, subs: map[string]*Subscription{},
		items: map[string]string{}, invoices: map[string][]map[string]any{}, replies: map[string]keyedReply{},
	}
}

// SetPagesURL sets where the Fake's pages are reachable, once its address is known.
func (f *Fake) SetPagesURL(pagesURL string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.pages = strings.TrimSuffix(pagesURL, "/")
}

// DeliverTo makes the Fake post its events to the webhook endpoint at url, signed
// with secret, through the HTTP client client returns (asked at each delivery, so it
// may read a CA file that does not exist yet).
func (f *Fake) DeliverTo(url, secret string, client func() (*http.Client, error)) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.hook = webhookTarget{url: url, secret: secret, client: client}
}

// TrustingClient is an HTTP client that trusts the certificates signed by the CA in
// caFile (PEM), read when called.
func TrustingClient(caFile string) func() (*http.Client, error) {
	return func() (*http.Client, error) {
		pool, err := loadPool(caFile)
		if err != nil {
			return nil, err
		}
		return &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{
			TLSClientConfig: &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12},
		}}, nil
	}
}

func (f *Fake) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	raw, err := io.ReadAll(r.Body)
	if err != nil {
		return
	}
	r.Body = io.NopCloser(bytes.NewReader(raw))
	if err := r.ParseForm(); err != nil {
		writeError(w, http.StatusBadRequest, "invalid_request_error", "", "malformed parameters")
		return
	}
	r.Body = io.NopCloser(bytes.NewReader(raw)) // for Next
	path := strings.Split(strings.Trim(r.URL.Path, "/"), "/")
	key := r.Header.Get("Idempotency-Key")
	if r.Method == http.MethodPost && key != "" {
		f.mu.Lock()
		first, seen := f.replies[key]
		f.mu.Unlock()
		switch {
		case seen && first.params != r.Form.Encode():
			// As Stripe: a key belongs to the parameters it was first sent with.
			writeError(w, http.StatusBadRequest, "idempotency_error", "",
				"Keys for idempotent requests can only be used with the same parameters they were first used with.")
			return
		case seen:
			writeJSON(w, http.StatusOK, json.RawMessage(first.body))
			return
		}
	}
	status, reply, events := f.route(r, path)
	if status == 0 {
		f.next(w, r)
		return
	}
	body, err := json.Marshal(reply)
	if err != nil {
		writeError(w, http.StatusInternalServerError, "api_error", "", err.Error())
		return
	}
	if status == http.StatusOK && r.Method == http.MethodPost && key != "" {
		f.mu.Lock()
		f.replies[key] = keyedReply{params: r.Form.Encode(), body: body}
		f.mu.Unlock()
	}
	if page, ok := reply.(htmlPage); ok {
		// The person returns to firmflow once Stripe has told it: the page shows
		// after the events are delivered.
		f.deliver(events)
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		w.WriteHeader(status)
		_, _ = io.WriteString(w, string(page))
		return
	}
	writeJSON(w, status, json.RawMessage(body))
	// Billing may be waiting on this answer inside the transaction the event
	// needs, so events caused by API calls follow the answer, as Stripe's do.
	go f.deliver(events)
}

// htmlPage is a reply for a person's browser rather than for billing.
type htmlPage string

// route answers the request from the Fake's state: status 0 hands it to Next. events
// are delivered to the webhook endpoint after the answer.
func (f *Fake) route(r *http.Request, path []string) (status int, reply any, events [][]byte) {
	f.mu.Lock()
	defer f.mu.Unlock()
	now := f.now().UTC()
	switch {
	case r.Method == http.MethodPost && match(path, "v1", "customers"):
		id := newObjectID("cus")
		c := map[string]any{"id": id, "object": "customer", "created": now.Unix(), "livemode": false,
			"description": r.PostForm.Get("description"), "metadata": metadata(r.PostForm)}
		f.customers[id] = &fakeCustomer{object: c}
		return http.StatusOK, c, nil
	case r.Method == http.MethodDelete && match(path, "v1", "customers", "*"):
		c, ok := f.customers[path[2]]
		if !ok || c.deleted {
			return missing(path[2])
		}
		c.deleted = true
		for _, s := range f.subs {
			if s.Customer == path[2] && s.Status != "canceled" {
				events = append(events, f.cancel(s, now))
			}
		}
		return http.StatusOK, map[string]any{"id": path[2], "object": "customer", "deleted": true}, events
	case r.Method == http.MethodPost && match(path, "v1", "checkout", "sessions"):
		return f.createSession(r.PostForm, now)
	case match(path, "checkout", "*"):
		return f.completeCheckout(path[1], now)
	case r.Method == http.MethodPost && match(path, "v1", "billing_portal", "sessions"):
		id := newObjectID("bps")
		return http.StatusOK, map[string]any{"id": id, "object": "billing_portal.session", "customer": r.PostForm.Get("customer"),
			"return_url": r.PostForm.Get("return_url"), "url": f.pages + "/portal/" + id, "created": now.Unix(), "livemode": false}, nil
	case match(path, "portal", "*"):
		return http.StatusOK, htmlPage(`<!doctype html><title>Billing portal</title><p>firmflow's development Stripe has no billing portal: ` +
			`seats follow the firm's members and the subscription is changed through firmflow's API.</p>`), nil
	case r.Method == http.MethodGet && match(path, "v1", "subscriptions", "*"):
		if s, ok := f.subs[path[2]]; ok {
			return http.StatusOK, s.Object(), nil
		}
	case r.Method == http.MethodPost && match(path, "v1", "subscriptions", "*"):
		if s, ok := f.subs[path[2]]; ok {
			if v := r.PostForm.Get("cancel_at_period_end"); v != "" {
				s.CancelAtPeriodEnd = v == "true"
			}
			return http.StatusOK, s.Object(), [][]byte{f.event("customer.subscription.updated", now, s.Object())}
		}
	case r.Method == http.MethodDelete && match(path, "v1", "subscriptions", "*"):
		if s, ok := f.subs[path[2]]; ok {
			event := f.cancel(s, now)
			return http.StatusOK, s.Object(), [][]byte{event}
		}
	case r.Method == http.MethodPost && match(path, "v1", "subscription_items", "*"):
		if subID, ok := f.items[path[2]]; ok {
			s := f.subs[subID]
			if q, err := strconv.ParseInt(r.PostForm.Get("quantity"), 10, 64); err == nil && q > 0 {
				s.Quantity = q
			}
			return http.StatusOK, map[string]any{"id": s.ItemID, "object": "subscription_item", "subscription": s.ID,
					"quantity": s.Quantity, "price": map[string]any{"id": s.PriceID, "object": "price"}},
				[][]byte{f.event("customer.subscription.updated", now, s.Object())}
		}
	case r.Method == http.MethodGet && match(path, "v1", "invoices"):
		customer := r.Form.Get("customer")
		if _, ok := f.customers[customer]; ok {
			return http.StatusOK, f.invoicePage(customer, r.Form), nil
		}
	case r.Method == http.MethodGet && match(path, "v1", "events"):
		return http.StatusOK, f.eventPage(r.Form), nil
	}
	return 0, nil, nil
}

func (f *Fake) createSession(form url.Values, now time.Time) (int, any, [][]byte) {
	customer := form.Get("customer")
	if c, ok := f.customers[customer]; !ok || c.deleted {
		return missing(customer)
	}
	quantity, _ := strconv.ParseInt(form.Get("line_items[0][quantity]"), 10, 64)
	trial, _ := strconv.ParseInt(form.Get("subscription_data[trial_period_days]"), 10, 64)
	id := newObjectID("cs")
	s := &fakeSession{
		customer: customer, price: form.Get("line_items[0][price]"), firmID: form.Get("client_reference_id"),
		quantity: max(quantity, 1), trialDays: trial, successURL: form.Get("success_url"),
	}
	s.object = map[string]any{"id": id, "object": "checkout.session", "mode": "subscription", "status": "open",
		"customer": customer, "client_reference_id": s.firmID, "url": f.pages + "/checkout/" + id,
		"success_url": s.successURL, "cancel_url": form.Get("cancel_url"), "created": now.Unix(),
		"expires_at": now.Add(24 * time.Hour).Unix(), "livemode": false}
	f.sessions[id] = s
	return http.StatusOK, s.object, nil
}

// completeCheckout is the person paying on the Checkout page: the subscription
// starts (a trial when asked for), its first invoice is paid, and Stripe's events
// follow. Opening the page again changes nothing.
func (f *Fake) completeCheckout(id string, now time.Time) (int, any, [][]byte) {
	s, ok := f.sessions[id]
	if !ok {
		return http.StatusNotFound, htmlPage("<!doctype html><p>No such Checkout session.</p>"), nil
	}
	var events [][]byte
	if s.subscriptionID == "" {
		sub := &Subscription{
			ID: newObjectID("sub"), Customer: s.customer, Status: "active", PriceID: s.price, ItemID: newObjectID("si"),
			Quantity: s.quantity, Created: now, CurrentPeriodEnd: now.AddDate(0, 1, 0),
		}
		if s.trialDays > 0 {
			sub.Status, sub.CurrentPeriodEnd = "trialing", now.AddDate(0, 0, int(s.trialDays))
		}
		f.subs[sub.ID], f.items[sub.ItemID] = sub, sub.ID
		s.subscriptionID = sub.ID
		s.object["status"], s.object["payment_status"], s.object["subscription"] = "complete", "paid", sub.ID
		invoice := map[string]any{"id": newObjectID("in"), "object": "invoice", "customer": s.customer, "subscription": sub.ID,
			"status": "paid", "number": fmt.Sprintf("DEV-%04d", len(f.invoices[s.customer])+1), "currency": "usd",
			"amount_due": 0, "amount_paid": 0, "created": now.Unix(), "period_start": now.Unix(),
			"period_end": sub.CurrentPeriodEnd.Unix(), "livemode": false}
		f.invoices[s.customer] = append([]map[string]any{invoice}, f.invoices[s.customer]...)
		events = append(events,
			f.event("customer.subscription.created", now, sub.Object()),
			f.event("checkout.session.completed", now, s.object),
			f.event("invoice.paid", now, invoice))
	}
	page := `<!doctype html><title>Checkout</title><p>Paid with firmflow's development Stripe: no card, no money.</p>`
	if s.successURL != "" {
		page += `<p><a href="` + html.EscapeString(s.successURL) + `">Back to firmflow</a></p>`
	}
	return http.StatusOK, htmlPage(page), events
}

// cancel ends a subscription now and returns the event Stripe sends.
func (f *Fake) cancel(s *Subscription, now time.Time) []byte {
	s.Status, s.CancelAtPeriodEnd, s.CanceledAt = "canceled", false, now
	return f.event("customer.subscription.deleted", now, s.Object())
}

// event records an event about object and returns it for delivery.
func (f *Fake) event(typ string, at time.Time, object map[string]any) []byte {
	e := Event(newObjectID("evt"), typ, at, object)
	f.events = append([]json.RawMessage{e}, f.events...)
	return e
}

// deliver posts events to the webhook endpoint in order, one delivery at a time, as
// Stripe would; a failed delivery is left to billing's reconciler, which reads the
// event list.
func (f *Fake) deliver(events [][]byte) {
	f.delivering.Lock()
	defer f.delivering.Unlock()
	f.mu.Lock()
	hook := f.hook
	f.mu.Unlock()
	if hook.url == "" || len(events) == 0 {
		return
	}
	client, err := hook.client()
	if err != nil {
		return
	}
	for _, e := range events {
		req, err := http.NewRequest(http.MethodPost, hook.url, bytes.NewReader(e))
		if err != nil {
			return
		}
		req.Header.Set("Content-Type", "application/json; charset=utf-8")
		req.Header.Set("Stripe-Signature", Sign(e, hook.secret, time.Now()))
		if resp, err := client.Do(req); err == nil {
			_, _ = io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
		}
	}
}

// invoicePage lists a customer's invoices newest first from starting_after.
func (f *Fake) invoicePage(customer string, form url.Values) map[string]any {
	all := f.invoices[customer]
	if after := form.Get("starting_after"); after != "" {
		for i, in := range all {
			if in["id"] == after {
				all = all[i+1:]
				break
			}
		}
	}
	limit := listLimit(form)
	more := len(all) > limit
	data := make([]any, 0, limit)
	for _, in := range all[:min(limit, len(all))] {
		data = append(data, in)
	}
	return map[string]any{"object": "list", "url": "/v1/invoices", "has_more": more, "data": data}
}

// eventPage lists the events created at or after created[gte] of the types asked for.
func (f *Fake) eventPage(form url.Values) map[string]any {
	since, _ := strconv.ParseInt(form.Get("created[gte]"), 10, 64)
	var types []string
	for k, v := range form {
		if strings.HasPrefix(k, "types[") {
			types = append(types, v...)
		}
	}
	data := []any{}
	for _, raw := range f.events {
		var e struct {
			Type    string `json:"type"`
			Created int64  `json:"created"`
		}
		if json.Unmarshal(raw, &e) != nil || e.Created < since || (len(types) > 0 && !slices.Contains(types, e.Type)) {
			continue
		}
		data = append(data, raw)
	}
	return map[string]any{"object": "list", "url": "/v1/events", "has_more": false, "data": data}
}

func (f *Fake) next(w http.ResponseWriter, r *http.Request) {
	if f.Next != nil {
		f.Next.ServeHTTP(w, r)
		return
	}
	writeError(w, http.StatusNotFound, "invalid_request_error", "resource_missing", "no such object: "+r.URL.Path)
}

func match(path []string, want ...string) bool {
	if len(path) != len(want) {
		return false
	}
	for i, w := range want {
		if w != "*" && path[i] != w {
			return false
		}
	}
	return true
}

func missing(id string) (int, any, [][]byte) {
	return http.StatusNotFound, map[string]any{"error": map[string]any{
		"type": "invalid_request_error", "code": "resource_missing", "message": "No such object: '" + id + "'",
	}}, nil
}

func metadata(form url.Values) map[string]string {
	out := map[string]string{}
	for k, v := range form {
		if name, ok := strings.CutPrefix(k, "metadata["); ok && len(v) > 0 {
			out[strings.TrimSuffix(name, "]")] = v[0]
		}
	}
	return out
}

func listLimit(form url.Values) int {
	if n, err := strconv.Atoi(form.Get("limit")); err == nil && n > 0 && n <= 100 {
		return n
	}
	return 10
}

func newObjectID(prefix string) string {
	b := make([]byte, 12)
	_, _ = rand.Read(b)
	return prefix + "_dev" + hex.EncodeToString(b)
}

func writeJSON(w http.ResponseWriter, status int, body any) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Date", time.Now().UTC().Format(http.TimeFormat))
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(body)
}

func writeError(w http.ResponseWriter, status int, typ, code, msg string) {
	writeJSON(w, status, map[string]any{"error": map[string]any{"type": typ, "code": code, "message": msg}})
}

func loadPool(caFile string) (*x509.CertPool, error) {
	pem, err := os.ReadFile(caFile)
	if err != nil {
		return nil, err
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(pem) {
		return nil, fmt.Errorf("%s holds no PEM certificate", caFile)
	}
	return pool, nil
}
