package httpapi

import (
	"context"
	"net/http"
	"strings"
	"time"
	"unicode/utf8"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"

	"github.com/firmflow/firmflow/pkg/apierr"
	identityv1 "github.com/firmflow/firmflow/pkg/gen/firmflow/identity/v1"
	"github.com/firmflow/firmflow/pkg/logging"
	"github.com/firmflow/firmflow/pkg/principal"
	"github.com/firmflow/firmflow/pkg/rpc"
)

// SessionCookie is the browser session cookie Login sets.
const SessionCookie = "firmflow_session"

// CSRFHeader carries the csrf_token from Login on cookie-authenticated writes.
const CSRFHeader = "X-CSRF-Token"

// SupportGrantHeader names the support grant a staff member acts under:
// firms/{firm}/supportGrants/{grant}. Identity decides whether it opens the firm.
const SupportGrantHeader = "X-Support-Grant"

// staffTokenPrefix marks a staff session token among bearer tokens.
const staffTokenPrefix = "ffst_"

// Credential kinds, as the access log names them.
const (
	credentialSession = "session"
	credentialAPIKey  = "api_key"
	credentialStaff   = "staff_session"
)

// authenticateTimeout bounds the call to identity: a credential check that takes
// longer means identity is in trouble, and the client is better off with a 503.
const authenticateTimeout = 5 * time.Second

// Authenticator turns a credential into a signed principal token; identity's
// AuthService client is one.
type Authenticator interface {
	Authenticate(ctx context.Context, in *identityv1.AuthenticateRequest, opts ...grpc.CallOption) (*identityv1.AuthenticateResponse, error)
}

type credential struct {
	kind  string
	token string
}

// credentialOf reads the request's credential: an API key or a staff session token
// in the Authorization header, otherwise the session cookie. A zero credential means
// none was sent.
func credentialOf(r *http.Request) (credential, *apierr.Error) {
	if header := r.Header.Get("Authorization"); header != "" {
		scheme, token, ok := strings.Cut(header, " ")
		token = strings.TrimSpace(token)
		if !ok || !strings.EqualFold(scheme, "Bearer") || token == "" || !utf8.ValidString(token) {
			return credential{}, apierr.Unauthenticated("MALFORMED_CREDENTIAL", "send an API key as Authorization: Bearer <api key>")
		}
		if strings.HasPrefix(token, staffTokenPrefix) {
			return credential{kind: credentialStaff, token: token}, nil
		}
		return credential{kind: credentialAPIKey, token: token}, nil
	}
	if c, err := r.Cookie(SessionCookie); err == nil && c.Value != "" {
		if !utf8.ValidString(c.Value) {
			return credential{}, apierr.Unauthenticated("MALFORMED_CREDENTIAL", "the session cookie is malformed; sign in again")
		}
		return credential{kind: credentialSession, token: c.Value}, nil
	}
	return credential{}, nil
}

// Authenticate asks identity about the request's credential, if it has one, and
// passes the principal token identity signs on to the services. A credential identity
// refuses ends the request here with identity's error. A request without one goes on
// without a principal and each method's policy decides: sign-up and login are public,
// the rest answer 401.
//
// Browser writes must prove they come from our app: with the session cookie, a
// request that may change something needs the X-CSRF-Token from Login, which identity
// checks. A staff member's request also carries X-Support-Grant to identity, which
// puts the grant's firm in the principal only while the grant is live. Credentials
// never travel further than this: services see the principal token, not the cookie,
// the key or the header.
func Authenticate(identity Authenticator, errs Errors) func(http.Handler) http.Handler {
	return func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			cred, malformed := credentialOf(r)
			if malformed != nil {
				writeError(w, malformed)
				return
			}
			ctx := r.Context()
			if cred.token != "" {
				req := requestFrom(r)
				req.credential = cred.kind
				resp, err := authenticate(ctx, identity, authenticateRequest(r, req, cred))
				if err != nil {
					st := errs.clientStatus(ctx, err)
					if cred.kind == credentialSession && st.Code() == codes.Unauthenticated {
						// Stop the browser sending a session that is over, so that
						// signing in again (a public call) is not refused for it.
						clearSessionCookie(w)
					}
					writeStatus(w, st)
					return
				}
				ctx = withPrincipalToken(ctx, resp.GetPrincipalToken())
				req.principal = accessPrincipal{
					actor: resp.GetActor(), kind: resp.GetActorKind(),
					firm: resp.GetFirm(), supportGrant: resp.GetSupportGrant(),
				}
				if cred.kind == credentialSession {
					ctx = context.WithValue(ctx, csrfTokenKey{}, principal.CSRFToken(cred.token))
				}
			}
			next.ServeHTTP(w, withoutCredentials(r.WithContext(ctx)))
		})
	}
}

