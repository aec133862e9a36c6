package server_test

import (
	"encoding/json"
	"io"
	"net/http"
	"reflect"
	"regexp"
	"slices"
	"strings"
	"testing"

	"go.yaml.in/yaml/v3"
	"google.golang.org/genproto/googleapis/api/annotations"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/reflect/protoregistry"

	apiv1 "github.com/firmflow/firmflow/pkg/gen/firmflow/api/v1"
)

// openAPIOperation is what the tests read of one operation in the served document.
type openAPIOperation struct {
	OperationID string                     `json:"operationId"`
	Security    []map[string][]string      `json:"security"`
	Responses   map[string]json.RawMessage `json:"responses"`
	Policy      struct {
		RPC string `json:"rpc"`
	} `json:"x-firmflow-policy"`
}

// binding is one REST binding of a registered RPC, as its google.api.http option
// declares it.
type binding struct {
	rpc, verb, template string
	policy              *apiv1.Policy
}

func registeredBindings(t *testing.T) []binding {
	t.Helper()
	var out []binding
	protoregistry.GlobalFiles.RangeFiles(func(fd protoreflect.FileDescriptor) bool {
		for i := range fd.Services().Len() {
			methods := fd.Services().Get(i).Methods()
			for j := range methods.Len() {
				md := methods.Get(j)
				rule, _ := proto.GetExtension(md.Options(), annotations.E_Http).(*annotations.HttpRule)
				if rule == nil {
					continue
				}
				pol, _ := proto.GetExtension(md.Options(), apiv1.E_Policy).(*apiv1.Policy)
				for _, r := range append([]*annotations.HttpRule{rule}, rule.GetAdditionalBindings()...) {
					b := binding{rpc: string(md.FullName()), policy: pol}
					switch p := r.GetPattern().(type) {
					case *annotations.HttpRule_Get:
						b.verb, b.template = "get", p.Get
					case *annotations.HttpRule_Post:
						b.verb, b.template = "post", p.Post
					case *annotations.HttpRule_Patch:
						b.verb, b.template = "patch", p.Patch
					case *annotations.HttpRule_Put:
						b.verb, b.template = "put", p.Put
					case *annotations.HttpRule_Delete:
						b.verb, b.template = "delete", p.Delete
					}
					out = append(out, b)
				}
			}
		}
		return true
	})
	if len(out) < 50 {
		t.Fatalf("only %d REST bindings registered: the generated packages are not linked in", len(out))
	}
	return out
}

var (
	templateVariable = regexp.MustCompile(`\{[^}=]+(=([^}]*))?\}`)
	pathParameter    = regexp.MustCompile(`\{[^}]+\}`)
)

// shape writes a path template or an OpenAPI path with every variable segment as *,
// so that the two can be compared: /v1/{name=firms/*/clients/*} and
// /v1/firms/{firm}/clients/{client} are both /v1/firms/*/clients/*.
func shape(path string) string {
	path = templateVariable.ReplaceAllStringFunc(path, func(v string) string {
		if m := templateVariable.FindStringSubmatch(v); m[2] != "" {
			return m[2]
		}
		return "*"
	})
	return pathParameter.ReplaceAllString(path, "*")
}

