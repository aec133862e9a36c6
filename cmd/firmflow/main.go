// Command firmflow is the developer and operator CLI: `firmflow help` lists its
// commands (dev, init, provision, staff, audit verify, lifecycle
// verify-certificate, backup drill, dr drill, version).
package main

import (
	"cmp"
	"context"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"text/tabwriter"

	"github.com/firmflow/firmflow/cmd/firmflow/internal/stack"
	"github.com/firmflow/firmflow/pkg/config"
	"github.com/firmflow/firmflow/pkg/process"
)

// devConfig is `firmflow dev`'s own configuration. Each service reads its own
// variables (FIRMFLOW_GATEWAY_*, FIRMFLOW_IDENTITY_*, FIRMFLOW_CORS_ORIGINS, ...)
// from the same environment, as its binary would.
type devConfig struct {
	// DatabaseURL connects as a PostgreSQL superuser; dev creates each service's
	// database (<prefix><service>) and roles (<service>_owner, <service>_app).
	DatabaseURL string `env:"FIRMFLOW_DATABASE_URL" envDefault:"postgres://postgres@127.0.0.1:5432/postgres?sslmode=disable"`
	// DatabasePrefix names each service's database: prefix + service (firmflow_identity,
	// firmflow_workflow, ...), for `firmflow dev` and `firmflow provision` alike.
	DatabasePrefix string `env:"FIRMFLOW_DATABASE_PREFIX" envDefault:"firmflow_"`
	// ProvisionOnly limits `firmflow provision` to some databases (service names,
	// "keys" for the key store), for a deployment with several PostgreSQL clusters.
	ProvisionOnly []string `env:"FIRMFLOW_PROVISION_ONLY" envSeparator:","`
	// DataDir keeps TLS material, keys and the embedded NATS store.
	DataDir string `env:"FIRMFLOW_DATA_DIR" envDefault:".data"`
	// NATSURL points at an external NATS with JetStream; empty embeds one.
	NATSURL string `env:"FIRMFLOW_NATS_URL"`
	// NATSPort is the embedded NATS port (4222 is often the machine's own NATS).
	NATSPort int `env:"FIRMFLOW_DEV_NATS_PORT" envDefault:"4322"`
	// StripeAPIURL defaults to the development Stripe, which dev serves in process;
	// set it empty, with FIRMFLOW_STRIPE_API_KEY, to use Stripe's test mode.
	StripeAPIURL string `env:"FIRMFLOW_STRIPE_API_URL" envDefault:"http://127.0.0.1:12111"`
}

func main() {
	os.Exit(cli(context.Background(), os.Args[1:], &streams{stdin: os.Stdin, stdout: os.Stdout, stderr: os.Stderr}))
}

