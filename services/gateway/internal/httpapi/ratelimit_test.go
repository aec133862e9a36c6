package httpapi

import (
	"crypto/sha256"
	"encoding/hex"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"
)

// frozenLimiter is a limiter whose clock moves only when the test says.
func frozenLimiter(perSecond float64, burst, maxKeys int) (*RateLimiter, *time.Time) {
	l := NewRateLimiter(perSecond, burst, maxKeys)
	now := time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC)
	l.now = func() time.Time { return now }
	return l, &now
}

func requestFromAddr(addr string) *http.Request {
	r := httptest.NewRequest(http.MethodGet, "/v1/caller", nil)
	r.RemoteAddr = addr
	return r
}

func TestClientOverBurstGets429WithRetryAfter(t *testing.T) {
	limiter, _ := frozenLimiter(0.5, 3, 100)
	next := &recordingHandler{}
	h := LimitClients(limiter)(next)

	for i := range 3 {
		if res := serve(h, requestFromAddr("192.0.2.1:1000")); res.StatusCode != http.StatusOK {
			t.Fatalf("request %d within the burst: status %d", i+1, res.StatusCode)
		}
	}
	res := serve(h, requestFromAddr("192.0.2.1:1001"))

	if res.StatusCode != http.StatusTooManyRequests {
		t.Fatalf("status = %d, want 429", res.StatusCode)
	}
	if got := res.Header.Get("Retry-After"); got != "2" {
		t.Errorf("Retry-After = %q, want 2 (one token at 0.5/s)", got)
	}
	if e := decodeError(t, res); e.Error.Code != 429 || e.Error.Status != "RESOURCE_EXHAUSTED" || e.reason() != "RATE_LIMITED" {
		t.Errorf("error = %+v reason %q", e.Error, e.reason())
	}
	if next.calls != 3 {
		t.Errorf("handler ran %d times, want 3", next.calls)
	}
	if res := serve(h, requestFromAddr("192.0.2.2:1000")); res.StatusCode != http.StatusOK {
		t.Errorf("another client was limited too: status %d", res.StatusCode)
	}
}

func TestLimitedClientIsServedAgainOnceTokensRefill(t *testing.T) {
	limiter, now := frozenLimiter(1, 1, 100)
	h := LimitClients(limiter)(&recordingHandler{})
	serve(h, requestFromAddr("192.0.2.1:1000"))
	if res := serve(h, requestFromAddr("192.0.2.1:1000")); res.StatusCode != http.StatusTooManyRequests {
		t.Fatalf("status = %d, want 429", res.StatusCode)
	}

	*now = now.Add(time.Second)

	if res := serve(h, requestFromAddr("192.0.2.1:1000")); res.StatusCode != http.StatusOK {
		t.Errorf("status = %d after refill, want 200", res.StatusCode)
	}
}

func TestIPv6ClientsShareTheirSlash64(t *testing.T) {
	limiter, _ := frozenLimiter(1, 1, 100)
	h := LimitClients(limiter)(&recordingHandler{})

	serve(h, requestFromAddr("[2001:db8:1:2::1]:1000"))
	sameBlock := serve(h, requestFromAddr("[2001:db8:1:2::ffff]:1000"))
	otherBlock := serve(h, requestFromAddr("[2001:db8:1:3::1]:1000"))

	if sameBlock.StatusCode != http.StatusTooManyRequests {
		t.Errorf("another address in the same /64: status %d, want 429", sameBlock.StatusCode)
	}
	if otherBlock.StatusCode != http.StatusOK {
		t.Errorf("address in another /64: status %d, want 200", otherBlock.StatusCode)
	}
}

func TestCredentialLimitFollowsTheKeyAcrossAddresses(t *testing.T) {
	limiter, _ := frozenLimiter(1, 2, 100)
	h := LimitCredentials(limiter)(&recordingHandler{})
	call := func(addr, key string) int {
		r := requestFromAddr(addr)
		if key != "" {
			r.Header.Set("Authorization", "Bearer "+key)
		}
		return serve(h, r).StatusCode
	}

	call("192.0.2.1:1", "key-a")
	call("192.0.2.2:1", "key-a")

	if got := call("192.0.2.3:1", "key-a"); got != http.StatusTooManyRequests {
		t.Errorf("third use of key-a from a third address: %d, want 429", got)
	}
	if got := call("192.0.2.3:1", "key-b"); got != http.StatusOK {
		t.Errorf("key-b: %d, want 200", got)
	}
	for range 5 {
		if got := call("192.0.2.3:1", ""); got != http.StatusOK {
			t.Fatalf("request without credential: %d, want 200 (only the per-client limit applies)", got)
		}
	}
}

