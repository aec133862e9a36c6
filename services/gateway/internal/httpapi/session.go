package httpapi

import (
	"context"
	"math"
	"net/http"
	"time"

	"github.com/grpc-ecosystem/grpc-gateway/v2/runtime"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"

	identityv1 "github.com/firmflow/firmflow/pkg/gen/firmflow/identity/v1"
	"github.com/firmflow/firmflow/pkg/rpc"
)

// sessionCookie is the forward-response option that keeps the session token out of
// the page's reach: Login's token goes into an HttpOnly cookie (script cannot read
// it, so an XSS cannot steal it) and is removed from the JSON body; Logout expires
// the cookie. SameSite=Strict keeps other sites' pages from sending it.
func sessionCookie(ctx context.Context, w http.ResponseWriter, resp proto.Message) error {
	if login, ok := resp.(*identityv1.LoginResponse); ok && login.GetSessionToken() != "" {
		setSessionCookie(w, login.GetSessionToken(), login.GetSession().GetExpireTime())
		login.SessionToken = ""
		return nil
	}
	if caller, ok := resp.(*identityv1.Caller); ok {
		// A reloaded page has lost the token Login gave; it can ask again.
		caller.CsrfToken = sessionCSRFToken(ctx)
		return nil
	}
	if method, _ := runtime.RPCMethod(ctx); method == identityv1.IdentityService_Logout_FullMethodName {
		clearSessionCookie(w)
	}
	return nil
}

func setSessionCookie(w http.ResponseWriter, token string, expires *timestamppb.Timestamp) {
	c := newSessionCookie(token)
	if expires != nil {
		// Max-Age, unlike Expires, does not depend on the browser's clock.
		seconds := math.Ceil(time.Until(expires.AsTime()).Seconds())
		c.MaxAge = int(seconds)
		if seconds < 1 {
			c.MaxAge = -1 // a session already over deletes the cookie
		}
	}
	http.SetCookie(w, c)
}

func clearSessionCookie(w http.ResponseWriter) {
	c := newSessionCookie("")
	c.MaxAge = -1 // written as Max-Age=0: delete now
	http.SetCookie(w, c)
}

func newSessionCookie(value string) *http.Cookie {
	return &http.Cookie{
		Name:     SessionCookie,
		Value:    value,
		Path:     "/",
		HttpOnly: true,
		Secure:   true,
		SameSite: http.SameSiteStrictMode,
	}
}

// createdStatus is the forward-response option that answers 201 Created for the
// methods whose declared policy says they create (or, for an upsert, whose service
// says this call created), and 202 Accepted for those that accept work done
// afterwards. It writes the status line, so it must be the last option.
func createdStatus(policies rpc.Policies) func(context.Context, http.ResponseWriter, proto.Message) error {
	return func(ctx context.Context, w http.ResponseWriter, _ proto.Message) error {
		method, ok := runtime.RPCMethod(ctx)
		switch {
		case !ok:
		case answersCreated(ctx, policies[method]):
			w.WriteHeader(http.StatusCreated)
		case policies[method].Accepted:
			w.WriteHeader(http.StatusAccepted)
		}
		return nil
	}
}

// answersCreated reports whether a response of a method with this policy tells of a
// resource the call created: always for a create, and for an upsert when the
// service marked it so (rpc.MarkCreated). The mark is honoured only on methods the
// proto declares as upserts.
func answersCreated(ctx context.Context, policy rpc.Policy) bool {
	if policy.Created {
		return true
	}
	if !policy.Upsert {
		return false
	}
	md, ok := runtime.ServerMetadataFromContext(ctx)
	return ok && rpc.WasCreated(md.HeaderMD)
}
