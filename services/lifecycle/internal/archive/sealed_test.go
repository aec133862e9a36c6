package archive

import (
	"bytes"
	"crypto/rand"
	"errors"
	"testing"
)

func seal(t *testing.T, key, aad, plain []byte, writes int) []byte {
	t.Helper()
	var out bytes.Buffer
	w, err := NewWriter(&out, key, aad)
	if err != nil {
		t.Fatal(err)
	}
	step := max(1, len(plain)/max(1, writes))
	for i := 0; i < len(plain); i += step {
		if _, err := w.Write(plain[i:min(i+step, len(plain))]); err != nil {
			t.Fatal(err)
		}
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	if w.Size() != int64(len(plain)) {
		t.Fatalf("size %d, want %d", w.Size(), len(plain))
	}
	return out.Bytes()
}

func TestSealedArchiveRoundTripsAnyRange(t *testing.T) {
	key := make([]byte, 32)
	_, _ = rand.Read(key)
	for _, size := range []int{0, 1, ChunkSize - 1, ChunkSize, ChunkSize + 1, 2 * ChunkSize, 3*ChunkSize + 17} {
		plain := make([]byte, size)
		_, _ = rand.Read(plain)
		for _, writes := range []int{1, 3, size/ChunkSize + 1} {
			sealed := seal(t, key, []byte("export-1"), plain, writes)
			if bytes.Contains(sealed, plain[:min(size, 64)]) && size >= 16 {
				t.Fatal("plaintext visible in the sealed archive")
			}
			r, err := NewReader(bytes.NewReader(sealed), int64(len(sealed)), key, []byte("export-1"))
			if err != nil {
				t.Fatal(err)
			}
			if r.Size() != int64(size) {
				t.Fatalf("size %d: reader says %d", size, r.Size())
			}
			for _, rg := range [][2]int64{{0, int64(size)}, {int64(size) / 2, int64(size) - int64(size)/2}, {int64(min(size, ChunkSize-3)), int64(min(size-min(size, ChunkSize-3), 10))}} {
				var got bytes.Buffer
				if err := r.WriteRange(&got, rg[0], rg[1]); err != nil {
					t.Fatalf("size %d range %v: %v", size, rg, err)
				}
				if !bytes.Equal(got.Bytes(), plain[rg[0]:rg[0]+rg[1]]) {
					t.Fatalf("size %d range %v: wrong bytes", size, rg)
				}
			}
		}
	}
}

func TestSealedArchiveRefusesTampering(t *testing.T) {
	key := make([]byte, 32)
	_, _ = rand.Read(key)
	plain := bytes.Repeat([]byte("row,"), ChunkSize)
	sealed := seal(t, key, []byte("export-1"), plain, 1)
	read := func(b []byte, aad string) error {
		r, err := NewReader(bytes.NewReader(b), int64(len(b)), key, []byte(aad))
		if err != nil {
			return err
		}
		var sink bytes.Buffer
		return r.WriteRange(&sink, 0, r.Size())
	}
	flipped := append([]byte(nil), sealed...)
	flipped[len(flipped)/2] ^= 1
	truncated := sealed[:headerSize+sealedSize] // drops every chunk after the first
	for name, err := range map[string]error{
		"flipped byte": read(flipped, "export-1"),
		"truncated":    read(truncated, "export-1"),
		"other export": read(sealed, "export-2"),
	} {
		if !errors.Is(err, ErrCorrupt) {
			t.Errorf("%s: %v, want ErrCorrupt", name, err)
		}
	}
	otherKey := make([]byte, 32)
	if _, err := NewWriter(&bytes.Buffer{}, otherKey[:16], nil); err == nil {
		t.Error("accepted a 128-bit key")
	}
}
