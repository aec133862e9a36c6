// Package pg is how every service talks to its PostgreSQL database: provisioning of the
// database and its two roles, tern migrations from an embedded FS, the pool, and
// firm-scoped transactions that row-level security relies on.
package pg

import (
	"context"
	"errors"
	"fmt"
	"net/url"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"
)

// FirmSetting is the transaction-local setting row-level security policies read
// (through current_firm_id() from shared/tenancy.sql).
const FirmSetting = "app.firm_id"

// Roles names a service's two database roles. Owner owns the schema and runs
// migrations; Runtime is what the service connects as and owns nothing, so
// FORCE ROW LEVEL SECURITY applies to every query it makes.
type Roles struct {
	Owner   string
	Runtime string
}

// RolesFor returns the conventional role names for a service.
func RolesFor(service string) Roles {
	return Roles{Owner: service + "_owner", Runtime: service + "_app"}
}

// DB is a service's connection pool.
type DB struct {
	Pool *pgxpool.Pool

	unobserve []func() error // ObservePool's registrations
}

// Open connects a pool and checks that the server answers.
func Open(ctx context.Context, databaseURL string) (*DB, error) {
	cfg, err := pgxpool.ParseConfig(databaseURL)
	if err != nil {
		return nil, fmt.Errorf("parse database url: %w", redact(err))
	}
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		return nil, fmt.Errorf("open pool: %w", err)
	}
	if err := pool.Ping(ctx); err != nil {
		pool.Close()
		return nil, fmt.Errorf("ping database %s: %w", cfg.ConnConfig.Database, err)
	}
	return &DB{Pool: pool}, nil
}

// Close stops reporting the pool's metrics and releases every connection.
func (db *DB) Close() {
	for _, unregister := range db.unobserve {
		_ = unregister()
	}
	db.unobserve = nil
	db.Pool.Close()
}

// Ping reports whether the database answers; used by readiness probes.
func (db *DB) Ping(ctx context.Context) error { return db.Pool.Ping(ctx) }

// InFirm runs fn in a transaction scoped to one firm: row-level security then shows
// and accepts only that firm's rows, so a query missing its WHERE clause returns
// nothing rather than another firm's data. fn's error rolls everything back.
func (db *DB) InFirm(ctx context.Context, firmID string, fn func(pgx.Tx) error) error {
	if firmID == "" {
		return errors.New("pg: firm-scoped transaction without a firm")
	}
	return db.inTx(ctx, firmID, fn)
}

// InFirmSnapshot is InFirm in a read-only transaction that sees one snapshot
// throughout (REPEATABLE READ), for reads that must agree with each other, such as a
// firm's export taken entity by entity.
func (db *DB) InFirmSnapshot(ctx context.Context, firmID string, fn func(pgx.Tx) error) error {
	if firmID == "" {
		return errors.New("pg: firm-scoped transaction without a firm")
	}
	return inFirmTx(ctx, db.Pool, snapshotTx, firmID, fn)
}

// InTx runs fn in a transaction with no firm set: only rows reachable through
// SECURITY DEFINER lookups (credential and token lookups) are visible.
func (db *DB) InTx(ctx context.Context, fn func(pgx.Tx) error) error {
	return db.inTx(ctx, "", fn)
}

func (db *DB) inTx(ctx context.Context, firmID string, fn func(pgx.Tx) error) error {
	if firmID == "" {
		return pgx.BeginTxFunc(ctx, db.Pool, pgx.TxOptions{}, fn)
	}
	return inFirmTx(ctx, db.Pool, pgx.TxOptions{}, firmID, fn)
}

// inFirmTx runs fn in a transaction begun with opts and scoped to firmID. A firm id
// that is a UUID, as every stored one is, is scoped by the statement that begins the
// transaction, in the same round trip (the simple protocol takes both statements at
// once); its canonical form holds only hex digits and dashes, so it is safe inside
// the statement's text. Any other id is passed as a parameter in a round trip of its
// own, and fails as it always did, at the first query that reads the setting.
func inFirmTx(ctx context.Context, pool *pgxpool.Pool, opts pgx.TxOptions, firmID string, fn func(pgx.Tx) error) error {
	id, err := uuid.Parse(firmID)
	begin, known := beginSQL[opts]
	if err == nil && known {
		opts.BeginQuery = begin + "; select set_config('" + FirmSetting + "', '" + id.String() + "', true)"
		return pgx.BeginTxFunc(ctx, pool, opts, fn)
	}
	return pgx.BeginTxFunc(ctx, pool, opts, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, "select set_config($1, $2, true)", FirmSetting, firmID); err != nil {
			return fmt.Errorf("scope transaction to firm: %w", err)
		}
		return fn(tx)
	})
}

// snapshotTx is InFirmSnapshot's kind of transaction.
var snapshotTx = pgx.TxOptions{IsoLevel: pgx.RepeatableRead, AccessMode: pgx.ReadOnly}

// beginSQL is the BEGIN statement pgx sends for each kind of transaction this package
// begins; options it does not list are begun by pgx itself, and scoped apart.
var beginSQL = map[pgx.TxOptions]string{
	{}:         "begin",
	snapshotTx: "begin isolation level repeatable read read only",
}

// WithUserAndDatabase returns databaseURL connecting as user to database instead.
// Empty arguments keep what the URL has.
func WithUserAndDatabase(databaseURL, user, database string) (string, error) {
	u, err := url.Parse(databaseURL)
	if err != nil {
		return "", fmt.Errorf("parse database url: %w", redact(err))
	}
	if user != "" {
		u.User = url.User(user)
	}
	if database != "" {
		u.Path = "/" + database
	}
	return u.String(), nil
}

// IsUniqueViolation reports whether err is a unique-constraint violation, optionally
// of the named constraint.
func IsUniqueViolation(err error, constraint string) bool {
	var pgErr *pgconn.PgError
	if !errors.As(err, &pgErr) || pgErr.Code != "23505" {
		return false
	}
	return constraint == "" || pgErr.ConstraintName == constraint
}

// redact drops the URL (and any password in it) from url.Parse errors.
func redact(err error) error {
	var urlErr *url.Error
	if errors.As(err, &urlErr) {
		return urlErr.Err
	}
	return err
}
