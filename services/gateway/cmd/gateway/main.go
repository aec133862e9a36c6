// Command gateway runs firmflow's public HTTPS door: `gateway serve` (the default)
// serves until SIGINT or SIGTERM; `gateway healthcheck` asks the admin port's /readyz. Configuration comes from the environment: the
// variables of server.Config, and those of process.Options for logs and traces.
package main

import (
	"context"
	"fmt"
	"os"

	"github.com/firmflow/firmflow/pkg/config"
	"github.com/firmflow/firmflow/pkg/process"
	"github.com/firmflow/firmflow/services/gateway/server"
)

func main() {
	process.Main("gateway", func(ctx context.Context, env process.Env) error {
		var cfg server.Config
		if err := config.Load(&cfg); err != nil {
			return err
		}
		switch command := command(os.Args); command {
		case "serve":
		case "healthcheck":
			return process.Healthcheck(ctx, cfg.AdminAddr)
		default:
			return fmt.Errorf("unknown command %q; use serve or healthcheck", command)
		}
		cfg.Telemetry = env.Telemetry
		srv, err := server.New(ctx, cfg, env.Logger)
		if err != nil {
			return err
		}
		return srv.Run(ctx)
	})
}

func command(args []string) string {
	if len(args) < 2 {
		return "serve"
	}
	return args[1]
}
