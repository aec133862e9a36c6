{{ template "shared/tenancy.sql" . }}

-- Retention is the only deletion from the audit log, and only this role may run it
-- (audit_drop_expired_partitions below). It is a group role without login: operators
-- run `audit retention` as a login role that is a member of it. Roles belong to the
-- whole cluster and the owner role may not create roles, so an administrator creates
-- it first (server.Provision, which `firmflow dev` calls); the block below creates it
-- when the migrating role can, and otherwise says what is missing.
do $$
begin
  if not exists (select from pg_roles where rolname = 'audit_retention') then
    create role audit_retention nologin;
  end if;
exception
  when duplicate_object or unique_violation then null; -- created concurrently
  when insufficient_privilege then
    raise exception 'role audit_retention does not exist and % may not create it: an administrator runs "create role audit_retention nologin" first', current_user;
end
$$;

-- Refuses every change to an append-only table: row triggers for UPDATE and DELETE,
-- statement triggers for TRUNCATE. Grants already keep the runtime role to INSERT
-- and SELECT; the trigger stops the owner too, so that only dropping a whole expired
-- partition (retention) removes events.
create function audit_refuse_change() returns trigger
language plpgsql
set search_path = pg_catalog, public, pg_temp
as $$
begin
  raise exception 'the audit log is append-only: % on % refused', tg_op, tg_table_name
    using errcode = 'insufficient_privilege';
end
$$;

-- The end of each firm's chain. Appending locks this row (audit_lock_heads), so a
-- firm's events are numbered and linked one transaction at a time.
create table audit_chain_heads (
  firm_id      uuid primary key,
  seq          bigint not null check (seq >= 0),
  hash         bytea not null check (length(hash) = 32),
  -- Record time of the last event; the next one is never recorded earlier.
  record_time  timestamptz not null
);
{{ template "shared/firm_table.sql" dict "table" "audit_chain_heads" "runtime_role" .runtime_role "privileges" "select" }}

-- The log. Partitioned by month of record time (when the log appended the event),
-- which grows with each firm's sequence, so dropping the oldest partition always
-- removes a prefix of every chain and what remains verifies from its first event.
create table audit_events (
  firm_id      uuid not null,
  seq          bigint not null,
  event_id     uuid not null,
  record_time  timestamptz not null,
  time         timestamptz not null,
  kind         text not null,
  category     text not null,
  actor        text not null,
  action       text not null,
  resources    text[] not null,
  code         text not null,
  subject      text not null,
  payload      bytea not null,
  prev_hash    bytea not null,
  hash         bytea not null,
  -- A unique index on a partitioned table must hold the partition key; the head row
  -- lock is what keeps (firm_id, seq) unique. Newest-first listing reads this index
  -- backwards.
  primary key (firm_id, seq, record_time)
) partition by range (record_time);
-- "What did this person do" is the common question.
create index audit_events_actor on audit_events (firm_id, actor, seq);
-- The runtime role reads; it appends only through audit_append below.
{{ template "shared/firm_table.sql" dict "table" "audit_events" "runtime_role" .runtime_role "privileges" "select" }}
revoke insert, update, delete, truncate on audit_events from public, {{.runtime_role}};
create trigger audit_events_append_only before update or delete on audit_events
  for each row execute function audit_refuse_change();
create trigger audit_events_no_truncate before truncate on audit_events
  for each statement execute function audit_refuse_change();

-- Every event id the log holds, so that a redelivered event (the consumer committed
-- but its acknowledgement was lost) is recognised and skipped. A table of its own
-- because a unique index on audit_events would have to include record_time, which
-- differs between deliveries. Retention deletes the ids of the events it drops.
create table audit_event_ids (
  event_id  uuid primary key,
  firm_id   uuid not null
);
{{ template "shared/firm_table.sql" dict "table" "audit_event_ids" "runtime_role" .runtime_role "privileges" "select" }}

-- Signed checkpoints of chain heads (signed notes; see services/audit/chain).
create table audit_checkpoints (
  firm_id      uuid not null,
  seq          bigint not null,
  hash         bytea not null,
  time         timestamptz not null,
  signed_note  text not null,
  primary key (firm_id, seq, time)
);
{{ template "shared/firm_table.sql" dict "table" "audit_checkpoints" "runtime_role" .runtime_role "privileges" "select, insert" }}
create trigger audit_checkpoints_append_only before update or delete on audit_checkpoints
  for each row execute function audit_refuse_change();
create trigger audit_checkpoints_no_truncate before truncate on audit_checkpoints
  for each statement execute function audit_refuse_change();

