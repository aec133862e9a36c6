package app

import (
	"crypto/x509"
	"net/http"
	"net/http/httptest"
	"net/url"
	"testing"
)

// The dialer checks the address a name resolved to, so a public-looking name that
// points (or is re-pointed, DNS rebinding) at a private address is refused, and so
// is every hop a client might be sent to.
func TestWebhookDialerRefusesLoopbackWhateverTheName(t *testing.T) {
	srv := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		t.Error("the receiver on loopback was reached")
	}))
	defer srv.Close()
	roots := x509.NewCertPool()
	roots.AddCert(srv.Certificate())
	u, _ := url.Parse(srv.URL)
	for _, host := range []string{"127.0.0.1", "localhost", "[::ffff:127.0.0.1]"} {
		target := "https://" + host + ":" + u.Port() + "/hook"
		w := newWebhookSender(WebhookConfig{RootCAs: roots})
		resp, err := w.client.Post(target, "application/json", nil)
		if err == nil {
			resp.Body.Close()
			t.Fatalf("%s: answered %d, want the dial refused", target, resp.StatusCode)
		}
		if got := attemptError(err); got != "address not allowed" {
			t.Errorf("%s: %v reads %q, want address not allowed", target, err, got)
		}
	}
	// The allow-list for tests and make run lets it through.
	w := newWebhookSender(WebhookConfig{RootCAs: roots, AllowLoopback: true})
	ok := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { w.WriteHeader(http.StatusNoContent) }))
	defer ok.Close()
	w.client.Transport.(*http.Transport).TLSClientConfig.RootCAs.AddCert(ok.Certificate())
	resp, err := w.client.Post(ok.URL, "application/json", nil)
	if err != nil {
		t.Fatalf("loopback allowed: %v", err)
	}
	resp.Body.Close()
}
