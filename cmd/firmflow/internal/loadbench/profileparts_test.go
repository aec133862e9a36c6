package loadbench

import (
	"bytes"
	"fmt"
	"io"
	"maps"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/google/pprof/profile"
)

// Where a path's CPU goes inside this process, from its CPU profile: each sample goes
// to the first part (in partRules' order) one of whose patterns is in the name of a
// function on the sample's stack. A goroutine's stack starts where it was started, so
// a service's handler counts for the service, with the SQL it runs, and the gRPC
// transport's reading and writing goroutines count for the transport. The baseline
// is the load generator, an HTTPS server and its handler, no more.

// partRule names a part of the process and the function names that place a sample in
// it.
type partRule struct {
	part     string
	patterns []string
}

var partRules = []partRule{
	{"GC (background)", []string{"runtime.gcBgMarkWorker", "runtime.bgsweep", "runtime.bgscavenge"}},
	{"baseline: handler, SQL, JSON", []string{"loadbench.(*baseline)"}},
	{"load generator", []string{"/loadbench.", "vegeta", "net/http.(*http2ClientConn)", "net/http.(*http2clientConnReadLoop)", "net/http.(*http2clientStream)", "net/http.(*Transport)", "net/http.(*persistConn)"}},
	{"audit ingestion", []string{"/services/audit/"}},
	// A service's generated handlers (v1._Service_Method_Handler) decode the request
	// before the service's own code is on the stack.
	{"identity", []string{"/services/identity/", "/pkg/gen/firmflow/identity/v1._"}},
	{"outbox relay", []string{"/pkg/outbox.(*Relay)"}},
	{"workflow", []string{"/services/workflow/", "/pkg/gen/firmflow/workflow/v1._"}},
	// What the gateway writes back: the service's answer as JSON (protojson).
	{"gateway: JSON of responses", []string{"runtime.ForwardResponseMessage", "google.golang.org/protobuf/encoding/protojson"}},
	{"gateway: access events", []string{"httpapi.publishBatch", "httpapi.(*accessLog)", "httpapi.accessEvent"}},
	{"gateway: identity calls", []string{"httpapi.(*coalescing)"}},
	{"gateway: workflow calls", []string{"/pkg/gen/firmflow/workflow/v1.request_", "/pkg/gen/firmflow/workflow/v1.Register", "/pkg/gen/firmflow/workflow/v1.(*"}},
	// The baseline's server as well as the gateway's, which has middleware besides.
	{"HTTPS server (the gateway's: with middleware)", []string{"/services/gateway/", "grpc-gateway", "net/http.(*conn)", "net/http.(*http2serverConn)", "otelhttp"}},
	{"NATS server (JetStream)", []string{"nats-server/v2"}},
	{"NATS client", []string{"nats-io/nats.go", "nats%2ego"}},
	{"gRPC transport", []string{"google.golang.org/grpc"}},
	{"scheduler", []string{"runtime.mcall", "runtime.schedule", "runtime.findRunnable", "runtime.park_m"}},
}

const otherPart = "other"

// partsOfProfile reads a CPU profile and returns the CPU time of each part.
func partsOfProfile(r io.Reader) (map[string]time.Duration, error) {
	p, err := profile.Parse(r)
	if err != nil {
		return nil, err
	}
	cpu := -1
	for i, st := range p.SampleType {
		if st.Type == "cpu" && st.Unit == "nanoseconds" {
			cpu = i
		}
	}
	if cpu < 0 {
		return nil, fmt.Errorf("profile has no cpu nanoseconds sample type")
	}
	parts := map[string]time.Duration{}
	for _, s := range p.Sample {
		parts[partOf(s)] += time.Duration(s.Value[cpu])
	}
	return parts, nil
}

func partOf(s *profile.Sample) string {
	for _, rule := range partRules {
		for _, loc := range s.Location {
			for _, line := range loc.Line {
				if line.Function == nil {
					continue
				}
				for _, pattern := range rule.patterns {
					if strings.Contains(line.Function.Name, pattern) {
						return rule.part
					}
				}
			}
		}
	}
	return otherPart
}

// profileParts is the parts of one profiled run of a scenario on one path, with the
// requests it served.
type profileParts struct {
	scenario, path string
	requests       int
	parts          map[string]time.Duration
}

