package httpapi

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"regexp"
	"strconv"
	"strings"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"

	"github.com/firmflow/firmflow/pkg/apierr"
	lifecyclev1 "github.com/firmflow/firmflow/pkg/gen/firmflow/lifecycle/v1"
)

// ExportDownloadPattern is the ServeMux pattern of export downloads; the last
// segment is "{export}:download".
const ExportDownloadPattern = "GET /v1/firms/{firm}/exports/{download}"

const exportDownloadRoute = "/v1/firms/{firm}/exports/{export}:download"

// ExportArchiveReader reads export archives; lifecycle's LifecycleService client is one.
type ExportArchiveReader interface {
	ReadExportArchive(ctx context.Context, in *lifecyclev1.ReadExportArchiveRequest, opts ...grpc.CallOption) (grpc.ServerStreamingClient[lifecyclev1.ExportArchiveChunk], error)
}

var exportID = regexp.MustCompile(`^([0-9a-f-]{36}):download$`)

// ExportDownload serves an export's archive as application/zip from lifecycle's
// stream: Content-Length always, one byte range (Range: bytes=a-b, a-, -n) answered
// 206 with Content-Range, an unsatisfiable one 400 RANGE_NOT_SATISFIABLE. Lifecycle checks the caller (an
// owner of the firm) as for every call; the principal travels in the metadata.
func ExportDownload(lifecycle ExportArchiveReader, errs Errors) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		req := requestFrom(r)
		req.route = exportDownloadRoute
		req.rpcMethod = lifecyclev1.LifecycleService_ReadExportArchive_FullMethodName
		m := exportID.FindStringSubmatch(r.PathValue("download"))
		if m == nil {
			writeError(w, apierr.New(codes.NotFound, "NOT_FOUND", "no such route"))
			return
		}
		name := "firms/" + r.PathValue("firm") + "/exports/" + m[1]
		ctx := metadata.NewOutgoingContext(r.Context(), serviceMetadata(r.Context(), r))
		rng, ranged := parseRange(r.Header.Get("Range"))

		open := func(offset, length int64) (grpc.ServerStreamingClient[lifecyclev1.ExportArchiveChunk], *lifecyclev1.ExportArchiveChunk, error) {
			stream, err := lifecycle.ReadExportArchive(ctx, &lifecyclev1.ReadExportArchiveRequest{Name: name, Offset: offset, Length: length})
			if err != nil {
				return nil, nil, err
			}
			first, err := stream.Recv()
			return stream, first, err
		}
		offset, length := int64(0), int64(0)
		if ranged && !rng.suffix {
			offset = rng.start
			if rng.end >= 0 {
				length = rng.end - rng.start + 1
			}
		}
		if ranged && rng.suffix {
			// The size is needed first: a one-byte read answers it.
			_, first, err := open(0, 1)
			if err != nil {
				writeStatus(w, errs.clientStatus(ctx, err))
				return
			}
			offset = max(0, first.GetTotalSize()-rng.start)
		}
		stream, first, err := open(offset, length)
		if err != nil {
			if status.Code(err) == codes.OutOfRange {
				w.Header().Set("Content-Range", "bytes */*")
				writeError(w, apierr.New(codes.OutOfRange, "RANGE_NOT_SATISFIABLE", "the range starts past the end of the archive"))
				return
			}
			writeStatus(w, errs.clientStatus(ctx, err))
			return
		}
		total := first.GetTotalSize()
		if length == 0 || offset+length > total {
			length = total - offset
		}
		h := w.Header()
		h.Set("Content-Type", "application/zip")
		h.Set("Content-Disposition", fmt.Sprintf(`attachment; filename="firmflow-export-%s.zip"`, m[1]))
		h.Set("Accept-Ranges", "bytes")
		h.Set("Content-Length", strconv.FormatInt(length, 10))
		code := http.StatusOK
		if ranged {
			code = http.StatusPartialContent
			h.Set("Content-Range", fmt.Sprintf("bytes %d-%d/%d", offset, offset+length-1, total))
		}
		w.WriteHeader(code)
		if _, err := w.Write(first.GetData()); err != nil {
			return
		}
		for {
			chunk, err := stream.Recv()
			if errors.Is(err, io.EOF) {
				return
			}
			if err != nil {
				// The status line is out: cut the connection so the client sees a
				// short body, never a complete-looking one.
				panic(http.ErrAbortHandler)
			}
			if _, err := w.Write(chunk.GetData()); err != nil {
				return
			}
		}
	})
}

// byteRange is one range of a Range header: start-end (end -1: to the end), or the
// last start bytes when suffix.
type byteRange struct {
	start, end int64
	suffix     bool
}

// parseRange reads a single "bytes=" range; anything else (several ranges, other
// units, malformed) is ignored and the whole archive is served, as RFC 9110 allows.
func parseRange(h string) (byteRange, bool) {
	spec, ok := strings.CutPrefix(h, "bytes=")
	if !ok || strings.Contains(spec, ",") {
		return byteRange{}, false
	}
	from, to, ok := strings.Cut(strings.TrimSpace(spec), "-")
	if !ok {
		return byteRange{}, false
	}
	if from == "" {
		n, err := strconv.ParseInt(to, 10, 64)
		if err != nil || n <= 0 {
			return byteRange{}, false
		}
		return byteRange{start: n, suffix: true}, true
	}
	start, err := strconv.ParseInt(from, 10, 64)
	if err != nil || start < 0 {
		return byteRange{}, false
	}
	if to == "" {
		return byteRange{start: start, end: -1}, true
	}
	end, err := strconv.ParseInt(to, 10, 64)
	if err != nil || end < start {
		return byteRange{}, false
	}
	return byteRange{start: start, end: end}, true
}
