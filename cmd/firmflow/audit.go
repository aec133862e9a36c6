package main

import (
	"fmt"
	"io"
	"os"
	"time"

	"github.com/firmflow/firmflow/services/audit/chain"
	"github.com/firmflow/firmflow/services/audit/export"
)

// auditVerify is `firmflow audit verify FILE --public-key PATH`: it checks an export
// of a firm's audit log (GET /v1/firms/{firm}/auditEvents:export, pages appended in
// order) offline, with nothing but the audit public key: every event's hash, their
// order, and the chain against every signed checkpoint. It fails when the chain does
// not verify.
func auditVerify(file, publicKey string, out io.Writer) error {
	verifier, err := chain.LoadVerifier(publicKey)
	if err != nil {
		return err
	}
	f, err := os.Open(file)
	if err != nil {
		return fmt.Errorf("open export: %w", err)
	}
	defer f.Close()
	report, err := export.Verify(f, verifier)
	if err != nil {
		return fmt.Errorf("%s: %w", file, err)
	}
	printReport(out, report)
	if !report.Valid() {
		return fmt.Errorf("%s does not verify: %d problems", file, int64(len(report.Problems))+report.MoreProblems)
	}
	return nil
}

func printReport(out io.Writer, r chain.Report) {
	fmt.Fprintf(out, "firm        firms/%s\n", r.FirmID)
	fmt.Fprintf(out, "events      %d (sequence %d to %d)\n", r.Events, r.FirstSequence, r.LastSequence)
	fmt.Fprintf(out, "checkpoints %d verified against the chain\n", r.Checkpoints)
	if r.Latest != nil {
		fmt.Fprintf(out, "latest      event %d signed at %s\n", r.Latest.Sequence, r.Latest.Time.UTC().Format(time.RFC3339))
	}
	if r.Valid() {
		fmt.Fprintln(out, "result      OK: the chain is intact and matches every signed checkpoint")
		return
	}
	fmt.Fprintln(out, "result      FAILED")
	for _, p := range r.Problems {
		fmt.Fprintf(out, "  %-19s at %d: %s\n", p.Kind, p.Sequence, p.Description)
	}
	if r.MoreProblems > 0 {
		fmt.Fprintf(out, "  ... and %d more\n", r.MoreProblems)
	}
}
