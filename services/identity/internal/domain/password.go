package domain

import (
	"crypto/subtle"
	"fmt"
	"time"

	"github.com/alexedwards/argon2id"
	"github.com/pquerna/otp"
	"github.com/pquerna/otp/totp"
)

// passwordParams follow OWASP's argon2id recommendation (19 MiB, 2 passes, 1 lane).
var passwordParams = &argon2id.Params{Memory: 19 * 1024, Iterations: 2, Parallelism: 1, SaltLength: 16, KeyLength: 32}

// HashPassword returns an argon2id PHC string.
func HashPassword(password string) (string, error) {
	hash, err := argon2id.CreateHash(password, passwordParams)
	if err != nil {
		return "", fmt.Errorf("hash password: %w", err)
	}
	return hash, nil
}

// dummyHash is verified against when no account matches, so that an unknown email
// costs as much time as a wrong password.
var dummyHash, _ = HashPassword("firmflow-no-such-account")

// CheckPassword reports whether password matches hash; with an empty hash it burns
// the same time and reports false.
func CheckPassword(password, hash string) bool {
	if hash == "" {
		_, _ = argon2id.ComparePasswordAndHash(password, dummyHash)
		return false
	}
	ok, err := argon2id.ComparePasswordAndHash(password, hash)
	return err == nil && ok
}

// totpPeriod is RFC 6238's default time step.
const totpPeriod = 30

var totpOpts = totp.ValidateOpts{Period: totpPeriod, Digits: otp.DigitsSix, Algorithm: otp.AlgorithmSHA1}

// NewTOTPSecret creates an enrollment for the account: base32 secret and otpauth URI.
func NewTOTPSecret(accountName string) (secret, uri string, err error) {
	key, err := totp.Generate(totp.GenerateOpts{Issuer: "firmflow", AccountName: accountName, Period: totpPeriod})
	if err != nil {
		return "", "", fmt.Errorf("generate totp secret: %w", err)
	}
	return key.Secret(), key.URL(), nil
}

// MatchTOTP checks code against the secret at now, allowing one step of clock skew
// either way. It returns the matching time step, and refuses a step at or before
// lastStep so that a code seen once (over a shoulder, in a proxy log) cannot be
// replayed.
func MatchTOTP(secret, code string, lastStep int64, now time.Time) (int64, bool) {
	current := now.Unix() / totpPeriod
	for _, step := range []int64{current - 1, current, current + 1} {
		if step <= lastStep {
			continue
		}
		want, err := totp.GenerateCodeCustom(secret, time.Unix(step*totpPeriod, 0), totpOpts)
		if err != nil {
			return 0, false
		}
		if subtle.ConstantTimeCompare([]byte(want), []byte(code)) == 1 {
			return step, true
		}
	}
	return 0, false
}
