package deploy

import (
	"context"
	"fmt"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/compose-spec/compose-go/v2/cli"
	"github.com/compose-spec/compose-go/v2/types"
	natsserver "github.com/nats-io/nats-server/v2/server"
	"golang.org/x/mod/modfile"

	"github.com/firmflow/firmflow/pkg/keystore"
)

// Infrastructure docker-compose.yml runs beside the services.
const (
	composePostgres  = "postgres"
	composeNATS      = "nats"
	composeProvision = "provision"
	composeSecrets   = "secrets-init"
)

var composeSupport = []string{composePostgres, composeNATS, composeProvision, composeSecrets, "stripe-mock", "mailpit", "otel-collector"}

func loadCompose(t *testing.T, file string) (*types.Project, error) {
	t.Helper()
	opts, err := cli.NewProjectOptions([]string{file},
		cli.WithWorkingDirectory(repoRoot(t)), cli.WithName("firmflow"), cli.WithInterpolation(true))
	if err != nil {
		return nil, err
	}
	return opts.LoadProject(context.Background())
}

// TestComposeRunsTheWholeSystem loads docker-compose.yml as docker compose would
// (compose-go: schema, merge keys, interpolation) and checks it against the code:
// every service of go.work, built from deploy/Dockerfile, with every variable whose
// default only works on a developer machine, no unknown variable, a configuration
// the service accepts, a health check through its admin port, its migrate step
// first, and the services it calls healthy before it starts.
func TestComposeRunsTheWholeSystem(t *testing.T) {
	project, err := loadCompose(t, filepath.Join(repoRoot(t), "docker-compose.yml"))
	if err != nil {
		t.Fatal(err)
	}
	for _, err := range checkCompose(project, workspaceServices(t)) {
		t.Error(err)
	}
	checkComposeNATS(t, project)
	checkComposeStripeMock(t, project)
}

// checkComposeStripeMock: compose runs the stripe-mock the tests run, the version
// tools/go.mod pins.
func checkComposeStripeMock(t *testing.T, p *types.Project) {
	t.Helper()
	data, err := os.ReadFile(filepath.Join(repoRoot(t), "tools", "go.mod"))
	if err != nil {
		t.Fatal(err)
	}
	tools, err := modfile.Parse("tools/go.mod", data, nil)
	if err != nil {
		t.Fatal(err)
	}
	i := slices.IndexFunc(tools.Require, func(r *modfile.Require) bool { return r.Mod.Path == "github.com/stripe/stripe-mock" })
	if i < 0 {
		t.Fatal("tools/go.mod does not pin stripe-mock")
	}
	if want := "stripe/stripe-mock:" + tools.Require[i].Mod.Version; p.Services["stripe-mock"].Image != want {
		t.Errorf("stripe-mock image %q, want %q (tools/go.mod)", p.Services["stripe-mock"].Image, want)
	}
}

// TestComposeCheckCatchesMistakes breaks a correct project in the ways the check is
// for, one at a time, and expects each to be named.
func TestComposeCheckCatchesMistakes(t *testing.T) {
	services := workspaceServices(t)
	cases := []struct {
		name   string
		mutate func(p *types.Project)
		want   string
	}{
		{"misspelt variable", func(p *types.Project) {
			env := p.Services["workflow"].Environment
			env["FIRMFLOW_WORKFLOW_DATABSE_URL"] = env["FIRMFLOW_WORKFLOW_DATABASE_URL"]
			delete(env, "FIRMFLOW_WORKFLOW_DATABASE_URL")
		}, "FIRMFLOW_WORKFLOW_DATABSE_URL"},
		{"missing service", func(p *types.Project) { delete(p.Services, "audit") }, `no service "audit"`},
		{"no migrate step", func(p *types.Project) { delete(p.Services["billing"].DependsOn, "billing-migrate") }, "billing-migrate"},
		{"peer not awaited", func(p *types.Project) { delete(p.Services["gateway"].DependsOn, "lifecycle") }, "gateway: must wait for lifecycle"},
		{"superuser", func(p *types.Project) {
			v := "postgres://postgres@postgres:5432/firmflow_identity?sslmode=disable"
			p.Services["identity"].Environment["FIRMFLOW_IDENTITY_DATABASE_URL"] = &v
		}, "identity_app"},
		{"loopback admin port", func(p *types.Project) {
			v := "127.0.0.1:9203"
			p.Services["audit"].Environment["FIRMFLOW_AUDIT_ADMIN_ADDR"] = &v
		}, "FIRMFLOW_AUDIT_ADMIN_ADDR"},
		{"no health check", func(p *types.Project) {
			s := p.Services["lifecycle"]
			s.HealthCheck = nil
			p.Services["lifecycle"] = s
		}, "lifecycle: health check"},
		{"writable root", func(p *types.Project) {
			s := p.Services["gateway"]
			s.ReadOnly = false
			p.Services["gateway"] = s
		}, "gateway: read_only"},
		{"invalid value", func(p *types.Project) {
			v := "not-a-duration"
			p.Services["lifecycle"].Environment["FIRMFLOW_LIFECYCLE_LEASE"] = &v
		}, "FIRMFLOW_LIFECYCLE_LEASE"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			project, err := loadCompose(t, filepath.Join(repoRoot(t), "docker-compose.yml"))
			if err != nil {
				t.Fatal(err)
			}
			if errs := checkCompose(project, services); len(errs) != 0 {
				t.Fatalf("the file itself fails: %v", errs)
			}
			tc.mutate(project)
			errs := checkCompose(project, services)
			if !slices.ContainsFunc(errs, func(err error) bool { return strings.Contains(err.Error(), tc.want) }) {
				t.Errorf("errors %v, want one naming %q", errs, tc.want)
			}
		})
	}
}

