package app

import (
	"bytes"
	"context"
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"google.golang.org/grpc/codes"
	"google.golang.org/protobuf/proto"

	"github.com/firmflow/firmflow/pkg/apierr"
	eventsv1 "github.com/firmflow/firmflow/pkg/gen/firmflow/events/v1"
	"github.com/firmflow/firmflow/pkg/paging"
	"github.com/firmflow/firmflow/pkg/pg"
	"github.com/firmflow/firmflow/pkg/principal"
	"github.com/firmflow/firmflow/services/workflow/internal/domain"
	"github.com/firmflow/firmflow/services/workflow/internal/store"
)

var taxed = domain.Client{
	DisplayName: "Ada Lovelace", Kind: domain.ClientPerson, Tags: []string{"1040"},
	Sensitive: domain.Sensitive{TaxID: "123-45-6789", BankAccount: "000123456789", BankRouting: "021000021", Notes: "prefers email"},
}

func TestClientTaxAndBankNumbersAreMaskedUnlessRevealedToThoseAllowed(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	ctx := context.Background()
	c := f.create(t, f.owner, taxed)
	if c.Sensitive.TaxID != "***-**-6789" || c.Sensitive.BankAccount != "********6789" || c.Sensitive.BankRouting != "*****0021" {
		t.Errorf("create returned %+v, want masked numbers", c.Sensitive)
	}
	if c.Sensitive.Notes != "prefers email" {
		t.Errorf("notes %q: notes are encrypted at rest, not hidden from the firm", c.Sensitive.Notes)
	}
	cases := []struct {
		who     string
		p       principal.Principal
		mayShow bool
	}{
		{"owner", f.owner, true},
		{"admin", f.admin, true},
		{"member", f.member, false},
		{"API key with clients:read", f.reader, false},
		{"API key with clients:write", f.writer, true},
	}
	for _, tc := range cases {
		masked, err := f.app.Client(ctx, tc.p, f.firm, c.ID, false)
		if err != nil || masked.Sensitive.TaxID != "***-**-6789" {
			t.Errorf("%s, masked view: %+v %v", tc.who, masked.Sensitive, err)
		}
		full, err := f.app.Client(ctx, tc.p, f.firm, c.ID, true)
		switch {
		case tc.mayShow && (err != nil || full.Sensitive != taxed.Sensitive):
			t.Errorf("%s, revealed view: %+v %v", tc.who, full.Sensitive, err)
		case !tc.mayShow && !apierr.HasCode(err, codes.PermissionDenied):
			t.Errorf("%s asked to reveal: err = %v, want PERMISSION_DENIED", tc.who, err)
		}
	}
	revealedEvents := f.events(t, f.firm, "client_revealed", func() proto.Message { return &eventsv1.ClientRevealed{} })
	if len(revealedEvents) != 3 {
		t.Errorf("%d client_revealed events, want one per reveal (3)", len(revealedEvents))
	}
}

func TestTaxIDLookupGoesThroughTheBlindIndexPerFirm(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	ctx := context.Background()
	c := f.create(t, f.owner, taxed)
	for _, written := range []string{"123-45-6789", "123 45 6789", "123456789", " 123.45.6789 "} {
		got, err := f.app.LookupClientByTaxID(ctx, f.member, f.firm, written, false)
		if err != nil || got.ID != c.ID {
			t.Errorf("lookup %q: %v %v", written, got.ID, err)
		}
		if got.Sensitive.TaxID != "***-**-6789" {
			t.Errorf("lookup returned %q unmasked", got.Sensitive.TaxID)
		}
	}
	_, err := f.app.LookupClientByTaxID(ctx, f.owner, f.firm, "987-65-4321", false)
	wantCode(t, err, codes.NotFound)

	dup := taxed
	dup.DisplayName, dup.Sensitive.TaxID = "Ada again", "123456789"
	_, err = f.app.CreateClient(ctx, f.owner, f.firm, dup, "")
	wantReason(t, err, "TAX_ID_TAKEN")

	// Another firm may have a client with the same tax id, and cannot find the first
	// firm's client by it: its data key, so its index, differs.
	if _, err := f.app.CreateClient(ctx, f.other, f.other.FirmID, dup, ""); err != nil {
		t.Fatalf("same tax id in another firm: %v", err)
	}
	theirs, err := f.app.LookupClientByTaxID(ctx, f.other, f.other.FirmID, "123-45-6789", false)
	if err != nil || theirs.ID == c.ID || theirs.FirmID != f.other.FirmID {
		t.Errorf("other firm's lookup found %+v, %v", theirs, err)
	}
}