func TestCredentialLimiterKeysOnHashNotToken(t *testing.T) {
	token := "ffk_live_0123456789abcdef"
	key := credentialKey(token)

	sum := sha256.Sum256([]byte(token))
	if key != "cred:"+hex.EncodeToString(sum[:]) {
		t.Errorf("key = %q, want the SHA-256 of the token", key)
	}
	if strings.Contains(key, token) || strings.Contains(key, token[:12]) {
		t.Errorf("key %q contains the token", key)
	}

	limiter, _ := frozenLimiter(1, 1, 100)
	limiter.Allow(key)
	for k := range limiter.buckets {
		if strings.Contains(k, token) {
			t.Errorf("limiter table holds the token: %q", k)
		}
	}
}

func TestLimiterStaysBoundedAndForgetsRefilledBuckets(t *testing.T) {
	limiter, now := frozenLimiter(1, 2, 2)
	limiter.Allow("a")
	limiter.Allow("b")

	// The table is full of active keys: a newcomer shares the overflow bucket.
	limiter.Allow("c")
	if limiter.keys() != 2 {
		t.Fatalf("keys = %d, want the bound of 2", limiter.keys())
	}
	ok1, _ := limiter.Allow("d")
	ok2, _ := limiter.Allow("e")
	if !ok1 || ok2 {
		t.Errorf("overflow bucket allowed (%v, %v), want its burst of 2 shared by newcomers", ok1, ok2)
	}

	// Once a and b have refilled they are forgotten and newcomers get their own.
	*now = now.Add(sweepEvery)
	if ok, _ := limiter.Allow("c"); !ok {
		t.Error("newcomer refused after idle buckets were dropped")
	}
	if limiter.keys() != 1 {
		t.Errorf("keys = %d, want only c after the sweep", limiter.keys())
	}
}

func TestResponsesCarryTheTighterRateBudget(t *testing.T) {
	perIP, now := frozenLimiter(0.5, 3, 100)
	perKey, _ := frozenLimiter(1, 10, 100)
	perKey.now = perIP.now
	h := LimitClients(perIP)(LimitCredentials(perKey)(&recordingHandler{}))
	withKey := func() *http.Request {
		r := requestFromAddr("192.0.2.1:1000")
		r.Header.Set("Authorization", "Bearer ffk_test")
		return r
	}

	cases := []struct{ remaining, reset string }{
		{"2", "2"}, // one of 3 taken; 0.5 tokens a second refill it in 2 s
		{"1", "4"},
		{"0", "6"},
	}
	for i, want := range cases {
		res := serve(h, withKey())
		got := [3]string{res.Header.Get("RateLimit-Limit"), res.Header.Get("RateLimit-Remaining"), res.Header.Get("RateLimit-Reset")}
		if res.StatusCode != http.StatusOK || got != [3]string{"3", want.remaining, want.reset} {
			t.Fatalf("request %d: status %d, budget %v, want [3 %s %s] (the address's, tighter than the key's 10)", i+1, res.StatusCode, got, want.remaining, want.reset)
		}
	}
	res := serve(h, withKey())
	if res.StatusCode != http.StatusTooManyRequests || res.Header.Get("RateLimit-Remaining") != "0" || res.Header.Get("Retry-After") != "2" {
		t.Errorf("over the budget: status %d, remaining %q, Retry-After %q", res.StatusCode, res.Header.Get("RateLimit-Remaining"), res.Header.Get("Retry-After"))
	}
	*now = now.Add(6 * time.Second)
	if res := serve(h, withKey()); res.Header.Get("RateLimit-Remaining") != "2" {
		t.Errorf("after the bucket refilled: remaining %q, want 2", res.Header.Get("RateLimit-Remaining"))
	}
}
