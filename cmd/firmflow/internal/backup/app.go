package backup

import (
	"context"
	"errors"
	"fmt"

	audit "github.com/firmflow/firmflow/services/audit/server"
	workflow "github.com/firmflow/firmflow/services/workflow/server"
)

// AppChecks name what the application's invariants need of a restore.
type AppChecks struct {
	// Databases maps service (and "keys") to its database name in the restored
	// clusters.
	Databases map[string]string
	// AuditPublicKey verifies the audit checkpoints' signatures.
	AuditPublicKey string
	// KEKFile unwraps the firms' data keys.
	KEKFile string
	// Sample is how many clients' sealed fields are opened.
	Sample int
}

// Checks are the application's invariants on a restored copy: every firm's audit
// chain verifies (hashes, links, head and signed checkpoints), and a sample of sealed
// fields opens with the restored key store and the KEK. Each refuses to pass on
// nothing: a restore without a chain or a sealed value fails.
func (a AppChecks) Checks() []Check {
	return []Check{
		{Name: "audit chains", Run: func(ctx context.Context, r Restored) (string, error) {
			reports, err := audit.VerifyChains(ctx, r.Data.URL(a.Databases["audit"]), a.AuditPublicKey)
			if err != nil {
				return "", err
			}
			if len(reports) == 0 {
				return "", errors.New("no audit chain in the restored log")
			}
			var events, checkpoints int64
			var errs []error
			for _, rep := range reports {
				events += rep.Events
				checkpoints += rep.Checkpoints
				for _, p := range rep.Problems {
					errs = append(errs, fmt.Errorf("firm %s: %s at %d: %s", rep.FirmID, p.Kind, p.Sequence, p.Description))
				}
			}
			if err := errors.Join(errs...); err != nil {
				return "", err
			}
			return fmt.Sprintf("%d chains verified: %d events, %d signed checkpoints", len(reports), events, checkpoints), nil
		}},
		{Name: "sealed fields", Run: func(ctx context.Context, r Restored) (string, error) {
			clients, firms, err := workflow.OpenSealedSample(ctx, r.Data.URL(a.Databases["workflow"]), r.Keys.URL(a.Databases["keys"]), a.KEKFile, a.Sample)
			if err != nil {
				return "", err
			}
			if clients == 0 {
				return "", errors.New("no client with sealed fields in the restored workflow database")
			}
			return fmt.Sprintf("sealed fields of %d clients of %d firms opened with the restored key store", clients, firms), nil
		}},
	}
}
