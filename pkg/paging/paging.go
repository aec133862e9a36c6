// Package paging makes AIP-158 page tokens: opaque to clients, bound to the query that
// made them, and carrying the keyset position (never an offset, so pages cost the same
// however deep they go).
package paging

import (
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"time"

	"github.com/firmflow/firmflow/pkg/apierr"
)

// DefaultSize and MaxSize bound page_size.
const (
	DefaultSize = 50
	MaxSize     = 100
)

// Cursor is the position after the last row of a page, ordered by (Time, ID).
type Cursor struct {
	Time time.Time `json:"t"`
	ID   string    `json:"i"`
}

type token struct {
	After  Cursor `json:"a"`
	Filter []byte `json:"f"`
}

// Page is a decoded request for one page.
type Page struct {
	Size  int
	After *Cursor // nil for the first page
}

// Request decodes page_size and page_token. filter is a canonical string of the
// query's other parameters: a token made for another filter is refused.
func Request(size int32, pageToken, filter string) (Page, error) {
	p := Page{Size: int(size)}
	if p.Size <= 0 {
		p.Size = DefaultSize
	}
	p.Size = min(p.Size, MaxSize)
	if pageToken == "" {
		return p, nil
	}
	raw, err := base64.RawURLEncoding.DecodeString(pageToken)
	var t token
	if err == nil {
		err = json.Unmarshal(raw, &t)
	}
	if err != nil || string(t.Filter) != string(filterHash(filter)) {
		return Page{}, apierr.InvalidArgument("page_token", "page_token.valid", "not a token from the previous page of this query")
	}
	p.After = &t.After
	return p, nil
}

// Next returns the token for the page after one whose last row is at last; pass
// more=false when the page was the last.
func Next(last Cursor, more bool, filter string) string {
	if !more {
		return ""
	}
	raw, _ := json.Marshal(token{After: last, Filter: filterHash(filter)})
	return base64.RawURLEncoding.EncodeToString(raw)
}

func filterHash(filter string) []byte {
	sum := sha256.Sum256([]byte(filter))
	return sum[:8]
}
