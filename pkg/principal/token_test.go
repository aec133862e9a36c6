package principal

import (
	"crypto/ed25519"
	"crypto/rand"
	"strconv"
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

func TestSignerHandsOutAYoungTokenAgainForTheSamePrincipalOnly(t *testing.T) {
	_, priv, _ := ed25519.GenerateKey(rand.Reader)
	s := NewSigner(priv)
	now := time.Now()
	s.now = func() time.Time { return now }
	member := Principal{Kind: KindUser, FirmID: "f1", UserID: "u1", SessionID: "s1", Role: RoleMember}
	first, firstExp, _ := s.Sign(member)

	now = now.Add(reuseFor - time.Second)
	again, againExp, _ := s.Sign(member)
	if again != first || !againExp.Equal(firstExp) {
		t.Error("a token signed a moment ago for the same principal was not handed out again")
	}
	admin := member
	admin.Role = RoleAdmin
	if other, _, _ := s.Sign(admin); other == first {
		t.Error("a principal with another role got the member's token")
	}
	readOnly := member
	readOnly.DeletionScheduled = true
	if other, _, _ := s.Sign(readOnly); other == first {
		t.Error("a firm in its deletion's grace period got the token of a writable one")
	}

	now = now.Add(time.Second)
	renewed, renewedExp, _ := s.Sign(member)
	if renewed == first || !renewedExp.After(firstExp) {
		t.Errorf("a token %v old was handed out again; want a new one after %v", now.Sub(firstExp.Add(-TokenTTL)), reuseFor)
	}
}

func TestVerifierRemembersATokenOnlyUntilItExpires(t *testing.T) {
	pub, priv, _ := ed25519.GenerateKey(rand.Reader)
	token, exp, _ := NewSigner(priv).Sign(Principal{Kind: KindAPIKey, FirmID: "f1", APIKeyID: "k1", Scopes: []string{"clients:write"}})
	v := NewVerifier(pub)
	now := time.Now()
	v.now = func() time.Time { return now }
	first, err := v.Verify(token)
	if err != nil {
		t.Fatal(err)
	}
	first.Scopes[0] = "billing:write" // a caller changing its copy changes nothing remembered
	again, err := v.Verify(token)
	if err != nil || again.Scopes[0] != "clients:write" {
		t.Fatalf("second verification: %+v, %v", again, err)
	}
	if len(v.verified) != 1 {
		t.Fatalf("%d tokens remembered, want 1", len(v.verified))
	}
	// A character inside the signature (the last one carries padding bits).
	i := len(token) - 10
	flipped := byte('A')
	if token[i] == 'A' {
		flipped = 'B'
	}
	tampered := token[:i] + string(flipped) + token[i+1:]
	if _, err := v.Verify(tampered); err != ErrInvalidToken {
		t.Errorf("a tampered copy of a remembered token: err = %v, want ErrInvalidToken", err)
	}

	now = exp.Add(leeway + time.Second)
	if _, err := v.Verify(token); err != ErrInvalidToken {
		t.Errorf("a remembered token past its expiry: err = %v, want ErrInvalidToken", err)
	}
}

// BenchmarkVerify measures a service checking the principal token of a request, in
// the same run: a token seen for the first time (an Ed25519 verification) and one
// verified before, as a token identity hands out again is.
func BenchmarkVerify(b *testing.B) {
	pub, priv, _ := ed25519.GenerateKey(rand.Reader)
	s := NewSigner(priv)
	p := Principal{Kind: KindAPIKey, FirmID: "4c6f1f0e-3b7e-4f3a-9d1e-0a4b8c2d6e10", APIKeyID: "k1", Scopes: []string{"projects:write", "tasks:write"}}
	var fresh time.Duration
	b.Run("first_time", func(b *testing.B) {
		tokens := make([]string, b.N)
		for i := range tokens {
			other := p
			other.APIKeyID = strconv.Itoa(i) // a token of its own
			tokens[i], _, _ = s.sign(other, time.Now())
		}
		v := NewVerifier(pub)
		b.ResetTimer()
		start := time.Now()
		for i := range b.N {
			if _, err := v.Verify(tokens[i]); err != nil {
				b.Fatal(err)
			}
		}
		fresh = time.Since(start) / time.Duration(b.N)
	})
	b.Run("remembered", func(b *testing.B) {
		token, _, _ := s.Sign(p)
		v := NewVerifier(pub)
		start := time.Now()
		for range b.N {
			if _, err := v.Verify(token); err != nil {
				b.Fatal(err)
			}
		}
		if per := time.Since(start) / time.Duration(b.N); fresh > 0 && per > 0 {
			b.ReportMetric(float64(fresh)/float64(per), "first/remembered")
		}
	})
}
