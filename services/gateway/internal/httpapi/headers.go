package httpapi

import "net/http"

// SecurityHeaders sets on every response the headers that keep browsers from doing
// anything with our answers beyond reading them as data: HTTPS only for two years
// (HSTS), no MIME sniffing, no framing, no referrer leaking resource names, and no
// caching of responses that hold firm data. Handlers may still override
// Cache-Control for documents that are safe to cache.
func SecurityHeaders(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h := w.Header()
		h.Set("Strict-Transport-Security", "max-age=63072000; includeSubDomains")
		h.Set("X-Content-Type-Options", "nosniff")
		h.Set("X-Frame-Options", "DENY")
		h.Set("Referrer-Policy", "no-referrer")
		h.Set("Cache-Control", "no-store")
		// The gateway serves JSON only; should a browser ever render a response, it
		// may load and run nothing.
		h.Set("Content-Security-Policy", "default-src 'none'; frame-ancestors 'none'")
		next.ServeHTTP(w, r)
	})
}
