{{ template "shared/tenancy.sql" . }}

create table firms (
  id            uuid primary key,
  display_name  text not null,
  require_totp  boolean not null default false,
  version       bigint not null default 1,
  create_time   timestamptz not null default now(),
  update_time   timestamptz not null default now()
);
-- A firm sees only its own row; firms has id where other tables have firm_id.
alter table firms enable row level security;
alter table firms force row level security;
create policy firms_firm_isolation on firms
  using (id = current_firm_id()) with check (id = current_firm_id());
grant select, insert, update on firms to {{.runtime_role}};

-- The firm's data key, wrapped by the key-encryption key; deleting it shreds every
-- encrypted field of the firm.
create table firm_keys (
  firm_id      uuid primary key references firms (id) on delete cascade,
  wrapped_key  bytea not null,
  kek_id       text not null,
  create_time  timestamptz not null default now()
);
{{ template "shared/firm_table.sql" dict "table" "firm_keys" "runtime_role" .runtime_role "privileges" "select, insert" }}

create table members (
  id               uuid primary key,
  firm_id          uuid not null references firms (id) on delete cascade,
  email            text not null,
  display_name     text not null,
  role             text not null check (role in ('owner', 'admin', 'member')),
  password_hash    text not null,
  -- TOTP secrets are ciphertext under the firm's data key.
  totp_secret      bytea,
  totp_pending     bytea,
  totp_last_step   bigint not null default 0,
  failed_logins    integer not null default 0,
  locked_until     timestamptz,
  version          bigint not null default 1,
  create_time      timestamptz not null default now()
);
-- One account per email across all firms: login finds the firm from the email.
create unique index members_email_key on members (lower(email));
create index members_firm_page on members (firm_id, create_time, id);
{{ template "shared/firm_table.sql" dict "table" "members" "runtime_role" .runtime_role "privileges" "select, insert, update, delete" }}

create table sessions (
  id                uuid primary key,
  firm_id           uuid not null references firms (id) on delete cascade,
  member_id         uuid not null references members (id) on delete cascade,
  token_hash        bytea not null unique,
  csrf_hash         bytea not null,
  -- Set when the firm requires TOTP and the member has not enrolled: the session may
  -- only enroll.
  enrolling         boolean not null default false,
  user_agent        text not null default '',
  client_ip         text not null default '',
  create_time       timestamptz not null default now(),
  last_seen_time    timestamptz not null default now(),
  idle_expire_time  timestamptz not null,
  expire_time       timestamptz not null,
  revoke_time       timestamptz
);
create index sessions_member on sessions (firm_id, member_id);
{{ template "shared/firm_table.sql" dict "table" "sessions" "runtime_role" .runtime_role "privileges" "select, insert, update, delete" }}

create table api_keys (
  id              uuid primary key,
  firm_id         uuid not null references firms (id) on delete cascade,
  display_name    text not null,
  prefix          text not null,
  secret_hash     bytea not null unique,
  scopes          text[] not null,
  created_by      text not null,
  request_id      text,
  rotated_from    uuid references api_keys (id),
  create_time     timestamptz not null default now(),
  expire_time     timestamptz,
  last_used_time  timestamptz,
  revoke_time     timestamptz,
  unique (firm_id, request_id)
);
create index api_keys_firm_page on api_keys (firm_id, create_time, id);
create unique index api_keys_one_successor on api_keys (rotated_from);
{{ template "shared/firm_table.sql" dict "table" "api_keys" "runtime_role" .runtime_role "privileges" "select, insert, update" }}

create table invitations (
  id             uuid primary key,
  firm_id        uuid not null references firms (id) on delete cascade,
  email          text not null,
  role           text not null check (role in ('owner', 'admin', 'member')),
  token_hash     bytea not null unique,
  invited_by     text not null,
  request_id     text,
  create_time    timestamptz not null default now(),
  expire_time    timestamptz not null,
  accept_time    timestamptz,
  unique (firm_id, request_id)
);
{{ template "shared/firm_table.sql" dict "table" "invitations" "runtime_role" .runtime_role "privileges" "select, insert, update" }}

-- Credential lookups are the only reads across firms. Each takes a secret's hash (or
-- an email) and returns just enough to open a firm-scoped transaction; they run as
-- the owner, which bypasses row-level security, and nothing else does.
create function lookup_login(p_email text) returns table (firm_id uuid, member_id uuid)
language sql stable security definer set search_path = public, pg_temp
as $$ select m.firm_id, m.id from members m where lower(m.email) = lower(p_email) $$;

create function lookup_session(p_token_hash bytea) returns table (firm_id uuid, session_id uuid)
language sql stable security definer set search_path = public, pg_temp
as $$ select s.firm_id, s.id from sessions s where s.token_hash = p_token_hash $$;

create function lookup_api_key(p_secret_hash bytea) returns table (firm_id uuid, api_key_id uuid)
language sql stable security definer set search_path = public, pg_temp
as $$ select k.firm_id, k.id from api_keys k where k.secret_hash = p_secret_hash $$;

create function lookup_invitation(p_token_hash bytea) returns table (firm_id uuid, invitation_id uuid)
language sql stable security definer set search_path = public, pg_temp
as $$ select i.firm_id, i.id from invitations i where i.token_hash = p_token_hash $$;

create function email_registered(p_email text) returns boolean
language sql stable security definer set search_path = public, pg_temp
as $$ select exists (select 1 from members m where lower(m.email) = lower(p_email)) $$;

revoke execute on function lookup_login(text), lookup_session(bytea), lookup_api_key(bytea),
  lookup_invitation(bytea), email_registered(text) from public;
grant execute on function lookup_login(text), lookup_session(bytea), lookup_api_key(bytea),
  lookup_invitation(bytea), email_registered(text) to {{.runtime_role}};
