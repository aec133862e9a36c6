package store

import (
	"context"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
)

// EvidenceRow is one access event as an incident's impact analysis reads it; Payload
// is the gateway's AccessEvent, which holds the client address.
type EvidenceRow struct {
	FirmID    uuid.UUID
	Sequence  int64
	Time      time.Time
	Actor     string
	Resources []string
	Payload   []byte
}

// IncidentAccessEvents reads, across firms, the access events in [start, end) by one
// of actors or in one of firms, or every one of the window when all is set (the
// caller then matches client addresses). It streams rows to fn.
func (s *Store) IncidentAccessEvents(ctx context.Context, start, end time.Time, actors []string, firms []uuid.UUID, all bool, fn func(EvidenceRow) error) error {
	return s.db.InTx(ctx, func(tx pgx.Tx) error {
		rows, err := tx.Query(ctx, `select firm_id, seq, event_time, actor, resources, payload
			from audit_incident_access_events($1, $2, $3, $4, $5)`, start, end, actors, firms, all)
		if err != nil {
			return err
		}
		defer rows.Close()
		for rows.Next() {
			var r EvidenceRow
			if err := rows.Scan(&r.FirmID, &r.Sequence, &r.Time, &r.Actor, &r.Resources, &r.Payload); err != nil {
				return err
			}
			if err := fn(r); err != nil {
				return err
			}
		}
		return rows.Err()
	})
}

// UnknownActors answers those of actors no event of any firm names.
func (s *Store) UnknownActors(ctx context.Context, actors []string) ([]string, error) {
	var out []string
	err := s.db.InTx(ctx, func(tx pgx.Tx) error {
		rows, err := tx.Query(ctx, `select * from audit_unknown_actors($1)`, actors)
		if err != nil {
			return err
		}
		out, err = pgx.CollectRows(rows, pgx.RowTo[string])
		return err
	})
	return out, err
}
