package httpapi

import (
	"context"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"google.golang.org/protobuf/proto"

	eventsv1 "github.com/firmflow/firmflow/pkg/gen/firmflow/events/v1"
)

// capturedAccess is an AccessPublisher that keeps what it was given, decoded.
type capturedAccess struct {
	mu     sync.Mutex
	events []*eventsv1.AccessEvent
}

func (c *capturedAccess) PublishMsg(_ context.Context, msg *nats.Msg, _ ...jetstream.PublishOpt) (*jetstream.PubAck, error) {
	events, err := decodeAccess(msg.Subject, msg.Data)
	if err != nil {
		return nil, err
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	c.events = append(c.events, events...)
	return &jetstream.PubAck{Stream: "test"}, nil
}

// decodeAccess reads the events of a message on AccessSubject or AccessBatchSubject.
func decodeAccess(subject string, data []byte) ([]*eventsv1.AccessEvent, error) {
	if subject == AccessBatchSubject {
		var batch eventsv1.AccessEventBatch
		err := proto.Unmarshal(data, &batch)
		return batch.GetEvents(), err
	}
	e := &eventsv1.AccessEvent{}
	err := proto.Unmarshal(data, e)
	return []*eventsv1.AccessEvent{e}, err
}

func (c *capturedAccess) recorded() []*eventsv1.AccessEvent {
	c.mu.Lock()
	defer c.mu.Unlock()
	return slices.Clone(c.events)
}

func TestInvalidUTF8IsA400NamingTheFieldAndIsRecorded(t *testing.T) {
	cases := []struct {
		name      string
		req       *http.Request
		field     string
		resources []string
	}{
		{"path", httptest.NewRequest(http.MethodGet, "/v1/firms/%ff", nil), "name", []string{"firms/%FF"}},
		{"path with a surrogate", httptest.NewRequest(http.MethodGet, "/v1/firms/%ED%A0%80", nil), "name", []string{"firms/%ED%A0%80"}},
		{"query value", httptest.NewRequest(http.MethodGet, "/v1/firms/f1/members?page_token=%ED%BF%BF", nil), "page_token", []string{"firms/f1/members"}},
		{"query name", httptest.NewRequest(http.MethodGet, "/v1/firms/f1/members?order%ff=x", nil), "order%FF", []string{"firms/f1/members"}},
		{"body", jsonRequest(http.MethodPost, "/v1/signup", "{\"firm_display_name\":\"Ledger \xff Co\"}"), "firm_display_name", []string{"signup"}},
		{"nested body", jsonRequest(http.MethodPost, "/v1/signup", "{\"display_name\":\"Ada\",\"x\":[{\"y\":\"\xc3\"}]}"), "x[0].y", []string{"signup"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			identity := &fakeIdentity{}
			access := &capturedAccess{}
			h := Track(discardLogger(), nil)(RecordAccess(access, discardLogger())(newRESTForTest(t, identity)))

			res := serve(h, tc.req)
			if res.StatusCode != http.StatusBadRequest {
				t.Fatalf("status = %d, want 400", res.StatusCode)
			}
			e := decodeError(t, res)
			if got := e.violatedFields(); !slices.Equal(got, []string{tc.field}) {
				t.Errorf("violated fields = %v, want [%s]", got, tc.field)
			}
			if !strings.Contains(e.Error.Message, "UTF-8") {
				t.Errorf("message = %q, want it to say UTF-8", e.Error.Message)
			}
			if md := identity.lastMetadata(); md != nil {
				t.Error("the request reached the service")
			}
			events := access.recorded()
			if len(events) != 1 {
				t.Fatalf("%d access events, want 1", len(events))
			}
			if got := events[0]; got.GetHttpStatus() != 400 || got.GetGrpcCode() != "INVALID_ARGUMENT" || !slices.Equal(got.GetResources(), tc.resources) {
				t.Errorf("access event = status %d code %s resources %q, want 400 INVALID_ARGUMENT %q",
					got.GetHttpStatus(), got.GetGrpcCode(), got.GetResources(), tc.resources)
			}
		})
	}
}

func TestValidUTF8PassesTheCheck(t *testing.T) {
	identity := &fakeIdentity{}
	access := &capturedAccess{}
	h := Track(discardLogger(), nil)(RecordAccess(access, discardLogger())(newRESTForTest(t, identity)))
	res := serve(h, jsonRequest(http.MethodPost, "/v1/signup", `{"firm_display_name":"Müller & Søn ✓","display_name":"Zoë"}`))
	if res.StatusCode != http.StatusCreated {
		t.Fatalf("status = %d, want 201", res.StatusCode)
	}
	if len(access.recorded()) != 1 {
		t.Fatal("no access event")
	}
}

// TestNULInAParameterIsA400NamingIt: a NUL is valid UTF-8 but no PostgreSQL text holds
// it; the hostile-input generator found a NUL in auditEvents' resource filter
// answering 500.
func TestNULInAParameterIsA400NamingIt(t *testing.T) {
	for name, tc := range map[string]struct {
		path, field string
	}{
		"query value": {"/v1/firms/f1/members?page_token=%00", "page_token"},
		"query name":  {"/v1/firms/f1/members?order%00=x", "order%00"},
		"path":        {"/v1/firms/a%00b", "name"},
	} {
		t.Run(name, func(t *testing.T) {
			identity := &fakeIdentity{}
			res := serve(newRESTForTest(t, identity), httptest.NewRequest(http.MethodGet, tc.path, nil))
			if res.StatusCode != http.StatusBadRequest {
				t.Fatalf("status = %d, want 400", res.StatusCode)
			}
			if got := decodeError(t, res).violatedFields(); !slices.Equal(got, []string{tc.field}) {
				t.Errorf("violated fields = %v, want [%s]", got, tc.field)
			}
			if identity.lastMetadata() != nil {
				t.Error("the request reached the service")
			}
		})
	}
}
