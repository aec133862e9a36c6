// Package paging makes AIP-158 page tokens: opaque to clients, bound to the query that
// made them, and carrying the keyset position (never an offset, so pages cost the same
// however deep they go).
//
// A token is sealed with XChaCha20-Poly1305 under a process-wide key (see [SetKey]): a
// client can neither read the position nor forge or alter one, a token made for one
// query (filter, parent firm) does not open for another, and a token older than
// [TokenLifetime] is refused, as in ory/keto's keyset tokens.
package paging

import (
	"bytes"
	"crypto/cipher"
	"crypto/hkdf"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"slices"
	"sync"
	"time"

	"golang.org/x/crypto/chacha20poly1305"

	"github.com/firmflow/firmflow/pkg/apierr"
)

// DefaultSize and MaxSize bound page_size.
const (
	DefaultSize = 50
	MaxSize     = 100
)

// TokenLifetime is how long a page token stays valid: long enough to page through any
// list, short enough that a leaked token is soon worthless.
const TokenLifetime = 24 * time.Hour

// MinSecretSize is the least secret SetKey accepts.
const MinSecretSize = 32

// version is the first byte of every token (and part of what is authenticated), so the
// format can change without guessing what an old token holds.
const version byte = 1

// Cursor is the position after the last row of a page, ordered by (Time, ID).
type Cursor struct {
	Time time.Time `json:"t"`
	ID   string    `json:"i"`
}

// Page is a decoded request for one page.
type Page struct {
	Size  int
	After *Cursor // nil for the first page
}

// now is the clock that stamps and checks tokens; tests replace it.
var now = time.Now

// keys seal and open tokens: the newest seals, every one opens. A process running
// several services (firmflow dev, the end-to-end tests) may set several keys, and a
// token made under an earlier one must keep working.
var keys = struct {
	sync.RWMutex
	aeads []aeadKey
}{aeads: []aeadKey{randomKey()}}

type aeadKey struct {
	id   [sha256.Size]byte // to set the same secret twice only once
	aead cipher.AEAD
}

// SetKey makes the key derived (HKDF-SHA256) from secret the one new tokens are sealed
// with; tokens sealed under keys set earlier in this process still open. Every replica
// of a service must be given the same secret. Until SetKey is called the process seals
// with a random key, so tokens do not survive a restart (what tests want).
func SetKey(secret []byte) error {
	if len(secret) < MinSecretSize {
		return fmt.Errorf("paging: the page token secret must be at least %d bytes", MinSecretSize)
	}
	key, err := hkdf.Key(sha256.New, secret, nil, "firmflow page token v1", chacha20poly1305.KeySize)
	if err != nil {
		return fmt.Errorf("paging: derive key: %w", err)
	}
	k, err := newKey(key)
	if err != nil {
		return err
	}
	keys.Lock()
	defer keys.Unlock()
	keys.aeads = slices.DeleteFunc(keys.aeads, func(old aeadKey) bool { return old.id == k.id })
	keys.aeads = append(keys.aeads, k)
	return nil
}

// SetKeyFile calls SetKey with the secret in the file at path (surrounding whitespace
// ignored). The error names the file, never its content.
func SetKeyFile(path string) error {
	secret, err := os.ReadFile(path)
	if err != nil {
		return fmt.Errorf("paging: read page token secret: %w", err)
	}
	defer clear(secret)
	if err := SetKey(bytes.TrimSpace(secret)); err != nil {
		return fmt.Errorf("%w (in %s)", err, path)
	}
	return nil
}

func newKey(key []byte) (aeadKey, error) {
	aead, err := chacha20poly1305.NewX(key)
	if err != nil {
		return aeadKey{}, fmt.Errorf("paging: %w", err)
	}
	return aeadKey{id: sha256.Sum256(key), aead: aead}, nil
}

func randomKey() aeadKey {
	key := make([]byte, chacha20poly1305.KeySize)
	rand.Read(key) // never fails: crypto/rand crashes the program instead
	k, err := newKey(key)
	if err != nil {
		panic(err) // the size is right by construction
	}
	return k
}