-- Where each firm's retained chain starts after retention dropped its oldest events:
-- the first kept sequence and the hash of the last dropped event. Written only by
-- audit_drop_expired_partitions.
create table audit_chain_starts (
  firm_id    uuid not null,
  first_seq  bigint not null,
  prev_hash  bytea not null,
  cut_time   timestamptz not null default now(),
  primary key (firm_id, first_seq)
);
{{ template "shared/firm_table.sql" dict "table" "audit_chain_starts" "runtime_role" .runtime_role "privileges" "select" }}
create trigger audit_chain_starts_append_only before update or delete on audit_chain_starts
  for each row execute function audit_refuse_change();
create trigger audit_chain_starts_no_truncate before truncate on audit_chain_starts
  for each statement execute function audit_refuse_change();

-- How long a firm's events are kept: 400 days at least, and never shortened.
create table audit_settings (
  firm_id         uuid primary key,
  retention_days  int not null check (retention_days between 400 and 3650),
  update_time     timestamptz not null default now()
);
{{ template "shared/firm_table.sql" dict "table" "audit_settings" "runtime_role" .runtime_role "privileges" "select, insert, update" }}
create function audit_refuse_shorter_retention() returns trigger
language plpgsql
set search_path = pg_catalog, public, pg_temp
as $$
begin
  if new.retention_days < old.retention_days then
    raise exception 'audit retention can only grow' using errcode = 'check_violation';
  end if;
  return new;
end
$$;
create trigger audit_settings_only_grow before update on audit_settings
  for each row execute function audit_refuse_shorter_retention();

-- Creates the month's partition of audit_events when missing, with the same
-- row-level security as its parent and its own TRUNCATE trigger (statement triggers
-- are not inherited). SECURITY DEFINER: the runtime role may call it but owns
-- nothing it creates.
create function audit_ensure_partition(p_time timestamptz) returns void
language plpgsql volatile security definer
set search_path = pg_catalog, public, pg_temp
set timezone to 'UTC'
as $$
declare
  month_start timestamptz := date_trunc('month', p_time);
  part text := 'audit_events_' || to_char(p_time, 'YYYYMM');
begin
  if to_regclass('public.' || part) is not null then
    return;
  end if;
  execute format('create table public.%I partition of public.audit_events for values from (%L) to (%L)',
    part, month_start, month_start + interval '1 month');
  execute format('alter table public.%I enable row level security', part);
  execute format('alter table public.%I force row level security', part);
  execute format('create policy %I on public.%I using (firm_id = current_firm_id()) with check (firm_id = current_firm_id())',
    part || '_firm_isolation', part);
  execute format('create trigger %I before truncate on public.%I for each statement execute function public.audit_refuse_change()',
    part || '_no_truncate', part);
exception
  when duplicate_table or unique_violation then null; -- created concurrently
end
$$;
revoke execute on function audit_ensure_partition(timestamptz) from public;
grant execute on function audit_ensure_partition(timestamptz) to {{.runtime_role}};
select audit_ensure_partition(now());
select audit_ensure_partition(now() + interval '1 month');

-- Appending: the consumer appends a batch for many firms in one transaction, through
-- three SECURITY DEFINER functions, one statement each however many firms the batch
-- holds; the alternative, a statement per firm scoped with app.firm_id, costs the
-- database twice as much per event. They are the only cross-firm writes, and they
-- only add: events, their ids, and the heads' new positions.

-- Locks the chain heads of the firms (creating missing ones), in firm id order, so
-- concurrent appenders never deadlock, and returns them.
create function audit_lock_heads(p_firms uuid[]) returns table (firm_id uuid, seq bigint, hash bytea, record_time timestamptz)
language plpgsql volatile security definer
set search_path = pg_catalog, public, pg_temp
as $$
begin
  insert into public.audit_chain_heads (firm_id, seq, hash, record_time)
  select f, 0, decode(repeat('00', 32), 'hex'), 'epoch' from unnest(p_firms) f order by f
  on conflict on constraint audit_chain_heads_pkey do nothing;
  return query
    select h.firm_id, h.seq, h.hash, h.record_time from public.audit_chain_heads h
    where h.firm_id = any(p_firms) order by h.firm_id for update;
end
$$;

-- Records event ids and returns those that were new: the others are redeliveries of
-- events the log already holds.
create function audit_claim_events(p_ids uuid[], p_firms uuid[]) returns setof uuid
language sql volatile security definer
set search_path = pg_catalog, public, pg_temp
as $$
  insert into public.audit_event_ids (event_id, firm_id)
  select * from unnest(p_ids, p_firms)
  on conflict (event_id) do nothing
  returning event_id
$$;

