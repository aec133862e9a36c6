package main

import (
	"context"
	"fmt"
	"io"
	"time"

	lifecyclev1 "github.com/firmflow/firmflow/pkg/gen/firmflow/lifecycle/v1"
)

// retentionRunsCommand is `firmflow lifecycle retention-runs [--limit N]`: the latest
// retention runs from lifecycle's RetentionAdminService (operator certificate), each
// with what it removed per service and table.
func retentionRunsCommand(ctx context.Context, dataDir string, limit int, out io.Writer) error {
	if limit < 1 || limit > 500 {
		return usagef("--limit must be between 1 and 500")
	}
	conn, err := dialAsOperator(dataDir, func(op operatorConfig) string { return op.LifecycleAddr })
	if err != nil {
		return err
	}
	defer conn.Close()
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	res, err := lifecyclev1.NewRetentionAdminServiceClient(conn).ListRetentionRuns(ctx, &lifecyclev1.ListRetentionRunsRequest{PageSize: int32(limit)})
	if err != nil {
		return fmt.Errorf("list retention runs: %w", err)
	}
	for _, r := range res.GetRetentionRuns() {
		end := "-"
		if r.GetEndTime() != nil {
			end = r.GetEndTime().AsTime().Format(time.RFC3339)
		}
		fmt.Fprintf(out, "%s  %s  started %s  ended %s\n", r.GetName(), r.GetState(), r.GetStartTime().AsTime().Format(time.RFC3339), end)
		for _, c := range r.GetRemoved() {
			fmt.Fprintf(out, "  %-10s %-24s %d\n", c.GetService(), c.GetTable(), c.GetRows())
		}
		for service, why := range r.GetFailures() {
			fmt.Fprintf(out, "  %-10s FAILED: %s\n", service, why)
		}
	}
	return nil
}
