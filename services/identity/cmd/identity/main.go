// Command identity runs the identity service: `identity serve` (the default) or `identity migrate`.
// Configuration comes from the environment; see server.Config.
package main

import (
	"context"

	"github.com/firmflow/firmflow/pkg/process"
	"github.com/firmflow/firmflow/services/identity/server"
)

func main() {
	process.Service("identity", process.ServiceCommands[server.Config]{
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
