package principal

import (
	"crypto/ed25519"
	"errors"
	"fmt"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/firmflow/firmflow/pkg/keyfile"
)

const (
	issuer   = "firmflow-identity"
	audience = "firmflow-services"
	// TokenTTL is short because the gateway asks for a fresh token on every request;
	// a revoked credential therefore stops working on the next one.
	TokenTTL = 60 * time.Second
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
}

// NewSigner returns a signer for the private key.
func NewSigner(key ed25519.PrivateKey) *Signer { return &Signer{key: key, now: time.Now} }

// Sign returns a compact EdDSA JWT carrying p, valid for TokenTTL.
func (s *Signer) Sign(p Principal) (string, time.Time, error) {
	now := s.now()
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
}

// NewVerifier returns a verifier for the public key.
func NewVerifier(key ed25519.PublicKey) *Verifier { return &Verifier{key: key, now: time.Now} }

// Verify returns the principal of a valid, unexpired token signed by identity. A
// staff principal may lack a firm (no support grant); every other kind needs one.
func (v *Verifier) Verify(token string) (Principal, error) {
	var c claims
	_, err := jwt.ParseWithClaims(token, &c, func(*jwt.Token) (any, error) { return v.key, nil },
		jwt.WithValidMethods([]string{jwt.SigningMethodEdDSA.Alg()}),
		jwt.WithIssuer(issuer),
		jwt.WithAudience(audience),
		jwt.WithExpirationRequired(),
		jwt.WithIssuedAt(),
		jwt.WithLeeway(5*time.Second),
		jwt.WithTimeFunc(v.now),
	)
	if err != nil || !c.complete() {
		return Principal{}, ErrInvalidToken
	}
	return c.Principal, nil
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
