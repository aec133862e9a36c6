package main

import (
	"fmt"
	"io"
	"os"
	"sort"
	"time"

	"github.com/firmflow/firmflow/pkg/keyfile"
	"github.com/firmflow/firmflow/services/lifecycle/certificate"
)

// verifyCertificate is `firmflow lifecycle verify-certificate FILE --public-key PATH`:
// it checks a deletion certificate (GET /v1/deletionCertificates/{token}) offline with
// lifecycle's public key, prints what it certifies, and fails when any byte of it was
// changed or another key signed it.
func verifyCertificate(file, publicKey string, out io.Writer) error {
	pub, err := keyfile.LoadPublic(publicKey)
	if err != nil {
		return err
	}
	data, err := os.ReadFile(file)
	if err != nil {
		return fmt.Errorf("read certificate: %w", err)
	}
	c, err := certificate.Verify(data, pub)
	if err != nil {
		fmt.Fprintln(out, "result      FAILED")
		return fmt.Errorf("%s: %w", file, err)
	}
	printCertificate(out, c)
	return nil
}

func printCertificate(out io.Writer, c certificate.Certificate) {
	day := func(t time.Time) string {
		if t.IsZero() {
			return "none: a stream without a maximum age holds messages until its limits drop them"
		}
		return t.UTC().Format(time.RFC3339)
	}
	fmt.Fprintf(out, "firm        %s\n", c.Firm)
	fmt.Fprintf(out, "deletion    %s requested by %s at %s\n", c.Deletion, c.RequestedBy, c.RequestTime.UTC().Format(time.RFC3339))
	fmt.Fprintf(out, "grace end   %s\n", c.GraceEnd.UTC().Format(time.RFC3339))
	fmt.Fprintf(out, "completed   %s\n", c.CompleteAt.UTC().Format(time.RFC3339))
	services := make([]string, 0, len(c.Deleted))
	for s := range c.Deleted {
		services = append(services, s)
	}
	sort.Strings(services)
	for _, s := range services {
		var rows, before int64
		for _, t := range c.Deleted[s] {
			rows += t.Rows
		}
		for _, t := range c.Inventory[s] {
			before += t.Rows
		}
		fmt.Fprintf(out, "deleted     %-10s %d rows in %d tables (%d held before)\n", s, rows, len(c.Deleted[s]), before)
	}
	fmt.Fprintf(out, "keys        %d destroyed\n", len(c.DestroyedKeys))
	fmt.Fprintf(out, "audit head  %s\n", c.AuditChainHead)
	fmt.Fprintf(out, "residue     clean=%v\n", c.ResidueClean)
	var purged, shared int64
	for _, st := range c.Streams {
		purged, shared = purged+st.PurgedMessages, shared+st.SharedMessages
	}
	fmt.Fprintf(out, "streams     %d messages purged from %d streams, %d shared with other firms left\n", purged, len(c.Streams), shared)
	fmt.Fprintf(out, "streams     clear after %s\n", day(c.StreamsClearAfter))
	fmt.Fprintf(out, "backups     clear after %s\n", day(c.BackupsClearAfter))
	fmt.Fprintf(out, "key copies  gone after %s\n", day(c.KeyBackupsClearAfter))
	fmt.Fprintln(out, "result      OK: signed by lifecycle's key, unaltered")
}
