package httpapi

import (
	"context"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strconv"
	"testing"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	lifecyclev1 "github.com/firmflow/firmflow/pkg/gen/firmflow/lifecycle/v1"
)

// archiveStream answers ReadExportArchive from an in-memory archive, in small chunks,
// as lifecycle does.
type archiveStream struct {
	grpc.ClientStream
	chunks []*lifecyclev1.ExportArchiveChunk
}

func (s *archiveStream) Recv() (*lifecyclev1.ExportArchiveChunk, error) {
	if len(s.chunks) == 0 {
		return nil, io.EOF
	}
	c := s.chunks[0]
	s.chunks = s.chunks[1:]
	return c, nil
}

type archive struct{ data []byte }

func (a archive) ReadExportArchive(ctx context.Context, in *lifecyclev1.ReadExportArchiveRequest, _ ...grpc.CallOption) (grpc.ServerStreamingClient[lifecyclev1.ExportArchiveChunk], error) {
	size := int64(len(a.data))
	if in.GetOffset() >= size {
		return &archiveStream{}, status.Error(codes.OutOfRange, "past the end")
	}
	end := size
	if in.GetLength() > 0 {
		end = min(size, in.GetOffset()+in.GetLength())
	}
	s := &archiveStream{}
	for i := in.GetOffset(); i < end; i += 3 {
		c := &lifecyclev1.ExportArchiveChunk{Data: a.data[i:min(i+3, end)]}
		if i == in.GetOffset() {
			c.TotalSize = size
		}
		s.chunks = append(s.chunks, c)
	}
	return s, nil
}

func TestExportDownloadServesLengthAndRanges(t *testing.T) {
	data := []byte("PK0123456789abcdefghij")
	mux := http.NewServeMux()
	mux.Handle(ExportDownloadPattern, ExportDownload(archive{data}, Errors{Logger: slog.New(slog.DiscardHandler)}))
	id := "0d4c6c53-0000-4000-8000-000000000001"
	path := "/v1/firms/0d4c6c53-0000-4000-8000-000000000002/exports/" + id + ":download"
	for _, c := range []struct {
		rangeHeader  string
		code         int
		body         string
		contentRange string
	}{
		{"", 200, string(data), ""},
		{"bytes=2-5", 206, "0123", "bytes 2-5/22"},
		{"bytes=20-", 206, "ij", "bytes 20-21/22"},
		{"bytes=-4", 206, "ghij", "bytes 18-21/22"},
		{"bytes=0-1,4-5", 200, string(data), ""},
		{"bytes=30-", 400, "", "bytes */*"},
	} {
		r := httptest.NewRequest(http.MethodGet, path, nil)
		if c.rangeHeader != "" {
			r.Header.Set("Range", c.rangeHeader)
		}
		w := httptest.NewRecorder()
		mux.ServeHTTP(w, r)
		if w.Code != c.code || (c.code < 400 && w.Body.String() != c.body) || w.Header().Get("Content-Range") != c.contentRange {
			t.Errorf("Range %q: %d %q %q, want %d %q %q", c.rangeHeader, w.Code, w.Body.String(), w.Header().Get("Content-Range"), c.code, c.body, c.contentRange)
		}
		if c.code < 400 && w.Header().Get("Content-Length") != itoa(len(c.body)) {
			t.Errorf("Range %q: Content-Length %q", c.rangeHeader, w.Header().Get("Content-Length"))
		}
	}
	w := httptest.NewRecorder()
	mux.ServeHTTP(w, httptest.NewRequest(http.MethodGet, "/v1/firms/x/exports/"+id, nil))
	if w.Code != 404 {
		t.Errorf("without :download: %d", w.Code)
	}
}

func itoa(n int) string { return strconv.Itoa(n) }
