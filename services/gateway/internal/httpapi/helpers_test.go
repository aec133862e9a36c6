package httpapi

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/metadata"
	"google.golang.org/protobuf/types/known/emptypb"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/firmflow/firmflow/pkg/apierr"
	identityv1 "github.com/firmflow/firmflow/pkg/gen/firmflow/identity/v1"
)

// apiError is the JSON error as a client decodes it.
type apiError struct {
	Error struct {
		Code    int              `json:"code"`
		Status  string           `json:"status"`
		Message string           `json:"message"`
		Details []map[string]any `json:"details"`
	} `json:"error"`
}

func decodeError(t *testing.T, res *http.Response) apiError {
	t.Helper()
	if ct := res.Header.Get("Content-Type"); ct != "application/json" {
		t.Fatalf("Content-Type = %q, want application/json", ct)
	}
	var e apiError
	if err := json.NewDecoder(res.Body).Decode(&e); err != nil {
		t.Fatalf("decode error body: %v", err)
	}
	return e
}

// reason is the ErrorInfo reason among the details, or "".
func (e apiError) reason() string {
	for _, d := range e.Error.Details {
		if d["@type"] == "type.googleapis.com/google.rpc.ErrorInfo" {
			r, _ := d["reason"].(string)
			return r
		}
	}
	return ""
}

// violatedFields are the fields named by a BadRequest detail.
func (e apiError) violatedFields() []string {
	var fields []string
	for _, d := range e.Error.Details {
		if d["@type"] != "type.googleapis.com/google.rpc.BadRequest" {
			continue
		}
		vs, _ := d["field_violations"].([]any)
		for _, v := range vs {
			if m, ok := v.(map[string]any); ok {
				f, _ := m["field"].(string)
				fields = append(fields, f)
			}
		}
	}
	return fields
}

func discardLogger() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

// recordingHandler notes whether a request got through and what it looked like.
type recordingHandler struct {
	calls int
	last  *http.Request
	body  string
}

func (h *recordingHandler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	h.calls++
	h.last = r
	if r.Body != nil {
		b, _ := io.ReadAll(r.Body)
		h.body = string(b)
	}
	w.WriteHeader(http.StatusOK)
}

func serve(h http.Handler, r *http.Request) *http.Response {
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, r)
	return rec.Result()
}

// fakeIdentity stands in for identity's IdentityService behind the REST mux; it
// answers from canned data and remembers the metadata of each call.
type fakeIdentity struct {
	identityv1.UnimplementedIdentityServiceServer
	mu       sync.Mutex
	metadata []metadata.MD
	signUp   func(*identityv1.SignUpRequest) (*identityv1.SignUpResponse, error)
}

func (f *fakeIdentity) record(ctx context.Context) {
	md, _ := metadata.FromIncomingContext(ctx)
	f.mu.Lock()
	defer f.mu.Unlock()
	f.metadata = append(f.metadata, md)
}

func (f *fakeIdentity) lastMetadata() metadata.MD {
	f.mu.Lock()
	defer f.mu.Unlock()
	if len(f.metadata) == 0 {
		return nil
	}
	return f.metadata[len(f.metadata)-1]
}

func (f *fakeIdentity) SignUp(ctx context.Context, req *identityv1.SignUpRequest) (*identityv1.SignUpResponse, error) {
	f.record(ctx)
	if f.signUp != nil {
		return f.signUp(req)
	}
	return &identityv1.SignUpResponse{
		Firm:  &identityv1.Firm{Name: "firms/0b0e5f6e-4c2a-4a37-9d0b-1f0e7f4b2a11", DisplayName: req.GetFirmDisplayName()},
		Owner: &identityv1.Member{DisplayName: req.GetDisplayName(), Role: identityv1.Role_ROLE_OWNER},
	}, nil
}

func (f *fakeIdentity) Login(ctx context.Context, _ *identityv1.LoginRequest) (*identityv1.LoginResponse, error) {
	f.record(ctx)
	return &identityv1.LoginResponse{
		Session:      &identityv1.Session{Name: "sessions/1", ExpireTime: timestamppb.New(time.Now().Add(12 * time.Hour))},
		CsrfToken:    "csrf-123",
		SessionToken: "session-secret-abc",
	}, nil
}

func (f *fakeIdentity) Logout(ctx context.Context, _ *identityv1.LogoutRequest) (*emptypb.Empty, error) {
	f.record(ctx)
	return &emptypb.Empty{}, nil
}

func (f *fakeIdentity) GetCaller(ctx context.Context, _ *identityv1.GetCallerRequest) (*identityv1.Caller, error) {
	f.record(ctx)
	return &identityv1.Caller{Firm: &identityv1.Firm{Name: "firms/0b0e5f6e-4c2a-4a37-9d0b-1f0e7f4b2a11", DisplayName: "Ledger & Co"}}, nil
}

func (f *fakeIdentity) GetFirm(ctx context.Context, _ *identityv1.GetFirmRequest) (*identityv1.Firm, error) {
	f.record(ctx)
	return nil, apierr.NotFound("firm")
}

// newRESTForTest is the REST mux with the fake identity registered in process.
func newRESTForTest(t *testing.T, identity *fakeIdentity) http.Handler {
	t.Helper()
	mux := NewREST(Errors{Logger: discardLogger()})
	if err := identityv1.RegisterIdentityServiceHandlerServer(context.Background(), mux, identity); err != nil {
		t.Fatalf("register: %v", err)
	}
	return mux
}

// fakeAuthenticator stands in for identity's AuthService.
type fakeAuthenticator struct {
	requests []*identityv1.AuthenticateRequest
	metadata []metadata.MD
	token    string
	err      error
}

func (f *fakeAuthenticator) Authenticate(ctx context.Context, in *identityv1.AuthenticateRequest, _ ...grpc.CallOption) (*identityv1.AuthenticateResponse, error) {
	f.requests = append(f.requests, in)
	md, _ := metadata.FromOutgoingContext(ctx)
	f.metadata = append(f.metadata, md)
	if f.err != nil {
		return nil, f.err
	}
	return &identityv1.AuthenticateResponse{PrincipalToken: f.token}, nil
}

func jsonRequest(method, target, body string) *http.Request {
	r := httptest.NewRequest(method, target, strings.NewReader(body))
	if body != "" {
		r.Header.Set("Content-Type", "application/json")
	}
	return r
}
