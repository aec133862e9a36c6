package principal

import (
	"crypto/ed25519"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"sync"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/firmflow/firmflow/pkg/keyfile"
)

const (
	issuer   = "firmflow-identity"
	audience = "firmflow-services"
	// TokenTTL is short because the gateway asks identity for a token on every
	// request, and identity gives none for a revoked credential: it stops working on
	// the next request, and a token already forwarded soon expires.
	TokenTTL = 60 * time.Second
	// leeway is the clock skew between identity and a service that Verify forgives.
	leeway = 5 * time.Second
	// reuseFor is how long a signed token is handed out again for the same principal.
	// Identity still checks the credential on every request and signs nothing for
	// one that is revoked, so reuse changes only the signing: a token reused at the
	// end of the window expires sooner (TokenTTL - reuseFor later) than a new one.
	reuseFor = 10 * time.Second
	// remembered bounds the tokens a Signer reuses and a Verifier remembers: some
	// 600 bytes each, about 2.5 MB at most. When full, it starts again empty.
	remembered = 4096
)

// ErrInvalidToken is returned for any token that does not verify; the cause is not told.
var ErrInvalidToken = errors.New("invalid principal token")

type claims struct {
	jwt.RegisteredClaims
	Principal
}

// Signer issues principal tokens; only identity holds one.
type Signer struct {
	key ed25519.PrivateKey
	now func() time.Time

	mu     sync.Mutex
	recent map[string]signedToken // by the principal's JSON
}

type signedToken struct {
	token       string
	issued, exp time.Time
}

// NewSigner returns a signer for the private key.
func NewSigner(key ed25519.PrivateKey) *Signer {
	return &Signer{key: key, now: time.Now, recent: map[string]signedToken{}}
}

// Sign returns a compact EdDSA JWT carrying p, valid for TokenTTL. The gateway asks
// for a token on every request, mostly for the same principals again: a token
// signed for the same principal less than reuseFor ago is returned again, which
// spares an Ed25519 signature here and, since services remember the tokens they
// verified, a verification there.
func (s *Signer) Sign(p Principal) (string, time.Time, error) {
	key, err := json.Marshal(p)
	if err != nil {
		return "", time.Time{}, fmt.Errorf("sign principal: %w", err)
	}
	now := s.now()
	s.mu.Lock()
	t, ok := s.recent[string(key)]
	s.mu.Unlock()
	if ok && !now.Before(t.issued) && now.Sub(t.issued) < reuseFor {
		return t.token, t.exp, nil
	}
	token, exp, err := s.sign(p, now)
	if err != nil {
		return "", time.Time{}, err
	}
	s.mu.Lock()
	if len(s.recent) >= remembered {
		clear(s.recent)
	}
	s.recent[string(key)] = signedToken{token: token, issued: now, exp: exp}
	s.mu.Unlock()
	return token, exp, nil
}

func (s *Signer) sign(p Principal, now time.Time) (string, time.Time, error) {
	exp := now.Add(TokenTTL)
	token := jwt.NewWithClaims(jwt.SigningMethodEdDSA, claims{
		RegisteredClaims: jwt.RegisteredClaims{
			Issuer:    issuer,
			Audience:  jwt.ClaimStrings{audience},
			IssuedAt:  jwt.NewNumericDate(now),
			ExpiresAt: jwt.NewNumericDate(exp),
		},
		Principal: p,
	})
	signed, err := token.SignedString(s.key)
	if err != nil {
		return "", time.Time{}, fmt.Errorf("sign principal: %w", err)
	}
	return signed, exp, nil
}

// Verifier checks principal tokens with identity's public key.
type Verifier struct {
	key ed25519.PublicKey
	now func() time.Time

	mu       sync.RWMutex
	verified map[string]verifiedToken // by the token itself
}

// verifiedToken is a token that verified, and the times between which it is valid.
type verifiedToken struct {
	principal      Principal
	from, notAfter time.Time
}

// NewVerifier returns a verifier for the public key.
func NewVerifier(key ed25519.PublicKey) *Verifier {
	return &Verifier{key: key, now: time.Now, verified: map[string]verifiedToken{}}
}

// Verify returns the principal of a valid, unexpired token signed by identity. A
// staff principal may lack a firm (no support grant); every other kind needs one.
//
// A token that verified is remembered until it expires: the same bytes verify the
// same way again, so only its validity in time is checked on the next call, which
// spares the Ed25519 verification of a token identity handed out again (see
// Signer.Sign). Any other string, a tampered copy included, is verified in full.
func (v *Verifier) Verify(token string) (Principal, error) {
	now := v.now()
	v.mu.RLock()
	t, ok := v.verified[token]
	v.mu.RUnlock()
	if ok {
		if now.Before(t.from) || now.After(t.notAfter) {
			return Principal{}, ErrInvalidToken
		}
		p := t.principal
		p.Scopes = slices.Clone(p.Scopes)
		return p, nil
	}
	p, from, notAfter, err := v.verify(token)
	if err != nil {
		return Principal{}, err
	}
	v.mu.Lock()
	if len(v.verified) >= remembered {
		clear(v.verified)
	}
	v.verified[token] = verifiedToken{principal: p, from: from, notAfter: notAfter}
	v.mu.Unlock()
	p.Scopes = slices.Clone(p.Scopes)
	return p, nil
}

// verify checks the token's signature and claims, and returns when it stops being
// valid, the leeway included.
func (v *Verifier) verify(token string) (Principal, time.Time, time.Time, error) {
	var c claims
	_, err := jwt.ParseWithClaims(token, &c, func(*jwt.Token) (any, error) { return v.key, nil },
		jwt.WithValidMethods([]string{jwt.SigningMethodEdDSA.Alg()}),
		jwt.WithIssuer(issuer),
		jwt.WithAudience(audience),
		jwt.WithExpirationRequired(),
		jwt.WithIssuedAt(),
		jwt.WithLeeway(leeway),
		jwt.WithTimeFunc(v.now),
	)
	if err != nil || !c.complete() {
		return Principal{}, time.Time{}, time.Time{}, ErrInvalidToken
	}
	return c.Principal, c.IssuedAt.Add(-leeway), c.ExpiresAt.Add(leeway), nil
}

// EnsureKeyPair creates the Ed25519 signing key pair dir/principal.key and
// dir/principal.pub on first run (development; production mounts both).
func EnsureKeyPair(dir string) (privatePath, publicPath string, err error) {
	return keyfile.EnsureEd25519(dir, "principal")
}

// LoadPrivateKey reads identity's signing key.
func LoadPrivateKey(path string) (ed25519.PrivateKey, error) { return keyfile.LoadPrivate(path) }

// LoadPublicKey reads identity's public key.
func LoadPublicKey(path string) (ed25519.PublicKey, error) { return keyfile.LoadPublic(path) }
