package httpapi

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/firmflow/firmflow/pkg/apierr"
	identityv1 "github.com/firmflow/firmflow/pkg/gen/firmflow/identity/v1"
)

func TestServiceFieldViolationBecomesAIP193JSON(t *testing.T) {
	identity := &fakeIdentity{signUp: func(*identityv1.SignUpRequest) (*identityv1.SignUpResponse, error) {
		return nil, apierr.InvalidArgument("email", "string.email", "value must be a valid email address")
	}}
	res := serve(newRESTForTest(t, identity), jsonRequest(http.MethodPost, "/v1/signup", `{"email":"nope"}`))

	if res.StatusCode != http.StatusBadRequest {
		t.Fatalf("status = %d, want 400", res.StatusCode)
	}
	e := decodeError(t, res)
	if e.Error.Code != 400 || e.Error.Status != "INVALID_ARGUMENT" || !strings.Contains(e.Error.Message, "email") {
		t.Errorf("error = %+v, want code 400, status INVALID_ARGUMENT and a message naming email", e.Error)
	}
	if e.reason() != "INVALID_ARGUMENT" {
		t.Errorf("reason = %q, want INVALID_ARGUMENT", e.reason())
	}
	if fields := e.violatedFields(); !slices.Equal(fields, []string{"email"}) {
		t.Errorf("violated fields = %v, want [email]", fields)
	}
}

func TestMalformedBodyIsBadRequestNeverServerError(t *testing.T) {
	cases := []struct {
		name  string
		body  string
		field string // the field the error should name, if any
	}{
		{name: "truncated", body: `{"email":`},
		{name: "not JSON", body: `not json`},
		{name: "array", body: `[]`},
		{name: "unknown field", body: `{"emial":"a@example.com"}`, field: "emial"},
		{name: "duplicate field", body: `{"email":"a@example.com","email":"b@example.com"}`, field: "email"},
		{name: "wrong type", body: `{"firm_display_name":{"a":1}}`, field: "firm_display_name"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			identity := &fakeIdentity{}
			res := serve(newRESTForTest(t, identity), jsonRequest(http.MethodPost, "/v1/signup", tc.body))

			if res.StatusCode != http.StatusBadRequest {
				t.Fatalf("status = %d, want 400", res.StatusCode)
			}
			e := decodeError(t, res)
			if e.Error.Status != "INVALID_ARGUMENT" || !strings.HasPrefix(e.Error.Message, "malformed request") {
				t.Errorf("error = %+v, want INVALID_ARGUMENT with a message", e.Error)
			}
			if strings.Contains(e.Error.Message, "proto:") {
				t.Errorf("message %q leaks the decoder's prefix", e.Error.Message)
			}
			if tc.field != "" && !slices.Equal(e.violatedFields(), []string{tc.field}) {
				t.Errorf("violated fields = %v, want [%s]", e.violatedFields(), tc.field)
			}
			if identity.lastMetadata() != nil {
				t.Error("identity was called with a malformed request")
			}
		})
	}
}

func TestMalformedQueryParameterNamesTheField(t *testing.T) {
	res := serve(newRESTForTest(t, &fakeIdentity{}), httptest.NewRequest(http.MethodGet, "/v1/firms/x/members?page_size=many", nil))

	if res.StatusCode != http.StatusBadRequest {
		t.Fatalf("status = %d, want 400", res.StatusCode)
	}
	if fields := decodeError(t, res).violatedFields(); !slices.Equal(fields, []string{"page_size"}) {
		t.Errorf("violated fields = %v, want [page_size]", fields)
	}
}

func TestUnknownRoutesAnswerJSON(t *testing.T) {
	cases := []struct {
		method, path string
		status       int
		reason       string
	}{
		{http.MethodGet, "/v1/nothing-here", http.StatusNotFound, "ROUTE_NOT_FOUND"},
		{http.MethodGet, "/", http.StatusNotFound, "ROUTE_NOT_FOUND"},
		{http.MethodDelete, "/v1/signup", http.StatusNotFound, "METHOD_NOT_ALLOWED"},
	}
	for _, tc := range cases {
		t.Run(tc.method+" "+tc.path, func(t *testing.T) {
			res := serve(newRESTForTest(t, &fakeIdentity{}), httptest.NewRequest(tc.method, tc.path, nil))
			if res.StatusCode != tc.status {
				t.Fatalf("status = %d, want %d", res.StatusCode, tc.status)
			}
			e := decodeError(t, res)
			if e.Error.Code != tc.status || e.reason() != tc.reason {
				t.Errorf("error = %+v reason %q, want code %d reason %s", e.Error, e.reason(), tc.status, tc.reason)
			}
		})
	}
}

func TestServiceNotFoundPassesThrough(t *testing.T) {
	res := serve(newRESTForTest(t, &fakeIdentity{}), httptest.NewRequest(http.MethodGet, "/v1/firms/0b0e5f6e-4c2a-4a37-9d0b-1f0e7f4b2a11", nil))

	e := decodeError(t, res)
	if res.StatusCode != http.StatusNotFound || e.Error.Status != "NOT_FOUND" || e.Error.Message != "firm not found" || e.reason() != "NOT_FOUND" {
		t.Errorf("got %d %+v, want 404 NOT_FOUND 'firm not found'", res.StatusCode, e.Error)
	}
}

