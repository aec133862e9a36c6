-- Clients, their contacts and the custom fields a firm defines for them.
--
-- Sensitive values (tax id, bank account and routing numbers, notes) arrive here only
-- as AES-256-GCM ciphertext sealed with the firm's data key and bound to firm, table,
-- column and row (pkg/fieldcrypt); the database never sees them in clear. A tax id is
-- found by its blind index, a keyed HMAC of the normalised value, never by scanning.
-- Every table carries firm_id, and composite foreign keys include it, so a row can
-- only ever point at rows of its own firm.

create table clients (
  id            uuid primary key,
  firm_id       uuid not null,
  display_name  text not null check (display_name <> '' and length(display_name) <= 200),
  kind          text not null check (kind in ('person', 'business', 'internal')),
  description   text not null default '' check (length(description) <= 4000),
  priority      text not null check (priority in ('low', 'normal', 'high')),
  -- Member ids (identity's members), for "assigned to me" scopes and filters
  -- (see client_assignees).
  assignees     uuid[] not null default '{}',
  services      text[] not null default '{}',
  -- Filtered through client_tags.
  tags          text[] not null default '{}',
  external_id   text check (external_id <> ''),
  tax_id        bytea,
  tax_id_index  bytea,
  bank_account  bytea,
  bank_routing  bytea,
  notes         bytea,
  -- The import that created the client, so a retried import returns its clients.
  import_id     uuid,
  version       bigint not null default 1,
  create_time   timestamptz not null,
  update_time   timestamptz not null,
  unique (firm_id, id),
  check ((tax_id is null) = (tax_id_index is null))
);
-- A tax id identifies one taxpayer, who is one client of a firm.
create unique index clients_tax_id_index on clients (firm_id, tax_id_index) where tax_id_index is not null;
create unique index clients_external_id on clients (firm_id, external_id) where external_id is not null;
-- Keyset pagination in each order List offers.
create index clients_by_create_time on clients (firm_id, create_time, id);
create index clients_by_display_name on clients (firm_id, display_name, id);
create index clients_import on clients (firm_id, import_id) where import_id is not null;
{{ template "shared/firm_table.sql" dict "table" "clients" "runtime_role" .runtime_role "privileges" "select, insert, update, delete" }}

-- Tags and assignees, one row each, kept in step with clients.tags and
-- clients.assignees by the trigger below, for filters that stay fast however many
-- clients a firm has. A GIN index on the arrays would not do: under forced
-- row-level security PostgreSQL only uses an index for a query's own condition when
-- its operator is leakproof, and array containment (@>) is not, so a tag filter
-- would read every client of the firm. Equality on text and uuid is leakproof, and
-- create_time is copied so a filtered list pages through these indexes in order.
create table client_tags (
  firm_id      uuid not null,
  client_id    uuid not null,
  tag          text not null,
  create_time  timestamptz not null,
  primary key (firm_id, client_id, tag),
  foreign key (firm_id, client_id) references clients (firm_id, id) on delete cascade
);
create index client_tags_by_tag on client_tags (firm_id, tag, create_time, client_id);
{{ template "shared/firm_table.sql" dict "table" "client_tags" "runtime_role" .runtime_role "privileges" "select, insert, delete" }}

create table client_assignees (
  firm_id      uuid not null,
  client_id    uuid not null,
  member_id    uuid not null,
  create_time  timestamptz not null,
  primary key (firm_id, client_id, member_id),
  foreign key (firm_id, client_id) references clients (firm_id, id) on delete cascade
);
create index client_assignees_by_member on client_assignees (firm_id, member_id, create_time, client_id);
{{ template "shared/firm_table.sql" dict "table" "client_assignees" "runtime_role" .runtime_role "privileges" "select, insert, delete" }}

-- Runs as the caller (not SECURITY DEFINER), so row-level security checks the rows
-- it writes like any other.
create function clients_sync_filters() returns trigger
language plpgsql
set search_path = pg_catalog, public, pg_temp
as $$
begin
  if tg_op = 'UPDATE' then
    if new.tags is not distinct from old.tags and new.assignees is not distinct from old.assignees then
      return null;
    end if;
    delete from public.client_tags where firm_id = new.firm_id and client_id = new.id;
    delete from public.client_assignees where firm_id = new.firm_id and client_id = new.id;
  end if;
  insert into public.client_tags (firm_id, client_id, tag, create_time)
    select distinct new.firm_id, new.id, t, new.create_time from unnest(new.tags) as t;
  insert into public.client_assignees (firm_id, client_id, member_id, create_time)
    select distinct new.firm_id, new.id, m, new.create_time from unnest(new.assignees) as m;
  return null;
end
$$;
create trigger clients_sync_filters after insert or update of tags, assignees on clients
  for each row execute function clients_sync_filters();

-- The typed fields a firm adds to its clients. key is how values are addressed in
-- the API and in CSV columns ("custom.<key>"); it and the type never change.
create table custom_field_definitions (
  id            uuid primary key,
  firm_id       uuid not null,
  key           text not null check (key ~ '^[a-z][a-z0-9_]{0,62}$'),
  display_name  text not null check (display_name <> '' and length(display_name) <= 200),
  type          text not null check (type in ('text', 'number', 'date', 'boolean', 'member', 'single_select', 'multi_select')),
  options       text[] not null default '{}',
  version       bigint not null default 1,
  create_time   timestamptz not null,
  update_time   timestamptz not null,
  unique (firm_id, id),
  constraint custom_field_definitions_key unique (firm_id, key)
);
create index custom_field_definitions_by_create_time on custom_field_definitions (firm_id, create_time, id);
{{ template "shared/firm_table.sql" dict "table" "custom_field_definitions" "runtime_role" .runtime_role "privileges" "select, insert, update, delete" }}

-- One value of one custom field of one client, as JSON checked by the domain against
-- the field's definition. Deleting the definition or the client deletes its values.
create table client_field_values (
  firm_id    uuid not null,
  client_id  uuid not null,
  field_id   uuid not null,
  value      jsonb not null,
  primary key (firm_id, client_id, field_id),
  foreign key (firm_id, client_id) references clients (firm_id, id) on delete cascade,
  foreign key (firm_id, field_id) references custom_field_definitions (firm_id, id) on delete cascade
);
create index client_field_values_by_field on client_field_values (firm_id, field_id);
{{ template "shared/firm_table.sql" dict "table" "client_field_values" "runtime_role" .runtime_role "privileges" "select, insert, update, delete" }}

-- People the firm deals with; emails, phones and addresses are JSON arrays.
create table contacts (
  id            uuid primary key,
  firm_id       uuid not null,
  display_name  text not null check (display_name <> '' and length(display_name) <= 200),
  given_name    text not null default '',
  family_name   text not null default '',
  job_title     text not null default '',
  emails        jsonb not null default '[]',
  phones        jsonb not null default '[]',
  addresses     jsonb not null default '[]',
  version       bigint not null default 1,
  create_time   timestamptz not null,
  update_time   timestamptz not null,
  unique (firm_id, id)
);
create index contacts_by_create_time on contacts (firm_id, create_time, id);
create index contacts_by_display_name on contacts (firm_id, display_name, id);
{{ template "shared/firm_table.sql" dict "table" "contacts" "runtime_role" .runtime_role "privileges" "select, insert, update, delete" }}

-- Which contacts belong to which clients (many to many), and each client's primary.
create table client_contacts (
  firm_id       uuid not null,
  client_id     uuid not null,
  contact_id    uuid not null,
  is_primary    boolean not null default false,
  relationship  text not null default '' check (length(relationship) <= 100),
  version       bigint not null default 1,
  create_time   timestamptz not null,
  primary key (firm_id, client_id, contact_id),
  foreign key (firm_id, client_id) references clients (firm_id, id) on delete cascade,
  foreign key (firm_id, contact_id) references contacts (firm_id, id) on delete cascade
);
create unique index client_contacts_one_primary on client_contacts (firm_id, client_id) where is_primary;
create index client_contacts_by_contact on client_contacts (firm_id, contact_id);
{{ template "shared/firm_table.sql" dict "table" "client_contacts" "runtime_role" .runtime_role "privileges" "select, insert, update, delete" }}
