package chain

import (
	"crypto/ed25519"
	"encoding/base64"
	"errors"
	"fmt"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/google/uuid"
	"golang.org/x/mod/sumdb/note"

	"github.com/firmflow/firmflow/pkg/keyfile"
)

// KeyName names the audit signing key in signed notes.
const KeyName = "firmflow-audit"

// checkpointOrigin is the first line of every checkpoint, so that a note signed by
// the same key for another purpose is never taken for one.
const checkpointOrigin = "firmflow audit"

// Checkpoint states that a firm's chain had the given head at a time. Signed, it
// lets anyone holding the public key detect a chain rewritten, cut or reordered
// before that head.
type Checkpoint struct {
	FirmID   uuid.UUID
	Sequence int64
	Hash     Hash
	Time     time.Time
}

// Text is the checkpoint as the body of a signed note:
//
//	firmflow audit
//	<firm id>
//	<sequence>
//	<standard base64 of the head hash>
//	<RFC 3339 time, UTC, seconds>
func (c Checkpoint) Text() string {
	return fmt.Sprintf("%s\n%s\n%d\n%s\n%s\n", checkpointOrigin, c.FirmID, c.Sequence,
		base64.StdEncoding.EncodeToString(c.Hash[:]), c.Time.UTC().Format(time.RFC3339))
}

// ParseCheckpoint reads a checkpoint's text (the note body, without signatures).
func ParseCheckpoint(text string) (Checkpoint, error) {
	lines := strings.Split(text, "\n")
	if len(lines) != 6 || lines[0] != checkpointOrigin || lines[5] != "" {
		return Checkpoint{}, errors.New("not a firmflow audit checkpoint")
	}
	var c Checkpoint
	var err error
	if c.FirmID, err = uuid.Parse(lines[1]); err != nil {
		return Checkpoint{}, fmt.Errorf("checkpoint firm: %w", err)
	}
	if c.Sequence, err = strconv.ParseInt(lines[2], 10, 64); err != nil || c.Sequence < 1 {
		return Checkpoint{}, errors.New("checkpoint sequence is not a positive number")
	}
	hash, err := base64.StdEncoding.DecodeString(lines[3])
	if err != nil || len(hash) != len(c.Hash) {
		return Checkpoint{}, errors.New("checkpoint hash is not a base64 SHA-256 digest")
	}
	copy(c.Hash[:], hash)
	if c.Time, err = time.Parse(time.RFC3339, lines[4]); err != nil {
		return Checkpoint{}, fmt.Errorf("checkpoint time: %w", err)
	}
	return c, nil
}

// Sign returns the checkpoint as a signed note.
func Sign(c Checkpoint, signer note.Signer) (string, error) {
	signed, err := note.Sign(&note.Note{Text: c.Text()}, signer)
	if err != nil {
		return "", fmt.Errorf("sign checkpoint: %w", err)
	}
	return string(signed), nil
}

// Open verifies a signed checkpoint with the audit public key and parses it.
func Open(signed string, verifier note.Verifier) (Checkpoint, error) {
	n, err := note.Open([]byte(signed), note.VerifierList(verifier))
	if err != nil {
		return Checkpoint{}, fmt.Errorf("checkpoint signature: %w", err)
	}
	return ParseCheckpoint(n.Text)
}

// ed25519Signer signs notes with an Ed25519 key kept as PKCS#8, the form every other
// firmflow key takes; note.NewSigner would want the key in note's own text form.
type ed25519Signer struct {
	hash uint32
	key  ed25519.PrivateKey
}

func (s ed25519Signer) Name() string                    { return KeyName }
func (s ed25519Signer) KeyHash() uint32                 { return s.hash }
func (s ed25519Signer) Sign(msg []byte) ([]byte, error) { return ed25519.Sign(s.key, msg), nil }

// NewSigner signs checkpoints with key.
func NewSigner(key ed25519.PrivateKey) (note.Signer, error) {
	v, err := NewVerifier(key.Public().(ed25519.PublicKey))
	if err != nil {
		return nil, err
	}
	return ed25519Signer{hash: v.KeyHash(), key: key}, nil
}

// NewVerifier checks checkpoints signed by the private half of key.
func NewVerifier(key ed25519.PublicKey) (note.Verifier, error) {
	vkey, err := note.NewEd25519VerifierKey(KeyName, key)
	if err != nil {
		return nil, fmt.Errorf("audit verifier key: %w", err)
	}
	return note.NewVerifier(vkey)
}

// LoadSigningKey reads the audit signing key (an Ed25519 private key, PKCS#8 PEM)
// and returns the signer and the verifier of its public half.
func LoadSigningKey(path string) (note.Signer, note.Verifier, error) {
	priv, err := keyfile.LoadPrivate(path)
	if err != nil {
		return nil, nil, fmt.Errorf("audit signing key: %w", err)
	}
	signer, err := NewSigner(priv)
	if err != nil {
		return nil, nil, err
	}
	verifier, err := NewVerifier(priv.Public().(ed25519.PublicKey))
	return signer, verifier, err
}

// LoadVerifier reads the audit public key: an Ed25519 public key as PKIX PEM, or a
// note verifier key ("firmflow-audit+<hash>+<base64>").
func LoadVerifier(path string) (note.Verifier, error) {
	text, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read audit public key: %w", err)
	}
	if !strings.HasPrefix(strings.TrimSpace(string(text)), "-----BEGIN") {
		v, err := note.NewVerifier(strings.TrimSpace(string(text)))
		if err != nil {
			return nil, fmt.Errorf("audit public key %s: %w", path, err)
		}
		return v, nil
	}
	pub, err := keyfile.LoadPublic(path)
	if err != nil {
		return nil, fmt.Errorf("audit public key: %w", err)
	}
	return NewVerifier(pub)
}

// EnsureKeyPair creates audit.key and audit.pub in dir unless audit.key exists, for
// development; production supplies its own key.
func EnsureKeyPair(dir string) (signingPath, publicPath string, err error) {
	return keyfile.EnsureEd25519(dir, "audit")
}