func TestClientUpdatesFollowTheMaskAndTheEtag(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	ctx := context.Background()
	c := f.create(t, f.owner, taxed)
	etag := Etag(c.Version)

	u, err := f.app.UpdateClient(ctx, f.member, f.firm, c.ID, ClientPatch{DisplayName: ptr("Ada King"), TaxID: ptr("987-65-4321"), Etag: etag})
	if err != nil {
		t.Fatal(err)
	}
	if u.DisplayName != "Ada King" || u.Description != "" || u.Sensitive.TaxID != "***-**-4321" || u.Version != c.Version+1 {
		t.Errorf("updated %+v", u)
	}
	_, err = f.app.UpdateClient(ctx, f.member, f.firm, c.ID, ClientPatch{DisplayName: ptr("Late"), Etag: etag})
	wantReason(t, err, "ETAG_MISMATCH")

	// A masked value read back and written again is refused, never stored.
	_, err = f.app.UpdateClient(ctx, f.owner, f.firm, c.ID, ClientPatch{TaxID: ptr(u.Sensitive.TaxID)})
	wantCode(t, err, codes.InvalidArgument)
	if got := violations(err); !slices.Equal(got, []string{"client.tax_id"}) {
		t.Errorf("violations %v", got)
	}

	full, _ := f.app.Client(ctx, f.owner, f.firm, c.ID, true)
	if full.Sensitive.TaxID != "987-65-4321" || full.Sensitive.BankAccount != taxed.Sensitive.BankAccount {
		t.Errorf("after update: %+v", full.Sensitive)
	}
	if _, err := f.app.LookupClientByTaxID(ctx, f.owner, f.firm, "123-45-6789", false); !apierr.HasCode(err, codes.NotFound) {
		t.Errorf("the old tax id still finds the client: %v", err)
	}
	updates := f.events(t, f.firm, "client_updated", func() proto.Message { return &eventsv1.ClientUpdated{} })
	if len(updates) != 1 || !slices.Equal(updates[0].(*eventsv1.ClientUpdated).GetChangedFields(), []string{"display_name", "tax_id"}) {
		t.Errorf("client_updated events %v", updates)
	}

	// Clearing a sensitive field removes its ciphertext.
	if _, err := f.app.UpdateClient(ctx, f.owner, f.firm, c.ID, ClientPatch{TaxID: ptr(""), Notes: ptr("")}); err != nil {
		t.Fatal(err)
	}
	full, _ = f.app.Client(ctx, f.owner, f.firm, c.ID, true)
	if full.Sensitive.TaxID != "" || full.Sensitive.Notes != "" {
		t.Errorf("cleared fields read back as %+v", full.Sensitive)
	}
}

func TestRetriedCreateReturnsTheFirstClient(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	ctx := context.Background()
	first, err := f.app.CreateClient(ctx, f.writer, f.firm, domain.Client{DisplayName: "Babbage Ltd"}, "crm-42")
	if err != nil {
		t.Fatal(err)
	}
	again, err := f.app.CreateClient(ctx, f.writer, f.firm, domain.Client{DisplayName: "Babbage Ltd"}, "crm-42")
	if err != nil || again.ID != first.ID {
		t.Fatalf("retry created %s (first %s): %v", again.ID, first.ID, err)
	}
	list, _, err := f.app.Clients(ctx, f.owner, f.firm, domain.ClientFilter{}, paging.Page{Size: 10})
	if err != nil || len(list) != 1 {
		t.Errorf("%d clients after a retried create, %v", len(list), err)
	}
	if _, err := f.app.CreateContact(ctx, f.owner, f.firm, domain.Contact{DisplayName: "X"}, "crm-42"); !apierr.HasCode(err, codes.InvalidArgument) {
		t.Errorf("request id of a client reused for a contact: %v", err)
	}
}

