package certificate

import (
	"crypto/ed25519"
	"crypto/rand"
	"testing"
	"time"
)

func sample() Certificate {
	t0 := time.Date(2026, 12, 1, 9, 0, 0, 0, time.UTC)
	return Certificate{
		Deletion: "operations/0d4c6c53-0000-4000-8000-000000000001", Firm: "firms/0d4c6c53-0000-4000-8000-000000000002",
		RequestedBy: "users/0d4c6c53-0000-4000-8000-000000000003", RequestTime: t0, GraceEnd: t0, CompleteAt: t0.Add(time.Minute),
		Deleted:           map[string][]TableCount{"workflow": {{Table: "clients", Rows: 3}}},
		DestroyedKeys:     []string{"k1"},
		AuditChainHead:    "ab12",
		Residue:           map[string][]TableCount{"workflow": {{Table: "clients", Rows: 0}}},
		ResidueClean:      true,
		Streams:           []Stream{{Stream: "FIRMFLOW_WORKFLOW", Unbounded: true}},
		BackupsClearAfter: t0.AddDate(0, 0, 35),
	}
}

func TestSignedCertificateVerifies(t *testing.T) {
	pub, priv, _ := ed25519.GenerateKey(rand.Reader)
	file, err := Sign(sample(), priv)
	if err != nil {
		t.Fatal(err)
	}
	c, err := Verify(file, pub)
	if err != nil {
		t.Fatal(err)
	}
	if c.Firm != sample().Firm || c.Deleted["workflow"][0].Rows != 3 || c.AuditChainHead != "ab12" || c.KeyID != KeyID(pub) {
		t.Errorf("verified contents differ: %+v", c)
	}
}

func TestAnyChangedByteFails(t *testing.T) {
	pub, priv, _ := ed25519.GenerateKey(rand.Reader)
	file, err := Sign(sample(), priv)
	if err != nil {
		t.Fatal(err)
	}
	for i := range file {
		for _, flip := range []byte{0x01, 0x20} {
			changed := append([]byte(nil), file...)
			changed[i] ^= flip
			if _, err := Verify(changed, pub); err == nil {
				t.Fatalf("byte %d (%q) xor %#x still verifies", i, file[i], flip)
			}
		}
	}
	if _, err := Verify(append(append([]byte(nil), file...), ' '), pub); err == nil {
		t.Error("a trailing byte still verifies")
	}
	if _, err := Verify(file[:len(file)-1], pub); err == nil {
		t.Error("a missing byte still verifies")
	}
	otherPub, _, _ := ed25519.GenerateKey(rand.Reader)
	if _, err := Verify(file, otherPub); err == nil {
		t.Error("verifies with another key")
	}
}
