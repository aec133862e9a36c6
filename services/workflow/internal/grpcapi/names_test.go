package grpcapi

import (
	"context"
	"errors"
	"testing"

	"google.golang.org/grpc/codes"

	"github.com/firmflow/firmflow/pkg/apierr"
	workflowv1 "github.com/firmflow/firmflow/pkg/gen/firmflow/workflow/v1"
)

const (
	firmA  = "0190a1b2-c3d4-7e5f-8a9b-000000000001"
	firmB  = "0190a1b2-c3d4-7e5f-8a9b-000000000002"
	someID = "0190a1b2-c3d4-7e5f-8a9b-0000000000ff"
)

// TestNamesAreReadOneWay checks that both halves of the service answer a name the
// same way: a malformed name is INVALID_ARGUMENT naming the field, before any use
// case runs (the servers here have no app), and a well-formed reference to another
// firm's resource is NOT_FOUND, as for an id that does not exist.
func TestNamesAreReadOneWay(t *testing.T) {
	ctx := context.Background()
	s := &permissionServer{}
	clients, contacts := &clientServer{}, &contactServer{}
	projects, templates, series := &projectServer{}, &templateServer{}, &seriesServer{}
	bad := "firms/" + firmA + "/clients/not-a-uuid"
	cases := []struct {
		name  string
		call  func() error
		code  codes.Code
		field string
	}{
		{"client with a malformed id", func() error {
			_, err := clients.GetClient(ctx, &workflowv1.GetClientRequest{Name: bad})
			return err
		}, codes.InvalidArgument, "name"},
		{"contact with a malformed firm", func() error {
			_, err := contacts.GetContact(ctx, &workflowv1.GetContactRequest{Name: "firms/x/contacts/" + someID})
			return err
		}, codes.InvalidArgument, "name"},
		{"project with a malformed id", func() error {
			_, err := projects.GetProject(ctx, &workflowv1.GetProjectRequest{Name: "firms/" + firmA + "/projects/" + someID[:35]})
			return err
		}, codes.InvalidArgument, "name"},
		{"template with an upper-case id", func() error {
			_, err := templates.GetTemplate(ctx, &workflowv1.GetTemplateRequest{Name: "firms/" + firmA + "/templates/0190A1B2-C3D4-7E5F-8A9B-0000000000FF"})
			return err
		}, codes.InvalidArgument, "name"},
		{"series update naming the wrong collection", func() error {
			_, err := series.UpdateSeries(ctx, &workflowv1.UpdateSeriesRequest{Series: &workflowv1.Series{Name: "firms/" + firmA + "/projects/" + someID}})
			return err
		}, codes.InvalidArgument, "series.name"},
		{"permissions with a trailing segment", func() error {
			_, err := s.GetPermissions(ctx, &workflowv1.GetPermissionsRequest{Name: "firms/" + firmA + "/permissions/x"})
			return err
		}, codes.InvalidArgument, "name"},
		{"tasks of a malformed project", func() error {
			_, err := projects.ListTasks(ctx, &workflowv1.ListTasksRequest{Parent: "firms/" + firmA + "/projects/--"})
			return err
		}, codes.InvalidArgument, "parent"},
		{"client assignee malformed", func() error {
			_, err := clients.CreateClient(ctx, &workflowv1.CreateClientRequest{Parent: "firms/" + firmA,
				Client: &workflowv1.Client{DisplayName: "x", Assignees: []string{"firms/" + firmA + "/members/y"}}})
			return err
		}, codes.InvalidArgument, "client.assignees[0]"},
		{"another firm's contact linked", func() error {
			_, err := contacts.CreateClientContact(ctx, &workflowv1.CreateClientContactRequest{Parent: "firms/" + firmA + "/clients/" + someID,
				ClientContact: &workflowv1.ClientContact{Contact: "firms/" + firmB + "/contacts/" + someID}})
			return err
		}, codes.NotFound, ""},
		{"another firm's client on a project", func() error {
			_, err := projects.CreateProject(ctx, &workflowv1.CreateProjectRequest{Parent: "firms/" + firmA,
				Project: &workflowv1.Project{DisplayName: "x", Client: "firms/" + firmB + "/clients/" + someID}})
			return err
		}, codes.NotFound, ""},
		{"another firm's member as a client filter", func() error {
			_, err := clients.ListClients(ctx, &workflowv1.ListClientsRequest{Parent: "firms/" + firmA, Assignee: "firms/" + firmB + "/members/" + someID})
			return err
		}, codes.NotFound, ""},
		{"another firm's member on a client", func() error {
			_, err := clients.CreateClient(ctx, &workflowv1.CreateClientRequest{Parent: "firms/" + firmA,
				Client: &workflowv1.Client{DisplayName: "x", Assignees: []string{"firms/" + firmB + "/members/" + someID}}})
			return err
		}, codes.NotFound, ""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			err := tc.call()
			var e *apierr.Error
			if !errors.As(err, &e) || e.Code != tc.code {
				t.Fatalf("err = %v, want %v", err, tc.code)
			}
			if tc.field != "" && (len(e.Violations) != 1 || e.Violations[0].Field != tc.field || e.Violations[0].Rule != "resource_name") {
				t.Errorf("violations = %+v, want resource_name on %s", e.Violations, tc.field)
			}
		})
	}
}
