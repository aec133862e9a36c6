package store

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
	"google.golang.org/grpc/codes"

	"github.com/firmflow/firmflow/pkg/apierr"
	"github.com/firmflow/firmflow/pkg/pg"
	"github.com/firmflow/firmflow/services/lifecycle/internal/domain"
)

// Notice is what one impacted firm was told about an incident.
type Notice struct {
	IncidentID string
	FirmID     string
	Summary    string
	Text       string
	Resources  []string
	First      time.Time
	Last       time.Time
	Deadline   time.Time
	CreateTime time.Time
	// EmailState is app.EmailQueued or app.EmailNotConfigured; "pending" on notices
	// recorded before identity emailed them.
	EmailState string
	// Acknowledged lists the users (users/{id}) who acknowledged it, with when.
	Acknowledged map[string]time.Time
}

// entryBody is an entry's JSON column: the parts its kind carries.
type entryBody struct {
	Declaration *domain.Declaration `json:"declaration,omitempty"`
	Scope       *domain.Scope       `json:"scope,omitempty"`
	Firms       []string            `json:"firms,omitempty"`
}

func insertEntry(ctx context.Context, tx pgx.Tx, e domain.Entry) error {
	body, err := json.Marshal(entryBody{Declaration: e.Declaration, Scope: e.Scope, Firms: e.Firms})
	if err != nil {
		return err
	}
	_, err = tx.Exec(ctx, `insert into incident_entries (incident_id, seq, kind, actor, time, body)
		values ($1, $2, $3, $4, $5, $6)`, e.IncidentID, e.Seq, string(e.Kind), e.Actor, e.Time, body)
	if pg.IsUniqueViolation(err, "incident_entries_pkey") {
		return apierr.New(codes.Aborted, "INCIDENT_CHANGED", "the incident changed since it was read; read it again")
	}
	return err
}

// AppendEntry adds one entry to an incident's record. Two writers that read the same
// record collide on (incident, seq): the second is refused, nothing is overwritten.
func (s *Store) AppendEntry(ctx context.Context, e domain.Entry) error {
	return s.db.InTx(ctx, func(tx pgx.Tx) error { return insertEntry(ctx, tx, e) })
}

// Entries reads an incident's record in order.
func (s *Store) Entries(ctx context.Context, incidentID string) ([]domain.Entry, error) {
	var out []domain.Entry
	err := s.db.InTx(ctx, func(tx pgx.Tx) error {
		rows, err := tx.Query(ctx, `select incident_id, seq, kind, actor, time, body from incident_entries
			where incident_id = $1 order by seq`, incidentID)
		if err != nil {
			return err
		}
		out, err = pgx.CollectRows(rows, func(r pgx.CollectableRow) (domain.Entry, error) {
			var (
				e    domain.Entry
				kind string
				body []byte
				b    entryBody
			)
			if err := r.Scan(&e.IncidentID, &e.Seq, &kind, &e.Actor, &e.Time, &body); err != nil {
				return e, err
			}
			if err := json.Unmarshal(body, &b); err != nil {
				return e, fmt.Errorf("incident entry %s/%d: %w", e.IncidentID, e.Seq, err)
			}
			e.Kind, e.Declaration, e.Scope, e.Firms, e.Time = domain.EntryKind(kind), b.Declaration, b.Scope, b.Firms, e.Time.UTC()
			return e, nil
		})
		return err
	})
	if err == nil && len(out) == 0 {
		return nil, apierr.NotFound("incident")
	}
	return out, err
}

// IncidentIDs lists every incident, newest declaration first.
func (s *Store) IncidentIDs(ctx context.Context) ([]string, error) {
	var ids []string
	err := s.db.InTx(ctx, func(tx pgx.Tx) error {
		rows, err := tx.Query(ctx, `select incident_id::text from incident_entries where seq = 1 order by time desc, incident_id`)
		if err != nil {
			return err
		}
		ids, err = pgx.CollectRows(rows, pgx.RowTo[string])
		return err
	})
	return ids, err
}

// RecordNotices writes each firm's notice and the entry that says they were sent, in
// one transaction: either every firm was told and the record says so, or nothing.
func (s *Store) RecordNotices(ctx context.Context, e domain.Entry, notices []Notice) error {
	return s.db.InTx(ctx, func(tx pgx.Tx) error {
		if err := insertEntry(ctx, tx, e); err != nil {
			return err
		}
		for _, n := range notices {
			if _, err := tx.Exec(ctx, "select set_config($1, $2, true)", pg.FirmSetting, n.FirmID); err != nil {
				return err
			}
			if _, err := tx.Exec(ctx, `insert into incident_notices (incident_id, firm_id, summary, text, resources,
				first_time, last_time, deadline, create_time, email_state) values ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)
				on conflict (firm_id, incident_id) do nothing`,
				n.IncidentID, n.FirmID, n.Summary, n.Text, n.Resources, n.First, n.Last, n.Deadline, n.CreateTime, n.EmailState); err != nil {
				return err
			}
		}
		return nil
	})
}

const noticeColumns = `n.incident_id::text, n.firm_id::text, n.summary, n.text, n.resources, n.first_time, n.last_time,
	n.deadline, n.create_time, n.email_state,
	coalesce((select jsonb_object_agg(a.user_name, a.time) from incident_acknowledgements a
	          where a.firm_id = n.firm_id and a.incident_id = n.incident_id), '{}')`

func scanNotice(r pgx.CollectableRow) (Notice, error) {
	var (
		n    Notice
		acks []byte
	)
	if err := r.Scan(&n.IncidentID, &n.FirmID, &n.Summary, &n.Text, &n.Resources, &n.First, &n.Last,
		&n.Deadline, &n.CreateTime, &n.EmailState, &acks); err != nil {
		return n, err
	}
	if err := json.Unmarshal(acks, &n.Acknowledged); err != nil {
		return n, err
	}
	return n, nil
}

// FirmNotices lists the incidents the firm was told about, newest first.
func (s *Store) FirmNotices(ctx context.Context, firmID string) ([]Notice, error) {
	var out []Notice
	err := s.db.InFirm(ctx, firmID, func(tx pgx.Tx) error {
		rows, err := tx.Query(ctx, `select `+noticeColumns+` from incident_notices n order by n.create_time desc, n.incident_id`)
		if err != nil {
			return err
		}
		out, err = pgx.CollectRows(rows, scanNotice)
		return err
	})
	return out, err
}

// Acknowledge records that user read the firm's notice; acknowledging twice keeps the
// first time.
func (s *Store) Acknowledge(ctx context.Context, firmID, incidentID, user string, now time.Time) (Notice, error) {
	var n Notice
	err := s.db.InFirm(ctx, firmID, func(tx pgx.Tx) error {
		rows, err := tx.Query(ctx, `select `+noticeColumns+` from incident_notices n where n.incident_id = $1`, incidentID)
		if err != nil {
			return err
		}
		if _, err := pgx.CollectExactlyOneRow(rows, scanNotice); err != nil {
			return pg.NotFound(err, "incident")
		}
		if _, err := tx.Exec(ctx, `insert into incident_acknowledgements (incident_id, firm_id, user_name, time)
			values ($1, $2, $3, $4) on conflict do nothing`, incidentID, firmID, user, now); err != nil {
			return err
		}
		rows, err = tx.Query(ctx, `select `+noticeColumns+` from incident_notices n where n.incident_id = $1`, incidentID)
		if err != nil {
			return err
		}
		n, err = pgx.CollectExactlyOneRow(rows, scanNotice)
		return err
	})
	return n, err
}
