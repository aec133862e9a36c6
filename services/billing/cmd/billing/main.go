// Command billing runs the billing service: `billing serve` (default), `billing migrate`
// or `billing healthcheck` (asks the admin port's /readyz).
package main

import (
	"context"
	"fmt"
	"os"

	"github.com/firmflow/firmflow/pkg/config"
	"github.com/firmflow/firmflow/pkg/process"
	"github.com/firmflow/firmflow/services/billing/server"
)

func main() {
	process.Main("billing", func(ctx context.Context, env process.Env) error {
		var cfg server.Config
		if err := config.Load(&cfg); err != nil {
			return err
		}
		cfg.Telemetry = env.Telemetry
		switch command(os.Args) {
		case "migrate":
			return server.Migrate(ctx, cfg)
		case "healthcheck":
			return process.Healthcheck(ctx, cfg.AdminAddr)
		case "serve":
			srv, err := server.New(ctx, cfg, env.Logger)
			if err != nil {
				return err
			}
			return srv.Run(ctx)
		default:
			return fmt.Errorf("unknown command %q; use serve, migrate or healthcheck", os.Args[1])
		}
	})
}

func command(args []string) string {
	if len(args) < 2 {
		return "serve"
	}
	return args[1]
}
