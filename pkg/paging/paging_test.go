package paging

import (
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"google.golang.org/grpc/codes"

	"github.com/firmflow/firmflow/pkg/apierr"
)

const filter = "firms/f1|role=admin"

// withClock runs the test with the package clock at *at.
func withClock(t *testing.T, at *time.Time) {
	t.Helper()
	t.Cleanup(func() { now = time.Now })
	now = func() time.Time { return *at }
}

// wantRefused checks a refusal is INVALID_ARGUMENT naming page_token.
func wantRefused(t *testing.T, what string, err error) {
	t.Helper()
	var e *apierr.Error
	if !errors.As(err, &e) {
		t.Fatalf("%s: got %v, want an INVALID_ARGUMENT on page_token", what, err)
	}
	if e.Code != codes.InvalidArgument || len(e.Violations) != 1 || e.Violations[0].Field != "page_token" {
		t.Errorf("%s: got %+v, want INVALID_ARGUMENT naming page_token", what, e)
	}
}

func TestTokenRoundTrips(t *testing.T) {
	at := time.Date(2026, 3, 1, 10, 0, 0, 123, time.UTC)
	tok := Next(Cursor{Time: at, ID: "x"}, true, filter)
	p, err := Request(10, tok, filter)
	if err != nil {
		t.Fatal(err)
	}
	if p.Size != 10 || p.After == nil || !p.After.Time.Equal(at) || p.After.ID != "x" {
		t.Errorf("decoded %+v", p)
	}
	if Next(Cursor{}, false, filter) != "" {
		t.Error("last page has a next token")
	}
}

func TestTokenHidesItsPosition(t *testing.T) {
	tok := Next(Cursor{ID: "client-secret-id"}, true, filter)
	raw, _ := base64.RawURLEncoding.DecodeString(tok)
	if strings.Contains(string(raw), "client-secret-id") {
		t.Errorf("token %q carries the cursor in clear", raw)
	}
	if a, b := Next(Cursor{ID: "a"}, true, filter), Next(Cursor{ID: "a"}, true, filter); a == b {
		t.Error("two tokens for the same position are equal: the nonce is not fresh")
	}
}

func TestTokenIsRefusedForAnotherFilter(t *testing.T) {
	tok := Next(Cursor{ID: "x"}, true, filter)
	for _, other := range []string{"firms/f2|role=admin", "firms/f1|role=member", "", filter + " "} {
		_, err := Request(10, tok, other)
		wantRefused(t, "filter "+other, err)
	}
}

func TestForgedTokensAreRefused(t *testing.T) {
	// The format of the unsealed tokens this package used to make.
	unsealed, _ := json.Marshal(map[string]any{"a": Cursor{ID: "x"}, "f": []byte("whatever")})
	for name, tok := range map[string]string{
		"garbage":      "!!garbage",
		"unsealed":     base64.RawURLEncoding.EncodeToString(unsealed),
		"empty body":   base64.RawURLEncoding.EncodeToString([]byte{version}),
		"zero nonce":   base64.RawURLEncoding.EncodeToString(make([]byte, 1+24+16+8)),
		"padded b64":   base64.URLEncoding.EncodeToString([]byte("abcd")),
		"only version": "AQ",
	} {
		_, err := Request(10, tok, filter)
		wantRefused(t, name, err)
	}
}

func TestTamperedTokensAreRefused(t *testing.T) {
	tok := Next(Cursor{Time: time.Now(), ID: "x"}, true, filter)
	raw, _ := base64.RawURLEncoding.DecodeString(tok)
	for i := range raw {
		bad := []byte(string(raw))
		bad[i] ^= 0x01
		_, err := Request(10, base64.RawURLEncoding.EncodeToString(bad), filter)
		wantRefused(t, fmt.Sprintf("byte %d flipped", i), err)
	}
	_, err := Request(10, base64.RawURLEncoding.EncodeToString(raw[:len(raw)-1]), filter)
	wantRefused(t, "truncated", err)
	_, err = Request(10, base64.RawURLEncoding.EncodeToString(append(raw, 0)), filter)
	wantRefused(t, "extended", err)
}

func TestTokenExpiresAfterADay(t *testing.T) {
	clock := time.Date(2026, 3, 1, 10, 0, 0, 0, time.UTC)
	withClock(t, &clock)
	tok := Next(Cursor{ID: "x"}, true, filter)

	clock = clock.Add(TokenLifetime - time.Second)
	if _, err := Request(10, tok, filter); err != nil {
		t.Fatalf("token refused before it expired: %v", err)
	}
	clock = clock.Add(2 * time.Second)
	_, err := Request(10, tok, filter)
	wantRefused(t, "expired", err)

	// A token stamped in the future was not made by a replica with a sane clock.
	clock = time.Date(2026, 3, 1, 10, 0, 0, 0, time.UTC).Add(-time.Hour)
	_, err = Request(10, tok, filter)
	wantRefused(t, "from the future", err)
}

func TestTokenFromAnotherSecretIsRefused(t *testing.T) {
	restore := saveKeys(t)
	defer restore()
	if err := SetKey([]byte(strings.Repeat("a", MinSecretSize))); err != nil {
		t.Fatal(err)
	}
	mine := Next(Cursor{ID: "x"}, true, filter)
	restore()
	if err := SetKey([]byte(strings.Repeat("b", MinSecretSize))); err != nil {
		t.Fatal(err)
	}
	_, err := Request(10, mine, filter)
	wantRefused(t, "other secret", err)
}

