package httpapi

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"

	"google.golang.org/grpc/codes"

	"github.com/firmflow/firmflow/pkg/apierr"
)

// LimitBody refuses request bodies over limit bytes with 400 BODY_TOO_LARGE before any service sees
// them. The body is read here, in full, rather than capped lazily: a cap that trips
// halfway through grpc-gateway's decoder would surface as a decoding error (400)
// after part of the request had been handled. Bodies are small JSON documents, so
// holding one in memory costs little.
func LimitBody(limit int64) func(http.Handler) http.Handler {
	return func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if r.Body == nil || r.Body == http.NoBody {
				next.ServeHTTP(w, r)
				return
			}
			tooLarge := apierr.New(codes.InvalidArgument, "BODY_TOO_LARGE", fmt.Sprintf("the request body exceeds %d bytes", limit))
			if r.ContentLength > limit {
				writeError(w, tooLarge)
				return
			}
			body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, limit))
			var maxErr *http.MaxBytesError
			switch {
			case errors.As(err, &maxErr):
				writeError(w, tooLarge)
				return
			case err != nil:
				writeError(w, apierr.New(codes.InvalidArgument, "BODY_UNREADABLE", "the request body could not be read"))
				return
			}
			r = r.WithContext(r.Context()) // a shallow copy, so the caller's request keeps its body
			r.Body = io.NopCloser(bytes.NewReader(body))
			r.ContentLength = int64(len(body))
			next.ServeHTTP(w, r)
		})
	}
}

// RequireJSON refuses a non-empty request body that is not declared as JSON (400 UNSUPPORTED_MEDIA_TYPE).
// Besides being honest about what we parse, it closes a cross-site hole: a browser
// sends a form or text/plain POST from any site without asking (no CORS preflight),
// while an application/json one must pass the CORS allow-list first.
func RequireJSON(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.ContentLength == 0 || r.Body == nil || r.Body == http.NoBody {
			next.ServeHTTP(w, r)
			return
		}
		mediaType, _, err := mime.ParseMediaType(r.Header.Get("Content-Type"))
		if err != nil || mediaType != "application/json" {
			writeError(w, apierr.New(codes.InvalidArgument, "UNSUPPORTED_MEDIA_TYPE", "send the request body as application/json"))
			return
		}
		next.ServeHTTP(w, r)
	})
}
