package httpapi

import (
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

func TestBodyOverLimitIs400BodyTooLargeAndReachesNoHandler(t *testing.T) {
	cases := []struct {
		name          string
		contentLength int64 // -1: sent chunked, size unknown up front
	}{
		{"declared length", 11},
		{"chunked", -1},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			next := &recordingHandler{}
			r := jsonRequest(http.MethodPost, "/v1/signup", `{"a":"xxxx"}`)
			r.ContentLength = tc.contentLength
			if tc.contentLength < 0 {
				r.Body = io.NopCloser(strings.NewReader(`{"a":"xxxx"}`)) // hide the length
			}

			res := serve(LimitBody(10)(next), r)

			if res.StatusCode != http.StatusBadRequest {
				t.Fatalf("status = %d, want 400", res.StatusCode)
			}
			if e := decodeError(t, res); e.Error.Code != 400 || e.Error.Status != "INVALID_ARGUMENT" || e.reason() != "BODY_TOO_LARGE" {
				t.Errorf("error = %+v reason %q", e.Error, e.reason())
			}
			if next.calls != 0 {
				t.Error("the handler ran for a body over the limit")
			}
		})
	}
}

func TestBodyWithinLimitArrivesWhole(t *testing.T) {
	next := &recordingHandler{}
	r := jsonRequest(http.MethodPost, "/v1/signup", `{"a":"xxx"}`)
	r.ContentLength = -1

	res := serve(LimitBody(11)(next), r)

	if res.StatusCode != http.StatusOK || next.body != `{"a":"xxx"}` || next.last.ContentLength != 11 {
		t.Errorf("status %d, body %q, length %d", res.StatusCode, next.body, next.last.ContentLength)
	}
}

func TestBodyMustBeJSON(t *testing.T) {
	cases := []struct {
		name        string
		contentType string
		body        string
		want        int
	}{
		{"JSON", "application/json", `{}`, http.StatusOK},
		{"JSON with charset", "application/json; charset=utf-8", `{}`, http.StatusOK},
		{"form post from another site", "application/x-www-form-urlencoded", `email=a`, http.StatusBadRequest},
		{"text/plain post from another site", "text/plain", `{}`, http.StatusBadRequest},
		{"no type", "", `{}`, http.StatusBadRequest},
		{"no body", "", ``, http.StatusOK},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			next := &recordingHandler{}
			r := httptest.NewRequest(http.MethodPost, "/v1/logout", strings.NewReader(tc.body))
			if tc.contentType != "" {
				r.Header.Set("Content-Type", tc.contentType)
			}
			res := serve(RequireJSON(next), r)
			if res.StatusCode != tc.want {
				t.Errorf("status = %d, want %d", res.StatusCode, tc.want)
			}
			if tc.want != http.StatusOK && next.calls != 0 {
				t.Error("the handler ran for a refused body")
			}
		})
	}
}
