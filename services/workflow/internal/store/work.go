package store

import (
	"errors"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/firmflow/firmflow/pkg/paging"
	"github.com/firmflow/firmflow/services/workflow/internal/domain"
)

// Shared by the work files (templates, projects, tasks, series, workload).

// sqlDate is a domain date as a SQL parameter: NULL when unset.
func sqlDate(d domain.Date) *time.Time {
	if d.IsZero() {
		return nil
	}
	t := d.Time()
	return &t
}

// dateFromSQL reads a nullable SQL date.
func dateFromSQL(t *time.Time) domain.Date {
	if t == nil {
		return domain.Date{}
	}
	return domain.DateOf(*t)
}

// sqlUUID is an id as a SQL parameter: NULL when empty. Callers pass ids they parsed
// or read back, so a malformed one is a bug; it becomes NULL and matches nothing.
func sqlUUID(id string) *uuid.UUID {
	u, err := uuid.Parse(id)
	if err != nil {
		return nil
	}
	return &u
}

func stringFromSQL(s *string) string {
	if s == nil {
		return ""
	}
	return *s
}

// stillReferenced reports a row that another row still references (or a
// reference to a row that does not exist).
func stillReferenced(err error, constraint string) bool {
	var pgErr *pgconn.PgError
	return errors.As(err, &pgErr) && pgErr.Code == "23503" && (constraint == "" || pgErr.ConstraintName == constraint)
}

// noDue is where rows without a due date sort: the generated sort_due columns use it.
var noDue = time.Date(9999, 12, 31, 0, 0, 0, 0, time.UTC)

// sortDue is a due date as its sort key.
func sortDue(d domain.Date) time.Time {
	if d.IsZero() {
		return noDue
	}
	return d.Time()
}

// positionCursor carries a task position in a page token; paging.Cursor orders by
// (time, id), and positions are small integers, so the position rides as seconds.
func positionCursor(position int, id string) paging.Cursor {
	return paging.Cursor{Time: time.Unix(int64(position), 0).UTC(), ID: id}
}
