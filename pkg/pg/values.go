package pg

import (
	"errors"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/firmflow/firmflow/pkg/apierr"
)

// NotFound turns "no rows" into NOT_FOUND naming the resource, and passes any other
// error through. Under row-level security another firm's row is also "no rows", so
// the two are indistinguishable to the client, as they must be.
func NotFound(err error, resource string) error {
	if errors.Is(err, pgx.ErrNoRows) {
		return apierr.NotFound(resource)
	}
	return err
}

// NullTime stores the zero time as NULL.
func NullTime(t time.Time) *time.Time {
	if t.IsZero() {
		return nil
	}
	return &t
}

// NullString stores the empty string as NULL (optional ids, optional text).
func NullString(s string) *string {
	if s == "" {
		return nil
	}
	return &s
}
