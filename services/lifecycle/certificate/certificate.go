// Package certificate is the deletion certificate: what lifecycle deleted for a firm,
// signed with lifecycle's own Ed25519 key, and the offline check `firmflow lifecycle
// verify-certificate` runs. It is a public package so that the CLI can verify a
// certificate without the service.
package certificate

import (
	"bytes"
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"time"
)

// Version is the certificate format's version.
const Version = 1

// TableCount is the rows of one table.
type TableCount struct {
	Table string `json:"table"`
	Rows  int64  `json:"rows"`
}

// Stream is what the deletion did to one JetStream stream: PurgedMessages (those
// naming the firm alone) deleted, and Purged when a second scan found none of them
// left; SharedMessages (access batches naming other firms too) stay until
// ClearAfter, the deletion plus the stream's MaxAge. Unbounded: the stream has no
// maximum age, so no date can be given.
type Stream struct {
	Stream         string    `json:"stream"`
	Purged         bool      `json:"purged"`
	PurgedMessages int64     `json:"purged_messages"`
	SharedMessages int64     `json:"shared_messages"`
	MaxAge         string    `json:"max_age,omitempty"`
	ClearAfter     time.Time `json:"clear_after,omitzero"`
	Unbounded      bool      `json:"unbounded,omitempty"`
}

// Certificate is what a firm's deletion did. Every field is set by the saga from the
// services' own answers, never from the request.
type Certificate struct {
	Version int `json:"version"`
	// KeyID is the first 8 bytes (hex) of the SHA-256 of the signing public key.
	KeyID       string    `json:"key_id"`
	Deletion    string    `json:"deletion"` // operations/{id}
	Firm        string    `json:"firm"`     // firms/{id}
	RequestedBy string    `json:"requested_by"`
	RequestTime time.Time `json:"request_time"`
	GraceEnd    time.Time `json:"grace_end_time"`
	CompleteAt  time.Time `json:"complete_time"`
	// Inventory is the rows of the firm each service held before deletion, per table
	// (tables without rows left out). Deleted can be lower for a service only when a
	// deletion's answer was lost and its retry found nothing left.
	Inventory map[string][]TableCount `json:"inventory"`
	// Deleted is the rows each service removed, per table, as it answered.
	Deleted map[string][]TableCount `json:"deleted"`
	// Facts are what services reported about their deletion, per service.
	Facts map[string]map[string]string `json:"facts,omitempty"`
	// DestroyedKeys are the ids of the firm's data keys destroyed in the key store.
	DestroyedKeys []string `json:"destroyed_keys"`
	// AuditChainHead is the firm's audit chain's final head hash, before deletion.
	AuditChainHead string `json:"audit_chain_head"`
	// Residue is the final scan: every table of every service with a firm column
	// and its count of the firm's rows (all zero).
	Residue      map[string][]TableCount `json:"residue"`
	ResidueClean bool                    `json:"residue_clean"`
	Streams      []Stream                `json:"streams"`
	// StreamsClearAfter is when no stream holds any message about the firm: the
	// latest ClearAfter, absent when a stream is unbounded.
	StreamsClearAfter time.Time `json:"streams_clear_after,omitzero"`
	// BackupsClearAfter is when no backup holds the firm's data: the deletion time
	// plus the backup retention. The firm's keys are destroyed already, so backups
	// taken before hold ciphertext nobody can read until then.
	BackupsClearAfter time.Time `json:"backups_clear_after"`
	// KeyBackupsClearAfter is when the last copy of the firm's destroyed keys (in the
	// key store's own, short-lived backups) is gone: the deletion time plus the key
	// store's backup retention.
	KeyBackupsClearAfter time.Time `json:"key_backups_clear_after"`
}

// envelope is the file format: the certificate as compact JSON and its signature over
// exactly those bytes.
type envelope struct {
	Certificate json.RawMessage `json:"certificate"`
	Signature   string          `json:"signature"`
}

// KeyID names a public key in certificates.
func KeyID(pub ed25519.PublicKey) string {
	sum := sha256.Sum256(pub)
	return hex.EncodeToString(sum[:8])
}

// Sign returns the signed certificate file (JSON, one line and a newline).
func Sign(c Certificate, key ed25519.PrivateKey) ([]byte, error) {
	c.Version = Version
	c.KeyID = KeyID(key.Public().(ed25519.PublicKey))
	payload, err := json.Marshal(c)
	if err != nil {
		return nil, err
	}
	return encode(payload, ed25519.Sign(key, payload))
}

func encode(payload, sig []byte) ([]byte, error) {
	out, err := json.Marshal(envelope{Certificate: payload, Signature: base64.StdEncoding.EncodeToString(sig)})
	if err != nil {
		return nil, err
	}
	return append(out, '\n'), nil
}

// Verify checks a certificate file against the public key and returns its contents.
// The file must be byte for byte what Sign wrote: any other byte, even whitespace
// that leaves the JSON's meaning unchanged, fails.
func Verify(file []byte, pub ed25519.PublicKey) (Certificate, error) {
	var env envelope
	dec := json.NewDecoder(bytes.NewReader(file))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&env); err != nil {
		return Certificate{}, fmt.Errorf("not a deletion certificate: %w", err)
	}
	sig, err := base64.StdEncoding.Strict().DecodeString(env.Signature)
	if err != nil || len(sig) != ed25519.SignatureSize {
		return Certificate{}, errors.New("signature is not a base64 Ed25519 signature")
	}
	canonical, err := encode(env.Certificate, sig)
	if err != nil || !bytes.Equal(canonical, file) {
		return Certificate{}, errors.New("certificate file is not in its signed form: it was altered")
	}
	if !ed25519.Verify(pub, env.Certificate, sig) {
		return Certificate{}, errors.New("signature does not verify: the certificate was altered or signed by another key")
	}
	var c Certificate
	dec = json.NewDecoder(bytes.NewReader(env.Certificate))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&c); err != nil {
		return Certificate{}, fmt.Errorf("certificate contents: %w", err)
	}
	if c.Version != Version {
		return Certificate{}, fmt.Errorf("certificate version %d is not %d", c.Version, Version)
	}
	if c.KeyID != KeyID(pub) {
		return Certificate{}, errors.New("certificate names another signing key")
	}
	return c, nil
}