// readProfileParts reads the profile in file; a failure is reported, not fatal, since
// the profile is extra to the measurement.
func readProfileParts(file, scenario, path string, requests int) (profileParts, error) {
	f, err := os.Open(file)
	if err != nil {
		return profileParts{}, err
	}
	defer f.Close()
	parts, err := partsOfProfile(f)
	if err != nil {
		return profileParts{}, fmt.Errorf("read %s: %w", file, err)
	}
	return profileParts{scenario: scenario, path: path, requests: requests, parts: parts}, nil
}

func TestPartsOfProfileGoesByTheFirstRuleOnTheStack(t *testing.T) {
	// Stacks as a CPU profile holds them, leaf first.
	stacks := []struct {
		frames []string
		want   string
	}{
		{[]string{"syscall.Syscall", "github.com/jackc/pgx/v5.(*Conn).Exec", "github.com/firmflow/firmflow/services/workflow/internal/grpcapi.(*projectServer).GetProject", "google.golang.org/grpc.(*Server).handleStream"}, "workflow"},
		{[]string{"google.golang.org/grpc.invoke", "github.com/firmflow/firmflow/pkg/gen/firmflow/workflow/v1.request_ProjectService_GetProject_0", "github.com/firmflow/firmflow/services/gateway/internal/httpapi.RecordRoute.func1", "net/http.(*http2serverConn).runHandler"}, "gateway: workflow calls"},
		{[]string{"google.golang.org/protobuf/encoding/protojson.encoder.marshalMessage", "github.com/grpc-ecosystem/grpc-gateway/v2/runtime.ForwardResponseMessage", "github.com/firmflow/firmflow/pkg/gen/firmflow/workflow/v1.RegisterProjectServiceHandlerClient.func3"}, "gateway: JSON of responses"},
		{[]string{"github.com/nats-io/nats.go/jetstream.(*jetStream).PublishMsg", "github.com/firmflow/firmflow/services/gateway/internal/httpapi.publishBatch"}, "gateway: access events"},
		{[]string{"google.golang.org/protobuf/proto.UnmarshalOptions.unmarshal", "github.com/firmflow/firmflow/pkg/gen/firmflow/workflow/v1._ProjectService_GetProject_Handler", "google.golang.org/grpc.(*Server).processRPC"}, "workflow"},
		{[]string{"google.golang.org/grpc/internal/transport.(*loopyWriter).run"}, "gRPC transport"},
		{[]string{"runtime.scanobject", "runtime.gcBgMarkWorker"}, "GC (background)"},
		{[]string{"net/http.(*http2clientConnReadLoop).run", "net/http.(*http2ClientConn).readLoop"}, "load generator"},
		{[]string{"encoding/json.Marshal", "github.com/firmflow/firmflow/cmd/firmflow/internal/loadbench.(*baseline).getProject", "net/http.(*http2serverConn).runHandler"}, "baseline: handler, SQL, JSON"},
		{[]string{"crypto/tls.(*Conn).Write", "net/http.(*http2serverConn).writeFrameAsync"}, "HTTPS server (the gateway's: with middleware)"},
		{[]string{"os.(*File).Sync", "github.com/nats-io/nats-server/v2/server.(*msgBlock).flushPendingMsgsLocked"}, "NATS server (JetStream)"},
		{[]string{"runtime.futex"}, otherPart},
	}
	p := &profile.Profile{
		SampleType: []*profile.ValueType{{Type: "samples", Unit: "count"}, {Type: "cpu", Unit: "nanoseconds"}},
		PeriodType: &profile.ValueType{Type: "cpu", Unit: "nanoseconds"},
		Period:     10_000_000,
	}
	want := map[string]time.Duration{}
	for i, st := range stacks {
		s := &profile.Sample{Value: []int64{1, int64(i+1) * 10_000_000}}
		for _, name := range st.frames {
			fn := &profile.Function{ID: uint64(len(p.Function) + 1), Name: name}
			loc := &profile.Location{ID: uint64(len(p.Location) + 1), Line: []profile.Line{{Function: fn}}}
			p.Function, p.Location = append(p.Function, fn), append(p.Location, loc)
			s.Location = append(s.Location, loc)
		}
		p.Sample = append(p.Sample, s)
		want[st.want] += time.Duration(i+1) * 10 * time.Millisecond
	}
	var buf bytes.Buffer
	if err := p.Write(&buf); err != nil {
		t.Fatal(err)
	}
	got, err := partsOfProfile(&buf)
	if err != nil {
		t.Fatal(err)
	}
	if !maps.Equal(got, want) {
		t.Errorf("parts = %v, want %v", got, want)
	}
}
