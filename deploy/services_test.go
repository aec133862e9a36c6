package deploy

import (
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"

	"golang.org/x/mod/modfile"

	"github.com/firmflow/firmflow/pkg/config"
	"github.com/firmflow/firmflow/pkg/keystore"
	"github.com/firmflow/firmflow/pkg/pg"
	"github.com/firmflow/firmflow/pkg/process"
	audit "github.com/firmflow/firmflow/services/audit/server"
	billing "github.com/firmflow/firmflow/services/billing/server"
	gateway "github.com/firmflow/firmflow/services/gateway/server"
	identity "github.com/firmflow/firmflow/services/identity/server"
	lifecycle "github.com/firmflow/firmflow/services/lifecycle/server"
	workflow "github.com/firmflow/firmflow/services/workflow/server"
)

// configs are the services' configuration types. A service module added to go.work
// without an entry here fails TestEveryWorkspaceServiceIsDescribed.
var configs = map[string]described{
	"gateway":   describe[gateway.Config](),
	"identity":  describe[identity.Config](),
	"workflow":  describe[workflow.Config](),
	"audit":     describe[audit.Config](),
	"billing":   describe[billing.Config](),
	"lifecycle": describe[lifecycle.Config](),
}

// described is a configuration type and how the binary loads it.
type described struct {
	typ reflect.Type
	// load reads the configuration from env exactly as the binary does (pkg/config:
	// parsing and Validate).
	load func(env map[string]string) error
}

func describe[C any]() described {
	return described{typ: reflect.TypeFor[C](), load: func(env map[string]string) error {
		var cfg C
		return config.LoadFrom(&cfg, env)
	}}
}

// operatorOnly are variables a service's configuration holds for a subcommand an
// operator runs by hand, not for `serve`; deployments need not set them.
var operatorOnly = map[string]string{}

// libraryVars are variables a service reads through a library rather than its
// configuration.
var libraryVars = map[string]string{
	"PGPASSFILE": "pgx reads database passwords from this file (deploy/kubernetes mounts it from a secret)",
}

// variable is one environment variable of a configuration.
type variable struct {
	name, def string
	required  bool
}

// service is what the deployment descriptions are checked against, read from the code.
type service struct {
	name string
	vars map[string]variable
	// database says the service owns a database (it has migrations), so it needs a
	// migrate step before it starts.
	database bool
}

// listenVar and adminVar are the variables of the service's own listeners.
func (s service) listenVar() string {
	return "FIRMFLOW_" + strings.ToUpper(s.name) + "_ADDR"
}

func (s service) adminVar() string {
	return "FIRMFLOW_" + strings.ToUpper(s.name) + "_ADMIN_ADDR"
}

func (s service) roles() pg.Roles { return pg.RolesFor(s.name) }

// peers are the services this one calls: those whose listen variable its
// configuration has.
func (s service) peers(all []service) []string {
	var out []string
	for _, p := range all {
		if _, ok := s.vars[p.listenVar()]; ok && p.name != s.name {
			out = append(out, p.name)
		}
	}
	return out
}

// usesKeyStore says the service opens firms' data keys in the key store.
func (s service) usesKeyStore() bool {
	_, ok := s.vars["FIRMFLOW_KEYS_DATABASE_URL"]
	return ok
}

// migratesKeyStore says the service's migrate step migrates the key store too.
func (s service) migratesKeyStore() bool {
	_, ok := s.vars["FIRMFLOW_KEYS_MIGRATE_URL"]
	return ok
}

// mustSet says whether a deployment must set the variable: it is required, or its
// default only works on a developer machine (a loopback address, a .data/ path).
func (v variable) mustSet() bool {
	if _, ok := operatorOnly[v.name]; ok {
		return false
	}
	return v.required || strings.Contains(v.def, "127.0.0.1") || strings.HasPrefix(v.def, ".data/")
}

// envVars reads the `env` tags of a configuration type.
func envVars(t reflect.Type) map[string]variable {
	out := map[string]variable{}
	for f := range t.Fields() {
		if f.Anonymous && f.Type.Kind() == reflect.Struct {
			for k, v := range envVars(f.Type) {
				out[k] = v
			}
			continue
		}
		name, opts, _ := strings.Cut(f.Tag.Get("env"), ",")
		if name == "" || name == "-" {
			continue
		}
		out[name] = variable{name: name, def: f.Tag.Get("envDefault"), required: slices.Contains(strings.Split(opts, ","), "required")}
	}
	return out
}

// processVars are the variables every process reads (logging, traces).
var processVars = envVars(reflect.TypeFor[process.Options]())

// repoRoot is the repository, one level above this module.
func repoRoot(t testing.TB) string {
	t.Helper()
	root, err := filepath.Abs("..")
	if err != nil {
		t.Fatal(err)
	}
	return root
}

// workspaceServices are the service modules of go.work (./services/<name>, each with
// cmd/<name>), as the code describes them, in go.work order.
func workspaceServices(t testing.TB) []service {
	t.Helper()
	root := repoRoot(t)
	data, err := os.ReadFile(filepath.Join(root, "go.work"))
	if err != nil {
		t.Fatal(err)
	}
	work, err := modfile.ParseWork("go.work", data, nil)
	if err != nil {
		t.Fatal(err)
	}
	var out []service
	for _, use := range work.Use {
		dir := filepath.ToSlash(filepath.Clean(use.Path))
		name, ok := strings.CutPrefix(dir, "services/")
		if !ok {
			continue
		}
		if _, err := os.Stat(filepath.Join(root, dir, "cmd", name, "main.go")); err != nil {
			t.Fatalf("service module %s has no cmd/%s: %v", dir, name, err)
		}
		described, ok := configs[name]
		if !ok {
			t.Fatalf("service %s (go.work) has no configuration type in deploy's configs", name)
		}
		_, err := os.Stat(filepath.Join(root, dir, "migrations"))
		out = append(out, service{name: name, vars: envVars(described.typ), database: err == nil})
	}
	return out
}

func TestEveryWorkspaceServiceIsDescribed(t *testing.T) {
	services := workspaceServices(t)
	if len(services) != len(configs) {
		var names []string
		for _, s := range services {
			names = append(names, s.name)
		}
		t.Fatalf("go.work has services %v; deploy's configs lists %d", names, len(configs))
	}
	// The derivations below must find something, or the checks built on them pass
	// vacuously.
	var peers, keyUsers, keyMigrators, databases int
	for _, s := range services {
		peers += len(s.peers(services))
		if s.usesKeyStore() {
			keyUsers++
		}
		if s.migratesKeyStore() {
			keyMigrators++
		}
		if s.database {
			databases++
		}
		if _, ok := s.vars[s.listenVar()]; !ok {
			t.Errorf("%s: no %s in its configuration", s.name, s.listenVar())
		}
		if _, ok := s.vars[s.adminVar()]; !ok {
			t.Errorf("%s: no %s in its configuration", s.name, s.adminVar())
		}
	}
	if peers < 5 || keyUsers < 2 || keyMigrators != 1 || databases != 5 {
		t.Errorf("derived %d peer links, %d key-store users, %d key-store migrators, %d databases", peers, keyUsers, keyMigrators, databases)
	}
	if keystore.Roles.Owner == "" {
		t.Error("key store roles unnamed")
	}
}
