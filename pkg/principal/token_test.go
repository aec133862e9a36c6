package principal

import (
	"crypto/ed25519"
	"crypto/rand"
	"strings"
	"testing"
	"time"
)

func TestTokenRoundTrip(t *testing.T) {
	pub, priv, _ := ed25519.GenerateKey(rand.Reader)
	want := Principal{Kind: KindAPIKey, FirmID: "f1", APIKeyID: "k1", Scopes: []string{"identity:read"}}
	token, exp, err := NewSigner(priv).Sign(want)
	if err != nil {
		t.Fatal(err)
	}
	if time.Until(exp) > TokenTTL {
		t.Errorf("token lives until %v, longer than %v", exp, TokenTTL)
	}
	got, err := NewVerifier(pub).Verify(token)
	if err != nil {
		t.Fatalf("verify: %v", err)
	}
	if got.FirmID != want.FirmID || got.APIKeyID != want.APIKeyID || !got.HasScope("identity", "read") {
		t.Errorf("got %+v, want %+v", got, want)
	}
}

func TestVerifyRefusesForgedExpiredAndTamperedTokens(t *testing.T) {
	pub, priv, _ := ed25519.GenerateKey(rand.Reader)
	_, otherPriv, _ := ed25519.GenerateKey(rand.Reader)
	p := Principal{Kind: KindUser, FirmID: "f1", UserID: "u1", Role: RoleMember}

	good, _, _ := NewSigner(priv).Sign(p)
	forged, _, _ := NewSigner(otherPriv).Sign(p)
	old := NewSigner(priv)
	old.now = func() time.Time { return time.Now().Add(-2 * TokenTTL) }
	expired, _, _ := old.Sign(p)
	parts := strings.Split(good, ".")
	// Swap in a payload claiming another role; the signature no longer matches.
	other, _, _ := NewSigner(priv).Sign(Principal{Kind: KindUser, FirmID: "f1", UserID: "u1", Role: RoleOwner})
	tampered := parts[0] + "." + strings.Split(other, ".")[1] + "." + parts[2]
	unsigned := parts[0] + "." + parts[1] + "."

	for name, token := range map[string]string{
		"forged": forged, "expired": expired, "tampered": tampered, "unsigned": unsigned, "garbage": "not-a-token",
	} {
		if _, err := NewVerifier(pub).Verify(token); err != ErrInvalidToken {
			t.Errorf("%s token: err = %v, want ErrInvalidToken", name, err)
		}
	}
}

func TestWriteScopeImpliesRead(t *testing.T) {
	p := Principal{Scopes: []string{"clients:write", "identity:read"}}
	cases := []struct {
		family, access string
		want           bool
	}{
		{"clients", "read", true}, {"clients", "write", true},
		{"identity", "read", true}, {"identity", "write", false},
		{"projects", "read", false},
	}
	for _, c := range cases {
		if got := p.HasScope(c.family, c.access); got != c.want {
			t.Errorf("HasScope(%s, %s) = %v, want %v", c.family, c.access, got, c.want)
		}
	}
}

func TestEnsureKeyPairIsStable(t *testing.T) {
	dir := t.TempDir()
	privPath, pubPath, err := EnsureKeyPair(dir)
	if err != nil {
		t.Fatal(err)
	}
	first, err := LoadPublicKey(pubPath)
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := EnsureKeyPair(dir); err != nil {
		t.Fatal(err)
	}
	second, _ := LoadPublicKey(pubPath)
	if !first.Equal(second) {
		t.Error("second EnsureKeyPair replaced the key")
	}
	if _, err := LoadPrivateKey(privPath); err != nil {
		t.Fatal(err)
	}
}

func TestStaffTokensNeedAGrantToNameAFirm(t *testing.T) {
	pub, priv, _ := ed25519.GenerateKey(rand.Reader)
	cases := []struct {
		name string
		p    Principal
		ok   bool
	}{
		{"staff without a firm", Principal{Kind: KindStaff, StaffID: "s1"}, true},
		{"staff on a read grant", Principal{Kind: KindStaff, StaffID: "s1", FirmID: "f1", GrantID: "g1", GrantScope: GrantRead}, true},
		{"staff on a write grant", Principal{Kind: KindStaff, StaffID: "s1", FirmID: "f1", GrantID: "g1", GrantScope: GrantWrite}, true},
		{"staff in a firm without a grant", Principal{Kind: KindStaff, StaffID: "s1", FirmID: "f1"}, false},
		{"staff grant without a scope", Principal{Kind: KindStaff, StaffID: "s1", FirmID: "f1", GrantID: "g1"}, false},
		{"staff grant without a firm", Principal{Kind: KindStaff, StaffID: "s1", GrantID: "g1", GrantScope: GrantRead}, false},
		{"staff without an id", Principal{Kind: KindStaff}, false},
		{"user without a firm", Principal{Kind: KindUser, UserID: "u1", Role: RoleOwner}, false},
		{"API key without a firm", Principal{Kind: KindAPIKey, APIKeyID: "k1"}, false},
		{"unknown kind", Principal{Kind: "robot", FirmID: "f1"}, false},
	}
	for _, c := range cases {
		token, _, err := NewSigner(priv).Sign(c.p)
		if err != nil {
			t.Fatal(err)
		}
		got, err := NewVerifier(pub).Verify(token)
		if (err == nil) != c.ok {
			t.Errorf("%s: err = %v, want ok=%v", c.name, err, c.ok)
			continue
		}
		if c.ok && (got.HasGrant() != (c.p.GrantID != "") || got.GrantScope != c.p.GrantScope) {
			t.Errorf("%s: verified as %+v", c.name, got)
		}
	}
}
