package httpapi

import (
	"net/http"
	"net/http/httptest"
	"testing"
)

func TestCORSAnswersOnlyAllowedOrigins(t *testing.T) {
	const app = "https://app.firmflow.test"
	cases := []struct {
		name        string
		method      string
		origin      string
		preflight   bool
		wantStatus  int
		wantAllowed bool
		wantNext    bool
	}{
		{"allowed origin", http.MethodGet, app, false, http.StatusOK, true, true},
		{"allowed preflight", http.MethodOptions, app, true, http.StatusNoContent, true, false},
		{"other origin", http.MethodGet, "https://evil.test", false, http.StatusOK, false, true},
		{"other origin preflight", http.MethodOptions, "https://evil.test", true, http.StatusForbidden, false, false},
		{"null origin", http.MethodPost, "null", false, http.StatusOK, false, true},
		{"no origin", http.MethodGet, "", false, http.StatusOK, false, true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			next := &recordingHandler{}
			r := httptest.NewRequest(tc.method, "/v1/caller", nil)
			if tc.origin != "" {
				r.Header.Set("Origin", tc.origin)
			}
			if tc.preflight {
				r.Header.Set("Access-Control-Request-Method", http.MethodPost)
				r.Header.Set("Access-Control-Request-Headers", "content-type, x-csrf-token")
			}

			res := serve(CORS([]string{app})(next), r)

			if res.StatusCode != tc.wantStatus {
				t.Errorf("status = %d, want %d", res.StatusCode, tc.wantStatus)
			}
			if (next.calls > 0) != tc.wantNext {
				t.Errorf("next handler ran: %v, want %v", next.calls > 0, tc.wantNext)
			}
			h := res.Header
			if !tc.wantAllowed {
				for _, name := range []string{"Access-Control-Allow-Origin", "Access-Control-Allow-Credentials", "Access-Control-Allow-Methods", "Access-Control-Allow-Headers"} {
					if h.Get(name) != "" {
						t.Errorf("%s = %q for an origin not on the list", name, h.Get(name))
					}
				}
				return
			}
			if h.Get("Access-Control-Allow-Origin") != app || h.Get("Access-Control-Allow-Credentials") != "true" {
				t.Errorf("allow origin %q credentials %q", h.Get("Access-Control-Allow-Origin"), h.Get("Access-Control-Allow-Credentials"))
			}
			if tc.preflight {
				if got := h.Get("Access-Control-Allow-Methods"); got != "GET, POST, PATCH, DELETE" {
					t.Errorf("Allow-Methods = %q", got)
				}
				if got := h.Get("Access-Control-Allow-Headers"); got != "Content-Type, X-CSRF-Token, Authorization, If-Match" {
					t.Errorf("Allow-Headers = %q", got)
				}
			}
		})
	}
}