func TestClientListPagesFiltersAndHonoursAssignedScope(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	ctx := context.Background()
	for i, name := range []string{"Grace", "Alan", "Edsger", "Barbara", "Donald", "Ken", "Frances"} {
		c := domain.Client{DisplayName: name}
		if i%2 == 0 {
			c.Tags = []string{"payroll"}
		}
		if i < 2 {
			c.Assignees = []string{f.member.UserID}
		}
		f.create(t, f.owner, c)
	}
	collect := func(p principal.Principal, filter domain.ClientFilter, size int) []string {
		t.Helper()
		var names []string
		page := paging.Page{Size: size}
		for range 10 {
			list, next, err := f.app.Clients(ctx, p, f.firm, filter, page)
			if err != nil {
				t.Fatal(err)
			}
			if len(list) > size {
				t.Fatalf("page of %d, size %d", len(list), size)
			}
			for _, c := range list {
				names = append(names, c.DisplayName)
			}
			if next == nil {
				return names
			}
			page.After = next
		}
		t.Fatal("pages never ended")
		return nil
	}
	if got := collect(f.owner, domain.ClientFilter{}, 3); !slices.Equal(got, []string{"Grace", "Alan", "Edsger", "Barbara", "Donald", "Ken", "Frances"}) {
		t.Errorf("oldest first in pages of 3: %v", got)
	}
	if got := collect(f.owner, domain.ClientFilter{Order: domain.ClientsByName}, 2); !slices.Equal(got, []string{"Alan", "Barbara", "Donald", "Edsger", "Frances", "Grace", "Ken"}) {
		t.Errorf("by name in pages of 2: %v", got)
	}
	if got := collect(f.owner, domain.ClientFilter{Order: domain.ClientsNewestFirst}, 4); got[0] != "Frances" || len(got) != 7 {
		t.Errorf("newest first: %v", got)
	}
	if got := collect(f.owner, domain.ClientFilter{Tag: "payroll"}, 3); !slices.Equal(got, []string{"Grace", "Edsger", "Donald", "Frances"}) {
		t.Errorf("tag payroll: %v", got)
	}
	if got := collect(f.owner, domain.ClientFilter{AssigneeID: f.member.UserID}, 3); !slices.Equal(got, []string{"Grace", "Alan"}) {
		t.Errorf("assigned to the member: %v", got)
	}
	if got := collect(f.owner, domain.ClientFilter{Tag: "payroll", AssigneeID: f.member.UserID, Order: domain.ClientsNewestFirst}, 1); !slices.Equal(got, []string{"Grace"}) {
		t.Errorf("tag and assignee, newest first: %v", got)
	}
	// Filters follow updates: Alan gains the tag, Grace loses it.
	byName := map[string]domain.Client{}
	everyone, _, _ := f.app.Clients(ctx, f.owner, f.firm, domain.ClientFilter{}, paging.Page{Size: 10})
	for _, c := range everyone {
		byName[c.DisplayName] = c
	}
	for name, tags := range map[string][]string{"Alan": {"payroll", "new"}, "Grace": nil} {
		if _, err := f.app.UpdateClient(ctx, f.owner, f.firm, byName[name].ID, ClientPatch{Tags: &tags}); err != nil {
			t.Fatal(err)
		}
	}
	if got := collect(f.owner, domain.ClientFilter{Tag: "payroll"}, 2); !slices.Equal(got, []string{"Alan", "Edsger", "Donald", "Frances"}) {
		t.Errorf("tag payroll after updates: %v", got)
	}
	if got := collect(f.owner, domain.ClientFilter{Tag: "payroll", Order: domain.ClientsByName}, 3); !slices.Equal(got, []string{"Alan", "Donald", "Edsger", "Frances"}) {
		t.Errorf("tag payroll by name: %v", got)
	}

	// With read scope "assigned", the member sees only their clients, and another
	// client is not found rather than forbidden.
	if _, err := f.app.SetPermissions(ctx, f.owner, f.firm, domain.Permissions{
		{Role: principal.RoleMember, Category: domain.CategoryClients, Action: domain.ActionRead}: domain.ScopeAssigned,
	}); err != nil {
		t.Fatal(err)
	}
	if got := collect(f.member, domain.ClientFilter{}, 5); !slices.Equal(got, []string{"Grace", "Alan"}) {
		t.Errorf("member with assigned scope lists %v", got)
	}
	all, _, _ := f.app.Clients(ctx, f.owner, f.firm, domain.ClientFilter{Order: domain.ClientsByName}, paging.Page{Size: 10})
	for _, c := range all {
		_, err := f.app.Client(ctx, f.member, f.firm, c.ID, false)
		if mine := c.AssignedTo(f.member.UserID); mine != (err == nil) {
			t.Errorf("member reading %s (assigned %v): %v", c.DisplayName, mine, err)
		} else if !mine {
			wantCode(t, err, codes.NotFound)
		}
	}
}