// TestComposeRejectsAMisspeltKey: compose-go validates the file against the compose
// schema, so a misspelt key fails to load.
func TestComposeRejectsAMisspeltKey(t *testing.T) {
	file := filepath.Join(t.TempDir(), "compose.yml")
	writeFile(t, file, "services:\n  gateway:\n    image: firmflow/gateway\n    helthcheck:\n      test: [CMD, /service, healthcheck]\n")
	if _, err := loadCompose(t, file); err == nil || !strings.Contains(err.Error(), "helthcheck") {
		t.Fatalf("load = %v, want an error naming helthcheck", err)
	}
}

func checkCompose(p *types.Project, services []service) []error {
	var errs []error
	fail := func(format string, args ...any) { errs = append(errs, fmt.Errorf(format, args...)) }
	for _, name := range composeSupport {
		if _, ok := p.Services[name]; !ok {
			fail("no service %q", name)
		}
	}
	for _, name := range []string{composePostgres, composeNATS} {
		if s, ok := p.Services[name]; ok && (s.HealthCheck == nil || s.HealthCheck.Disable || len(s.HealthCheck.Test) == 0) {
			fail("%s: services wait for it to be healthy, so it needs a health check", name)
		}
	}
	if s, ok := p.Services[composeProvision]; ok {
		if !slices.Equal(s.Command, types.ShellCommand{"provision"}) || s.Build == nil || deref(s.Build.Args["SERVICE"]) != "firmflow" {
			fail("%s: must run `firmflow provision`", composeProvision)
		}
		wantDependency(fail, s, composeProvision, composePostgres, types.ServiceConditionHealthy)
	}
	for _, svc := range services {
		s, ok := p.Services[svc.name]
		if !ok {
			fail("no service %q", svc.name)
			continue
		}
		checkComposeImage(fail, s, svc.name)
		env := values(s.Environment)
		errs = append(errs, checkServiceEnv(svc, services, env, composeHost)...)
		if s.HealthCheck == nil || s.HealthCheck.Disable || !slices.Equal(s.HealthCheck.Test, types.HealthCheckTest{"CMD", "/service", "healthcheck"}) {
			fail("%s: health check must run `/service healthcheck` (the admin port's /readyz)", svc.name)
		}
		if !s.ReadOnly || !slices.Contains(s.CapDrop, "ALL") || !slices.Contains(s.SecurityOpt, "no-new-privileges:true") {
			fail("%s: read_only, cap_drop ALL and no-new-privileges are required", svc.name)
		}
		if s.User != "" && s.User != "65532:65532" && s.User != "65532" {
			fail("%s: runs as %q, not the image's non-root user", svc.name, s.User)
		}
		wantDependency(fail, s, svc.name, composeNATS, types.ServiceConditionHealthy)
		if svc.database {
			m, ok := p.Services[svc.name+"-migrate"]
			if !ok {
				fail("no service %q", svc.name+"-migrate")
			} else {
				checkComposeImage(fail, m, svc.name)
				if !slices.Equal(m.Command, types.ShellCommand{"migrate"}) {
					fail("%s-migrate: command %v, want [migrate]", svc.name, m.Command)
				}
				errs = append(errs, checkServiceEnv(svc, services, values(m.Environment), composeHost)...)
				wantDependency(fail, m, svc.name+"-migrate", composeProvision, types.ServiceConditionCompletedSuccessfully)
			}
			wantDependency(fail, s, svc.name, svc.name+"-migrate", types.ServiceConditionCompletedSuccessfully)
		}
		for _, peer := range svc.peers(services) {
			wantDependency(fail, s, svc.name, peer, types.ServiceConditionHealthy)
		}
		if svc.usesKeyStore() {
			for _, m := range services {
				if m.migratesKeyStore() && m.name != svc.name {
					wantDependency(fail, s, svc.name, m.name+"-migrate", types.ServiceConditionCompletedSuccessfully)
				}
			}
		}
		if endpoint := env["FIRMFLOW_OTLP_ENDPOINT"]; endpoint != "" {
			host, _, _ := net.SplitHostPort(endpoint)
			if _, ok := p.Services[host]; !ok {
				fail("%s: FIRMFLOW_OTLP_ENDPOINT names %q, which is not a service", svc.name, host)
			}
		}
	}
	return errs
}

