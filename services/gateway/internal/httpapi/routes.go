package httpapi

import (
	"regexp"
	"strings"

	"google.golang.org/genproto/googleapis/api/annotations"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/reflect/protoregistry"

	apiv1 "github.com/firmflow/firmflow/pkg/gen/firmflow/api/v1"
)

// route is what the gateway knows about one REST binding of an RPC, read from its
// google.api.http option: which query parameters grpc-gateway would bind to the
// request message, and where the resource's etag goes for If-Match.
type route struct {
	// query holds every query parameter name grpc-gateway maps onto a field.
	query map[string]bool
	// etag is how If-Match reaches the request: etagQuery (the request's own etag
	// field, AIP-154 style, outside the path and body), etagBody (an etag field at
	// the top level of the JSON body) or etagNone.
	etag etagPlace
	// conditional says If-Match applies: PATCH and DELETE, and the POST of an upsert
	// (which changes the resource when it exists).
	conditional bool
}

type etagPlace int

const (
	etagNone etagPlace = iota
	etagQuery
	etagBody
)

// routes maps "VERB template" (the template as runtime.Pattern.String writes it) to
// the binding.
type routes map[string]*route

// maxQueryDepth bounds how far into nested messages query parameter names are
// derived; grpc-gateway takes any depth, but the API's requests nest at most two.
const maxQueryDepth = 4

// declaredRoutes reads the HTTP bindings of every RPC registered in the process. It
// runs when the mux is built, after every generated package has registered.
func declaredRoutes() routes {
	rs := routes{}
	protoregistry.GlobalFiles.RangeFiles(func(fd protoreflect.FileDescriptor) bool {
		services := fd.Services()
		for i := range services.Len() {
			methods := services.Get(i).Methods()
			for j := range methods.Len() {
				md := methods.Get(j)
				rule, ok := proto.GetExtension(md.Options(), annotations.E_Http).(*annotations.HttpRule)
				if !ok || rule == nil {
					continue
				}
				for _, r := range append([]*annotations.HttpRule{rule}, rule.GetAdditionalBindings()...) {
					verb, template := ruleVerb(r)
					if verb == "" {
						continue
					}
					rt := newRoute(md.Input(), template, r.GetBody())
					policy, _ := proto.GetExtension(md.Options(), apiv1.E_Policy).(*apiv1.Policy)
					rt.conditional = verb == "PATCH" || verb == "DELETE" || policy.GetUpsert()
					rs[verb+" "+normalTemplate(template)] = rt
				}
			}
		}
		return true
	})
	return rs
}

func ruleVerb(r *annotations.HttpRule) (string, string) {
	switch p := r.GetPattern().(type) {
	case *annotations.HttpRule_Get:
		return "GET", p.Get
	case *annotations.HttpRule_Post:
		return "POST", p.Post
	case *annotations.HttpRule_Patch:
		return "PATCH", p.Patch
	case *annotations.HttpRule_Put:
		return "PUT", p.Put
	case *annotations.HttpRule_Delete:
		return "DELETE", p.Delete
	}
	return "", ""
}

var (
	bareVariable = regexp.MustCompile(`\{([a-zA-Z0-9_.]+)\}`)
	pathVariable = regexp.MustCompile(`\{([a-zA-Z0-9_.]+)(=[^}]*)?\}`)
)

// normalTemplate writes a template the way runtime.Pattern.String does: a variable
// without a pattern matches one segment, "{x=*}".
func normalTemplate(t string) string {
	return bareVariable.ReplaceAllString(t, "{$1=*}")
}

func newRoute(msg protoreflect.MessageDescriptor, template, body string) *route {
	bound := map[string]bool{}
	for _, m := range pathVariable.FindAllStringSubmatch(template, -1) {
		bound[m[1]] = true
	}
	rt := &route{query: map[string]bool{}}
	if body != "*" {
		// With body "*" grpc-gateway reads no query parameters at all.
		if body != "" {
			bound[body] = true
		}
		addQueryNames(rt.query, msg, "", "", bound, maxQueryDepth)
	}
	switch etag := msg.Fields().ByName("etag"); {
	case etag != nil && body != "*" && !bound["etag"]:
		rt.etag = etagQuery
	case body == "*" && etag != nil:
		rt.etag = etagBody
	case body != "" && body != "*":
		if f := msg.Fields().ByName(protoreflect.Name(body)); f != nil && f.Message() != nil && f.Message().Fields().ByName("etag") != nil {
			rt.etag = etagBody
		}
	}
	return rt
}

// addQueryNames adds the parameter names of msg's fields as grpc-gateway accepts
// them: each segment in its proto name or its JSON (lowerCamel) name, nested
// messages with dots; path and body fields are bound elsewhere and not accepted.
func addQueryNames(names map[string]bool, msg protoreflect.MessageDescriptor, protoPrefix, jsonPrefix string, bound map[string]bool, depth int) {
	fields := msg.Fields()
	for i := range fields.Len() {
		f := fields.Get(i)
		protoPath := protoPrefix + string(f.Name())
		jsonPath := jsonPrefix + f.JSONName()
		if bound[protoPath] {
			continue
		}
		if f.Message() != nil && !f.IsList() && !f.IsMap() && !scalarMessage(f.Message()) {
			if depth > 1 {
				addQueryNames(names, f.Message(), protoPath+".", jsonPath+".", bound, depth-1)
			}
			continue
		}
		if f.IsMap() {
			continue // grpc-gateway takes maps only as name[key]=value; the API has none in queries
		}
		names[protoPath] = true
		names[jsonPath] = true
		// grpc-gateway lets each segment be written either way.
		names[protoPrefix+f.JSONName()] = true
		names[jsonPrefix+string(f.Name())] = true
	}
}

// scalarMessage reports well-known types grpc-gateway parses from one query value.
func scalarMessage(m protoreflect.MessageDescriptor) bool {
	return strings.HasPrefix(string(m.FullName()), "google.protobuf.")
}
