package domain

import (
	"bytes"
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/google/uuid"
)

var csvFirm = uuid.NewString()

var csvDefs = map[string]CustomField{
	"fee":   {Key: "fee", FirmID: csvFirm, Type: FieldNumber},
	"forms": {Key: "forms", FirmID: csvFirm, Type: FieldMultiSelect, Options: []string{"1040", "941"}},
	"vip":   {Key: "vip", FirmID: csvFirm, Type: FieldBoolean},
}

func problemFields(t *testing.T, data string) []string {
	t.Helper()
	rows, problems := ParseClientCSV(data, csvFirm, csvDefs)
	if len(problems) > 0 && rows != nil {
		t.Errorf("rows returned with problems")
	}
	var out []string
	for _, p := range problems {
		out = append(out, p.Field)
	}
	return out
}

func TestCSVImportReadsEveryColumn(t *testing.T) {
	member := uuid.NewString()
	data := "\ufeffName,Display_Name,KIND,priority,assignees,services,tags,external_id,tax_id,bank_account_number,bank_routing_number,notes,description,custom.fee,custom.forms,custom.vip\r\n" +
		"firms/x/clients/y,Ada,person,high,firms/" + csvFirm + "/members/" + member + ",bookkeeping; payroll,a;b,crm-1,123-45-6789,0001,021000021,\"two\nlines\",desc,12.5,1040;941,yes\r\n" +
		",,,,,,,,,,,,,,,\r\n" + // blank rows are skipped
		",Babbage,,,,,,,,,,,,,,\r\n"
	rows, problems := ParseClientCSV(data, csvFirm, csvDefs)
	if len(problems) > 0 {
		t.Fatalf("problems: %v", problems)
	}
	if len(rows) != 2 || rows[0].Line != 2 || rows[1].Line != 5 {
		t.Fatalf("rows %+v", rows)
	}
	ada := rows[0].Client
	if ada.DisplayName != "Ada" || ada.Kind != ClientPerson || ada.Priority != PriorityHigh ||
		!slices.Equal(ada.Assignees, []string{member}) || !slices.Equal(ada.Services, []string{"bookkeeping", "payroll"}) ||
		!slices.Equal(ada.Tags, []string{"a", "b"}) || ada.ExternalID != "crm-1" || ada.Description != "desc" ||
		ada.Sensitive != (Sensitive{TaxID: "123-45-6789", BankAccount: "0001", BankRouting: "021000021", Notes: "two\nlines"}) {
		t.Errorf("Ada = %+v", ada)
	}
	if ada.CustomFields["fee"] != 12.5 || ada.CustomFields["vip"] != true || fmt.Sprint(ada.CustomFields["forms"]) != "[1040 941]" {
		t.Errorf("custom fields %v", ada.CustomFields)
	}
	if b := rows[1].Client; b.Kind != ClientBusiness || b.Priority != PriorityNormal {
		t.Errorf("defaults not applied: %+v", b)
	}
}

func TestCSVImportReportsEachBadCellByLineAndColumn(t *testing.T) {
	cases := []struct {
		name string
		data string
		want []string
	}{
		{"no header", "", []string{"rows[1]"}},
		{"unknown and duplicate columns", "display_name,colour,display_name,custom.nope\nA,red,B,x\n",
			[]string{"rows[1].column2", "rows[1].display_name", "rows[1].custom.nope"}},
		{"missing display_name column", "tax_id\n123\n", []string{"rows[1].display_name"}},
		{"no rows", "display_name\n", []string{"rows[2]"}},
		{"bad cells", "display_name,kind,tax_id,custom.fee,custom.forms,assignees\n" +
			"Ok,person,1,1,1040,\n" +
			",alien,***-**-6789,ten,1120,firms/other/members/" + uuid.NewString() + "\n",
			[]string{"rows[3].custom.fee", "rows[3].custom.forms", "rows[3].assignees", "rows[3].display_name", "rows[3].kind", "rows[3].tax_id"}},
		{"duplicates inside the file", "display_name,tax_id,external_id\nA,12-3456789,x\nB,123456789,y\nC,,x\n",
			[]string{"rows[3].tax_id", "rows[4].external_id"}},
		{"wrong number of cells", "display_name,tax_id\nA\nB,1,2\nC,3\n", []string{"rows[2]", "rows[3]"}},
		{"broken quoting", "display_name\n\"unterminated\n", []string{"rows[2]"}},
		{"quoted line breaks keep line numbers", "display_name,description,kind\nA,\"multi\nline\",person\nX,,alien\n", []string{"rows[4].kind"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if got := problemFields(t, tc.data); !slices.Equal(got, tc.want) {
				t.Errorf("problems at %v, want %v", got, tc.want)
			}
		})
	}
}

