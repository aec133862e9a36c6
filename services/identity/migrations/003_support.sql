-- Support access: firmflow's staff, a realm outside every firm, enter a firm only on a
-- grant the firm approved.
--
-- Realm tables (realm_keys, staff, staff_sessions) hold no firm's data and have no
-- firm_id, so no row-level security: the runtime role reads and writes them directly.

-- The data key of a realm (only "staff-realm" so far), wrapped by the key-encryption
-- key like a firm's; staff TOTP secrets are sealed under it.
create table realm_keys (
  realm        text primary key,
  wrapped_key  bytea not null,
  kek_id       text not null,
  create_time  timestamptz not null default now()
);
grant select, insert on realm_keys to {{.runtime_role}};

create table staff (
  id              uuid primary key,
  email           text not null,
  display_name    text not null,
  password_hash   text not null,
  -- Ciphertext under the staff realm's data key; staff cannot sign in without TOTP.
  totp_secret     bytea not null,
  totp_last_step  bigint not null default 0,
  failed_logins   integer not null default 0,
  locked_until    timestamptz,
  create_time     timestamptz not null default now(),
  offboard_time   timestamptz
);
create unique index staff_email_key on staff (lower(email));
grant select, insert, update on staff to {{.runtime_role}};

create table staff_sessions (
  id                uuid primary key,
  staff_id          uuid not null references staff (id),
  token_hash        bytea not null unique,
  create_time       timestamptz not null default now(),
  last_seen_time    timestamptz not null default now(),
  idle_expire_time  timestamptz not null,
  expire_time       timestamptz not null
);
create index staff_sessions_staff on staff_sessions (staff_id);
grant select, insert, update, delete on staff_sessions to {{.runtime_role}};

-- A staff member's permission to act inside one firm. Expired is not stored: a
-- requested or approved grant is over once expire_time has passed.
create table support_grants (
  id              uuid primary key,
  firm_id         uuid not null references firms (id) on delete cascade,
  staff_id        uuid not null references staff (id),
  -- As they were when the request was made: the firm's record does not change later.
  staff_email     text not null,
  staff_name      text not null,
  reason          text not null,
  ticket          text not null,
  state           text not null check (state in ('requested', 'approved', 'denied', 'revoked')),
  scope           text check (scope in ('read', 'write')),
  request_time    timestamptz not null,
  decided_by      text,
  decide_time     timestamptz,
  expire_time     timestamptz not null,
  first_use_time  timestamptz,
  revoke_time     timestamptz,
  revoked_by      text,
  check (state <> 'approved' or scope is not null)
);
create index support_grants_firm_page on support_grants (firm_id, request_time, id);
create index support_grants_staff_page on support_grants (staff_id, request_time, id);
create index support_grants_live on support_grants (expire_time) where state in ('requested', 'approved');
{{ template "shared/firm_table.sql" dict "table" "support_grants" "runtime_role" .runtime_role "privileges" "select, insert, update" }}

-- What a firm's owners and admins are told. Each kind is written once per grant.
create table notifications (
  id           uuid primary key,
  firm_id      uuid not null references firms (id) on delete cascade,
  kind         text not null check (kind in ('support_requested', 'support_approved', 'support_denied',
                                             'support_first_used', 'support_expired', 'support_revoked')),
  grant_id     uuid references support_grants (id) on delete cascade,
  text         text not null,
  create_time  timestamptz not null default now(),
  unique (grant_id, kind)
);
create index notifications_firm_page on notifications (firm_id, create_time, id);
{{ template "shared/firm_table.sql" dict "table" "notifications" "runtime_role" .runtime_role "privileges" "select, insert" }}

-- Support grants are read across firms in three places only, each through a function
-- that runs as the owner and answers one narrow question.

-- A staff member's own grants, in every firm, newest first (ListMySupportGrants). The
-- staff id comes from a verified principal, never from the request.
create function staff_support_grants(p_staff_id uuid, p_before_time timestamptz, p_before_id uuid, p_limit int)
returns setof support_grants
language sql stable security definer set search_path = public, pg_temp
as $$
  select * from support_grants g
  where g.staff_id = p_staff_id
    and (p_before_time is null or (g.request_time, g.id) < (p_before_time, p_before_id))
  order by g.request_time desc, g.id desc
  limit p_limit
$$;

-- Offboarding: revokes every live grant and pending request of the staff member in
-- every firm, and says which, so that each firm is notified in the same transaction.
create function offboard_support_grants(p_staff_id uuid, p_now timestamptz)
returns table (firm_id uuid, grant_id uuid)
language sql volatile security definer set search_path = public, pg_temp
as $$
  update support_grants g
  set state = 'revoked', revoke_time = p_now, revoked_by = 'operator'
  where g.staff_id = p_staff_id and g.state in ('requested', 'approved') and g.expire_time > p_now
  returning g.firm_id, g.id
$$;

-- The expiry sweeper: grants and requests that ran out and whose firm has not been
-- told yet.
create function expired_support_grants(p_now timestamptz, p_limit int)
returns table (firm_id uuid, grant_id uuid)
language sql stable security definer set search_path = public, pg_temp
as $$
  select g.firm_id, g.id from support_grants g
  where g.state in ('requested', 'approved') and g.expire_time <= p_now
    and not exists (select 1 from notifications n where n.grant_id = g.id and n.kind = 'support_expired')
  order by g.expire_time
  limit p_limit
$$;

revoke execute on function staff_support_grants(uuid, timestamptz, uuid, int),
  offboard_support_grants(uuid, timestamptz), expired_support_grants(timestamptz, int) from public;
grant execute on function staff_support_grants(uuid, timestamptz, uuid, int),
  offboard_support_grants(uuid, timestamptz), expired_support_grants(timestamptz, int) to {{.runtime_role}};
