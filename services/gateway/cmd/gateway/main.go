// Command gateway runs firmflow's public HTTPS door: `gateway serve` (the default)
// serves until SIGINT or SIGTERM. Configuration comes from the environment; see
// server.Config and processConfig for the variables and their defaults.
package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/firmflow/firmflow/pkg/config"
	"github.com/firmflow/firmflow/pkg/logging"
	"github.com/firmflow/firmflow/pkg/telemetry"
	"github.com/firmflow/firmflow/services/gateway/server"
)

// processConfig is what the process sets up around the server: logging and trace
// export.
type processConfig struct {
	// FIRMFLOW_LOG_LEVEL is debug, info, warn or error.
	LogLevel string `env:"FIRMFLOW_LOG_LEVEL" envDefault:"info"`
	// FIRMFLOW_LOG_JSON writes JSON lines (for log shippers) instead of text.
	LogJSON bool `env:"FIRMFLOW_LOG_JSON" envDefault:"true"`
	// FIRMFLOW_OTLP_ENDPOINT is the OTLP/gRPC trace collector (host:port or URL);
	// empty exports no spans, though trace ids still reach logs and services.
	OTLPEndpoint string `env:"FIRMFLOW_OTLP_ENDPOINT"`
	// FIRMFLOW_OTLP_INSECURE sends spans without TLS, to a collector on the host.
	OTLPInsecure bool `env:"FIRMFLOW_OTLP_INSECURE"`
}

func main() {
	command := "serve"
	if len(os.Args) > 1 {
		command = os.Args[1]
	}
	switch command {
	case "serve":
		if err := serve(); err != nil {
			fmt.Fprintln(os.Stderr, "gateway:", err)
			os.Exit(1)
		}
	default:
		fmt.Fprintf(os.Stderr, "usage: gateway [serve]\nunknown command %q\n", command)
		os.Exit(2)
	}
}

func serve() error {
	var proc processConfig
	if err := config.Load(&proc); err != nil {
		return err
	}
	var cfg server.Config
	if err := config.Load(&cfg); err != nil {
		return err
	}
	level, err := logging.ParseLevel(proc.LogLevel)
	if err != nil {
		return fmt.Errorf("FIRMFLOW_LOG_LEVEL: %w", err)
	}
	logger := logging.New(os.Stderr, "gateway", level, proc.LogJSON)
	slog.SetDefault(logger)

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()

	tel, err := telemetry.Setup(ctx, telemetry.Config{
		ServiceName: "gateway", OTLPEndpoint: proc.OTLPEndpoint, OTLPInsecure: proc.OTLPInsecure,
	})
	if err != nil {
		return err
	}
	cfg.Telemetry = tel

	srv, err := server.New(ctx, cfg, logger)
	if err != nil {
		return errors.Join(err, flush(tel))
	}
	return errors.Join(srv.Run(ctx), flush(tel))
}

// flush sends the spans still buffered, giving the collector a few seconds.
func flush(tel *telemetry.Telemetry) error {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	return tel.Shutdown(ctx)
}
