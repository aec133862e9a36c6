package httpapi

import (
	"context"
	"net/http"
	"slices"
	"testing"

	"github.com/firmflow/firmflow/pkg/apierr"
	identityv1 "github.com/firmflow/firmflow/pkg/gen/firmflow/identity/v1"
)

const testFirm = "firms/0b0e5f6e-4c2a-4a37-9d0b-1f0e7f4b2a11"

func TestUnknownQueryParameterIsRefusedBeforeTheService(t *testing.T) {
	cases := []struct{ path, field string }{
		{"/v1/" + testFirm + "/members?page_size=1&filter=x", "filter"},
		{"/v1/" + testFirm + "/members?pageSize=1&page_token=&updated_since=2026", "updated_since"},
		{"/v1/caller?x=1", "x"},
		{"/v1/" + testFirm + "?name=other", "name"}, // bound to the path
	}
	for _, tc := range cases {
		t.Run(tc.path, func(t *testing.T) {
			identity := &fakeIdentity{}
			res := serve(newRESTForTest(t, identity), jsonRequest(http.MethodGet, tc.path, ""))
			if res.StatusCode != http.StatusBadRequest {
				t.Fatalf("status = %d, want 400", res.StatusCode)
			}
			if fields := decodeError(t, res).violatedFields(); !slices.Equal(fields, []string{tc.field}) {
				t.Errorf("violated fields = %v, want [%s]", fields, tc.field)
			}
			if identity.lastMetadata() != nil {
				t.Error("identity was called")
			}
		})
	}
	res := serve(newRESTForTest(t, &fakeIdentity{}), jsonRequest(http.MethodGet, "/v1/caller", ""))
	if res.StatusCode != http.StatusOK {
		t.Errorf("without parameters: status %d", res.StatusCode)
	}
}

// etagIdentity answers UpdateFirm as a firm at etag current would.
type etagIdentity struct {
	*fakeIdentity
	current string
	got     []string
}

func (f *etagIdentity) UpdateFirm(_ context.Context, req *identityv1.UpdateFirmRequest) (*identityv1.Firm, error) {
	f.got = append(f.got, req.GetFirm().GetEtag())
	if e := req.GetFirm().GetEtag(); e != "" && e != f.current {
		return nil, apierr.StaleEtag("firm")
	}
	return &identityv1.Firm{Name: testFirm, Etag: `"8"`}, nil
}

func TestIfMatchIsTheEtagAndAStaleOneIs412(t *testing.T) {
	identity := &etagIdentity{fakeIdentity: &fakeIdentity{}, current: `"7"`}
	mux := NewREST(Errors{Logger: discardLogger()})
	if err := identityv1.RegisterIdentityServiceHandlerServer(context.Background(), mux, identity); err != nil {
		t.Fatal(err)
	}
	patch := func(ifMatch, body string) *http.Response {
		r := jsonRequest(http.MethodPatch, "/v1/"+testFirm+"?update_mask=display_name", body)
		if ifMatch != "" {
			r.Header.Set(IfMatchHeader, ifMatch)
		}
		return serve(mux, r)
	}

	if res := patch(`"7"`, `{"display_name":"x"}`); res.StatusCode != http.StatusOK || res.Header.Get("ETag") != `"8"` {
		t.Errorf("current If-Match: status %d, ETag %q", res.StatusCode, res.Header.Get("ETag"))
	}
	if res := patch(`W/"7"`, `{"display_name":"x","etag":"\"1\""}`); res.StatusCode != http.StatusOK {
		t.Errorf("weak If-Match over a body etag: status %d", res.StatusCode)
	}
	res := patch(`"6"`, `{"display_name":"x"}`)
	if e := decodeError(t, res); res.StatusCode != http.StatusPreconditionFailed || e.Error.Code != 412 || e.Error.Status != "FAILED_PRECONDITION" || e.reason() != "ETAG_MISMATCH" {
		t.Errorf("stale If-Match: status %d, error %+v reason %s", res.StatusCode, e.Error, e.reason())
	}
	if res := patch("", `{"display_name":"x","etag":"\"6\""}`); res.StatusCode != http.StatusConflict {
		t.Errorf("stale body etag without If-Match: status %d, want 409", res.StatusCode)
	}
	if res := patch("*", `{"display_name":"x"}`); res.StatusCode != http.StatusOK {
		t.Errorf("If-Match *: status %d", res.StatusCode)
	}
	for _, bad := range []string{"7", `"7", "8"`, `"`} {
		if res := patch(bad, `{"display_name":"x"}`); res.StatusCode != http.StatusBadRequest {
			t.Errorf("If-Match %s: status %d, want 400", bad, res.StatusCode)
		}
	}
	if want := []string{`"7"`, `"7"`, `"6"`, `"6"`, ""}; !slices.Equal(identity.got, want) {
		t.Errorf("etags identity saw = %q, want %q", identity.got, want)
	}
}

func TestCreatedAnswersWithLocation(t *testing.T) {
	res := serve(newRESTForTest(t, &fakeIdentity{}), jsonRequest(http.MethodPost, "/v1/signup", `{"firm_display_name":"Ledger"}`))
	if res.StatusCode != http.StatusCreated || res.Header.Get("Location") != "/v1/"+testFirm {
		t.Errorf("sign-up: status %d, Location %q", res.StatusCode, res.Header.Get("Location"))
	}
}
