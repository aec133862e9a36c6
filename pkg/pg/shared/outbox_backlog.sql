{{/* Usage: {{ template "shared/outbox_backlog.sql" . }}, after shared/outbox.sql.
     What the outbox holds unpublished, for the metrics pkg/outbox reports at each
     scrape. */}}
-- How many events wait to be published and how long the oldest has waited, in
-- seconds (0 when none wait). Read across firms, hence SECURITY DEFINER like the
-- relay's functions; it answers from the partial index on unpublished events, so a
-- scrape stays cheap while the relay keeps up.
create function outbox_backlog(out events bigint, out oldest_age_seconds double precision)
language sql stable security definer
set search_path = pg_catalog, public, pg_temp
as $$
  select count(*), coalesce(extract(epoch from now() - min(created_at))::double precision, 0)
  from public.outbox
  where published_at is null
$$;
alter function outbox_backlog() owner to {{.owner_role}};
revoke execute on function outbox_backlog() from public;
grant execute on function outbox_backlog() to {{.runtime_role}};
