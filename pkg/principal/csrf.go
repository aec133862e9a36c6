package principal

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
)

// CSRFToken is the anti-CSRF token of the session whose token is sessionToken: an
// HMAC of a fixed label keyed by the session token. Identity stores its hash at
// login; the gateway, which holds the session cookie on every browser request, can
// hand it out again (GET /v1/caller) after a page reload without identity keeping it
// in the clear. Whoever can compute it holds the session token already, and a page
// on another site can neither read the HttpOnly cookie nor our responses, which is
// all the token has to prove.
func CSRFToken(sessionToken string) string {
	mac := hmac.New(sha256.New, []byte(sessionToken))
	mac.Write([]byte("firmflow csrf token v1"))
	return base64.RawURLEncoding.EncodeToString(mac.Sum(nil))
}