func TestCustomFieldValuesAreCheckedAgainstTheirDefinitions(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	ctx := context.Background()
	define := func(key string, typ domain.CustomFieldType, options ...string) domain.CustomField {
		t.Helper()
		d, err := f.app.CreateCustomField(ctx, f.admin, f.firm, domain.CustomField{Key: key, DisplayName: key, Type: typ, Options: options}, "")
		if err != nil {
			t.Fatalf("define %s: %v", key, err)
		}
		return d
	}
	define("year_end", domain.FieldDate)
	define("fee", domain.FieldNumber)
	define("vip", domain.FieldBoolean)
	define("manager", domain.FieldMember)
	entity := define("entity", domain.FieldSingleSelect, "LLC", "S-Corp", "Partnership")
	define("forms", domain.FieldMultiSelect, "1040", "1120", "941")
	_, err := f.app.CreateCustomField(ctx, f.admin, f.firm, domain.CustomField{Key: "fee", DisplayName: "Again", Type: domain.FieldText}, "")
	wantReason(t, err, "CUSTOM_FIELD_KEY_TAKEN")

	good := map[string]any{
		"year_end": "2025-12-31", "fee": 1200.5, "vip": true, "manager": "firms/" + f.firm + "/members/" + f.member.UserID,
		"entity": "LLC", "forms": []any{"1040", "941"},
	}
	c := f.create(t, f.owner, domain.Client{DisplayName: "Typed", CustomFields: good})
	got, _ := f.app.Client(ctx, f.owner, f.firm, c.ID, false)
	if len(got.CustomFields) != len(good) || got.CustomFields["fee"] != 1200.5 || got.CustomFields["entity"] != "LLC" {
		t.Errorf("read back %v", got.CustomFields)
	}

	bad := map[string]any{
		"year_end": "31/12/2025", "fee": "a lot", "vip": "yes", "manager": "firms/" + uuid.NewString() + "/members/" + f.member.UserID,
		"entity": "Trust", "forms": []any{"1040", "1040"}, "unknown": "x",
	}
	_, err = f.app.CreateClient(ctx, f.owner, f.firm, domain.Client{DisplayName: "Badly typed", CustomFields: bad}, "")
	wantCode(t, err, codes.InvalidArgument)
	if got := violations(err); len(got) != len(bad) {
		t.Errorf("violations %v, want one per bad value", got)
	}

	// One value changes through custom_fields.<key>; null removes it.
	u, err := f.app.UpdateClient(ctx, f.owner, f.firm, c.ID, ClientPatch{CustomValues: []CustomValue{{Key: "fee", Value: 900.0}, {Key: "vip"}}})
	if err != nil || u.CustomFields["fee"] != 900.0 || u.CustomFields["vip"] != nil || u.CustomFields["entity"] != "LLC" {
		t.Fatalf("partial custom update: %v %v", u.CustomFields, err)
	}

	_, err = f.app.UpdateCustomField(ctx, f.admin, f.firm, entity.ID, CustomFieldPatch{Options: &[]string{"S-Corp"}})
	wantReason(t, err, "OPTION_IN_USE")
	if _, err := f.app.UpdateCustomField(ctx, f.admin, f.firm, entity.ID, CustomFieldPatch{Options: &[]string{"LLC", "S-Corp"}}); err != nil {
		t.Errorf("removing an unused option: %v", err)
	}
	if err := f.app.DeleteCustomField(ctx, f.admin, f.firm, entity.ID, ""); err != nil {
		t.Fatal(err)
	}
	after, _ := f.app.Client(ctx, f.owner, f.firm, c.ID, false)
	if _, ok := after.CustomFields["entity"]; ok || after.Version == u.Version {
		t.Errorf("after deleting the definition: values %v, version %d (was %d)", after.CustomFields, after.Version, u.Version)
	}
}

