package app

import (
	"errors"
	"fmt"

	"github.com/firmflow/firmflow/pkg/apierr"
	"github.com/firmflow/firmflow/services/workflow/internal/domain"
)

// MaxBatch is how many items one batch method takes (AIP-233, AIP-235); the protos
// say the same to the validator.
const MaxBatch = 500

// batchSize refuses a batch of no items or more than MaxBatch, for callers the
// request validator did not see.
func batchSize(n int) error {
	if n < 1 || n > MaxBatch {
		return apierr.InvalidArgument("requests", "repeated.max_items", fmt.Sprintf("between 1 and %d items", MaxBatch))
	}
	return nil
}

// itemPrefix is where the fields of item i of a batch are ("requests[3]."), or ""
// outside a batch.
func itemPrefix(i int, batch bool) string {
	if !batch {
		return ""
	}
	return fmt.Sprintf("requests[%d].", i)
}

// atItem places an error about item i of a batch under that item (apierr.Within),
// the fields of a member reference still being waited for included.
func atItem(err error, i int) error {
	prefix := itemPrefix(i, true)
	var u unknownMember
	if errors.As(err, &u) {
		u.ref.field = prefix + u.ref.field
		return u
	}
	return apierr.Within(err, prefix)
}

// batchProblems names every rule broken by any item of a batch: problems[i] are
// item i's, with fields relative to the request ("client.display_name").
func batchProblems(problems [][]apierr.FieldViolation) error {
	var all []apierr.FieldViolation
	for i, ps := range problems {
		for _, v := range ps {
			v.Field = itemPrefix(i, true) + v.Field
			all = append(all, v)
		}
	}
	return domain.InvalidFields("", all)
}
