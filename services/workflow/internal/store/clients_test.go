package store_test

import (
	"bytes"
	"context"
	"encoding/hex"
	"os"
	"os/exec"
	"strings"
	"testing"

	"github.com/google/uuid"

	"github.com/firmflow/firmflow/pkg/keystore/keystoretest"
	"github.com/firmflow/firmflow/pkg/pg/pgtest"
	"github.com/firmflow/firmflow/pkg/principal"
	"github.com/firmflow/firmflow/services/workflow/internal/app"
	"github.com/firmflow/firmflow/services/workflow/internal/domain"
	"github.com/firmflow/firmflow/services/workflow/internal/store"
	"github.com/firmflow/firmflow/services/workflow/migrations"
)

func TestWorkflowSchemaKeepsFirmsApart(t *testing.T) {
	t.Parallel()
	pgtest.CheckTenancy(t, pgtest.New(t, "workflow", migrations.FS))
}

// pgDump finds pg_dump of the server's major version.
func pgDump(t *testing.T) string {
	t.Helper()
	for _, path := range []string{"/usr/lib/postgresql/15/bin/pg_dump", "/usr/bin/pg_dump"} {
		if _, err := os.Stat(path); err == nil {
			return path
		}
	}
	if path, err := exec.LookPath("pg_dump"); err == nil {
		return path
	}
	t.Skip("pg_dump not installed")
	return ""
}

// TestDatabaseDumpHoldsNoSensitiveValue seeds clients whose tax ids, bank numbers
// and notes are canaries, through the app as a request would, then dumps the whole
// database as a backup would: no canary appears, neither as text nor as the hex
// form pg_dump writes bytea in. The blind index does not give the tax id away
// either: it is a keyed HMAC, not a hash anyone can recompute.
func TestDatabaseDumpHoldsNoSensitiveValue(t *testing.T) {
	t.Parallel()
	dump := pgDump(t)
	d := pgtest.New(t, "workflow", migrations.FS)
	keys := keystoretest.New(t, "workflow")
	a := app.New(store.New(d.Open(t)), keys)
	ctx := context.Background()
	firm := uuid.NewString()
	owner := principal.Principal{Kind: principal.KindUser, FirmID: firm, UserID: uuid.NewString(), Role: principal.RoleOwner}

	canaries := []domain.Sensitive{
		{TaxID: "900-71-3318", BankAccount: "CANARYACCT4417", BankRouting: "CANRT0931", Notes: "canary-note: owes the IRS 73 dollars"},
		{TaxID: "CANARYTAXID55", BankAccount: "GB29NWBK60161331926819", BankRouting: "NWBKGB2L", Notes: "canary-note-two"},
	}
	var wanted []string
	for i, s := range canaries {
		c, err := a.CreateClient(ctx, owner, firm, domain.Client{DisplayName: "Canary " + string(rune('A'+i)), Sensitive: s}, "")
		if err != nil {
			t.Fatal(err)
		}
		// An update re-seals: old and new values must both stay out of the dump.
		s.Notes += " (edited)"
		if _, err := a.UpdateClient(ctx, owner, firm, c.ID, domain.Client{Sensitive: s}, []string{"notes"}, ""); err != nil {
			t.Fatal(err)
		}
		wanted = append(wanted, s.TaxID, domain.NormalizeTaxID(s.TaxID), s.BankAccount, s.BankRouting, s.Notes, canaries[i].Notes)
	}
	csv := "display_name,tax_id,bank_account_number,notes\nImported Canary,771-00-4242,CANARYIMPORT88,canary-note-imported\n"
	if _, err := a.ImportClients(ctx, owner, firm, csv, "", false); err != nil {
		t.Fatal(err)
	}
	wanted = append(wanted, "771-00-4242", "771004242", "CANARYIMPORT88", "canary-note-imported")

	// The seeded values are really there, as the app reads them.
	found, err := a.LookupClientByTaxID(ctx, owner, firm, "771-00-4242", true)
	if err != nil || found.Sensitive.BankAccount != "CANARYIMPORT88" {
		t.Fatalf("seeded client not readable: %+v %v", found, err)
	}

	out, err := exec.CommandContext(ctx, dump, "--dbname="+d.AdminURL, "--data-only", "--no-owner").Output()
	if err != nil {
		t.Fatalf("pg_dump: %v", err)
	}
	if !bytes.Contains(out, []byte("COPY public.clients")) {
		t.Fatalf("dump has no clients table; is it the right database?\n%.500s", out)
	}
	// A control: what is not sensitive is stored in clear, so the search does find
	// seeded text when it is there.
	if !bytes.Contains(out, []byte("Imported Canary")) {
		t.Fatal("the dump lacks the imported client's name; the search below would prove nothing")
	}
	lower := bytes.ToLower(out)
	for _, canary := range wanted {
		for _, form := range []string{canary, hex.EncodeToString([]byte(canary))} {
			if bytes.Contains(lower, []byte(strings.ToLower(form))) {
				t.Errorf("the dump contains a canary (%d characters) in clear", len(canary))
			}
		}
	}
}
