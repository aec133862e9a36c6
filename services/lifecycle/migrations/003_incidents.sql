-- Security incidents are firmflow's, not a firm's: operators declare them and no
-- firm reads this table. Each change is a new entry (declared, scope widened,
-- notices sent, contained, closed); the state is what the entries add up to.
create table incident_entries (
  incident_id  uuid not null,
  seq          integer not null check (seq >= 1),
  kind         text not null check (kind in ('declared', 'scope_widened', 'notices_sent', 'contained', 'closed')),
  actor        text not null,
  time         timestamptz not null,
  body         jsonb not null,
  primary key (incident_id, seq)
);

-- Refuses every change to an append-only table, the owner's too.
create function incident_refuse_change() returns trigger
language plpgsql
set search_path = pg_catalog, public, pg_temp
as $$
begin
  raise exception 'incident records are append-only: % on % refused', tg_op, tg_table_name
    using errcode = 'insufficient_privilege';
end
$$;

grant select, insert on incident_entries to {{.runtime_role}};
create trigger incident_entries_append_only before update or delete on incident_entries
  for each row execute function incident_refuse_change();
create trigger incident_entries_no_truncate before truncate on incident_entries
  for each statement execute function incident_refuse_change();

-- What each impacted firm was told, and its owners' acknowledgements: the firm's own
-- rows, read through row-level security. A notice is written once; an
-- acknowledgement is a row of its own.
create table incident_notices (
  incident_id  uuid not null,
  firm_id      uuid not null,
  summary      text not null,
  text         text not null,
  resources    text[] not null,
  first_time   timestamptz not null,
  last_time    timestamptz not null,
  deadline     timestamptz not null,
  create_time  timestamptz not null,
  -- The email is not sent yet: pending until the outbox delivers it.
  email_state  text not null default 'pending',
  primary key (firm_id, incident_id)
);
{{ template "shared/firm_table.sql" dict "table" "incident_notices" "runtime_role" .runtime_role "privileges" "select, insert" }}
create trigger incident_notices_append_only before update or delete on incident_notices
  for each row execute function incident_refuse_change();

create table incident_acknowledgements (
  incident_id  uuid not null,
  firm_id      uuid not null,
  user_name    text not null,
  time         timestamptz not null,
  primary key (firm_id, incident_id, user_name),
  foreign key (firm_id, incident_id) references incident_notices (firm_id, incident_id)
);
{{ template "shared/firm_table.sql" dict "table" "incident_acknowledgements" "runtime_role" .runtime_role "privileges" "select, insert" }}
create trigger incident_acknowledgements_append_only before update or delete on incident_acknowledgements
  for each row execute function incident_refuse_change();
