package pg

import (
	"context"
	"errors"
	"fmt"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
)

// Provision creates the service's roles and database when missing, as an administrator.
// It is idempotent and safe to run from several processes at once. The owner role has
// BYPASSRLS so that its narrowly written SECURITY DEFINER lookups (a session token's
// firm, an email's firm) can cross firms; the runtime role has neither ownership nor
// BYPASSRLS. Only these two roles may connect to the database (CONNECT is revoked
// from PUBLIC). Passwords are not set here: production supplies credentials out of band.
func Provision(ctx context.Context, adminURL, database string, roles Roles) error {
	return provision(ctx, adminURL, database, "", roles)
}

// ProvisionCopy is Provision with the new database copied from template, a database
// of the same service's roles that nobody is connected to: a test suite migrates one
// template and copies it for each test, which costs a fraction of migrating each.
func ProvisionCopy(ctx context.Context, adminURL, database, template string, roles Roles) error {
	return provision(ctx, adminURL, database, template, roles)
}

func provision(ctx context.Context, adminURL, database, template string, roles Roles) error {
	conn, err := pgx.Connect(ctx, adminURL)
	if err != nil {
		return fmt.Errorf("connect as administrator: %w", err)
	}
	defer conn.Close(ctx)

	statements := []string{
		fmt.Sprintf("create role %s login bypassrls", pgx.Identifier{roles.Owner}.Sanitize()),
		fmt.Sprintf("create role %s login nobypassrls", pgx.Identifier{roles.Runtime}.Sanitize()),
	}
	for _, stmt := range statements {
		if _, err := conn.Exec(ctx, stmt); err != nil && !isAlreadyExists(err) {
			return fmt.Errorf("create role: %w", err)
		}
	}
	var exists bool
	if err := conn.QueryRow(ctx, "select exists(select 1 from pg_database where datname = $1)", database).Scan(&exists); err != nil {
		return fmt.Errorf("look up database: %w", err)
	}
	if !exists {
		stmt := fmt.Sprintf("create database %s owner %s", pgx.Identifier{database}.Sanitize(), pgx.Identifier{roles.Owner}.Sanitize())
		if template != "" {
			stmt += " template " + pgx.Identifier{template}.Sanitize()
		}
		if _, err := conn.Exec(ctx, stmt); err != nil && !isAlreadyExists(err) {
			return fmt.Errorf("create database: %w", err)
		}
	}
	// PostgreSQL lets PUBLIC connect to every new database, so any service's role
	// could reach any other's. Only the service's own two roles may connect to it;
	// run again, this also closes databases provisioned before the rule.
	db := pgx.Identifier{database}.Sanitize()
	statements = []string{
		fmt.Sprintf("revoke connect on database %s from public", db),
		fmt.Sprintf("grant connect on database %s to %s, %s", db,
			pgx.Identifier{roles.Owner}.Sanitize(), pgx.Identifier{roles.Runtime}.Sanitize()),
	}
	for _, stmt := range statements {
		if _, err := conn.Exec(ctx, stmt); err != nil {
			return fmt.Errorf("restrict connect: %w", err)
		}
	}
	if template != "" {
		return copyDatabaseGrants(ctx, conn, template, database)
	}
	return nil
}

// copyDatabaseGrants gives a copy the grants its template's migrations made on the
// database itself (audit lets its ingest role connect): CREATE DATABASE copies the
// contents, not the database's own privileges.
func copyDatabaseGrants(ctx context.Context, conn *pgx.Conn, template, database string) error {
	rows, err := conn.Query(ctx, `
		select a.privilege_type, r.rolname
		from pg_database d, aclexplode(d.datacl) a join pg_roles r on r.oid = a.grantee
		where d.datname = $1`, template)
	if err != nil {
		return fmt.Errorf("read template grants: %w", err)
	}
	grants, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) ([2]string, error) {
		var g [2]string
		err := row.Scan(&g[0], &g[1])
		return g, err
	})
	if err != nil {
		return fmt.Errorf("read template grants: %w", err)
	}
	for _, g := range grants {
		privilege, role := g[0], g[1]
		stmt := fmt.Sprintf("grant %s on database %s to %s", privilege, pgx.Identifier{database}.Sanitize(), pgx.Identifier{role}.Sanitize())
		if _, err := conn.Exec(ctx, stmt); err != nil {
			return fmt.Errorf("copy template grants: %w", err)
		}
	}
	return nil
}

// DropDatabase removes a database, disconnecting its sessions first.
func DropDatabase(ctx context.Context, adminURL, database string) error {
	conn, err := pgx.Connect(ctx, adminURL)
	if err != nil {
		return fmt.Errorf("connect as administrator: %w", err)
	}
	defer conn.Close(ctx)
	_, err = conn.Exec(ctx, fmt.Sprintf("drop database if exists %s with (force)", pgx.Identifier{database}.Sanitize()))
	return err
}

// isAlreadyExists covers both "already exists" and the unique violation a concurrent
// CREATE ROLE/DATABASE raises on the catalog.
func isAlreadyExists(err error) bool {
	var pgErr *pgconn.PgError
	return errors.As(err, &pgErr) && (pgErr.Code == "42710" || pgErr.Code == "42P04" || pgErr.Code == "23505")
}
