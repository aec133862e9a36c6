package domain

import (
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"

	"github.com/firmflow/firmflow/pkg/apierr"
	"github.com/firmflow/firmflow/pkg/csvguard"
)

// Limits of a CSV import.
const (
	MaxImportRows     = 5000
	MaxImportProblems = 100 // reported; the rest are counted
)

// ClientCSVColumns are the standard columns of client CSV files, in export order.
// Custom fields follow as "custom.<key>". Exports start with "name", which imports
// accept and ignore, so an exported file can be edited and imported elsewhere.
var ClientCSVColumns = []string{
	"display_name", "kind", "description", "priority", "assignees", "services", "tags", "external_id",
	"tax_id", "bank_account_number", "bank_routing_number", "notes",
}

const customColumnPrefix = "custom."

// ImportRow is one data row of a CSV import as a client to create.
type ImportRow struct {
	Line   int // line of the file where the row starts; the header is line 1
	Client Client
}

// ParseClientCSV reads a client import: a header naming the columns, then one client
// per row. It checks every row and returns all rows, or the problems found, each
// named "rows[<line>].<column>" so a spreadsheet user can find the cell. defs are the
// firm's custom fields by key.
func ParseClientCSV(data, firmID string, defs map[string]CustomField) ([]ImportRow, []apierr.FieldViolation) {
	report := &importReport{}
	r := csv.NewReader(strings.NewReader(strings.TrimPrefix(data, "\ufeff")))
	r.ReuseRecord = false
	header, err := r.Read()
	if err != nil {
		report.add(1, "", "csv.header", "the first line must name the columns, e.g. display_name,tax_id,tags")
		return nil, report.problems()
	}
	columns := parseHeader(header, defs, report)
	if report.count > 0 {
		// Rows read through a wrong header would only repeat its problems.
		return nil, report.problems()
	}
	r.FieldsPerRecord = len(header)

	var rows []ImportRow
	taxIDs, externalIDs := map[string]int{}, map[string]int{}
	for {
		record, err := r.Read()
		if errors.Is(err, io.EOF) {
			break
		}
		var parseErr *csv.ParseError
		if errors.As(err, &parseErr) {
			if errors.Is(parseErr.Err, csv.ErrFieldCount) {
				report.add(parseErr.StartLine, "", "csv.field_count", fmt.Sprintf("has %d cells, the header has %d", len(record), len(header)))
				continue
			}
			report.add(parseErr.StartLine, "", "csv.syntax", "not valid CSV: "+parseErr.Err.Error())
			break
		}
		if err != nil {
			report.add(len(rows)+2, "", "csv.syntax", "not valid CSV")
			break
		}
		line, _ := r.FieldPos(0)
		if blankRecord(record) {
			continue
		}
		if len(rows) == MaxImportRows {
			report.add(line, "", "csv.max_rows", fmt.Sprintf("an import has at most %d rows", MaxImportRows))
			break
		}
		c := clientFromRecord(record, columns, firmID, defs, line, report)
		rows = append(rows, ImportRow{Line: line, Client: c})
		if c.ExternalID != "" {
			if first, ok := externalIDs[c.ExternalID]; ok {
				report.add(line, "external_id", "csv.unique", fmt.Sprintf("the same external id as line %d", first))
			}
			externalIDs[c.ExternalID] = line
		}
		if n := NormalizeTaxID(c.Sensitive.TaxID); n != "" {
			if first, ok := taxIDs[n]; ok {
				report.add(line, "tax_id", "csv.unique", fmt.Sprintf("the same tax id as line %d", first))
			}
			taxIDs[n] = line
		}
	}
	if len(rows) == 0 && report.count == 0 {
		report.add(2, "", "csv.rows", "no clients to import")
	}
	if report.count > 0 {
		return nil, report.problems()
	}
	return rows, nil
}

// importReport gathers problems up to MaxImportProblems and counts the rest.
type importReport struct {
	list  []apierr.FieldViolation
	count int
}

func (r *importReport) add(line int, column, rule, desc string) {
	r.count++
	if len(r.list) >= MaxImportProblems {
		return
	}
	field := fmt.Sprintf("rows[%d]", line)
	if column != "" {
		field += "." + column
	}
	r.list = append(r.list, apierr.FieldViolation{Field: field, Rule: rule, Description: desc})
}

func (r *importReport) problems() []apierr.FieldViolation {
	out := r.list
	if r.count > len(out) {
		out = append(out, apierr.FieldViolation{Field: "rows", Rule: "csv.problems", Description: fmt.Sprintf("%d more problems not shown", r.count-len(out))})
	}
	return out
}

// parseHeader maps each column to the field it fills ("" for ignored ones).
func parseHeader(header []string, defs map[string]CustomField, report *importReport) []string {
	columns := make([]string, len(header))
	seen := map[string]bool{}
	for i, h := range header {
		col := strings.ToLower(strings.TrimSpace(h))
		_, custom := defs[strings.TrimPrefix(col, customColumnPrefix)]
		switch {
		case seen[col]:
			report.add(1, csvColumnLabel(col, i), "csv.header", "the column appears twice")
		case col == "name":
			// Exports carry the client's name; an import makes new clients.
		case slices.Contains(ClientCSVColumns, col), strings.HasPrefix(col, customColumnPrefix) && custom:
			seen[col] = true
			columns[i] = col
		case strings.HasPrefix(col, customColumnPrefix):
			report.add(1, csvColumnLabel(col, i), "csv.header", "the firm has no such custom field")
		default:
			report.add(1, csvColumnLabel(col, i), "csv.header", "unknown column; use "+strings.Join(ClientCSVColumns, ", ")+" or custom.<key>")
		}
	}
	if !seen["display_name"] {
		report.add(1, "display_name", "csv.header", "the display_name column is required")
	}
	return columns
}