// errInvalid is the one answer to any token that does not open: saying why would help
// whoever forges them.
func errInvalid() error {
	return apierr.InvalidArgument("page_token", "page_token.valid",
		"not a token from the previous page of this query, or older than a day")
}

// Request decodes page_size and page_token. filter is a canonical string of the
// query's other parameters, including the parent: a token made for another filter, one
// altered or forged, or one older than TokenLifetime is refused with INVALID_ARGUMENT.
// A size over MaxSize is taken as MaxSize (AIP-158 coerces, it does not refuse).
func Request(size int32, pageToken, filter string) (Page, error) {
	return RequestSized(size, DefaultSize, MaxSize, pageToken, filter)
}

// RequestSized is Request for a list whose pages are sized otherwise (an export's).
func RequestSized(size int32, defaultSize, maxSize int, pageToken, filter string) (Page, error) {
	p := Page{Size: int(size)}
	if p.Size <= 0 {
		p.Size = defaultSize
	}
	p.Size = min(p.Size, maxSize)
	if pageToken == "" {
		return p, nil
	}
	after, err := open(pageToken, filter)
	if err != nil {
		return Page{}, errInvalid()
	}
	p.After = &after
	return p, nil
}

// Next returns the token for the page after one whose last row is at last; pass
// more=false when the page was the last.
func Next(last Cursor, more bool, filter string) string {
	if !more {
		return ""
	}
	return seal(last, filter)
}

// A token is version ‖ nonce ‖ AEAD(issued-at (8 bytes, Unix seconds) ‖ JSON cursor),
// with version ‖ filter as additional data, in unpadded base64url.
func seal(c Cursor, filter string) string {
	cursor, err := json.Marshal(c)
	if err != nil {
		panic(err) // a time and a string always marshal
	}
	plain := binary.BigEndian.AppendUint64(make([]byte, 0, 8+len(cursor)), uint64(now().Unix()))
	plain = append(plain, cursor...)
	keys.RLock()
	k := keys.aeads[len(keys.aeads)-1]
	keys.RUnlock()
	out := make([]byte, 1+k.aead.NonceSize(), 1+k.aead.NonceSize()+len(plain)+k.aead.Overhead())
	out[0] = version
	rand.Read(out[1:])
	out = k.aead.Seal(out, out[1:], plain, additionalData(filter))
	return base64.RawURLEncoding.EncodeToString(out)
}

func open(token, filter string) (Cursor, error) {
	raw, err := base64.RawURLEncoding.DecodeString(token)
	if err != nil {
		return Cursor{}, err
	}
	nonceSize := chacha20poly1305.NonceSizeX
	if len(raw) < 1+nonceSize+chacha20poly1305.Overhead || raw[0] != version {
		return Cursor{}, errors.New("paging: malformed token")
	}
	nonce, sealed := raw[1:1+nonceSize], raw[1+nonceSize:]
	plain, err := openAny(nonce, sealed, additionalData(filter))
	if err != nil {
		return Cursor{}, err
	}
	if len(plain) < 8 {
		return Cursor{}, errors.New("paging: malformed token")
	}
	issued := time.Unix(int64(binary.BigEndian.Uint64(plain)), 0)
	// A token from the future (beyond a little clock skew between replicas) is as
	// suspect as an expired one.
	if age := now().Sub(issued); age > TokenLifetime || age < -time.Minute {
		return Cursor{}, errors.New("paging: token expired")
	}
	var c Cursor
	if err := json.Unmarshal(plain[8:], &c); err != nil {
		return Cursor{}, err
	}
	return c, nil
}

func openAny(nonce, sealed, ad []byte) ([]byte, error) {
	keys.RLock()
	defer keys.RUnlock()
	for i := len(keys.aeads) - 1; i >= 0; i-- {
		if plain, err := keys.aeads[i].aead.Open(nil, nonce, sealed, ad); err == nil {
			return plain, nil
		}
	}
	return nil, errors.New("paging: token does not open")
}

func additionalData(filter string) []byte {
	return append([]byte{version}, filter...)
}