// commands are the CLI's commands, in the order help lists them.
func commands() []command {
	return []command{
		{
			name: "dev", summary: "run every service in one process (what `make run` does)",
			about: `Provisions each service's database and roles, creates the development TLS
material and keys under the data dir, runs NATS (embedded) and the development
Stripe, and serves every service on its own port until interrupted. Every
service reads its FIRMFLOW_* variables from the environment, as its own binary
does; the banner lists the addresses. On SIGINT or SIGTERM the gateway drains
first, then the services stop, then NATS.`,
			setup: func(fs *flag.FlagSet, s *streams) func(context.Context, []string) error {
				cfg, err := loadDevConfig()
				dataDir := fs.String("data-dir", cfg.DataDir, "directory for TLS material, keys and the NATS store (FIRMFLOW_DATA_DIR)")
				return func(_ context.Context, args []string) error {
					if err != nil {
						return err
					}
					if len(args) > 0 {
						return usagef("unexpected argument %q", args[0])
					}
					cfg.DataDir = *dataDir
					return process.Run("firmflow", func(ctx context.Context, env process.Env) error {
						return dev(ctx, env, cfg, s)
					})
				}
			},
		},
		{
			name: "init", summary: "create the development TLS material and keys",
			about: `Creates under the data dir everything 'firmflow dev' needs and leaves what exists:
a development CA with a certificate for each service and for the operator, the
principal signing key, the key-encryption key, the page token key, audit's
checkpoint signing key, lifecycle's certificate signing key and export key.`,
			setup: func(fs *flag.FlagSet, s *streams) func(context.Context, []string) error {
				cfg, err := loadDevConfig()
				dataDir := fs.String("data-dir", cfg.DataDir, "directory to create the material in (FIRMFLOW_DATA_DIR)")
				return func(_ context.Context, args []string) error {
					if err != nil {
						return err
					}
					if len(args) > 0 {
						return usagef("unexpected argument %q", args[0])
					}
					m, err := stack.Init(*dataDir)
					if err != nil {
						return err
					}
					fmt.Fprintf(s.stdout, "development CA:     %s\n", m.PKI.CAFile)
					fmt.Fprintf(s.stdout, "operator cert:      %s\n", m.PKI.CertFile("operator"))
					fmt.Fprintf(s.stdout, "audit public key:   %s\n", m.AuditPublicKey)
					fmt.Fprintf(s.stdout, "lifecycle key:      %s\n", m.LifecyclePublicKey)
					return nil
				}
			},
		},
		{
			name: "provision", summary: "create every database and role the system needs (a deployment's init step)",
			about: `Creates, as FIRMFLOW_DATABASE_URL's administrator, each service's database
(FIRMFLOW_DATABASE_PREFIX + service) with its owner and runtime roles, audit's
retention role, and the key store with its own roles; what exists is left as it
is. FIRMFLOW_PROVISION_ONLY (service names and "keys", comma-separated) limits it
to a share of the databases, for a deployment that spreads them over several
PostgreSQL clusters. 'firmflow dev' runs the same step at start.`,
			setup: func(_ *flag.FlagSet, s *streams) func(context.Context, []string) error {
				cfg, err := loadDevConfig()
				return func(_ context.Context, args []string) error {
					if err != nil {
						return err
					}
					if len(args) > 0 {
						return usagef("unexpected argument %q", args[0])
					}
					return process.Run("firmflow", func(ctx context.Context, _ process.Env) error {
						return provision(ctx, cfg, s.stdout)
					})
				}
			},
		},
		{
			name: "staff create", args: "EMAIL DISPLAY_NAME", summary: "create a staff (support) account, as an operator",
			about: `Creates a staff account through identity's StaffAdminService with the operator
certificate (FIRMFLOW_OPERATOR_TLS_CERT and _KEY, or the development one under the
data dir) at FIRMFLOW_IDENTITY_ADDR. The password is read from standard input; the
TOTP secret is printed once.`,
			setup: operatorSetup(exactly(2), func(ctx context.Context, dataDir string, args []string, s *streams) error {
				return staffCreate(ctx, dataDir, args[0], args[1], s)
			}),
		},
		{
			name: "staff offboard", args: "EMAIL|staff/ID", summary: "offboard a staff account: end its sessions, revoke its grants",
			about: `Offboards a staff account through identity's StaffAdminService with the operator
certificate: its sessions end and every support grant it holds is revoked.`,
			setup: operatorSetup(exactly(1), func(ctx context.Context, dataDir string, args []string, s *streams) error {
				return staffOffboard(ctx, dataDir, args[0], s.stdout)
			}),
		},
		{
			name: "incident", args: "declare|widen|list|show|notify|contain|close ...", summary: "declare and follow a security incident, as an operator",
			about: `Runs lifecycle's IncidentAdminService with the operator certificate
(FIRMFLOW_OPERATOR_TLS_CERT and _KEY, or the development one under the data dir) at
FIRMFLOW_LIFECYCLE_ADDR: declare an incident (discovered, aware, attack window,
compromised principals, networks, firms), widen its scope, notify the impacted firms,
contain (revoke the compromised API keys, end sessions) and close it.

` + incidentUsage,
			setup: operatorSetup(func(args []string) error {
				if len(args) == 0 {
					return usagef("want a subcommand: declare, widen, list, show, notify, contain or close")
				}
				return nil
			}, func(ctx context.Context, dataDir string, args []string, s *streams) error {
				return incidentCommand(ctx, dataDir, args, s.stdout)
			}),
		},
		{
			name: "audit verify", args: "FILE", summary: "check an audit export offline against the audit public key",
			about: `Checks an export of a firm's audit log (GET /v1/firms/{firm}/auditEvents:export)
offline: every event's hash, their order, and the chain against every signed
checkpoint. Exits 1 when it does not verify.`,
			setup: verifySetup("the audit public key: PEM (audit.pub) or a note verifier key", auditVerify),
		},
		{
			name: "lifecycle verify-certificate", args: "FILE", summary: "check a deletion certificate offline",
			about: `Checks a deletion certificate (GET /v1/deletionCertificates/{token}) offline with
lifecycle's public key and prints what it certifies. Exits 1 when any byte was
changed or another key signed it.`,
			setup: verifySetup("lifecycle's certificate public key (PEM, lifecycle.pub)", verifyCertificate),
		},
		{
			name: "lifecycle retention-runs", summary: "list the latest retention runs and what each removed, as an operator",
			about: `Lists lifecycle's retention runs, newest first, through its RetentionAdminService
with the operator certificate at FIRMFLOW_LIFECYCLE_ADDR: when each ran, the rows it
removed per service and table, and any service that failed.`,
			setup: func(fs *flag.FlagSet, s *streams) func(context.Context, []string) error {
				limit := fs.Int("limit", 5, "how many runs, newest first (at most 500)")
				return operatorSetup(exactly(0), func(ctx context.Context, dataDir string, _ []string, s *streams) error {
					return retentionRunsCommand(ctx, dataDir, *limit, s.stdout)
				})(fs, s)
			},
		},
		{
			name: "backup drill", summary: "restore the backups to a point in time and check them",
			about: backupDrillAbout,
			setup: backupDrillSetup,
		},
		{
			name: "dr drill", summary: "rebuild a private system from its backups and secrets",
			about: drDrillAbout,
			setup: drDrillSetup,
		},
		{
			name: "version", summary: "print the version",
			about: "Prints the version of this build.",
			setup: func(_ *flag.FlagSet, s *streams) func(context.Context, []string) error {
				return func(_ context.Context, args []string) error {
					if len(args) > 0 {
						return usagef("unexpected argument %q", args[0])
					}
					fmt.Fprintf(s.stdout, "firmflow %s\n", versionString())
					return nil
				}
			},
		},
	}
}

