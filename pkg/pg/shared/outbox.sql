{{/* Usage: {{ template "shared/outbox.sql" . }}, after shared/tenancy.sql.
     The transactional outbox of pkg/outbox: a service inserts its events in the
     transaction that makes its change, and the relay publishes them to JetStream. */}}
create table outbox (
  id           uuid primary key,
  firm_id      uuid not null,
  subject      text not null check (subject <> ''),
  actor        text not null default '',
  payload      bytea not null,
  -- W3C trace context of the writing request, so traces continue across NATS.
  headers      jsonb not null default '{}',
  created_at   timestamptz not null default now(),
  -- Breaks created_at ties: events written in one transaction share now() and are
  -- published in the order they were written.
  seq          bigint generated always as identity,
  published_at timestamptz,
  -- Publishes JetStream refused (the message itself, not an outage); each one
  -- pushes not_before further out, so a poison event never holds up the others.
  attempts     int not null default 0,
  not_before   timestamptz
);
create index outbox_unpublished on outbox (created_at, seq) where published_at is null;

-- The runtime role may only add events, and only its own firm's; it can neither read
-- nor change queued events except through the relay's functions below.
{{ template "shared/firm_table.sql" dict "table" "outbox" "runtime_role" .runtime_role "privileges" "insert" }}

-- The relay reads across firms, so it goes through these SECURITY DEFINER functions
-- owned by the owner role (BYPASSRLS). The relay calls outbox_claim and
-- outbox_mark_published in one transaction of its own: the row locks taken by
-- FOR UPDATE last until that transaction ends, so a second relay skips the claimed
-- rows instead of publishing them at the same time. A relay that dies before
-- committing leaves its rows unpublished; they are published again and JetStream
-- drops the copy by Nats-Msg-Id.
create function outbox_claim(batch int) returns setof outbox
language sql volatile security definer
set search_path = pg_catalog, public, pg_temp
as $$
  select * from public.outbox
  where published_at is null and (not_before is null or not_before <= now())
  order by created_at, seq
  limit batch
  for update skip locked
$$;

create function outbox_mark_published(ids uuid[]) returns void
language sql volatile security definer
set search_path = pg_catalog, public, pg_temp
as $$
  update public.outbox
  set published_at = now()
  where id = any(ids) and published_at is null
$$;

create function outbox_record_refusal(id uuid) returns void
language sql volatile security definer
set search_path = pg_catalog, public, pg_temp
as $$
  update public.outbox
  set attempts = attempts + 1,
      not_before = now() + least(interval '1 second' * power(2, least(attempts, 12)), interval '1 hour')
  where outbox.id = outbox_record_refusal.id and published_at is null
$$;

-- Wakes relays listening on channel 'outbox' when events are committed (NOTIFY is
-- delivered at commit, never for a rolled-back transaction).
create function outbox_notify() returns trigger
language plpgsql
set search_path = pg_catalog, public, pg_temp
as $$
begin
  perform pg_notify('outbox', '');
  return null;
end
$$;
create trigger outbox_notify after insert on outbox
  for each statement execute function outbox_notify();

alter function outbox_claim(int) owner to {{.owner_role}};
alter function outbox_mark_published(uuid[]) owner to {{.owner_role}};
alter function outbox_record_refusal(uuid) owner to {{.owner_role}};
alter function outbox_notify() owner to {{.owner_role}};
revoke execute on function outbox_claim(int), outbox_mark_published(uuid[]),
  outbox_record_refusal(uuid), outbox_notify() from public;
grant execute on function outbox_claim(int), outbox_mark_published(uuid[]),
  outbox_record_refusal(uuid) to {{.runtime_role}};
