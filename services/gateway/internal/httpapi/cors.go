package httpapi

import (
	"net/http"
	"slices"

	"google.golang.org/grpc/codes"

	"github.com/firmflow/firmflow/pkg/apierr"
)

// CORS lets the single-page app, served from another origin, call the API with its
// session cookie. Only origins in the allow-list get CORS headers; for any other the
// browser keeps the response from the page. The allow-list is exact: no wildcards,
// since credentials are allowed.
func CORS(allowedOrigins []string) func(http.Handler) http.Handler {
	allowed := slices.Clone(allowedOrigins)
	return func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			// Responses differ by Origin, so shared caches must key on it.
			w.Header().Add("Vary", "Origin")
			origin := r.Header.Get("Origin")
			preflight := r.Method == http.MethodOptions && r.Header.Get("Access-Control-Request-Method") != ""
			if origin == "" || !slices.Contains(allowed, origin) {
				if preflight && origin != "" {
					writeError(w, apierr.New(codes.PermissionDenied, "ORIGIN_NOT_ALLOWED", "this origin may not call the API"))
					return
				}
				next.ServeHTTP(w, r)
				return
			}
			h := w.Header()
			h.Set("Access-Control-Allow-Origin", origin)
			h.Set("Access-Control-Allow-Credentials", "true")
			// Let the app read the request id (for support), when to retry, its rate
			// budget, and the etag and address of what it read or created.
			h.Set("Access-Control-Expose-Headers", "X-Request-Id, Retry-After, RateLimit-Limit, RateLimit-Remaining, RateLimit-Reset, ETag, Location")
			if preflight {
				h.Add("Vary", "Access-Control-Request-Method")
				h.Add("Vary", "Access-Control-Request-Headers")
				h.Set("Access-Control-Allow-Methods", "GET, POST, PATCH, DELETE")
				h.Set("Access-Control-Allow-Headers", "Content-Type, X-CSRF-Token, Authorization, If-Match")
				h.Set("Access-Control-Max-Age", "600")
				w.WriteHeader(http.StatusNoContent)
				return
			}
			next.ServeHTTP(w, r)
		})
	}
}