// TestServedOpenAPIDescribesEveryOperation reads the document the gateway serves and
// holds it to what the protos declare: OpenAPI 3.1, every REST binding of every
// registered RPC exactly once at its path and verb (and nothing else under its name), 201 for the creates, 202 for
// the accepted and both 201 and 200 for the upserts, no credentials for the public methods (sign-up, login) and some for
// every other, and the AIP-193 error body on every operation.
func TestServedOpenAPIDescribesEveryOperation(t *testing.T) {
	st := startGateway(t, "")
	res := st.get(t, "/openapi.json")
	raw, _ := io.ReadAll(res.Body)
	if res.StatusCode != http.StatusOK {
		t.Fatalf("/openapi.json: %d", res.StatusCode)
	}
	var doc struct {
		OpenAPI string                                 `json:"openapi"`
		Paths   map[string]map[string]openAPIOperation `json:"paths"`
	}
	if err := json.Unmarshal(raw, &doc); err != nil {
		t.Fatal(err)
	}
	if doc.OpenAPI != "3.1.0" {
		t.Errorf("openapi = %q, want 3.1.0", doc.OpenAPI)
	}

	yamlRes := st.get(t, "/openapi.yaml")
	var fromYAML map[string]any
	if err := yaml.NewDecoder(yamlRes.Body).Decode(&fromYAML); err != nil || fromYAML["openapi"] != "3.1.0" || len(fromYAML["paths"].(map[string]any)) != len(doc.Paths) {
		t.Errorf("/openapi.yaml is not the same document: %v", err)
	}

	type placed struct {
		path, verb string
		op         openAPIOperation
	}
	byRPC := map[string][]placed{}
	ids := map[string]int{}
	for path, item := range doc.Paths {
		for verb, op := range item {
			byRPC[op.Policy.RPC] = append(byRPC[op.Policy.RPC], placed{path, verb, op})
			ids[op.OperationID]++
			for code, body := range op.Responses {
				if code >= "400" && !strings.Contains(string(body), "#/components/responses/") {
					t.Errorf("%s %s: %s is not the shared error response", verb, path, code)
				}
			}
			if op.Responses["400"] == nil || op.Responses["500"] == nil {
				t.Errorf("%s %s documents no error responses", verb, path)
			}
		}
	}
	for id, n := range ids {
		if n > 1 {
			t.Errorf("operationId %s used %d times", id, n)
		}
	}

	// An RPC with additional bindings is one operation per binding.
	public := map[string]bool{}
	bindings := registeredBindings(t)
	perRPC := map[string]int{}
	for _, b := range bindings {
		perRPC[b.rpc]++
	}
	for _, b := range bindings {
		ops := byRPC[b.rpc]
		if len(ops) != perRPC[b.rpc] {
			t.Errorf("%s appears %d times in the document, want %d (its bindings)", b.rpc, len(ops), perRPC[b.rpc])
			continue
		}
		var op placed
		for _, o := range ops {
			if o.verb == b.verb && shape(o.path) == shape(b.template) {
				op = o
			}
		}
		if op.verb == "" {
			t.Errorf("%s %s (%s) is not in the document at its path", b.verb, b.template, b.rpc)
			continue
		}
		want := []string{"200"}
		switch {
		case b.policy.GetCreated():
			want = []string{"201"}
		case b.policy.GetAccepted():
			want = []string{"202"}
		case b.policy.GetUpsert():
			want = []string{"200", "201"} // changed, created
		}
		var success []string
		for code := range op.op.Responses {
			if code < "300" {
				success = append(success, code)
			}
		}
		slices.Sort(success)
		if !slices.Equal(success, want) {
			t.Errorf("%s answers %v in the document, want %v", b.rpc, success, want)
		}
		if b.policy.GetPublic() {
			public[b.rpc] = true
			if len(op.op.Security) != 0 {
				t.Errorf("%s is public but the document asks for %v", b.rpc, op.op.Security)
			}
		} else if len(op.op.Security) == 0 {
			t.Errorf("%s needs a credential but the document asks for none", b.rpc)
		}
	}
	for _, rpc := range []string{"firmflow.identity.v1.IdentityService.SignUp", "firmflow.identity.v1.IdentityService.Login"} {
		if !public[rpc] {
			t.Errorf("%s is not documented as needing no credential", rpc)
		}
	}
	if op := doc.Paths["/v1/firms/{firm}/clients/{client}"]; op["get"].OperationID != "GetClient" || op["delete"].OperationID != "DeleteClient" {
		t.Errorf("/v1/firms/{firm}/clients/{client} holds %v", op)
	}
}

// TestServedOpenAPICarriesTheRules checks, on a few fields and operations, that the
// document says what the protos and the gateway enforce: required fields and limits
// from buf.validate, output-only fields, the CSRF and support grant headers, and the
// media types of the exports.
func TestServedOpenAPICarriesTheRules(t *testing.T) {
	st := startGateway(t, "")
	raw, _ := io.ReadAll(st.get(t, "/openapi.json").Body)
	var doc any
	if err := json.Unmarshal(raw, &doc); err != nil {
		t.Fatal(err)
	}
	at := func(path ...string) any {
		v := doc
		for _, p := range path {
			m, _ := v.(map[string]any)
			v = m[p]
		}
		return v
	}
	for _, tc := range []struct {
		path []string
		want any
	}{
		{[]string{"components", "schemas", "SignUpRequest", "required"}, []any{"firm_display_name", "email", "display_name", "password"}},
		{[]string{"components", "schemas", "Client", "properties", "display_name", "maxLength"}, 200.0},
		{[]string{"components", "schemas", "Client", "properties", "primary_contact", "readOnly"}, true},
		{[]string{"components", "schemas", "Client", "properties", "tags", "maxItems"}, 32.0},
		{[]string{"components", "securitySchemes", "csrf", "name"}, "X-CSRF-Token"},
		{[]string{"components", "securitySchemes", "csrf", "in"}, "header"},
		{[]string{"components", "parameters", "SupportGrant", "name"}, "X-Support-Grant"},
		{[]string{"components", "schemas", "Status", "required"}, []any{"code", "status", "message"}},
		{[]string{"paths", "/v1/firms/{firm}/auditEvents:export", "get", "responses", "200", "content", "application/jsonl", "schema", "type"}, "string"},
		{[]string{"paths", "/v1/firms/{firm}/exports/{export}:download", "get", "responses", "206", "content", "application/zip", "schema", "contentMediaType"}, "application/zip"},
		{[]string{"paths", "/v1/firms/{firm}/clients/{client}", "patch", "responses", "412", "$ref"}, "#/components/responses/PreconditionFailed"},
	} {
		if got := at(tc.path...); !reflect.DeepEqual(got, tc.want) {
			t.Errorf("%s = %v, want %v", strings.Join(tc.path, "."), got, tc.want)
		}
	}
	if limit := at("components", "schemas", "ListClientsRequest"); limit != nil {
		t.Errorf("ListClientsRequest is a schema of its own, but its fields are query parameters: %v", limit)
	}
}