func TestCSVImportRefusesTooManyRowsAndCapsItsReport(t *testing.T) {
	var b strings.Builder
	b.WriteString("display_name\n")
	for i := range MaxImportRows + 1 {
		fmt.Fprintf(&b, "client %d\n", i)
	}
	if got := problemFields(t, b.String()); !slices.Equal(got, []string{fmt.Sprintf("rows[%d]", MaxImportRows+2)}) {
		t.Errorf("too many rows: %v", got)
	}
	b.Reset()
	b.WriteString("display_name,kind\n")
	for range MaxImportProblems + 50 {
		b.WriteString("x,alien\n")
	}
	got := problemFields(t, b.String())
	if len(got) != MaxImportProblems+1 || got[len(got)-1] != "rows" {
		t.Errorf("report of %d entries ending %q", len(got), got[len(got)-1])
	}
}

func TestCSVExportGuardsFormulasAndImportsBackTheSame(t *testing.T) {
	firm, member := uuid.NewString(), uuid.NewString()
	defs := []CustomField{{Key: "fee", FirmID: firm, Type: FieldNumber}, {Key: "forms", FirmID: firm, Type: FieldMultiSelect, Options: []string{"1040", "941"}}}
	clients := []Client{{
		ID: uuid.NewString(), FirmID: firm, DisplayName: "=cmd|' /C calc'!A0", Kind: ClientBusiness, Priority: PriorityLow,
		Description: "+1 555", Assignees: []string{member}, Tags: []string{"@home", "x"}, ExternalID: "-5",
		Sensitive:    Sensitive{TaxID: "12-3456789", Notes: "line\nbreak, \"quoted\""},
		CustomFields: map[string]any{"fee": -1200.5, "forms": []any{"1040", "941"}},
	}}
	var buf bytes.Buffer
	if err := WriteClientCSV(&buf, clients, defs); err != nil {
		t.Fatal(err)
	}
	doc := buf.String()
	for _, cell := range []string{"'=cmd", "'+1 555", "'@home", "'-5", "'-1200.5"} {
		if !strings.Contains(doc, cell) {
			t.Errorf("export lacks guarded cell %q:\n%s", cell, doc)
		}
	}
	byKey := map[string]CustomField{}
	for _, d := range defs {
		byKey[d.Key] = d
	}
	rows, problems := ParseClientCSV(doc, firm, byKey)
	if len(problems) > 0 || len(rows) != 1 {
		t.Fatalf("re-import: %v", problems)
	}
	back, orig := rows[0].Client, clients[0]
	if back.DisplayName != orig.DisplayName || back.Description != orig.Description || !slices.Equal(back.Tags, orig.Tags) ||
		back.ExternalID != orig.ExternalID || back.Sensitive != orig.Sensitive || !slices.Equal(back.Assignees, orig.Assignees) ||
		back.CustomFields["fee"] != -1200.5 || fmt.Sprint(back.CustomFields["forms"]) != "[1040 941]" {
		t.Errorf("round trip changed the client:\n got %+v\nwant %+v", back, orig)
	}
}

// FuzzParseClientCSV feeds arbitrary files to the import: it never panics, answers
// either rows or problems, names every problem's cell as rows[<line>][.<column>] (or
// "rows" for the count of those not shown), and never returns more rows than allowed.
func FuzzParseClientCSV(f *testing.F) {
	f.Add("display_name,tax_id,tags\nAcme,123-45-6789,a;b\n")
	f.Add("\ufeffdisplay_name,custom.fee,custom.vip\n\"Quote \"\"d\"\"\",12.5,true\n")
	f.Add("display_name\n\"unterminated\n")
	f.Add("display_name,kind\nA\nB,KIND_PERSON,extra\n")
	f.Add("display_name,custom.nope,display_name\n")
	f.Add("display_name,external_id\nA,x\nB,x\n")
	f.Add("'=cmd|' /C calc'!A0,display_name\n=1+1,@SUM(A1)\n")
	f.Add("")
	f.Fuzz(func(t *testing.T, data string) {
		rows, problems := ParseClientCSV(data, csvFirm, csvDefs)
		if (len(rows) == 0) == (len(problems) == 0) {
			t.Fatalf("%d rows and %d problems: want exactly one of them", len(rows), len(problems))
		}
		if len(rows) > MaxImportRows || len(problems) > MaxImportProblems+1 {
			t.Fatalf("%d rows, %d problems: over the limits", len(rows), len(problems))
		}
		for _, p := range problems {
			if p.Field != "rows" && !strings.HasPrefix(p.Field, "rows[") || p.Rule == "" || p.Description == "" {
				t.Fatalf("problem %+v does not name its cell and rule", p)
			}
		}
		for _, r := range rows {
			if r.Line < 2 || r.Client.DisplayName == "" {
				t.Fatalf("row %+v: before the header or without a name", r)
			}
		}
	})
}
