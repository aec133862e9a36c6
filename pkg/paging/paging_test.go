package paging

import (
	"testing"
	"time"
)

func TestTokenRoundTripsAndIsBoundToItsFilter(t *testing.T) {
	at := time.Date(2026, 3, 1, 10, 0, 0, 123, time.UTC)
	tok := Next(Cursor{Time: at, ID: "x"}, true, "role=admin")
	p, err := Request(10, tok, "role=admin")
	if err != nil {
		t.Fatal(err)
	}
	if p.Size != 10 || p.After == nil || !p.After.Time.Equal(at) || p.After.ID != "x" {
		t.Errorf("decoded %+v", p)
	}
	if _, err := Request(10, tok, "role=member"); err == nil {
		t.Error("token accepted for another filter")
	}
	if _, err := Request(10, "!!garbage", ""); err == nil {
		t.Error("garbage token accepted")
	}
	if Next(Cursor{}, false, "") != "" {
		t.Error("last page has a next token")
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
