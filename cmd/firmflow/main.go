// Command firmflow is the developer and operator CLI.
//
//	firmflow dev    run every service in one process (what `make run` does)
//	firmflow init   create development TLS material and keys under the data dir
//	firmflow provision  create every service's database and roles and the key store,
//	                as FIRMFLOW_DATABASE_URL's administrator (a deployment's init step)
//	firmflow staff  create or offboard a staff (support) account, as an operator
//	firmflow audit  verify FILE --public-key PATH: check an audit export offline
//	firmflow lifecycle verify-certificate FILE --public-key PATH: check a deletion
//	                certificate offline
//	firmflow backup drill  restore the backups to a point in time and check them
//	firmflow dr drill --private  rebuild the system from backups and secrets
package main

import (
	"cmp"
	"context"
	"fmt"
	"os"
	"path/filepath"

	"github.com/firmflow/firmflow/cmd/firmflow/internal/stack"
	"github.com/firmflow/firmflow/pkg/config"
	"github.com/firmflow/firmflow/pkg/process"
)

// devConfig is `firmflow dev`'s configuration; each service's own variables
// (FIRMFLOW_GATEWAY_*, FIRMFLOW_IDENTITY_*) apply on top where they make sense.
type devConfig struct {
	// DatabaseURL connects as a PostgreSQL superuser; dev creates each service's
	// database (firmflow_<service>) and roles (<service>_owner, <service>_app).
	DatabaseURL string `env:"FIRMFLOW_DATABASE_URL" envDefault:"postgres://postgres@127.0.0.1:5432/postgres?sslmode=disable"`
	// DatabasePrefix names each service's database: prefix + service.
	DatabasePrefix string `env:"FIRMFLOW_DATABASE_PREFIX" envDefault:"firmflow_"`
	// ProvisionOnly limits `firmflow provision` to some databases (service names,
	// "keys" for the key store), for a deployment with several PostgreSQL clusters.
	ProvisionOnly []string `env:"FIRMFLOW_PROVISION_ONLY" envSeparator:","`
	// DataDir keeps TLS material, keys and the embedded NATS store.
	DataDir string `env:"FIRMFLOW_DATA_DIR" envDefault:".data"`
	// NATSURL points at an external NATS with JetStream; empty embeds one.
	NATSURL string `env:"FIRMFLOW_NATS_URL"`
	// NATSPort is the embedded NATS port (4222 is often the machine's own NATS).
	NATSPort     int    `env:"FIRMFLOW_DEV_NATS_PORT" envDefault:"4322"`
	GatewayAddr  string `env:"FIRMFLOW_GATEWAY_ADDR" envDefault:"127.0.0.1:8443"`
	IdentityAddr string `env:"FIRMFLOW_IDENTITY_ADDR" envDefault:"127.0.0.1:9101"`
	WorkflowAddr string `env:"FIRMFLOW_WORKFLOW_ADDR" envDefault:"127.0.0.1:9102"`
	BillingAddr  string `env:"FIRMFLOW_BILLING_ADDR" envDefault:"127.0.0.1:9104"`
	// LifecycleAddr is where `firmflow lifecycle retention-runs` asks; dev itself
	// serves lifecycle on the stack's default port (9105).
	LifecycleAddr string `env:"FIRMFLOW_LIFECYCLE_ADDR" envDefault:"127.0.0.1:9105"`
	// StripeAPIURL defaults to the Stripe fake dev serves in process on port 12111;
	// set it empty, with FIRMFLOW_STRIPE_API_KEY, to use Stripe's test mode.
	StripeAPIURL string `env:"FIRMFLOW_STRIPE_API_URL" envDefault:"http://127.0.0.1:12111"`
}

func main() {
	command := "dev"
	if len(os.Args) > 1 {
		command = os.Args[1]
	}
	process.Main("firmflow", func(ctx context.Context, env process.Env) error {
		var cfg devConfig
		if err := config.Load(&cfg); err != nil {
			return err
		}
		switch command {
		case "init":
			m, err := stack.Init(cfg.DataDir)
			if err != nil {
				return err
			}
			fmt.Printf("development CA: %s\n", m.PKI.CAFile)
			return nil
		case "dev":
			return dev(ctx, env, cfg)
		case "provision":
			databases, err := stack.Provision(ctx, cfg.DatabaseURL, cfg.DatabasePrefix, cfg.ProvisionOnly...)
			if err != nil {
				return err
			}
			env.Logger.InfoContext(ctx, "databases provisioned", "databases", databases)
			return nil
		case "audit":
			return auditCommand(os.Args[2:], os.Stdout)
		case "lifecycle":
			if len(os.Args) > 2 && os.Args[2] == "retention-runs" {
				return retentionRunsCommand(ctx, cfg, os.Args[3:], os.Stdout)
			}
			return lifecycleCommand(os.Args[2:], os.Stdout)
		case "backup":
			return backupCommand(ctx, os.Args[2:], os.Stdout, env.Logger)
		case "dr":
			return drCommand(ctx, os.Args[2:], os.Stdout)
		case "staff":
			return staffCommand(ctx, cfg, os.Args[2:])
		}
		return fmt.Errorf("unknown command %q; use dev, init, provision, staff, audit or lifecycle", command)
	})
}

func dev(ctx context.Context, env process.Env, cfg devConfig) error {
	startStripeFake(ctx, cfg, env.Logger)
	smtpAddr, mailUI := startMailpit(ctx, cfg.DataDir, env.Logger)
	s, err := stack.Start(ctx, stack.Options{
		IdentityTuning:   devMail(smtpAddr),
		AdminDatabaseURL: cfg.DatabaseURL, DatabasePrefix: cfg.DatabasePrefix, DataDir: cfg.DataDir,
		NATSURL: cfg.NATSURL, NATSPort: cfg.NATSPort,
		GatewayAddr: cfg.GatewayAddr, IdentityAddr: cfg.IdentityAddr, WorkflowAddr: cfg.WorkflowAddr,
		BillingAddr: cfg.BillingAddr, StripeAPIURL: cfg.StripeAPIURL,
		Logger: env.Logger, Telemetry: env.Telemetry,
	})
	if err != nil {
		return err
	}
	ca, _ := filepath.Abs(s.Material.PKI.CAFile)
	fmt.Printf(`
firmflow is running
  gateway  %[1]s   (OpenAPI: %[1]s/openapi.json)
  NATS     %[2]s
  CA       %[3]s
  mail     %[4]s

Try it:
  curl --cacert %[3]s -X POST %[1]s/v1/signup \
    -H 'Content-Type: application/json' \
    -d '{"firm_display_name":"Ledger & Co","email":"owner@ledger.example","display_name":"Olive Owner","password":"correct horse battery staple"}'

Stop with Ctrl-C.
`, s.GatewayURL, s.NATSURL, ca, cmp.Or(mailUI, "off: Mailpit is not installed (make tools), invitation tokens go back to the inviter"))
	return s.Run(ctx)
}
