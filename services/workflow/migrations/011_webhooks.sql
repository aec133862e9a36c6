-- Outbound webhooks: the firm's subscriptions and the deliveries made to them.
--
-- A subscription's signing secrets arrive here only as AES-256-GCM ciphertext sealed
-- with the firm's data key (pkg/fieldcrypt), bound to firm, table, column and row.
-- A delivery names the object and the fields that changed, never their values.

create table webhook_subscriptions (
  id                           uuid primary key,
  firm_id                      uuid not null,
  url                          text not null check (url like 'https://%' or url like 'http://%'),
  event_types                  text[] not null check (cardinality(event_types) > 0),
  state                        text not null check (state in ('active', 'disabled')),
  secret                       bytea not null,
  -- The secret before the last rotation, which signs too until it expires.
  previous_secret              bytea,
  previous_secret_expire_time  timestamptz,
  disable_reason               text not null default '',
  disable_time                 timestamptz,
  -- Since when every attempt has failed; null after a success.
  failing_since                timestamptz,
  -- The sequence number of the last change queued for the subscription.
  last_sequence                bigint not null default 0,
  version                      bigint not null default 1,
  create_time                  timestamptz not null,
  update_time                  timestamptz not null,
  unique (firm_id, id),
  check ((previous_secret is null) = (previous_secret_expire_time is null))
);
create index webhook_subscriptions_by_create_time on webhook_subscriptions (firm_id, create_time, id);
{{ template "shared/firm_table.sql" dict "table" "webhook_subscriptions" "runtime_role" .runtime_role "privileges" "select, insert, update, delete" }}

create table webhook_deliveries (
  id                 uuid primary key,
  firm_id            uuid not null,
  subscription_id    uuid not null,
  -- The resource name of the object that changed.
  object             text not null,
  event_type         text not null,
  changed_fields     text[] not null default '{}',
  sequence           bigint not null,
  -- Changes this delivery stands for, and how often a newer one replaced its payload
  -- while it waited (part of the message id, so a receiver never drops the newer
  -- payload as a copy of the older).
  change_count       integer not null default 1,
  revision           integer not null default 1,
  state              text not null check (state in ('pending', 'succeeded', 'failed')),
  attempts           integer not null default 0,
  last_status_code   integer not null default 0,
  last_error         text not null default '',
  -- When the latest change it carries happened (the payload's timestamp).
  occur_time         timestamptz not null,
  create_time        timestamptz not null,
  -- Attempts stop at expire_time (24 hours after the first change).
  expire_time        timestamptz not null,
  -- Also the lease of an attempt in flight: claiming pushes it past the attempt's
  -- timeout, so another worker does not send the same delivery meanwhile.
  next_attempt_time  timestamptz,
  last_attempt_time  timestamptz,
  deliver_time       timestamptz,
  redelivery_of      uuid,
  foreign key (firm_id, subscription_id) references webhook_subscriptions (firm_id, id) on delete cascade,
  check ((state = 'pending') = (next_attempt_time is not null))
);
-- Coalescing: one waiting delivery per subscription and object; a newer change
-- replaces its payload. Redeliveries asked for by the firm stand apart.
create unique index webhook_deliveries_pending_object on webhook_deliveries (firm_id, subscription_id, object)
  where state = 'pending' and redelivery_of is null;
create index webhook_deliveries_log on webhook_deliveries (firm_id, subscription_id, create_time desc, id desc);
-- The delivery worker's queue, across firms (through webhook_deliveries_due below).
create index webhook_deliveries_due_queue on webhook_deliveries (next_attempt_time) where state = 'pending';
{{ template "shared/firm_table.sql" dict "table" "webhook_deliveries" "runtime_role" .runtime_role "privileges" "select, insert, update, delete" }}

-- The delivery worker finds what is due across firms through this SECURITY DEFINER
-- function owned by the owner role (BYPASSRLS); it returns ids only, and each
-- delivery is then claimed and settled in transactions scoped to its own firm.
create function webhook_deliveries_due(p_now timestamptz, p_batch integer) returns table (firm_id uuid, delivery_id uuid)
language sql stable security definer
set search_path = pg_catalog, public, pg_temp
as $$
  select d.firm_id, d.id from public.webhook_deliveries d
  join public.webhook_subscriptions s on s.firm_id = d.firm_id and s.id = d.subscription_id
  where d.state = 'pending' and d.next_attempt_time <= p_now and s.state = 'active'
  order by d.next_attempt_time, d.id
  limit p_batch
$$;
alter function webhook_deliveries_due(timestamptz, integer) owner to {{.owner_role}};
revoke execute on function webhook_deliveries_due(timestamptz, integer) from public;
grant execute on function webhook_deliveries_due(timestamptz, integer) to {{.runtime_role}};

-- The delivery log is kept 30 days: the scheduled retention run (FirmDataService.Prune)
-- removes, across firms, settled deliveries older than that. Waiting ones stay.
create function prune_webhook_deliveries(p_now timestamptz) returns table (table_name text, n_rows bigint)
language plpgsql volatile security definer
set search_path = pg_catalog, public, pg_temp
as $$
begin
  table_name := 'webhook_deliveries';
  delete from public.webhook_deliveries where state <> 'pending' and create_time < p_now - interval '30 days';
  get diagnostics n_rows = row_count;
  return next;
end
$$;
alter function prune_webhook_deliveries(timestamptz) owner to {{.owner_role}};
revoke execute on function prune_webhook_deliveries(timestamptz) from public;
grant execute on function prune_webhook_deliveries(timestamptz) to {{.runtime_role}};
