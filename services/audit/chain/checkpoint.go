package chain

import (
	"crypto/ed25519"
	"crypto/rand"
	"crypto/x509"
	"encoding/base64"
	"encoding/pem"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/google/uuid"
	"golang.org/x/mod/sumdb/note"
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
	block, err := readPEM(path, "PRIVATE KEY")
	if err != nil {
		return nil, nil, err
	}
	key, err := x509.ParsePKCS8PrivateKey(block)
	if err != nil {
		return nil, nil, fmt.Errorf("parse audit signing key %s: %w", path, err)
	}
	priv, ok := key.(ed25519.PrivateKey)
	if !ok {
		return nil, nil, fmt.Errorf("audit signing key %s is not Ed25519", path)
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
	der, err := readPEM(path, "PUBLIC KEY")
	if err != nil {
		return nil, err
	}
	key, err := x509.ParsePKIXPublicKey(der)
	if err != nil {
		return nil, fmt.Errorf("parse audit public key %s: %w", path, err)
	}
	pub, ok := key.(ed25519.PublicKey)
	if !ok {
		return nil, fmt.Errorf("audit public key %s is not Ed25519", path)
	}
	return NewVerifier(pub)
}

// EnsureKeyPair creates audit.key (PKCS#8 PEM, mode 0600) and audit.pub (PKIX PEM) in
// dir unless audit.key exists, for development; production supplies its own key.
func EnsureKeyPair(dir string) (signingPath, publicPath string, err error) {
	signingPath, publicPath = filepath.Join(dir, "audit.key"), filepath.Join(dir, "audit.pub")
	if _, err := os.Stat(signingPath); err == nil {
		return signingPath, publicPath, nil
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return "", "", fmt.Errorf("audit key directory: %w", err)
	}
	pub, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		return "", "", err
	}
	privDER, err := x509.MarshalPKCS8PrivateKey(priv)
	if err != nil {
		return "", "", err
	}
	pubDER, err := x509.MarshalPKIXPublicKey(pub)
	if err != nil {
		return "", "", err
	}
	if err := writeAtomic(publicPath, pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: pubDER}), 0o644); err != nil {
		return "", "", err
	}
	if err := writeAtomic(signingPath, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: privDER}), 0o600); err != nil {
		return "", "", err
	}
	return signingPath, publicPath, nil
}

func readPEM(path, blockType string) ([]byte, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", path, err)
	}
	block, _ := pem.Decode(data)
	if block == nil || block.Type != blockType {
		return nil, fmt.Errorf("%s holds no %s PEM block", path, blockType)
	}
	return block.Bytes, nil
}

// writeAtomic writes through a temporary file and a rename, so that a crash never
// leaves half a key.
func writeAtomic(path string, data []byte, mode os.FileMode) error {
	tmp, err := os.CreateTemp(filepath.Dir(path), ".audit-key-*")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name())
	if _, err := tmp.Write(data); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Chmod(mode); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	return os.Rename(tmp.Name(), path)
}
