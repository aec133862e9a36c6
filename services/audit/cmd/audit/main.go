// Command audit runs the audit service: `audit serve` (the default), `audit migrate`,
// or `audit retention`, which drops the log's expired monthly partitions as the
// audit_retention role (run it daily from a scheduler). Configuration comes from the
// environment; see server.Config.
package main

import (
	"context"
	"os"
	"time"

	"github.com/firmflow/firmflow/pkg/config"
	"github.com/firmflow/firmflow/pkg/process"
	"github.com/firmflow/firmflow/services/audit/server"
)

func main() {
	if len(os.Args) > 1 && os.Args[1] == "retention" {
		process.Main("audit", retention)
		return
	}
	process.Service("audit", process.ServiceCommands[server.Config]{
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

func retention(ctx context.Context, env process.Env) error {
	var cfg server.Config
	if err := config.Load(&cfg); err != nil {
		return err
	}
	dropped, err := server.Retention(ctx, cfg, time.Now())
	if err != nil {
		return err
	}
	env.Logger.InfoContext(ctx, "audit retention done", "dropped_partitions", dropped)
	return nil
}