func TestKeysSetEarlierStillOpen(t *testing.T) {
	defer saveKeys(t)()
	before := Next(Cursor{ID: "x"}, true, filter)
	if err := SetKey([]byte(strings.Repeat("s", MinSecretSize))); err != nil {
		t.Fatal(err)
	}
	if _, err := Request(10, before, filter); err != nil {
		t.Errorf("a token sealed before SetKey is refused: %v", err)
	}
	if err := SetKey([]byte("short")); err == nil {
		t.Error("a secret shorter than MinSecretSize is accepted")
	}
}

func TestPageSizeDefaultsAndCaps(t *testing.T) {
	for in, want := range map[int32]int{0: DefaultSize, -3: DefaultSize, 7: 7, 1000: MaxSize} {
		p, _ := Request(in, "", "")
		if p.Size != want {
			t.Errorf("size %d -> %d, want %d", in, p.Size, want)
		}
	}
}

// saveKeys returns a function that puts the process keys back as they were.
func saveKeys(t *testing.T) func() {
	t.Helper()
	keys.Lock()
	saved := append([]aeadKey(nil), keys.aeads...)
	keys.Unlock()
	return func() {
		keys.Lock()
		keys.aeads = append([]aeadKey(nil), saved...)
		keys.Unlock()
	}
}

// FuzzRequest feeds arbitrary sizes, tokens and queries: nothing panics, the size is
// bounded, every refusal is INVALID_ARGUMENT, and the only token that opens is the one
// this process sealed, for its own query.
func FuzzRequest(f *testing.F) {
	sealed := Next(Cursor{Time: time.Now(), ID: "x"}, true, filter)
	f.Add(int32(10), sealed, filter)
	f.Add(int32(10), sealed, filter+"x")
	f.Add(int32(10), sealed[:len(sealed)-1], filter)
	f.Add(int32(10), "\xed\xa0\x80", filter)
	f.Add(int32(0), "", "")
	f.Add(int32(-1), "AQ", "x")
	f.Add(int32(1<<30), "!!", filter)
	f.Fuzz(func(t *testing.T, size int32, token, query string) {
		p, err := Request(size, token, query)
		if err != nil {
			var e *apierr.Error
			if !errors.As(err, &e) || e.Code != codes.InvalidArgument {
				t.Fatalf("error %v is not INVALID_ARGUMENT", err)
			}
			return
		}
		if p.Size < 1 || p.Size > MaxSize {
			t.Fatalf("size %d out of bounds", p.Size)
		}
		if token == "" && p.After != nil {
			t.Fatal("no token but a position")
		}
		if token != "" && (token != sealed || query != filter) {
			t.Fatalf("token %q opened for query %q", token, query)
		}
	})
}

// FuzzTokenRoundTrips: whatever the cursor and the query, the next page's token opens
// for that query, and to the same cursor.
func FuzzTokenRoundTrips(f *testing.F) {
	f.Add(int64(0), "x", filter)
	f.Add(int64(1772323200123456789), "0190f4c2-6a1e-7b3d-9c4e-5f6a7b8c9d0e", "")
	f.Add(int64(-1), "é", "firms/\xff")
	f.Fuzz(func(t *testing.T, nanos int64, id, query string) {
		if !utf8.ValidString(id) {
			t.Skip("cursor ids are UUIDs; JSON would replace invalid bytes")
		}
		at := time.Unix(0, nanos).UTC()
		p, err := Request(0, Next(Cursor{Time: at, ID: id}, true, query), query)
		if err != nil {
			t.Fatalf("own token refused: %v", err)
		}
		if !p.After.Time.Equal(at) || p.After.ID != id {
			t.Fatalf("cursor (%v, %q) came back as (%v, %q)", at, id, p.After.Time, p.After.ID)
		}
	})
}

func TestSetKeyFileReadsTheSecretAndKeepsItOutOfErrors(t *testing.T) {
	defer saveKeys(t)()
	dir := t.TempDir()
	good := filepath.Join(dir, "page-token")
	if err := os.WriteFile(good, []byte(strings.Repeat("k", MinSecretSize)+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := SetKeyFile(good); err != nil {
		t.Fatal(err)
	}
	tok := Next(Cursor{ID: "x"}, true, filter)
	if _, err := Request(10, tok, filter); err != nil {
		t.Errorf("token sealed under the file's key refused: %v", err)
	}
	short := filepath.Join(dir, "short")
	if err := os.WriteFile(short, []byte("hunter2"), 0o600); err != nil {
		t.Fatal(err)
	}
	err := SetKeyFile(short)
	if err == nil || strings.Contains(err.Error(), "hunter2") {
		t.Errorf("short secret: got %v, want an error that does not show it", err)
	}
	if err := SetKeyFile(filepath.Join(dir, "missing")); err == nil {
		t.Error("missing file accepted")
	}
}

func TestPageSizeOverTheMaximumIsCoerced(t *testing.T) {
	cases := []struct {
		size             int32
		defaultSize, max int
		want             int
	}{
		{0, DefaultSize, MaxSize, DefaultSize},
		{-3, DefaultSize, MaxSize, DefaultSize},
		{7, DefaultSize, MaxSize, 7},
		{MaxSize + 1, DefaultSize, MaxSize, MaxSize},
		{1 << 30, DefaultSize, MaxSize, MaxSize},
		{0, 1000, 1000, 1000},
		{5000, 1000, 1000, 1000},
	}
	for _, tc := range cases {
		p, err := RequestSized(tc.size, tc.defaultSize, tc.max, "", "f")
		if err != nil || p.Size != tc.want {
			t.Errorf("RequestSized(%d, %d, %d) = %d, %v; want %d", tc.size, tc.defaultSize, tc.max, p.Size, err, tc.want)
		}
	}
}