func authenticateRequest(r *http.Request, req *request, cred credential) *identityv1.AuthenticateRequest {
	in := &identityv1.AuthenticateRequest{UserAgent: userAgent(r)}
	if req.clientIP.IsValid() {
		in.ClientIp = req.clientIP.String()
	}
	switch cred.kind {
	case credentialAPIKey:
		in.Credential = &identityv1.AuthenticateRequest_ApiKey{ApiKey: cred.token}
	case credentialStaff:
		// Staff tokens travel like API keys; identity tells them apart by prefix.
		in.Credential = &identityv1.AuthenticateRequest_ApiKey{ApiKey: cred.token}
		in.SupportGrant = strings.ToValidUTF8(strings.TrimSpace(r.Header.Get(SupportGrantHeader)), "")
	case credentialSession:
		in.Credential = &identityv1.AuthenticateRequest_SessionToken{SessionToken: cred.token}
		if !safeMethod(r.Method) {
			in.RequireCsrf = true
			in.CsrfToken = strings.ToValidUTF8(r.Header.Get(CSRFHeader), "")
		}
	}
	return in
}

func authenticate(ctx context.Context, identity Authenticator, in *identityv1.AuthenticateRequest) (*identityv1.AuthenticateResponse, error) {
	ctx, cancel := context.WithTimeout(ctx, authenticateTimeout)
	defer cancel()
	if id := logging.RequestID(ctx); id != "" {
		ctx = metadata.AppendToOutgoingContext(ctx, rpc.RequestIDKey, id)
	}
	return identity.Authenticate(ctx, in)
}

// safeMethod reports methods that change nothing, which need no CSRF token.
func safeMethod(method string) bool {
	return method == http.MethodGet || method == http.MethodHead || method == http.MethodOptions
}

// withoutCredentials is r without its Authorization and Cookie headers: grpc-gateway
// forwards Authorization to services as metadata on its own, and no service has any
// business with a browser's cookies.
func withoutCredentials(r *http.Request) *http.Request {
	if r.Header.Get("Authorization") == "" && r.Header.Get("Cookie") == "" {
		return r
	}
	header := r.Header.Clone()
	header.Del("Authorization")
	header.Del("Cookie")
	out := r.WithContext(r.Context())
	out.Header = header
	return out
}

// userAgent is the User-Agent fit for a proto string field (valid UTF-8) and
// identity's length limit.
func userAgent(r *http.Request) string {
	const maxLen = 512
	ua := r.UserAgent()
	if len(ua) > maxLen {
		ua = ua[:maxLen] // may split a rune; ToValidUTF8 drops the piece
	}
	return strings.ToValidUTF8(ua, "")
}

type principalTokenKey struct{}

func withPrincipalToken(ctx context.Context, token string) context.Context {
	return context.WithValue(ctx, principalTokenKey{}, token)
}

type csrfTokenKey struct{}

// sessionCSRFToken is the CSRF token of the session cookie the request was
// authenticated with, or "".
func sessionCSRFToken(ctx context.Context) string {
	token, _ := ctx.Value(csrfTokenKey{}).(string)
	return token
}

func principalToken(ctx context.Context) string {
	token, _ := ctx.Value(principalTokenKey{}).(string)
	return token
}