-- Inserts appended events (hashed by the caller, under the head locks it holds) and
-- moves each head to its firm's last event. Resources come joined by U+001F, since
-- unnest cannot take an array of arrays.
create function audit_append(
  p_firm uuid[], p_seq bigint[], p_event_id uuid[], p_time timestamptz[], p_record_time timestamptz[],
  p_kind text[], p_category text[], p_actor text[], p_action text[], p_resources text[], p_code text[],
  p_subject text[], p_payload bytea[], p_prev_hash bytea[], p_hash bytea[],
  p_head_firm uuid[], p_head_seq bigint[], p_head_hash bytea[], p_head_record_time timestamptz[]) returns void
language sql volatile security definer
set search_path = pg_catalog, public, pg_temp
as $$
  insert into public.audit_events (firm_id, seq, event_id, time, record_time, kind, category, actor, action,
    resources, code, subject, payload, prev_hash, hash)
  select e.firm_id, e.seq, e.event_id, e.time, e.record_time, e.kind, e.category, e.actor, e.action,
    string_to_array(e.resources, E'\x1f'), e.code, e.subject, e.payload, e.prev_hash, e.hash
  from unnest(p_firm, p_seq, p_event_id, p_time, p_record_time, p_kind, p_category, p_actor, p_action,
    p_resources, p_code, p_subject, p_payload, p_prev_hash, p_hash)
    as e(firm_id, seq, event_id, time, record_time, kind, category, actor, action, resources, code, subject, payload, prev_hash, hash);
  update public.audit_chain_heads h set seq = n.seq, hash = n.hash, record_time = n.record_time
  from unnest(p_head_firm, p_head_seq, p_head_hash, p_head_record_time) as n(firm_id, seq, hash, record_time)
  where h.firm_id = n.firm_id;
$$;

revoke execute on function audit_lock_heads(uuid[]), audit_claim_events(uuid[], uuid[]),
  audit_append(uuid[], bigint[], uuid[], timestamptz[], timestamptz[], text[], text[], text[], text[], text[], text[],
    text[], bytea[], bytea[], bytea[], uuid[], bigint[], bytea[], timestamptz[]) from public;
grant execute on function audit_lock_heads(uuid[]), audit_claim_events(uuid[], uuid[]),
  audit_append(uuid[], bigint[], uuid[], timestamptz[], timestamptz[], text[], text[], text[], text[], text[], text[],
    text[], bytea[], bytea[], bytea[], uuid[], bigint[], bytea[], timestamptz[]) to {{.runtime_role}};

-- The firms whose chain head moved since their last checkpoint; the checkpointer
-- then signs each one inside that firm's own transaction.
create function audit_firms_to_checkpoint() returns setof uuid
language sql stable security definer
set search_path = pg_catalog, public, pg_temp
as $$
  select h.firm_id from public.audit_chain_heads h
  where h.seq > coalesce((select max(c.seq) from public.audit_checkpoints c where c.firm_id = h.firm_id), 0)
$$;
revoke execute on function audit_firms_to_checkpoint() from public;
grant execute on function audit_firms_to_checkpoint() to {{.runtime_role}};

-- Retention: drops whole monthly partitions, oldest first, once every firm with
-- events in one has kept them for its retention (default 400 days) after the month
-- ended, and stops at the first partition still needed, so what remains of each
-- chain is a suffix. Before dropping, it records where each firm's chain now starts.
-- Only audit_retention may call it; it returns the partitions dropped.
create function audit_drop_expired_partitions(p_now timestamptz) returns setof text
language plpgsql volatile security definer
set search_path = pg_catalog, public, pg_temp
set timezone to 'UTC'
as $$
declare
  part text;
  month_end timestamptz;
  keep_days int;
begin
  for part in
    select c.relname from pg_inherits i join pg_class c on c.oid = i.inhrelid
    where i.inhparent = 'public.audit_events'::regclass
    order by c.relname
  loop
    month_end := to_date(right(part, 6), 'YYYYMM')::timestamptz + interval '1 month';
    execute format('select coalesce(max(coalesce(s.retention_days, 400)), 400)
      from (select distinct firm_id from public.%I) f left join public.audit_settings s using (firm_id)', part)
      into keep_days;
    exit when month_end + make_interval(days => keep_days) > p_now;
    execute format('insert into public.audit_chain_starts (firm_id, first_seq, prev_hash)
      select distinct on (firm_id) firm_id, seq + 1, hash from public.%I order by firm_id, seq desc', part);
    execute format('delete from public.audit_event_ids where event_id in (select event_id from public.%I)', part);
    execute format('drop table public.%I', part);
    return next part;
  end loop;
end
$$;
revoke execute on function audit_drop_expired_partitions(timestamptz) from public;
grant execute on function audit_drop_expired_partitions(timestamptz) to audit_retention;

-- Audit's own events (none yet) leave through the transactional outbox, like every
-- service's; the runtime's relay expects the table.
{{ template "shared/outbox.sql" . }}
