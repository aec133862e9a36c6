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
// methods whose declared policy says they create, and 202 Accepted for those that
// accept work done afterwards. It writes the status line, so it must be the last
// option.
func createdStatus(policies rpc.Policies) func(context.Context, http.ResponseWriter, proto.Message) error {
	return func(ctx context.Context, w http.ResponseWriter, _ proto.Message) error {
		method, ok := runtime.RPCMethod(ctx)
		switch {
		case !ok:
		case policies[method].Created:
			w.WriteHeader(http.StatusCreated)
		case policies[method].Accepted:
			w.WriteHeader(http.StatusAccepted)
		}
		return nil
	}
}