func loadDevConfig() (devConfig, error) {
	var cfg devConfig
	err := config.Load(&cfg)
	return cfg, err
}

// operatorSetup is the flags and argument check the operator commands (staff,
// incident, retention runs) share: the data dir holding the development operator
// certificate, and check on the arguments.
func operatorSetup(check func(args []string) error, run func(ctx context.Context, dataDir string, args []string, s *streams) error) func(*flag.FlagSet, *streams) func(context.Context, []string) error {
	return func(fs *flag.FlagSet, s *streams) func(context.Context, []string) error {
		cfg, err := loadDevConfig()
		dataDir := fs.String("data-dir", cfg.DataDir, "where the development operator certificate is (FIRMFLOW_DATA_DIR)")
		return func(_ context.Context, args []string) error {
			if err != nil {
				return err
			}
			if err := check(args); err != nil {
				return err
			}
			return process.Run("firmflow", func(ctx context.Context, _ process.Env) error {
				return run(ctx, *dataDir, args, s)
			})
		}
	}
}

// exactly is an argument check for commands taking n arguments.
func exactly(n int) func(args []string) error {
	return func(args []string) error {
		if len(args) != n {
			return usagef("want %d arguments, got %d", n, len(args))
		}
		return nil
	}
}

// verifySetup is the flags and argument check the offline verifiers share.
func verifySetup(keyHelp string, verify func(file, publicKey string, out io.Writer) error) func(*flag.FlagSet, *streams) func(context.Context, []string) error {
	return func(fs *flag.FlagSet, s *streams) func(context.Context, []string) error {
		publicKey := fs.String("public-key", "", keyHelp+" (required)")
		return func(_ context.Context, args []string) error {
			if len(args) != 1 {
				return usagef("want one FILE, got %d arguments", len(args))
			}
			if *publicKey == "" {
				return usagef("--public-key is required")
			}
			return verify(args[0], *publicKey, s.stdout)
		}
	}
}

