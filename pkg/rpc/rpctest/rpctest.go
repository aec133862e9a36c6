// Package rpctest holds the checks every service's gRPC surface must pass.
package rpctest

import (
	"log/slog"
	"strings"
	"testing"

	"google.golang.org/grpc"

	"github.com/firmflow/firmflow/pkg/rpc"
)

// EveryMethodHasAPolicy registers a service's implementations on a server built like
// production's and fails the test for any method without a policy declared in its
// proto (such a method is refused at runtime), for any method whose created flag
// disagrees with its name (see CreatesAnswerCreated), or when fewer than
// wantServices services appear.
func EveryMethodHasAPolicy(t *testing.T, register func(*grpc.Server), wantServices int) {
	t.Helper()
	srv, _, err := rpc.NewServer(rpc.ServerConfig{Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	register(srv)
	declared := rpc.DeclaredPolicies()
	if missing := rpc.MissingPolicies(srv, declared); len(missing) > 0 {
		t.Errorf("methods without a declared policy (refused at runtime): %v", missing)
	}
	served := rpc.Policies{}
	for service, info := range srv.GetServiceInfo() {
		for _, m := range info.Methods {
			name := "/" + service + "/" + m.Name
			if p, ok := declared[name]; ok {
				served[name] = p
			}
		}
	}
	CreatesAnswerCreated(t, served)
	// Health and reflection are always there; count the service's own.
	got := 0
	for service := range srv.GetServiceInfo() {
		if !rpc.Infrastructure(service) {
			got++
		}
	}
	if got < wantServices {
		t.Errorf("%d services registered, want at least %d", got, wantServices)
	}
}

// createVerbs begin the names of methods that make a new resource: AIP's Create,
// BatchCreate and Import, and the few custom methods whose answer is a new resource
// (a rotated key's successor, a requested grant, an accepted invitation's member, a
// signed-up firm).
var createVerbs = []string{"Create", "BatchCreate", "Import", "Rotate", "Request", "Accept", "SignUp"}

// CreatesAnswerCreated fails the test for a method declared created whose name is not
// a create verb's, or a create verb's method not declared created: the gateway answers
// 201 from the flag, and the name is what a reader expects it from. A create whose
// resource is made afterwards (a password reset) is declared accepted instead: 202.
// Upsert methods, which answer 201 or 200 as the call went, are declared upsert and
// nothing else.
func CreatesAnswerCreated(t *testing.T, policies rpc.Policies) {
	t.Helper()
	for method, p := range policies {
		name := method[strings.LastIndex(method, "/")+1:]
		if creates := hasVerb(name, createVerbs...); creates != (p.Created || p.Accepted) {
			t.Errorf("%s: created is %v, but its name says %v (create verbs: %v)", method, p.Created, creates, createVerbs)
		}
		if p.Created && p.Accepted {
			t.Errorf("%s: declared both created (201) and accepted (202)", method)
		}
		if upsert := hasVerb(name, "Upsert"); upsert != p.Upsert {
			t.Errorf("%s: upsert is %v, but its name says %v", method, p.Upsert, upsert)
		}
	}
}

func hasVerb(name string, verbs ...string) bool {
	for _, verb := range verbs {
		rest, ok := strings.CutPrefix(name, verb)
		// The verb must end where a new word starts: "Creates" or "Requested" are not.
		if ok && (rest == "" || rest[0] >= 'A' && rest[0] <= 'Z') {
			return true
		}
	}
	return false
}