func TestErrorsFromOutsideServicesRevealNothingInternal(t *testing.T) {
	cases := []struct {
		name   string
		err    error
		status int
		code   string
	}{
		{"plain error", errors.New("open /etc/firmflow/secret: permission denied"), 500, "INTERNAL"},
		{"unavailable", status.Error(codes.Unavailable, "connection error: desc = dial tcp 10.0.0.5:9101: connect: connection refused"), 503, "UNAVAILABLE"},
		{"deadline", status.Error(codes.DeadlineExceeded, "context deadline exceeded while talking to 10.0.0.5"), 504, "DEADLINE_EXCEEDED"},
		{"status without details", status.Error(codes.Internal, "pq: relation firms does not exist"), 500, "INTERNAL"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			rec := httptest.NewRecorder()
			r := httptest.NewRequest(http.MethodGet, "/v1/caller", nil)
			Errors{Logger: discardLogger()}.Handle(r.Context(), nil, nil, rec, r, tc.err)

			res := rec.Result()
			e := decodeError(t, res)
			if res.StatusCode != tc.status || e.Error.Status != tc.code {
				t.Errorf("got %d %s, want %d %s", res.StatusCode, e.Error.Status, tc.status, tc.code)
			}
			for _, leak := range []string{"10.0.0.5", "/etc", "pq:", "dial"} {
				if strings.Contains(e.Error.Message, leak) {
					t.Errorf("message %q reveals %q", e.Error.Message, leak)
				}
			}
		})
	}
}

func TestResourceExhaustedSaysWhenToRetry(t *testing.T) {
	identity := &fakeIdentity{signUp: func(*identityv1.SignUpRequest) (*identityv1.SignUpResponse, error) {
		return nil, apierr.TooMany("ACCOUNT_LOCKED", "too many failed attempts", 89500*time.Millisecond)
	}}
	res := serve(newRESTForTest(t, identity), jsonRequest(http.MethodPost, "/v1/signup", `{}`))

	if res.StatusCode != http.StatusTooManyRequests {
		t.Fatalf("status = %d, want 429", res.StatusCode)
	}
	if got := res.Header.Get("Retry-After"); got != "90" {
		t.Errorf("Retry-After = %q, want 90 (seconds, rounded up)", got)
	}
	if e := decodeError(t, res); e.Error.Status != "RESOURCE_EXHAUSTED" || e.reason() != "ACCOUNT_LOCKED" {
		t.Errorf("error = %+v reason %q", e.Error, e.reason())
	}
}

func TestEvery503SaysWhenToRetry(t *testing.T) {
	cases := []struct {
		name string
		err  error
	}{
		{"upstream unreachable", status.Error(codes.Unavailable, "connection error: desc = dial tcp 10.0.0.5:9101: connect: connection refused")},
		{"service's own 503 without a delay", apierr.New(codes.Unavailable, "UNAVAILABLE", "the database is unavailable").GRPCStatus().Err()},
		{"service's 503 with a delay", apierr.Unavailable("UNAVAILABLE", "the database is unavailable").GRPCStatus().Err()},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			rec := httptest.NewRecorder()
			r := httptest.NewRequest(http.MethodGet, "/v1/caller", nil)
			Errors{Logger: discardLogger()}.Handle(r.Context(), nil, nil, rec, r, tc.err)
			res := rec.Result()
			if res.StatusCode != http.StatusServiceUnavailable {
				t.Fatalf("status = %d, want 503", res.StatusCode)
			}
			if got := res.Header.Get("Retry-After"); got == "" || got == "0" {
				t.Errorf("Retry-After = %q, want a delay in seconds", got)
			}
		})
	}
}

func TestAccessNotRecordedIs503WithRetryAfter(t *testing.T) {
	h := Track(discardLogger(), nil)(RecordAccess(failingAccess{}, discardLogger())(newRESTForTest(t, &fakeIdentity{})))
	res := serve(h, httptest.NewRequest(http.MethodGet, "/v1/caller", nil))
	if res.StatusCode != http.StatusServiceUnavailable {
		t.Fatalf("status = %d, want 503", res.StatusCode)
	}
	if got := res.Header.Get("Retry-After"); got == "" {
		t.Error("no Retry-After on AUDIT_UNAVAILABLE")
	}
	if e := decodeError(t, res); e.reason() != "AUDIT_UNAVAILABLE" {
		t.Errorf("reason = %q, want AUDIT_UNAVAILABLE", e.reason())
	}
}

type failingAccess struct{}

func (failingAccess) PublishMsg(context.Context, *nats.Msg, ...jetstream.PublishOpt) (*jetstream.PubAck, error) {
	return nil, nats.ErrConnectionClosed
}
