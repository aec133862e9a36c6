// Package archive writes and reads export archives at rest: a zip of per-entity JSON
// Lines and CSV files and a manifest, encrypted with AES-256-GCM in fixed-size chunks
// (the STREAM construction: each chunk's nonce is a per-archive random prefix, the
// chunk's index and a last-chunk flag), so that an archive is written and read in
// constant memory, any byte range can be served by decrypting only its chunks, and
// reordering, truncating or swapping chunks or archives fails authentication.
package archive

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
)

// ChunkSize is the plaintext size of every chunk but the last.
const ChunkSize = 64 << 10

const (
	magic      = "FFX1"
	prefixSize = 7
	headerSize = len(magic) + prefixSize
	tagSize    = 16
	sealedSize = ChunkSize + tagSize
)

// ErrCorrupt means the archive was altered, truncated or sealed for another export.
var ErrCorrupt = errors.New("archive: authentication failed: the archive was altered or belongs to another export")

func newAEAD(key []byte) (cipher.AEAD, error) {
	if len(key) != 32 {
		return nil, errors.New("archive: the key must be 32 bytes (AES-256)")
	}
	block, err := aes.NewCipher(key)
	if err != nil {
		return nil, err
	}
	return cipher.NewGCM(block)
}

func nonce(prefix []byte, index uint32, last bool) []byte {
	n := make([]byte, 12)
	copy(n, prefix)
	binary.BigEndian.PutUint32(n[prefixSize:], index)
	if last {
		n[11] = 1
	}
	return n
}

// Writer seals what is written to it; Close seals the last chunk and must be called.
type Writer struct {
	w      io.Writer
	aead   cipher.AEAD
	prefix []byte
	aad    []byte
	buf    []byte
	index  uint32
	out    []byte
	size   int64
	closed bool
}

// NewWriter starts a sealed archive on w. aad binds it to its export (its id).
func NewWriter(w io.Writer, key, aad []byte) (*Writer, error) {
	aead, err := newAEAD(key)
	if err != nil {
		return nil, err
	}
	prefix := make([]byte, prefixSize)
	if _, err := rand.Read(prefix); err != nil {
		return nil, err
	}
	if _, err := io.WriteString(w, magic); err != nil {
		return nil, err
	}
	if _, err := w.Write(prefix); err != nil {
		return nil, err
	}
	return &Writer{w: w, aead: aead, prefix: prefix, aad: aad, buf: make([]byte, 0, ChunkSize), out: make([]byte, 0, sealedSize)}, nil
}

// Write buffers p and seals every full chunk.
func (s *Writer) Write(p []byte) (int, error) {
	if s.closed {
		return 0, errors.New("archive: write after close")
	}
	n := len(p)
	for len(p) > 0 {
		// A full chunk is sealed only once more data follows: the last chunk,
		// which may be full, carries the last-chunk flag.
		if len(s.buf) == ChunkSize {
			if err := s.seal(false); err != nil {
				return 0, err
			}
		}
		take := min(ChunkSize-len(s.buf), len(p))
		s.buf = append(s.buf, p[:take]...)
		p = p[take:]
	}
	s.size += int64(n)
	return n, nil
}

func (s *Writer) seal(last bool) error {
	if s.index == ^uint32(0) {
		return errors.New("archive: too large")
	}
	s.out = s.aead.Seal(s.out[:0], nonce(s.prefix, s.index, last), s.buf, s.aad)
	s.index++
	s.buf = s.buf[:0]
	_, err := s.w.Write(s.out)
	return err
}

// Close seals the last chunk.
func (s *Writer) Close() error {
	if s.closed {
		return nil
	}
	s.closed = true
	return s.seal(true)
}

// Size is the plaintext bytes written.
func (s *Writer) Size() int64 { return s.size }

// Reader reads a sealed archive of sealedBytes bytes at random offsets.
type Reader struct {
	r      io.ReaderAt
	aead   cipher.AEAD
	prefix []byte
	aad    []byte
	chunks int64
	size   int64
}

// NewReader opens a sealed archive; Size is its plaintext size.
func NewReader(r io.ReaderAt, sealedBytes int64, key, aad []byte) (*Reader, error) {
	aead, err := newAEAD(key)
	if err != nil {
		return nil, err
	}
	header := make([]byte, headerSize)
	if _, err := r.ReadAt(header, 0); err != nil || string(header[:len(magic)]) != magic {
		return nil, ErrCorrupt
	}
	body := sealedBytes - int64(headerSize)
	if body < tagSize {
		return nil, ErrCorrupt
	}
	chunks := (body + sealedSize - 1) / sealedSize
	lastSealed := body - (chunks-1)*sealedSize
	if lastSealed < tagSize {
		return nil, ErrCorrupt
	}
	size := (chunks-1)*ChunkSize + lastSealed - tagSize
	return &Reader{r: r, aead: aead, prefix: header[len(magic):], aad: aad, chunks: chunks, size: size}, nil
}

// Size is the archive's plaintext size.
func (a *Reader) Size() int64 { return a.size }

// WriteRange writes plaintext bytes [offset, offset+length) to w, decrypting only the
// chunks that hold them, one at a time.
func (a *Reader) WriteRange(w io.Writer, offset, length int64) error {
	if offset < 0 || length < 0 || offset+length > a.size {
		return fmt.Errorf("archive: range %d+%d outside %d bytes", offset, length, a.size)
	}
	sealed := make([]byte, sealedSize)
	var plain []byte
	for length > 0 {
		index := offset / ChunkSize
		n, err := a.r.ReadAt(sealed, int64(headerSize)+index*sealedSize)
		if err != nil && !errors.Is(err, io.EOF) {
			return err
		}
		last := index == a.chunks-1
		if (!last && n != sealedSize) || (last && errors.Is(err, io.EOF) && n == 0) {
			return ErrCorrupt
		}
		plain, err = a.aead.Open(plain[:0], nonce(a.prefix, uint32(index), last), sealed[:n], a.aad)
		if err != nil {
			return ErrCorrupt
		}
		from := offset - index*ChunkSize
		take := min(int64(len(plain))-from, length)
		if take <= 0 {
			return ErrCorrupt
		}
		if _, err := w.Write(plain[from : from+take]); err != nil {
			return err
		}
		offset += take
		length -= take
	}
	return nil
}
