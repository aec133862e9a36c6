package httpapi

import (
	"net/http"
	"testing"
	"time"

	"github.com/firmflow/firmflow/pkg/apierr"
)

func TestSecurityHeadersOnEveryResponse(t *testing.T) {
	want := map[string]string{
		"Strict-Transport-Security": "max-age=63072000; includeSubDomains",
		"X-Content-Type-Options":    "nosniff",
		"X-Frame-Options":           "DENY",
		"Referrer-Policy":           "no-referrer",
		"Cache-Control":             "no-store",
	}
	cases := map[string]http.Handler{
		"success": &recordingHandler{},
		"gateway error": http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
			writeError(w, apierr.TooMany("RATE_LIMITED", "slow down", time.Second))
		}),
		"route not found": newRESTForTest(t, &fakeIdentity{}),
	}
	for name, next := range cases {
		t.Run(name, func(t *testing.T) {
			res := serve(SecurityHeaders(next), jsonRequest(http.MethodGet, "/nowhere", ""))
			for header, value := range want {
				if got := res.Header.Get(header); got != value {
					t.Errorf("%s = %q, want %q", header, got, value)
				}
			}
		})
	}
}
