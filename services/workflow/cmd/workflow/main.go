// Command workflow runs the workflow service: `workflow serve` (the default) or `workflow migrate`.
// Configuration comes from the environment; see server.Config.
package main

import (
	"context"

	"github.com/firmflow/firmflow/pkg/process"
	"github.com/firmflow/firmflow/services/workflow/server"
)

func main() {
	process.Service("workflow", process.ServiceCommands[server.Config]{
		Migrate:   server.Migrate,
		AdminAddr: func(cfg server.Config) string { return cfg.AdminAddr },
		Serve: func(ctx context.Context, cfg server.Config, env process.Env) error {
			cfg.Telemetry = env.Telemetry
			srv, err := server.New(ctx, cfg, env.Logger)
			if err != nil {
				return err
			}
			return srv.Run(ctx)
		},
	})
}
