package httpapi

import (
	"bytes"
	"encoding/json"
	"log/slog"
	"net/http"
	"strings"
	"testing"
)

func TestEveryRequestGetsItsOwnID(t *testing.T) {
	h := Track(discardLogger(), nil)(&recordingHandler{})

	first := serve(h, jsonRequest(http.MethodGet, "/healthz", "")).Header.Get(RequestIDHeader)
	second := serve(h, jsonRequest(http.MethodGet, "/healthz", "")).Header.Get(RequestIDHeader)

	if first == "" || second == "" || first == second {
		t.Errorf("request ids %q and %q, want two different ones", first, second)
	}
}

func TestAccessLogNamesRouteAndKeepsSecretsOut(t *testing.T) {
	var out bytes.Buffer
	logger := slog.New(slog.NewJSONHandler(&out, nil))
	auth := &fakeAuthenticator{token: "signed-principal-token"}
	h := Track(logger, nil)(Authenticate(auth, Errors{Logger: logger})(newRESTForTest(t, &fakeIdentity{})))
	r := jsonRequest(http.MethodGet, "/v1/firms/0b0e5f6e-4c2a-4a37-9d0b-1f0e7f4b2a11", "")
	r.AddCookie(&http.Cookie{Name: SessionCookie, Value: "session-secret-value"})
	r.Header.Set(CSRFHeader, "csrf-secret-value")

	res := serve(h, r)

	var line map[string]any
	if err := json.Unmarshal(out.Bytes(), &line); err != nil {
		t.Fatalf("log is not one JSON line: %q", out.String())
	}
	want := map[string]any{
		"method": "GET", "route": "/v1/{name=firms/*}", "status": float64(404),
		"request_id": res.Header.Get(RequestIDHeader), "credential": "session",
	}
	for k, v := range want {
		if line[k] != v {
			t.Errorf("log %s = %v, want %v", k, line[k], v)
		}
	}
	for _, secret := range []string{"session-secret-value", "csrf-secret-value", "signed-principal-token", "0b0e5f6e"} {
		if strings.Contains(out.String(), secret) {
			t.Errorf("log line contains %q: %s", secret, out.String())
		}
	}
}