const importCSV = "display_name,kind,tags,tax_id,bank_account_number,external_id,custom.fee\n" +
	"Ada Lovelace,person,1040;vip,123-45-6789,000123456789,crm-1,1200\n" +
	"\"Babbage, Charles\",business,,98-7654321,,crm-2,\n" +
	"\"'=HYPERLINK(\"\"x\"\")\",internal,,,,crm-3,\n"

func TestImportCreatesEveryRowOrNone(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	ctx := context.Background()
	if _, err := f.app.CreateCustomField(ctx, f.owner, f.firm, domain.CustomField{Key: "fee", DisplayName: "Fee", Type: domain.FieldNumber}, ""); err != nil {
		t.Fatal(err)
	}

	_, err := f.app.ImportClients(ctx, f.member, f.firm, importCSV, "", false)
	wantReason(t, err, "PERMISSION_NOT_GRANTED")

	broken := importCSV + "Dup,person,,123 45 6789,,crm-4,\n" + "Eve,alien,,12*4,,crm-5,lots\n"
	_, err = f.app.ImportClients(ctx, f.owner, f.firm, broken, "", false)
	wantReason(t, err, "IMPORT_ROWS_INVALID")
	want := []string{"rows[5].tax_id", "rows[6].custom.fee", "rows[6].kind", "rows[6].tax_id"}
	if got := violations(err); !slices.Equal(got, want) {
		t.Errorf("report names %v, want %v", got, want)
	}
	if list, _, _ := f.app.Clients(ctx, f.owner, f.firm, domain.ClientFilter{}, paging.Page{Size: 10}); len(list) != 0 {
		t.Fatalf("a failed import left %d clients", len(list))
	}

	check, err := f.app.ImportClients(ctx, f.owner, f.firm, importCSV, "", true)
	if err != nil || check.Count != 3 || check.Name != "" {
		t.Fatalf("validate only: %+v %v", check, err)
	}
	imp, err := f.app.ImportClients(ctx, f.owner, f.firm, importCSV, "import-1", false)
	if err != nil || imp.Count != 3 || len(imp.ClientIDs) != 3 {
		t.Fatalf("import: %+v %v", imp, err)
	}
	again, err := f.app.ImportClients(ctx, f.owner, f.firm, importCSV, "import-1", false)
	if err != nil || again.Name != imp.Name || !slices.Equal(again.ClientIDs, imp.ClientIDs) {
		t.Errorf("retried import: %+v %v", again, err)
	}
	ada, err := f.app.Client(ctx, f.owner, f.firm, imp.ClientIDs[0], true)
	if err != nil || ada.Sensitive.TaxID != "123-45-6789" || !slices.Equal(ada.Tags, []string{"1040", "vip"}) || ada.CustomFields["fee"] != 1200.0 {
		t.Errorf("imported row 2: %+v %v", ada, err)
	}
	formula, _ := f.app.Client(ctx, f.owner, f.firm, imp.ClientIDs[2], false)
	if formula.DisplayName != `=HYPERLINK("x")` {
		t.Errorf("guarded cell imported as %q", formula.DisplayName)
	}

	// The same rows again collide with the clients they made.
	_, err = f.app.ImportClients(ctx, f.owner, f.firm, importCSV, "", false)
	wantReason(t, err, "IMPORT_ROWS_INVALID")
	if got := violations(err); !slices.Contains(got, "rows[2].tax_id") || !slices.Contains(got, "rows[4].external_id") {
		t.Errorf("collisions reported as %v", got)
	}
	created := f.events(t, f.firm, "client_created", func() proto.Message { return &eventsv1.ClientCreated{} })
	if len(created) != 3 || created[0].(*eventsv1.ClientCreated).GetImport() != imp.Name {
		t.Errorf("client_created events %v", created)
	}
}

