package httpapi

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"slices"
	"strings"

	"github.com/grpc-ecosystem/grpc-gateway/v2/runtime"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"

	"github.com/firmflow/firmflow/pkg/apierr"
	"github.com/firmflow/firmflow/pkg/rpc"
)

// IfMatchHeader makes a PATCH or DELETE conditional on the resource's etag.
const IfMatchHeader = "If-Match"

// conventions is REST-mux middleware for the HTTP conventions every route shares,
// applied here once rather than per handler, from what the route's google.api.http
// binding declares:
//   - a query parameter the route does not map onto a field is refused (400 naming
//     it), so that a misspelt filter cannot silently return everything;
//   - If-Match on a PATCH, DELETE or upsert becomes the request's etag (the field AIP-154
//     defines), and a stale one answers 412 FAILED_PRECONDITION rather than the 409
//     ABORTED a stale etag in the body gets (see ifMatchFailed).
func conventions(rs routes) runtime.Middleware {
	return func(next runtime.HandlerFunc) runtime.HandlerFunc {
		return func(w http.ResponseWriter, r *http.Request, params map[string]string) {
			pattern, ok := runtime.HTTPPattern(r.Context())
			rt := rs[r.Method+" "+pattern.String()]
			if !ok || rt == nil {
				next(w, r, params)
				return
			}
			if name := unknownParameter(rt, r); name != "" {
				writeError(w, apierr.InvalidArgument(name, "unknown_parameter", "this route takes no query parameter "+name))
				return
			}
			if r.Header.Get(IfMatchHeader) != "" && rt.conditional {
				var err *apierr.Error
				if r, err = applyIfMatch(rt, r); err != nil {
					writeError(w, err)
					return
				}
			}
			next(w, r, params)
		}
	}
}

// unknownParameter is the first query parameter, in sorted order, that rt does not
// map onto a field, or "".
func unknownParameter(rt *route, r *http.Request) string {
	names := make([]string, 0, len(r.URL.Query()))
	for name := range r.URL.Query() {
		if !rt.query[name] {
			names = append(names, name)
		}
	}
	if len(names) == 0 {
		return ""
	}
	slices.Sort(names)
	return printableASCII(names[0])
}

type ifMatchKey struct{}

// applyIfMatch puts the If-Match etag where the route's request takes an etag.
func applyIfMatch(rt *route, r *http.Request) (*http.Request, *apierr.Error) {
	etag, ok := parseIfMatch(r.Header.Get(IfMatchHeader))
	switch {
	case !ok:
		return r, apierr.InvalidArgument(IfMatchHeader, "format", `must be one etag, as sent in the ETag header ("…"), or *`)
	case etag == "*":
		return r, nil // any current version: the method itself answers 404 when there is none
	}
	r = r.WithContext(context.WithValue(r.Context(), ifMatchKey{}, true))
	switch rt.etag {
	case etagQuery:
		q := r.URL.Query()
		q.Set("etag", etag)
		u := *r.URL
		u.RawQuery = q.Encode()
		r.URL = &u
		return r, nil
	case etagBody:
		body, err := io.ReadAll(r.Body)
		if err != nil {
			return r, apierr.New(codes.InvalidArgument, "BODY_UNREADABLE", "the request body could not be read")
		}
		fields := map[string]json.RawMessage{}
		if len(bytes.TrimSpace(body)) > 0 && json.Unmarshal(body, &fields) != nil {
			// Not a JSON object: leave it for the decoder to refuse with its own message.
			r.Body = io.NopCloser(bytes.NewReader(body))
			return r, nil
		}
		fields["etag"], _ = json.Marshal(etag)
		body, _ = json.Marshal(fields)
		r.Body = io.NopCloser(bytes.NewReader(body))
		r.ContentLength = int64(len(body))
		return r, nil
	}
	return r, apierr.InvalidArgument(IfMatchHeader, "unsupported", "this route's resource has no etag to match")
}

// parseIfMatch reads one entity tag ("x", W/"x" or *) and returns it in the form
// the services write etags, a quoted string; a list of several is not supported,
// since a resource has one current etag. A weak tag matches as a strong one: the
// services' etags are versions, which change with every write.
func parseIfMatch(v string) (string, bool) {
	v = strings.TrimSpace(v)
	if v == "*" {
		return v, true
	}
	v = strings.TrimPrefix(v, "W/")
	if len(v) < 3 || v[0] != '"' || v[len(v)-1] != '"' || strings.ContainsAny(v[1:len(v)-1], `",`) {
		return "", false
	}
	return v, true
}

// entityTag is etag as an ETag header value: the services' etags are quoted
// already (AIP-154 allows it so that they can be sent as is); one that is not gets
// quotes. An etag that cannot be a header value is left out.
func entityTag(etag string) string {
	switch {
	case etag == "" || strings.ContainsAny(etag, "\r\n,"):
		return ""
	case len(etag) >= 2 && etag[0] == '"' && etag[len(etag)-1] == '"' && !strings.Contains(etag[1:len(etag)-1], `"`):
		return etag
	case strings.Contains(etag, `"`):
		return ""
	}
	return `"` + etag + `"`
}

// ifMatchFailed turns the 409 ABORTED ETAG_MISMATCH of a request whose etag came from
// If-Match into what HTTP says a failed precondition is: 412, FAILED_PRECONDITION.
func ifMatchFailed(ctx context.Context, st *status.Status) (*status.Status, bool) {
	if matched, _ := ctx.Value(ifMatchKey{}).(bool); !matched || st.Code() != codes.Aborted || !fromFirmflow(st) || reasonOf(st) != "ETAG_MISMATCH" {
		return st, false
	}
	return apierr.FailedPrecondition("ETAG_MISMATCH", st.Message()).GRPCStatus(), true
}

// resourceHeaders is the forward-response option that describes the resource a
// response carries: ETag with its etag, so a client can send it back in If-Match,
// and Location with its address on 201 Created (see createdStatus).
func resourceHeaders(policies rpc.Policies) func(context.Context, http.ResponseWriter, proto.Message) error {
	return func(ctx context.Context, w http.ResponseWriter, resp proto.Message) error {
		msg := resp.ProtoReflect()
		if tag := entityTag(stringField(msg, "etag")); tag != "" {
			w.Header().Set("ETag", tag)
		}
		if method, ok := runtime.RPCMethod(ctx); ok && answersCreated(ctx, policies[method]) {
			if name := resourceName(msg); name != "" {
				w.Header().Set("Location", "/v1/"+name)
			}
		}
		return nil
	}
}

// resourceName is the name of the resource a create answered with: the response's
// own name (AIP-133 returns the resource), or that of the one message field that has
// one (sign-up answers with the firm and the member together; the first is the firm).
func resourceName(msg protoreflect.Message) string {
	if name := stringField(msg, "name"); name != "" {
		return name
	}
	fields := msg.Descriptor().Fields()
	for i := range fields.Len() {
		f := fields.Get(i)
		if f.Message() != nil && !f.IsList() && !f.IsMap() && msg.Has(f) {
			if name := stringField(msg.Get(f).Message(), "name"); name != "" && !strings.Contains(name, "\n") {
				return name
			}
		}
	}
	return ""
}

func stringField(msg protoreflect.Message, name protoreflect.Name) string {
	f := msg.Descriptor().Fields().ByName(name)
	if f == nil || f.Kind() != protoreflect.StringKind || f.IsList() {
		return ""
	}
	return msg.Get(f).String()
}
