{{/* Usage: {{ template "shared/queue_prune.sql" . }}, after shared/outbox.sql (and
     shared/inbox.sql where the service has an inbox).
     What the scheduled retention run (lifecycle's FirmDataService.Prune) removes from
     every service's queues: outbox rows published before p_outbox_before and inbox
     ids processed before p_inbox_before. Both cutoffs come from pkg/firmdata
     (outbox.Retention, inbox.Retention), so the windows are decided in one place. */}}
-- Runs as the owner: the runtime role may neither read nor delete queued events, and
-- the run spans every firm. Unpublished outbox rows are never removed, however old.
create function prune_queues(p_outbox_before timestamptz, p_inbox_before timestamptz)
returns table (table_name text, n_rows bigint)
language plpgsql volatile security definer
set search_path = pg_catalog, public, pg_temp
as $$
begin
  table_name := 'outbox';
  delete from public.outbox where published_at is not null and published_at < p_outbox_before;
  get diagnostics n_rows = row_count;
  return next;
  if to_regclass('public.inbox') is not null then
    table_name := 'inbox';
    execute 'delete from public.inbox where processed_at < $1' using p_inbox_before;
    get diagnostics n_rows = row_count;
    return next;
  end if;
end
$$;
alter function prune_queues(timestamptz, timestamptz) owner to {{.owner_role}};
revoke execute on function prune_queues(timestamptz, timestamptz) from public;
grant execute on function prune_queues(timestamptz, timestamptz) to {{.runtime_role}};