func TestExportNeedsTheExportPermissionAndMasksByDefault(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	ctx := context.Background()
	f.create(t, f.owner, taxed)
	f.create(t, f.owner, domain.Client{DisplayName: "-1+1", Tags: []string{"other"}})
	page := paging.Page{Size: 1000}

	_, err := f.app.ExportClients(ctx, f.member, f.firm, "csv", domain.ClientFilter{}, false, page)
	wantReason(t, err, "PERMISSION_NOT_GRANTED")
	_, err = f.app.ExportClients(ctx, f.reader, f.firm, "csv", domain.ClientFilter{}, true, page)
	wantReason(t, err, "REVEAL_NOT_ALLOWED")

	exp, err := f.app.ExportClients(ctx, f.owner, f.firm, "csv", domain.ClientFilter{}, false, page)
	if err != nil || len(exp.Clients) != 2 {
		t.Fatalf("export: %d clients, %v", len(exp.Clients), err)
	}
	var buf bytes.Buffer
	if err := domain.WriteClientCSV(&buf, exp.Clients, exp.CustomFields); err != nil {
		t.Fatal(err)
	}
	doc := buf.String()
	if strings.Contains(doc, "123-45-6789") || !strings.Contains(doc, "***-**-6789") || !strings.Contains(doc, "'-1+1") {
		t.Errorf("masked export:\n%s", doc)
	}
	full, err := f.app.ExportClients(ctx, f.admin, f.firm, "csv", domain.ClientFilter{Tag: "1040"}, true, page)
	if err != nil || len(full.Clients) != 1 || full.Clients[0].Sensitive.TaxID != "123-45-6789" {
		t.Errorf("revealed export filtered by tag: %+v %v", full.Clients, err)
	}
	exported := f.events(t, f.firm, "clients_exported", func() proto.Message { return &eventsv1.ClientsExported{} })
	if len(exported) != 2 || !exported[1].(*eventsv1.ClientsExported).GetRevealed() {
		t.Errorf("clients_exported events %v", exported)
	}
}

func TestContactsLinkToClientsWithOnePrimary(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	ctx := context.Background()
	c := f.create(t, f.owner, domain.Client{DisplayName: "Hopper & Co"})
	contact := func(name string) domain.Contact {
		t.Helper()
		k, err := f.app.CreateContact(ctx, f.member, f.firm, domain.Contact{
			DisplayName: name, Emails: []domain.ContactEmail{{Address: strings.ToLower(name) + "@example.com", Label: "work"}},
		}, "")
		if err != nil {
			t.Fatal(err)
		}
		return k
	}
	grace, alan := contact("Grace"), contact("Alan")
	link := func(k domain.Contact, primary bool) domain.ClientContact {
		t.Helper()
		l, err := f.app.LinkContact(ctx, f.member, f.firm, domain.ClientContact{ClientID: c.ID, ContactID: k.ID, Primary: primary, Relationship: "partner"})
		if err != nil {
			t.Fatal(err)
		}
		return l
	}
	if l := link(grace, false); !l.Primary {
		t.Error("the first contact did not become primary")
	}
	if l := link(alan, false); l.Primary {
		t.Error("a second contact became primary unasked")
	}
	_, err := f.app.LinkContact(ctx, f.member, f.firm, domain.ClientContact{ClientID: c.ID, ContactID: alan.ID})
	wantReason(t, err, "CONTACT_ALREADY_LINKED")
	primaryOf := func() string {
		got, err := f.app.Client(ctx, f.member, f.firm, c.ID, false)
		if err != nil {
			t.Fatal(err)
		}
		return got.PrimaryContactID
	}
	if primaryOf() != grace.ID {
		t.Error("client's primary contact is not Grace")
	}
	before, _ := f.app.Client(ctx, f.member, f.firm, c.ID, false)
	if _, err := f.app.UpdateClientContact(ctx, f.member, f.firm, c.ID, alan.ID, ClientContactPatch{Primary: ptr(true)}); err != nil {
		t.Fatal(err)
	}
	links, err := f.app.ClientContacts(ctx, f.member, f.firm, c.ID, nil)
	if err != nil || len(links) != 2 || links[0].ContactID != alan.ID || !links[0].Primary || links[1].Primary {
		t.Fatalf("links after making Alan primary: %+v %v", links, err)
	}
	after, _ := f.app.Client(ctx, f.member, f.firm, c.ID, false)
	if after.PrimaryContactID != alan.ID || after.Version == before.Version {
		t.Errorf("client after primary change: primary %s, version %d (was %d)", after.PrimaryContactID, after.Version, before.Version)
	}
	// Members cannot delete contacts by default; the owner can, and the links go too.
	err = f.app.DeleteContact(ctx, f.member, f.firm, alan.ID, "")
	wantCode(t, err, codes.PermissionDenied)
	if err := f.app.DeleteContact(ctx, f.owner, f.firm, alan.ID, ""); err != nil {
		t.Fatal(err)
	}
	if primaryOf() != "" {
		t.Error("a deleted contact is still primary")
	}
	if err := f.app.UnlinkContact(ctx, f.member, f.firm, c.ID, grace.ID); err != nil {
		t.Fatal(err)
	}
	if links, _ := f.app.ClientContacts(ctx, f.member, f.firm, c.ID, nil); len(links) != 0 {
		t.Errorf("links left: %+v", links)
	}
	if _, err := f.app.Contact(ctx, f.member, f.firm, grace.ID); err != nil {
		t.Errorf("unlinking deleted the contact: %v", err)
	}
}

