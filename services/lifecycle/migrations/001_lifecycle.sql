{{ template "shared/tenancy.sql" . }}

-- Long-running operations (AIP-151): a firm's deletion saga or an export. A deletion's
-- row holds the saga's state (domain.Deletion), so that any runner resumes it after a
-- crash; a runner claims a row with a lease (lease_owner, lease_until) and saves its
-- step only while it still holds the lease.
create table operations (
  id               uuid primary key,
  firm_id          uuid not null,
  kind             text not null check (kind in ('deletion', 'export')),
  state            text not null check (state in ('scheduled', 'running', 'succeeded', 'cancelled', 'failed')),
  requested_by     text not null,
  create_time      timestamptz not null,
  grace_end        timestamptz,
  next_step        integer not null default 0 check (next_step >= 0),
  attempts         integer not null default 0 check (attempts >= 0),
  next_attempt     timestamptz,
  last_error       text not null default '',
  end_time         timestamptz,
  -- What the steps found (domain.Record), the certificate's contents.
  record           jsonb not null default '{}',
  -- SHA-256 of the certificate token; the token itself is shown once.
  token_hash       bytea,
  -- An export's archive: file name under the export directory, size, expiry.
  archive          text,
  archive_bytes    bigint,
  expire_time      timestamptz,
  lease_owner      text,
  lease_until      timestamptz
);
-- One deletion at a time per firm, and one running export.
create unique index operations_one_deletion on operations (firm_id)
  where kind = 'deletion' and state in ('scheduled', 'running');
create unique index operations_one_export on operations (firm_id)
  where kind = 'export' and state = 'running';
create index operations_firm on operations (firm_id, create_time desc, id desc);
create index operations_due on operations (next_attempt) where state in ('scheduled', 'running');
{{ template "shared/firm_table.sql" dict "table" "operations" "runtime_role" .runtime_role "privileges" "select, insert, update, delete" }}

-- What lifecycle keeps of a deleted firm: its id and its signed certificate, found by
-- the hash of the token the requester was given.
create table tombstones (
  firm_id      uuid primary key,
  token_hash   bytea not null unique,
  certificate  bytea not null,
  create_time  timestamptz not null
);
{{ template "shared/firm_table.sql" dict "table" "tombstones" "runtime_role" .runtime_role "privileges" "select, insert" }}

-- The scheduler's reads across firms. They run as the owner, which bypasses row-level
-- security, and give away only ids: the work itself runs scoped to the firm.

-- Claims one operation due at p_now that no live lease holds, for p_lease.
create function claim_due_operation(p_kind text, p_runner text, p_now timestamptz, p_lease interval)
returns table (id uuid, firm_id uuid)
language sql security definer set search_path = public
as $$
  update operations o set lease_owner = p_runner, lease_until = p_now + p_lease
  where o.id = (
    select d.id from operations d
    where d.kind = p_kind
      and ((d.state = 'scheduled' and d.grace_end <= p_now) or (d.state = 'running' and d.next_attempt <= p_now))
      and (d.lease_until is null or d.lease_until < p_now)
    order by d.next_attempt
    limit 1
    for update skip locked)
  returning o.id, o.firm_id
$$;
revoke all on function claim_due_operation(text, text, timestamptz, interval) from public;
grant execute on function claim_due_operation(text, text, timestamptz, interval) to {{.runtime_role}};

-- The firm of an operation, so that GetOperation can scope its read.
create function operation_firm(p_id uuid) returns uuid
language sql stable security definer set search_path = public
as $$ select firm_id from operations where id = p_id $$;
revoke all on function operation_firm(uuid) from public;
grant execute on function operation_firm(uuid) to {{.runtime_role}};

-- The certificate for a token's hash: the public read after the firm is gone.
create function certificate_for_token(p_hash bytea) returns bytea
language sql stable security definer set search_path = public
as $$ select certificate from tombstones where token_hash = p_hash $$;
revoke all on function certificate_for_token(bytea) from public;
grant execute on function certificate_for_token(bytea) to {{.runtime_role}};

-- Expired export archives, across firms, for the sweeper to delete.
create function expired_exports(p_now timestamptz) returns table (id uuid, firm_id uuid, archive text)
language sql stable security definer set search_path = public
as $$ select id, firm_id, archive from operations
      where kind = 'export' and archive is not null and expire_time <= p_now $$;
revoke all on function expired_exports(timestamptz) from public;
grant execute on function expired_exports(timestamptz) to {{.runtime_role}};

-- Lifecycle's own events (none yet) would leave through the transactional outbox,
-- like every service's; the runtime's relay reads it.
{{ template "shared/outbox.sql" . }}
