package telemetry

import (
	"context"
	"log/slog"
	"net/http"
	"strings"
	"time"

	"github.com/firmflow/firmflow/pkg/readiness"
)

// AdminServer is the plain-HTTP server for the port that orchestration and
// Prometheus reach inside the cluster: /metrics (when t is not nil), /healthz,
// which answers 200 while the process serves at all, and /readyz, which answers
// 200 only while ready returns nil (a nil ready means always ready). A failed
// readiness check is logged; the response names the failed dependencies when ready
// is a readiness.Probes check ("not ready: nats"), never an error's text.
// The caller runs it with ListenAndServe or Serve and stops it with Shutdown.
func AdminServer(addr string, t *Telemetry, ready func(context.Context) error) *http.Server {
	mux := http.NewServeMux()
	if t != nil {
		mux.Handle("GET /metrics", t.MetricsHandler())
	}
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) {
		writeStatus(w, http.StatusOK, "ok")
	})
	mux.HandleFunc("GET /readyz", func(w http.ResponseWriter, r *http.Request) {
		if ready != nil {
			if err := ready(r.Context()); err != nil {
				slog.WarnContext(r.Context(), "readiness check failed", "err", err)
				body := "not ready"
				if failed := readiness.Failed(err); len(failed) > 0 {
					body += ": " + strings.Join(failed, ", ")
				}
				writeStatus(w, http.StatusServiceUnavailable, body)
				return
			}
		}
		writeStatus(w, http.StatusOK, "ok")
	})
	return &http.Server{
		Addr:              addr,
		Handler:           mux,
		ReadHeaderTimeout: 5 * time.Second,
		ReadTimeout:       10 * time.Second,
		WriteTimeout:      30 * time.Second,
		IdleTimeout:       60 * time.Second,
	}
}

func writeStatus(w http.ResponseWriter, code int, body string) {
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(code)
	_, _ = w.Write([]byte(body + "\n"))
}