func TestAnotherFirmsClientsContactsAndFieldsAreNotFound(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	ctx := context.Background()
	c := f.create(t, f.owner, taxed)
	k, err := f.app.CreateContact(ctx, f.owner, f.firm, domain.Contact{DisplayName: "Kept"}, "")
	if err != nil {
		t.Fatal(err)
	}
	def, err := f.app.CreateCustomField(ctx, f.owner, f.firm, domain.CustomField{Key: "k", DisplayName: "K", Type: domain.FieldText}, "")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.app.LinkContact(ctx, f.owner, f.firm, domain.ClientContact{ClientID: c.ID, ContactID: k.ID}); err != nil {
		t.Fatal(err)
	}
	o, theirs := f.other, f.other.FirmID
	mine := f.create(t, o, domain.Client{DisplayName: "Intruder's own"})
	checks := map[string]error{}
	_, checks["get via victim firm"] = f.app.Client(ctx, o, f.firm, c.ID, false)
	_, checks["get via own firm"] = f.app.Client(ctx, o, theirs, c.ID, true)
	_, checks["update"] = f.app.UpdateClient(ctx, o, theirs, c.ID, ClientPatch{DisplayName: ptr("pwned")})
	checks["delete"] = f.app.DeleteClient(ctx, o, theirs, c.ID, "")
	_, checks["lookup"] = f.app.LookupClientByTaxID(ctx, o, f.firm, "123-45-6789", true)
	_, checks["contact"] = f.app.Contact(ctx, o, theirs, k.ID)
	_, checks["update contact"] = f.app.UpdateContact(ctx, o, theirs, k.ID, ContactPatch{DisplayName: ptr("x")})
	checks["delete contact"] = f.app.DeleteContact(ctx, o, theirs, k.ID, "")
	_, checks["link their contact to my client"] = f.app.LinkContact(ctx, o, theirs, domain.ClientContact{ClientID: mine.ID, ContactID: k.ID})
	_, checks["list links"] = f.app.ClientContacts(ctx, o, theirs, c.ID, nil)
	checks["unlink"] = f.app.UnlinkContact(ctx, o, theirs, c.ID, k.ID)
	_, checks["field"] = f.app.CustomField(ctx, o, theirs, def.ID)
	_, checks["update field"] = f.app.UpdateCustomField(ctx, o, theirs, def.ID, CustomFieldPatch{DisplayName: ptr("x")})
	checks["delete field"] = f.app.DeleteCustomField(ctx, o, theirs, def.ID, "")
	_, checks["import into victim"] = f.app.ImportClients(ctx, o, f.firm, importCSV, "", false)
	_, checks["export victim"] = f.app.ExportClients(ctx, o, f.firm, "csv", domain.ClientFilter{}, false, paging.Page{Size: 10})
	for name, err := range checks {
		if !apierr.HasCode(err, codes.NotFound) {
			t.Errorf("%s across firms: err = %v, want NOT_FOUND", name, err)
		}
	}
	got, err := f.app.Client(ctx, f.owner, f.firm, c.ID, true)
	if err != nil || got.DisplayName != taxed.DisplayName || got.Sensitive != taxed.Sensitive || got.PrimaryContactID != k.ID {
		t.Errorf("victim's client changed: %+v %v", got, err)
	}
	if list, _, _ := f.app.Clients(ctx, o, theirs, domain.ClientFilter{}, paging.Page{Size: 10}); len(list) != 1 {
		t.Errorf("intruder lists %d clients, want only their own", len(list))
	}
}

