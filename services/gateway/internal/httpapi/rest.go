package httpapi

import (
	"context"
	"net/http"
	"strings"

	"github.com/grpc-ecosystem/grpc-gateway/v2/runtime"
	"google.golang.org/grpc/metadata"
	"google.golang.org/protobuf/encoding/protojson"

	"github.com/firmflow/firmflow/pkg/logging"
	"github.com/firmflow/firmflow/pkg/principal"
	"github.com/firmflow/firmflow/pkg/rpc"
)

// Metadata the gateway sets on every service call besides the principal and the
// request id, for services that record where a request came from (identity keeps
// them on sessions). The values are the gateway's own; no client header can set them.
const (
	// ClientIPMetadataKey holds the one client address the gateway worked out
	// (trusted proxies considered), not a raw X-Forwarded-For chain.
	ClientIPMetadataKey = "x-forwarded-client-ip"
	// UserAgentMetadataKey holds the client's User-Agent, printable ASCII only.
	UserAgentMetadataKey = "x-forwarded-user-agent"
)

// NewREST returns the grpc-gateway mux for the public REST API, without any service
// registered on it. JSON uses proto field names (snake_case) and omits unset fields;
// unknown fields are refused (400) rather than silently dropped, so a misspelt field
// is not mistaken for a default, and so are query parameters a route does not map
// (see conventions). Responses follow NewREST's forward options: the session cookie
// on Login and Logout, ETag for a resource with an etag, 201 with Location on the
// methods declared created.
func NewREST(errs Errors) *runtime.ServeMux {
	// The policies and routes are read here, not at package init, when every
	// service's generated package has registered its methods.
	policies := rpc.DeclaredPolicies()
	return runtime.NewServeMux(
		// google.api.HttpBody responses (the audit export) go out as their own bytes.
		runtime.WithMarshalerOption(runtime.MIMEWildcard, &runtime.HTTPBodyMarshaler{Marshaler: &runtime.JSONPb{
			MarshalOptions:   protojson.MarshalOptions{UseProtoNames: true, EmitUnpopulated: false},
			UnmarshalOptions: protojson.UnmarshalOptions{DiscardUnknown: false},
		}}),
		// Nothing from the client's headers or the services' response metadata crosses
		// the gateway except what serviceMetadata sets: no cookies, no credentials,
		// no client-chosen metadata keys, no internal headers leaking out.
		runtime.WithIncomingHeaderMatcher(forwardNone),
		runtime.WithOutgoingHeaderMatcher(forwardNone),
		runtime.WithOutgoingTrailerMatcher(forwardNone),
		runtime.WithMetadata(serviceMetadata),
		runtime.WithForwardResponseOption(sessionCookie),
		runtime.WithForwardResponseOption(resourceHeaders(policies)),
		// Last: it writes the status line.
		runtime.WithForwardResponseOption(createdStatus(policies)),
		runtime.WithErrorHandler(errs.Handle),
		runtime.WithRoutingErrorHandler(errs.HandleRouting),
		runtime.WithMiddlewares(RecordRoute, RequireUTF8, conventions(declaredRoutes())),
		// A form POST must not reach a GET route, nor a header turn a POST into a
		// DELETE: only the methods the API declares.
		runtime.WithDisablePathLengthFallback(),
		runtime.WithDisableHTTPMethodOverride(),
	)
}

func forwardNone(string) (string, bool) { return "", false }

// serviceMetadata is the gRPC metadata of a service call: the signed principal (when
// the request was authenticated), the request id, and the client's address and agent.
func serviceMetadata(ctx context.Context, r *http.Request) metadata.MD {
	md := metadata.MD{}
	if method, ok := runtime.RPCMethod(ctx); ok {
		requestFrom(r).rpcMethod = method
	}
	if token := principalToken(ctx); token != "" {
		md.Set(principal.MetadataKey, token)
	}
	if id := logging.RequestID(ctx); id != "" {
		md.Set(rpc.RequestIDKey, id)
	}
	if ip := requestFrom(r).clientIP; ip.IsValid() {
		md.Set(ClientIPMetadataKey, ip.String())
	}
	if ua := printableASCII(r.UserAgent()); ua != "" {
		md.Set(UserAgentMetadataKey, ua)
	}
	return md
}

// printableASCII keeps what gRPC accepts in a text metadata value.
func printableASCII(s string) string {
	const maxLen = 512
	s = strings.Map(func(r rune) rune {
		if r < 0x20 || r > 0x7e {
			return -1
		}
		return r
	}, s)
	if len(s) > maxLen {
		s = s[:maxLen]
	}
	return s
}
