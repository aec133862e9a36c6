{{ template "shared/tenancy.sql" . }}

-- Each firm's data key for workflow's encrypted fields (tax ids, bank details, notes),
-- wrapped by the key-encryption key. Created on first use; deleting it shreds every
-- encrypted field of the firm.
create table firm_keys (
  firm_id      uuid primary key,
  wrapped_key  bytea not null,
  kek_id       text not null,
  create_time  timestamptz not null default now()
);
{{ template "shared/firm_table.sql" dict "table" "firm_keys" "runtime_role" .runtime_role "privileges" "select, insert" }}

-- Who may do what, per category and action: scope 'none', 'assigned' (only what is
-- assigned to the caller) or 'all'. Rows override domain.DefaultPermissions.
create table permissions (
  firm_id   uuid not null,
  role      text not null check (role in ('admin', 'member')),
  category  text not null,
  action    text not null,
  scope     text not null check (scope in ('none', 'assigned', 'all')),
  primary key (firm_id, role, category, action)
);
{{ template "shared/firm_table.sql" dict "table" "permissions" "runtime_role" .runtime_role "privileges" "select, insert, update, delete" }}

-- Creates retried with the same request_id return the first result (AIP-155).
create table create_requests (
  firm_id      uuid not null,
  request_id   text not null,
  resource     text not null,
  create_time  timestamptz not null default now(),
  primary key (firm_id, request_id)
);
{{ template "shared/firm_table.sql" dict "table" "create_requests" "runtime_role" .runtime_role "privileges" "select, insert" }}

{{ template "shared/outbox.sql" . }}