// csvColumnLabel names a header cell in a problem; a cell that is not a plain name is
// named by its position so the report never echoes arbitrary input as a field path.
func csvColumnLabel(col string, i int) string {
	if col == "display_name" || slices.Contains(ClientCSVColumns, col) || (strings.HasPrefix(col, customColumnPrefix) &&
		CustomFieldKeyPattern.MatchString(strings.TrimPrefix(col, customColumnPrefix))) {
		return col
	}
	return fmt.Sprintf("column%d", i+1)
}

func blankRecord(record []string) bool {
	for _, cell := range record {
		if strings.TrimSpace(cell) != "" {
			return false
		}
	}
	return true
}

// clientFromRecord builds a client from one row and reports its problems.
func clientFromRecord(record, columns []string, firmID string, defs map[string]CustomField, line int, report *importReport) Client {
	var c Client
	custom := map[string]any{}
	for i, col := range columns {
		if col == "" {
			continue
		}
		cell := unguardCell(record[i])
		switch col {
		case "display_name":
			c.DisplayName = strings.TrimSpace(cell)
		case "kind":
			c.Kind = ClientKind(strings.ToLower(strings.TrimSpace(cell)))
		case "description":
			c.Description = cell
		case "priority":
			c.Priority = ClientPriority(strings.ToLower(strings.TrimSpace(cell)))
		case "assignees":
			for _, name := range splitList(cell) {
				id, ok := MemberID(firmID, name)
				if !ok {
					report.add(line, col, "csv.member", "members as firms/{firm}/members/{member} of this firm, separated by ;")
					break
				}
				c.Assignees = append(c.Assignees, id)
			}
		case "services":
			c.Services = splitList(cell)
		case "tags":
			c.Tags = splitList(cell)
		case "external_id":
			c.ExternalID = strings.TrimSpace(cell)
		case "tax_id":
			c.Sensitive.TaxID = strings.TrimSpace(cell)
		case "bank_account_number":
			c.Sensitive.BankAccount = strings.TrimSpace(cell)
		case "bank_routing_number":
			c.Sensitive.BankRouting = strings.TrimSpace(cell)
		case "notes":
			c.Sensitive.Notes = cell
		default:
			key := strings.TrimPrefix(col, customColumnPrefix)
			v, msg := defs[key].ParseCell(cell)
			if msg != "" {
				report.add(line, col, "custom_field."+string(defs[key].Type), msg)
			} else if v != nil {
				custom[key] = v
			}
		}
	}
	if len(custom) > 0 {
		c.CustomFields = custom
	}
	c = c.WithDefaults()
	for _, p := range c.Problems() {
		report.add(line, p.Field, p.Rule, p.Description)
	}
	return c
}

func splitList(cell string) []string {
	var out []string
	for _, part := range strings.Split(cell, ";") {
		if part = strings.TrimSpace(part); part != "" {
			out = append(out, part)
		}
	}
	return out
}

// guardCell and unguardCell keep exported cells from running as spreadsheet
// formulas (CSV injection) and take the guard off on import.
var (
	guardCell   = csvguard.Guard
	unguardCell = csvguard.Unguard
)

// WriteClientCSV writes clients in the import's columns, preceded by their resource
// name and followed by the firm's custom fields, with formula-like cells guarded.
// Sensitive fields are written as the clients carry them: mask first unless the
// export is revealed.
func WriteClientCSV(w io.Writer, clients []Client, defs []CustomField) error {
	cw := csv.NewWriter(w)
	header := append([]string{"name"}, ClientCSVColumns...)
	for _, d := range defs {
		header = append(header, customColumnPrefix+d.Key)
	}
	if err := cw.Write(header); err != nil {
		return err
	}
	for _, c := range clients {
		members := make([]string, len(c.Assignees))
		for i, id := range c.Assignees {
			members[i] = "firms/" + c.FirmID + "/members/" + id
		}
		record := []string{
			"firms/" + c.FirmID + "/clients/" + c.ID,
			c.DisplayName, string(c.Kind), c.Description, string(c.Priority),
			strings.Join(members, ";"), strings.Join(c.Services, ";"), strings.Join(c.Tags, ";"), c.ExternalID,
			c.Sensitive.TaxID, c.Sensitive.BankAccount, c.Sensitive.BankRouting, c.Sensitive.Notes,
		}
		for _, d := range defs {
			record = append(record, FormatCell(c.CustomFields[d.Key]))
		}
		for i := range record {
			record[i] = guardCell(record[i])
		}
		if err := cw.Write(record); err != nil {
			return err
		}
	}
	cw.Flush()
	return cw.Error()
}