func checkComposeImage(fail func(string, ...any), s types.ServiceConfig, svc string) {
	if s.Build == nil || filepath.ToSlash(s.Build.Dockerfile) != "deploy/Dockerfile" || deref(s.Build.Args["SERVICE"]) != svc {
		fail("%s: must be built from deploy/Dockerfile with SERVICE=%s", s.Name, svc)
	}
}

func wantDependency(fail func(string, ...any), s types.ServiceConfig, name, on, condition string) {
	if d, ok := s.DependsOn[on]; !ok || d.Condition != condition {
		fail("%s: must wait for %s (%s)", name, on, condition)
	}
}

// composeHost is how a service reaches another in docker-compose.yml: by its name.
func composeHost(peer string) string { return peer }

// checkServiceEnv checks a service's environment, wherever it runs: every variable is
// one the service reads (a misspelt name is not silently ignored); every variable
// whose default only works on a developer machine is set; its own listeners bind
// beyond loopback; it reaches each peer at host(peer) on the peer's port; its database
// URLs name its own roles; and the service's configuration loads and validates.
func checkServiceEnv(svc service, all []service, env map[string]string, host func(string) string) []error {
	var errs []error
	fail := func(format string, args ...any) {
		errs = append(errs, fmt.Errorf(svc.name+": "+format, args...))
	}
	for name := range env {
		_, own := svc.vars[name]
		_, common := processVars[name]
		_, library := libraryVars[name]
		if !own && !common && !library {
			fail("%s is not a variable the service reads", name)
		}
	}
	for name, v := range svc.vars {
		if _, set := env[name]; v.mustSet() && !set {
			fail("%s must be set (default %q works only on a developer machine)", name, v.def)
		}
	}
	for _, name := range []string{svc.listenVar(), svc.adminVar()} {
		if h, _, err := net.SplitHostPort(env[name]); err != nil || (h != "0.0.0.0" && h != "" && h != "::") {
			fail("%s = %q must listen on every interface", name, env[name])
		}
	}
	ports := listenPorts(all)
	for _, peer := range svc.peers(all) {
		want := net.JoinHostPort(host(peer), ports[peer])
		if got := env["FIRMFLOW_"+strings.ToUpper(peer)+"_ADDR"]; got != want {
			fail("FIRMFLOW_%s_ADDR = %q, want %q", strings.ToUpper(peer), got, want)
		}
	}
	prefix := "FIRMFLOW_" + strings.ToUpper(svc.name)
	wantUser := map[string]string{
		prefix + "_DATABASE_URL":       svc.roles().Runtime,
		prefix + "_MIGRATE_URL":        svc.roles().Owner,
		"FIRMFLOW_KEYS_DATABASE_URL":   keystore.Roles.Runtime,
		"FIRMFLOW_KEYS_MIGRATE_URL":    keystore.Roles.Owner,
		"FIRMFLOW_AUDIT_RETENTION_URL": "",
	}
	for name, user := range wantUser {
		raw, ok := env[name]
		if !ok || user == "" {
			continue
		}
		u, err := url.Parse(raw)
		if err != nil || u.User.Username() != user {
			fail("%s must connect as %s", name, user)
		}
	}
	if err := configs[svc.name].load(env); err != nil {
		fail("configuration: %v", err)
	}
	return errs
}

// listenPorts are each service's gRPC port, from its own listen variable's default.
func listenPorts(all []service) map[string]string {
	out := map[string]string{}
	for _, s := range all {
		_, port, _ := net.SplitHostPort(s.vars[s.listenVar()].def)
		out[s.name] = port
	}
	return out
}

func checkComposeNATS(t *testing.T, p *types.Project) {
	t.Helper()
	s := p.Services[composeNATS]
	var conf string
	for _, v := range s.Volumes {
		if v.Type == types.VolumeTypeBind && strings.HasSuffix(v.Source, ".conf") {
			conf = v.Source
		}
	}
	if conf == "" {
		t.Fatal("nats: no configuration file mounted")
	}
	opts, err := natsserver.ProcessConfigFile(conf)
	if err != nil {
		t.Fatalf("nats configuration %s: %v", conf, err)
	}
	if !opts.JetStream || !opts.SyncAlways || opts.StoreDir == "" {
		t.Errorf("nats: JetStream %v, sync always %v, store %q; want JetStream on disk, synced on every write", opts.JetStream, opts.SyncAlways, opts.StoreDir)
	}
}

func values(m types.MappingWithEquals) map[string]string {
	out := map[string]string{}
	for k, v := range m {
		out[k] = deref(v)
	}
	return out
}

func deref(s *string) string {
	if s == nil {
		return ""
	}
	return *s
}