// provision is `firmflow provision`: every database and role the system needs (or
// FIRMFLOW_PROVISION_ONLY's share), as FIRMFLOW_DATABASE_URL's administrator.
func provision(ctx context.Context, cfg devConfig, out io.Writer) error {
	databases, err := stack.Provision(ctx, cfg.DatabaseURL, cfg.DatabasePrefix, cfg.ProvisionOnly...)
	if err != nil {
		return err
	}
	for _, svc := range append(slices.Clone(stack.Databases), stack.KeyStore) {
		if name, ok := databases[svc]; ok {
			fmt.Fprintf(out, "%-10s %s\n", svc, name)
		}
	}
	return nil
}

func dev(ctx context.Context, env process.Env, cfg devConfig, s *streams) error {
	// Mailpit and the development Stripe stop after the stack, so no service loses
	// them while it drains.
	sinkCtx, stopMailpit := context.WithCancel(context.WithoutCancel(ctx))
	defer stopMailpit()
	smtpAddr, mailUI := startMailpit(sinkCtx, cfg.DataDir, env.Logger)
	st, err := stack.Start(ctx, stack.Options{
		AdminDatabaseURL: cfg.DatabaseURL, DatabasePrefix: cfg.DatabasePrefix, DataDir: cfg.DataDir,
		NATSURL: cfg.NATSURL, NATSPort: cfg.NATSPort, StripeAPIURL: cfg.StripeAPIURL,
		IdentityTuning: devMail(smtpAddr), LocalWebhooks: true,
		Logger: env.Logger, Telemetry: env.Telemetry,
	})
	if err != nil {
		return err
	}
	stripeURL, stopStripe := startStripeFake(cfg, st, env.Logger)
	defer stopStripe()
	printBanner(s, st, stripeURL, mailUI)
	return st.Run(ctx)
}

// printBanner tells the developer where everything is.
func printBanner(s *streams, st *stack.Stack, stripeURL, mailUI string) {
	ca, _ := filepath.Abs(st.Material.PKI.CAFile)
	tw := tabwriter.NewWriter(s.stdout, 0, 0, 2, ' ', 0)
	fmt.Fprintf(tw, "\nfirmflow is running\n")
	fmt.Fprintf(tw, "  gateway\t%s\t(OpenAPI: %s/openapi.json)\n", st.GatewayURL, st.GatewayURL)
	fmt.Fprintf(tw, "  NATS\t%s\n", st.NATSURL)
	if stripeURL == "" {
		stripeURL = "not running (billing waits for Stripe)"
	}
	fmt.Fprintf(tw, "  Stripe\t%s\n", stripeURL)
	fmt.Fprintf(tw, "  mail\t%s\n", cmp.Or(mailUI, "off: Mailpit is not running (the log says why), invitation tokens go back to the inviter"))
	fmt.Fprintf(tw, "  CA\t%s\n", ca)
	fmt.Fprintf(tw, "\n  service\tgRPC (mTLS)\tadmin (/metrics /healthz /readyz)\n")
	for _, name := range stack.Services {
		admin := st.AdminAddrs[name]
		if admin == "" {
			admin = "off"
		} else {
			admin = "http://" + admin
		}
		addr := st.Addrs[name]
		if name == "gateway" {
			addr = "(HTTPS above)"
		}
		fmt.Fprintf(tw, "  %s\t%s\t%s\n", name, addr, admin)
	}
	_ = tw.Flush()
	fmt.Fprintf(s.stdout, `
Try it:
  curl --cacert %[2]s -X POST %[1]s/v1/signup \
    -H 'Content-Type: application/json' \
    -d '{"firm_display_name":"Ledger & Co","email":"owner@ledger.example","display_name":"Olive Owner","password":"correct horse battery staple"}'

Stop with Ctrl-C.
`, st.GatewayURL, ca)
}
