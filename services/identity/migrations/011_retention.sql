-- What the scheduled retention run (FirmDataService.Prune) removes.
{{ template "shared/queue_prune.sql" . }}

-- Identity's own retention, across every firm, so it runs as the owner. As of p_now:
-- sessions past their absolute or idle expiry, or revoked; invitations created more
-- than 30 days ago (an invitation lives far less, accepted or not); support grants
-- that ended (expired, denied or revoked) more than 30 days ago, with the
-- notifications about them; other notifications older than a year.
create function prune_identity(p_now timestamptz) returns table (table_name text, n_rows bigint)
language plpgsql volatile security definer
set search_path = pg_catalog, public, pg_temp
as $$
begin
  table_name := 'sessions';
  delete from public.sessions
  where expire_time < p_now or idle_expire_time < p_now or revoke_time < p_now;
  get diagnostics n_rows = row_count;
  return next;

  table_name := 'invitations';
  delete from public.invitations where create_time < p_now - interval '30 days';
  get diagnostics n_rows = row_count;
  return next;

  -- Grant notifications go first and are counted: the foreign key would cascade
  -- them silently.
  create temporary table ended_grants on commit drop as
    select id from public.support_grants
    where expire_time < p_now - interval '30 days'
       or (state in ('denied', 'revoked')
           and coalesce(revoke_time, decide_time, request_time) < p_now - interval '30 days');
  table_name := 'notifications';
  delete from public.notifications
  where grant_id in (select id from ended_grants) or create_time < p_now - interval '1 year';
  get diagnostics n_rows = row_count;
  return next;

  table_name := 'support_grants';
  delete from public.support_grants where id in (select id from ended_grants);
  get diagnostics n_rows = row_count;
  return next;
  drop table ended_grants;
end
$$;
alter function prune_identity(timestamptz) owner to {{.owner_role}};
revoke execute on function prune_identity(timestamptz) from public;
grant execute on function prune_identity(timestamptz) to {{.runtime_role}};
