package httpapi

import (
	"context"
	"log/slog"
	"net/http"

	"google.golang.org/grpc/codes"

	"github.com/firmflow/firmflow/pkg/apierr"
)

// Healthz answers 200 while the process serves at all; orchestration restarts a
// gateway that stops answering it.
func Healthz(w http.ResponseWriter, _ *http.Request) {
	writeJSON(w, []byte(`{"status":"ok"}`))
}

// Readyz answers 200 while ready finds the gateway able to do its work, 503 otherwise,
// so the load balancer sends traffic only to gateways that can reach identity. The
// reason goes to the log, not to the caller.
func Readyz(logger *slog.Logger, ready func(context.Context) error) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if err := ready(r.Context()); err != nil {
			logger.WarnContext(r.Context(), "not ready", slog.String("error", err.Error()))
			writeError(w, apierr.New(codes.Unavailable, "NOT_READY", "the gateway is not ready"))
			return
		}
		writeJSON(w, []byte(`{"status":"ok"}`))
	})
}

// OpenAPI serves the OpenAPI 3.1 document that describes the REST API, as JSON or
// YAML (contentType says which).
func OpenAPI(contentType string, document []byte) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", contentType)
		_, _ = w.Write(document)
	})
}

func writeJSON(w http.ResponseWriter, body []byte) {
	w.Header().Set("Content-Type", "application/json")
	_, _ = w.Write(body)
}
