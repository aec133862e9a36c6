// Package fieldcrypt encrypts sensitive fields at rest (TOTP secrets, tax ids,
// bank details, notes) with envelope encryption: each firm has its own
// AES-256-GCM data key, stored only wrapped by a key-encryption key (KEK) from
// configuration, so the plaintext of a field never reaches SQL.
//
// Wrapped data keys live in the key store (package keystore), apart from the
// firm's rows; a service opens one with [OpenDataKey] and seals each field bound
// to where it is stored ([Binding]), so a ciphertext copied to another row,
// column or firm does not open. Exact-match lookups (find a client by tax id) use [DataKey.BlindIndex]
// instead of scanning plaintext.
//
// Crypto-shredding: deleting a firm's wrapped data key (and every backup of it)
// makes all of the firm's sealed fields and blind indexes unrecoverable, even
// in database backups that still hold the ciphertext. Nothing else is needed
// here; the key store destroys the keys when the firm is deleted.
package fieldcrypt

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"strings"
)

// KeySize is the size in bytes of a KEK and of a data key: AES-256.
const KeySize = 32

// wrapVersion is the first byte of every wrapped data key, so the format can
// change later without guessing what an old row holds.
const wrapVersion byte = 1

// ErrDecrypt is returned when a ciphertext or wrapped key does not open: it
// was tampered with, truncated, moved to another binding or firm, or sealed
// under another key. It deliberately says no more than that.
var ErrDecrypt = errors.New("fieldcrypt: decryption failed")

// ErrInvalidKEK is returned by [ParseKEK]; the wrapping error names the rule
// that the configured value broke, never the value.
var ErrInvalidKEK = errors.New("fieldcrypt: invalid key-encryption key")

// KeyWrapper protects data keys at rest. [KEK] implements it with a key from
// configuration; a cloud KMS (whose wrap and unwrap run inside the KMS) can
// implement it later without changing callers.
//
// aad is authenticated but not encrypted: Unwrap must fail unless it is given
// the same aad that Wrap was given.
type KeyWrapper interface {
	Wrap(dataKey, aad []byte) ([]byte, error)
	Unwrap(wrapped, aad []byte) ([]byte, error)
}

// KEK is a key-encryption key held in process memory. It only ever encrypts
// data keys, never field values.
type KEK struct {
	id   string
	aead cipher.AEAD
}

var _ KeyWrapper = (*KEK)(nil)

// GenerateKEK returns a new random KEK as standard base64, the form
// [ParseKEK] accepts (used by the dev command to create one under .data/).
func GenerateKEK() string {
	key := make([]byte, KeySize)
	rand.Read(key) // never fails: crypto/rand crashes the program instead
	return base64.StdEncoding.EncodeToString(key)
}

// ParseKEK reads a KEK from configuration: standard base64 (with padding) of
// exactly 32 random bytes. Surrounding whitespace is ignored so a value read
// from a file with a trailing newline works.
func ParseKEK(b64 string) (*KEK, error) {
	key, err := base64.StdEncoding.DecodeString(strings.TrimSpace(b64))
	if err != nil {
		// The decoder's error is dropped: it describes the value.
		return nil, fmt.Errorf("%w: must be standard base64 (RFC 4648, with padding)", ErrInvalidKEK)
	}
	defer clear(key)
	if len(key) != KeySize {
		return nil, fmt.Errorf("%w: must decode to exactly %d bytes, got %d", ErrInvalidKEK, KeySize, len(key))
	}
	aead, err := newRandomNonceGCM(key)
	if err != nil {
		return nil, err
	}
	sum := sha256.Sum256(key)
	return &KEK{id: hex.EncodeToString(sum[:4]), aead: aead}, nil
}

// KEKID names the KEK without revealing it: the first 8 hex characters of the
// SHA-256 of the key. Stored beside a wrapped key, it tells which KEK to use
// when KEKs are rotated.
func (k *KEK) KEKID() string { return k.id }

// Wrap encrypts dataKey with AES-256-GCM under a fresh random 96-bit nonce.
// Format: 1 version byte, 12-byte nonce, GCM ciphertext and tag.
func (k *KEK) Wrap(dataKey, aad []byte) ([]byte, error) {
	if len(dataKey) == 0 {
		return nil, errors.New("fieldcrypt: wrap: empty data key")
	}
	out := make([]byte, 1, 1+len(dataKey)+k.aead.Overhead())
	out[0] = wrapVersion
	return k.aead.Seal(out, nil, dataKey, versionedAAD(wrapVersion, aad)), nil
}

// Unwrap reverses [KEK.Wrap]; anything that does not open under this KEK and
// aad yields [ErrDecrypt].
func (k *KEK) Unwrap(wrapped, aad []byte) ([]byte, error) {
	if len(wrapped) < 1+k.aead.Overhead() || wrapped[0] != wrapVersion {
		return nil, ErrDecrypt
	}
	dataKey, err := k.aead.Open(nil, nil, wrapped[1:], versionedAAD(wrapVersion, aad))
	if err != nil {
		return nil, ErrDecrypt
	}
	return dataKey, nil
}

// String keeps the key out of fmt output (fmt would otherwise print
// unexported fields).
func (k *KEK) String() string { return "fieldcrypt.KEK(" + k.id + ")" }

// GoString keeps the key out of %#v output.
func (k *KEK) GoString() string { return k.String() }

// LogValue keeps the key out of slog output.
func (k *KEK) LogValue() slog.Value { return slog.StringValue(k.String()) }

// newRandomNonceGCM returns AES-256-GCM that prepends a random 96-bit nonce
// on Seal and reads it back on Open.
func newRandomNonceGCM(key []byte) (cipher.AEAD, error) {
	block, err := aes.NewCipher(key)
	if err != nil {
		return nil, fmt.Errorf("fieldcrypt: aes: %w", err)
	}
	aead, err := cipher.NewGCMWithRandomNonce(block)
	if err != nil {
		return nil, fmt.Errorf("fieldcrypt: gcm: %w", err)
	}
	return aead, nil
}

// versionedAAD authenticates the format version byte along with the caller's
// additional data, so the version cannot be altered independently.
func versionedAAD(version byte, aad []byte) []byte {
	out := make([]byte, 0, 1+len(aad))
	out = append(out, version)
	return append(out, aad...)
}
