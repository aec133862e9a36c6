package grpcapi

import (
	"context"
	"testing"

	"google.golang.org/grpc/codes"
	"google.golang.org/protobuf/types/known/fieldmaskpb"

	"github.com/firmflow/firmflow/pkg/apierr"
	workflowv1 "github.com/firmflow/firmflow/pkg/gen/firmflow/workflow/v1"
)

// TestUpdatesRefuseUnknownPaths checks that a mask naming a field an update cannot
// change, or none at all, is refused before any use case runs (the servers here
// have no app).
func TestUpdatesRefuseUnknownPaths(t *testing.T) {
	ctx := context.Background()
	clients, contacts := &clientServer{}, &contactServer{}
	client := "firms/" + firmA + "/clients/" + someID
	mask := func(paths ...string) *fieldmaskpb.FieldMask { return &fieldmaskpb.FieldMask{Paths: paths} }
	for _, paths := range [][]string{{"id"}, {"firm_id"}, {"version"}, {"custom_fields.Bad-Key"}, {}, {"name", "etag"}} {
		_, err := clients.UpdateClient(ctx, &workflowv1.UpdateClientRequest{Client: &workflowv1.Client{Name: client}, UpdateMask: mask(paths...)})
		if !apierr.HasCode(err, codes.InvalidArgument) {
			t.Errorf("client paths %q: %v, want INVALID_ARGUMENT", paths, err)
		}
	}
	for _, paths := range [][]string{{"id"}, {}} {
		_, err := contacts.UpdateContact(ctx, &workflowv1.UpdateContactRequest{
			Contact: &workflowv1.Contact{Name: "firms/" + firmA + "/contacts/" + someID}, UpdateMask: mask(paths...)})
		if !apierr.HasCode(err, codes.InvalidArgument) {
			t.Errorf("contact paths %q: %v, want INVALID_ARGUMENT", paths, err)
		}
	}
	_, err := clients.UpdateCustomField(ctx, &workflowv1.UpdateCustomFieldRequest{
		CustomField: &workflowv1.CustomField{Name: "firms/" + firmA + "/customFields/" + someID}, UpdateMask: mask("firm_id")})
	if !apierr.HasCode(err, codes.InvalidArgument) {
		t.Errorf("custom field path firm_id: %v, want INVALID_ARGUMENT", err)
	}
	_, err = contacts.UpdateClientContact(ctx, &workflowv1.UpdateClientContactRequest{
		ClientContact: &workflowv1.ClientContact{Name: client + "/contacts/" + someID}, UpdateMask: mask("client")})
	if !apierr.HasCode(err, codes.InvalidArgument) {
		t.Errorf("client contact path client: %v, want INVALID_ARGUMENT", err)
	}
}