func TestEventsNameChangedFieldsNeverSensitiveValues(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	ctx := context.Background()
	canary := domain.Sensitive{TaxID: "CANARY-TAX-7A1", BankAccount: "CANARY-BANK-7A2", BankRouting: "CANARY-RT-7A3", Notes: "canary note 7A4"}
	c := f.create(t, f.owner, domain.Client{DisplayName: "Canary", Sensitive: canary})
	if _, err := f.app.UpdateClient(ctx, f.owner, f.firm, c.ID, ClientPatch{TaxID: ptr("CANARY-TAX-7B1"), Notes: ptr("canary note 7B4")}); err != nil {
		t.Fatal(err)
	}
	if _, err := f.app.Client(ctx, f.owner, f.firm, c.ID, true); err != nil {
		t.Fatal(err)
	}
	conn, err := pgx.Connect(ctx, f.db.AdminURL)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	rows, _ := conn.Query(ctx, "select payload from outbox")
	payloads, err := pgx.CollectRows(rows, pgx.RowTo[[]byte])
	if err != nil || len(payloads) < 3 {
		t.Fatalf("%d events, %v", len(payloads), err)
	}
	for _, p := range payloads {
		for _, needle := range []string{"CANARY-", "canary note"} {
			if bytes.Contains(p, []byte(needle)) {
				t.Errorf("an event payload contains %q: %q", needle, p)
			}
		}
	}
}

func TestLargeExportsEndPagesEarlyAndLoseNoClient(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	ctx := context.Background()
	var b strings.Builder
	b.WriteString("display_name,notes\n")
	const n = 80
	for i := range n {
		fmt.Fprintf(&b, "Client %02d,%s\n", i, strings.Repeat("long note ", 900))
	}
	if _, err := f.app.ImportClients(ctx, f.owner, f.firm, b.String(), "", false); err != nil {
		t.Fatal(err)
	}
	seen := map[string]bool{}
	page := paging.Page{Size: 1000}
	pages := 0
	for {
		exp, err := f.app.ExportClients(ctx, f.owner, f.firm, "json", domain.ClientFilter{}, false, page)
		if err != nil {
			t.Fatal(err)
		}
		pages++
		size := 0
		for _, c := range exp.Clients {
			if seen[c.ID] {
				t.Fatalf("client %s exported twice", c.DisplayName)
			}
			seen[c.ID] = true
			size += c.ExportSize()
		}
		if size > MaxExportBytes+domain.MaxClientNotes*3 {
			t.Errorf("page of %d bytes", size)
		}
		if exp.Next == nil {
			break
		}
		page.After = exp.Next
	}
	if len(seen) != n || pages < 2 {
		t.Errorf("%d clients in %d pages, want %d in several", len(seen), pages, n)
	}
}

// TestOpenSampleOpensSealedFieldsAcrossFirms is what the restore drill runs on
// restored copies of the database and key store, as an administrator: sealed fields of
// clients of every firm open, and a ciphertext that does not open is an error naming
// the field, never the value.
func TestOpenSampleOpensSealedFieldsAcrossFirms(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	ada := f.create(t, f.owner, taxed)
	theirs := taxed
	theirs.DisplayName = "Another firm's client"
	f.create(t, f.other, theirs)
	admin, err := pg.Open(ctx, f.db.AdminURL)
	if err != nil {
		t.Fatal(err)
	}
	defer admin.Close()
	a := New(store.New(admin), f.app.keys)
	clients, firms, err := a.OpenSample(ctx, 10)
	if err != nil || clients != 2 || firms != 2 {
		t.Fatalf("OpenSample = %d clients of %d firms, %v; want 2 of 2", clients, firms, err)
	}
	if _, err := admin.Pool.Exec(ctx, "update clients set notes = tax_id where id = $1", ada.ID); err != nil {
		t.Fatal(err)
	}
	_, _, err = a.OpenSample(ctx, 10)
	if err == nil || !strings.Contains(err.Error(), "notes") || strings.Contains(err.Error(), taxed.Sensitive.TaxID) {
		t.Fatalf("OpenSample after moving a ciphertext = %v, want an error naming notes and not the value", err)
	}
}
