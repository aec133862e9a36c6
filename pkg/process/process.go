// Package process is the start of every firmflow binary: logging and telemetry from
// the environment, a context cancelled by SIGINT/SIGTERM, and an exit code.
package process

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/firmflow/firmflow/pkg/config"
	"github.com/firmflow/firmflow/pkg/logging"
	"github.com/firmflow/firmflow/pkg/telemetry"
)

// Options are the settings every process shares.
type Options struct {
	LogLevel     string `env:"FIRMFLOW_LOG_LEVEL" envDefault:"info"`
	LogFormat    string `env:"FIRMFLOW_LOG_FORMAT" envDefault:"json"` // json or text
	OTLPEndpoint string `env:"FIRMFLOW_OTLP_ENDPOINT"`                // host:port of an OTLP gRPC collector; empty keeps traces in-process
	OTLPInsecure bool   `env:"FIRMFLOW_OTLP_INSECURE" envDefault:"false"`
}

// Env is what a process body gets.
type Env struct {
	Logger    *slog.Logger
	Telemetry *telemetry.Telemetry
}

// Main runs body for the named process and exits with its outcome.
func Main(name string, body func(ctx context.Context, env Env) error) {
	if err := Run(name, body); err != nil {
		fmt.Fprintf(os.Stderr, "%s: %v\n", name, err)
		os.Exit(1)
	}
}

// Run is Main without the exit: it sets up logging and telemetry, runs body with a
// context that SIGINT or SIGTERM cancels, and returns body's error. A CLI that
// chooses its own exit codes uses it.
func Run(name string, body func(ctx context.Context, env Env) error) error {
	var opts Options
	if err := config.Load(&opts); err != nil {
		return err
	}
	level, err := logging.ParseLevel(opts.LogLevel)
	if err != nil {
		return fmt.Errorf("FIRMFLOW_LOG_LEVEL: %w", err)
	}
	logger := logging.New(os.Stderr, name, level, opts.LogFormat != "text")
	slog.SetDefault(logger)

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	tel, err := telemetry.Setup(ctx, telemetry.Config{ServiceName: name, OTLPEndpoint: opts.OTLPEndpoint, OTLPInsecure: opts.OTLPInsecure})
	if err != nil {
		return err
	}
	defer func() {
		shutdownCtx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = tel.Shutdown(shutdownCtx)
	}()
	return body(ctx, Env{Logger: logger, Telemetry: tel})
}

// ServiceCommands are a service binary's subcommands.
type ServiceCommands[C any] struct {
	// Migrate applies the service's migrations as its owner role.
	Migrate func(ctx context.Context, cfg C) error
	// Serve runs the service until ctx ends.
	Serve func(ctx context.Context, cfg C, env Env) error
	// AdminAddr is where the configured admin listener is, which `healthcheck` asks.
	AdminAddr func(cfg C) string
}

// Service is the main of every service binary: `<name> serve` (the default),
// `<name> migrate` or `<name> healthcheck` (see Healthcheck), with C loaded from the
// environment.
func Service[C any](name string, cmds ServiceCommands[C]) {
	command := "serve"
	if len(os.Args) > 1 {
		command = os.Args[1]
	}
	Main(name, func(ctx context.Context, env Env) error {
		var cfg C
		if err := config.Load(&cfg); err != nil {
			return err
		}
		switch command {
		case "migrate":
			return cmds.Migrate(ctx, cfg)
		case "serve":
			return cmds.Serve(ctx, cfg, env)
		case "healthcheck":
			return Healthcheck(ctx, cmds.AdminAddr(cfg))
		}
		return fmt.Errorf("unknown command %q; use serve, migrate or healthcheck", command)
	})
}
