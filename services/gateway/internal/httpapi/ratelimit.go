package httpapi

import (
	"crypto/sha256"
	"encoding/hex"
	"math"
	"net/http"
	"net/netip"
	"strconv"
	"sync"
	"time"

	"golang.org/x/time/rate"

	"github.com/firmflow/firmflow/pkg/apierr"
)

// RateLimiter is a token bucket per key (client network or credential) with a bounded
// number of keys, so a flood of distinct keys cannot exhaust the gateway's memory.
type RateLimiter struct {
	limit   rate.Limit
	burst   int
	maxKeys int
	now     func() time.Time

	mu        sync.Mutex
	buckets   map[string]*rate.Limiter
	overflow  *rate.Limiter
	lastSweep time.Time
}

// sweepEvery is how often idle buckets are dropped when the table is not full, and
// how often at most when it is (a sweep walks every key).
const sweepEvery = time.Minute

// NewRateLimiter allows perSecond requests per key on average and burst at once, and
// tracks at most maxKeys keys.
func NewRateLimiter(perSecond float64, burst, maxKeys int) *RateLimiter {
	return &RateLimiter{
		limit:   rate.Limit(perSecond),
		burst:   burst,
		maxKeys: maxKeys,
		now:     time.Now,
		buckets: make(map[string]*rate.Limiter),
		// New keys share this one bucket while every tracked key is active: under
		// attack from more sources than we track, newcomers are throttled together
		// rather than let through unlimited.
		overflow: rate.NewLimiter(rate.Limit(perSecond), burst),
	}
}

// Allow takes a token from key's bucket, or tells how long until one is there.
func (l *RateLimiter) Allow(key string) (ok bool, retryAfter time.Duration) {
	ok, retryAfter, _ = l.take(key)
	return ok, retryAfter
}

// Budget is what a client may still send, as the RateLimit header fields
// (draft-ietf-httpapi-ratelimit-headers) tell it: Limit requests at once (the
// bucket's size), Remaining of them now, and Reset until the bucket is full again.
type Budget struct {
	Limit     int
	Remaining int
	Reset     time.Duration
}

func (l *RateLimiter) take(key string) (ok bool, retryAfter time.Duration, budget Budget) {
	now := l.now()
	l.mu.Lock()
	defer l.mu.Unlock()
	bucket := l.bucket(key, now)
	ok = bucket.AllowN(now, 1)
	tokens := bucket.TokensAt(now)
	budget = Budget{Limit: l.burst, Remaining: max(0, int(tokens))}
	if l.limit > 0 {
		budget.Reset = time.Duration((float64(l.burst) - tokens) / float64(l.limit) * float64(time.Second))
	}
	if ok {
		return true, 0, budget
	}
	return false, time.Duration((1 - tokens) / float64(l.limit) * float64(time.Second)), budget
}

// setBudget writes b as RateLimit-Limit, -Remaining and -Reset (whole seconds,
// rounded up), unless a tighter budget, by another limiter the request passed, is
// already there: the client learns the limit it will meet first.
func setBudget(w http.ResponseWriter, b Budget) {
	h := w.Header()
	if prev, err := strconv.Atoi(h.Get("RateLimit-Remaining")); err == nil && prev <= b.Remaining {
		return
	}
	h.Set("RateLimit-Limit", strconv.Itoa(b.Limit))
	h.Set("RateLimit-Remaining", strconv.Itoa(b.Remaining))
	h.Set("RateLimit-Reset", strconv.Itoa(int(math.Ceil(b.Reset.Seconds()))))
}

func (l *RateLimiter) bucket(key string, now time.Time) *rate.Limiter {
	if b, ok := l.buckets[key]; ok {
		return b
	}
	if now.Sub(l.lastSweep) >= sweepEvery || (len(l.buckets) >= l.maxKeys && now.Sub(l.lastSweep) >= time.Second) {
		l.sweep(now)
	}
	if len(l.buckets) >= l.maxKeys {
		return l.overflow
	}
	b := rate.NewLimiter(l.limit, l.burst)
	l.buckets[key] = b
	return b
}

// sweep drops the buckets that have refilled completely. A full bucket behaves
// exactly like a new one, so forgetting it forgets nothing a limit depends on.
func (l *RateLimiter) sweep(now time.Time) {
	l.lastSweep = now
	full := float64(l.burst)
	for key, b := range l.buckets {
		if b.TokensAt(now) >= full {
			delete(l.buckets, key)
		}
	}
}

// keys is the number of tracked keys.
func (l *RateLimiter) keys() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return len(l.buckets)
}

// LimitClients rate-limits by client address, before anything costly (reading the
// body, asking identity) happens. IPv6 clients are limited per /64, the block one
// subscriber normally holds, or one client could use a fresh address per request.
func LimitClients(l *RateLimiter) func(http.Handler) http.Handler {
	startRejectionCounts()
	return func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			ok, wait, budget := l.take(clientKey(requestFrom(r).clientIP))
			setBudget(w, budget)
			if !ok {
				reject(r.Context(), rejectIP)
				writeError(w, apierr.TooMany("RATE_LIMITED", "too many requests from this address; retry later", wait))
				return
			}
			next.ServeHTTP(w, r)
		})
	}
}

// LimitCredentials rate-limits by session or API key, so one integration cannot
// starve the others of a firm however many addresses it calls from. It runs before
// authentication, so a flood with a stolen or revoked key does not reach identity.
func LimitCredentials(l *RateLimiter) func(http.Handler) http.Handler {
	return func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			cred, err := credentialOf(r)
			if err == nil && cred.token != "" {
				ok, wait, budget := l.take(credentialKey(cred.token))
				setBudget(w, budget)
				if !ok {
					reject(r.Context(), rejectCredential)
					writeError(w, apierr.TooMany("RATE_LIMITED", "too many requests with this credential; retry later", wait))
					return
				}
			}
			next.ServeHTTP(w, r)
		})
	}
}

func clientKey(addr netip.Addr) string {
	if addr.Is6() {
		prefix, err := addr.Prefix(64)
		if err == nil {
			return prefix.String()
		}
	}
	return addr.String()
}

// credentialKey identifies a credential in the limiter's table by its SHA-256, so the
// table, and any heap dump of it, holds no usable session token or API key.
func credentialKey(token string) string {
	sum := sha256.Sum256([]byte(token))
	return "cred:" + hex.EncodeToString(sum[:])
}
