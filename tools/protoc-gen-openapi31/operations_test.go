package main

import (
	"reflect"
	"testing"
)

func TestExpandPathNamesEachIDAfterItsCollection(t *testing.T) {
	for _, tc := range []struct {
		template, path string
		params         []string
		bound          []string
	}{
		{"/v1/{name=firms/*/clients/*}", "/v1/firms/{firm}/clients/{client}", []string{"firm", "client"}, []string{"name"}},
		{"/v1/{client.name=firms/*/clients/*}", "/v1/firms/{firm}/clients/{client}", []string{"firm", "client"}, []string{"client.name"}},
		{"/v1/{parent=firms/*/clients/*}/contacts", "/v1/firms/{firm}/clients/{client}/contacts", []string{"firm", "client"}, []string{"parent"}},
		{"/v1/{name=firms/*/supportGrants/*}:approve", "/v1/firms/{firm}/supportGrants/{supportGrant}:approve", []string{"firm", "supportGrant"}, []string{"name"}},
		{"/v1/{capacity.name=firms/*/capacities/*}", "/v1/firms/{firm}/capacities/{capacity}", []string{"firm", "capacity"}, []string{"capacity.name"}},
		{"/v1/{name=firms/*/series/*}:run", "/v1/firms/{firm}/series/{series}:run", []string{"firm", "series"}, []string{"name"}},
		{"/v1/{name=firms/*/auditSettings}", "/v1/firms/{firm}/auditSettings", []string{"firm"}, []string{"name"}},
		{"/v1/{firm=firms/*}:requestDeletion", "/v1/firms/{firm}:requestDeletion", []string{"firm"}, []string{"firm"}},
		{"/v1/deletionCertificates/{token}", "/v1/deletionCertificates/{token}", []string{"token"}, []string{"token"}},
		{"/v1/{name=operations/*}", "/v1/operations/{operation}", []string{"operation"}, []string{"name"}},
		{"/v1/{name=a/*/a/*}", "/v1/a/{a}/a/{a2}", []string{"a", "a2"}, []string{"name"}},
		{"/v1/signup", "/v1/signup", nil, nil},
	} {
		path, params, bound := expandPath(tc.template)
		var names []string
		for _, p := range params {
			names = append(names, p.name)
		}
		if path != tc.path || !reflect.DeepEqual(names, tc.params) || !reflect.DeepEqual(bound, tc.bound) {
			t.Errorf("expandPath(%q) = %q %v %v, want %q %v %v", tc.template, path, names, bound, tc.path, tc.params, tc.bound)
		}
	}
}

func TestSecurityFollowsThePolicy(t *testing.T) {
	member := policy{roles: []string{"owner", "admin", "member"}, scope: "clients:write"}
	for _, tc := range []struct {
		name   string
		pol    policy
		verb   string
		want   []securityRequirement
		header bool
	}{
		{"public", policy{public: true}, "POST", []securityRequirement{}, false},
		{"member read", member, "GET", []securityRequirement{{"session": {}}, {"apiKey": {"clients:write"}}, {"staffSession": {}}}, true},
		{"member write", member, "POST", []securityRequirement{{"session": {}, "csrf": {}}, {"apiKey": {"clients:write"}}, {"staffSession": {}}}, true},
		{"no keys, no support", policy{roles: []string{"owner"}, noSupport: true}, "PATCH", []securityRequirement{{"session": {}, "csrf": {}}}, false},
		{"staff only", policy{staff: true}, "GET", []securityRequirement{{"staffSession": {}}}, false},
	} {
		if got := security(tc.pol, tc.verb); !reflect.DeepEqual(got, tc.want) {
			t.Errorf("%s: security = %v, want %v", tc.name, got, tc.want)
		}
		if got := tc.pol.supportGrant(); got != tc.header {
			t.Errorf("%s: X-Support-Grant = %v, want %v", tc.name, got, tc.header)
		}
	}
}

func TestSummaryIsTheFirstSentence(t *testing.T) {
	if got := summary("Returns one client. Needs clients read;\nCLIENT_VIEW_REVEALED also", "GetClient"); got != "Returns one client." {
		t.Errorf("summary = %q", got)
	}
	if got := summary("", "GetClient"); got != "GetClient" {
		t.Errorf("summary of no comment = %q", got)
	}
}
