{{/* Usage: {{ template "shared/firm_data.sql" . }}, after shared/tenancy.sql.
     What lifecycle's FirmDataService needs of every service's database: counting a
     firm's rows in every table, and removing its queued outbox and inbox rows. */}}

-- Counts the firm's rows in every table of the public schema that has a firm_id
-- column (a firms table counts by id), found in the catalog at each call, so a table
-- added later is counted without editing this function. It runs as the owner, which
-- bypasses row-level security and may read tables the runtime role may only insert
-- into (outbox): the count is the truth, not what one role may see. Partitions are
-- counted through their parent.
create function firm_row_counts(p_firm uuid) returns table (table_name text, n_rows bigint)
language plpgsql stable security definer
set search_path = pg_catalog, public, pg_temp
as $$
declare
  t record;
begin
  for t in
    select c.relname, a.attname from pg_class c
    join pg_namespace n on n.oid = c.relnamespace
    join pg_attribute a on a.attrelid = c.oid and not a.attisdropped
      and a.attname = case when c.relname = 'firms' then 'id' else 'firm_id' end
    where n.nspname = 'public' and c.relkind in ('r', 'p') and not c.relispartition
    order by c.relname
  loop
    table_name := t.relname;
    execute format('select count(*) from public.%I where %I = $1', t.relname, t.attname) into n_rows using p_firm;
    return next;
  end loop;
end
$$;

-- Removes the firm's outbox rows (and inbox rows, where the service has an inbox)
-- when the firm is deleted. The runtime role may not read or delete queued events,
-- so this runs as the owner, and only for the firm the calling transaction is scoped
-- to (pg.DB.InFirm): it cannot reach any other firm's queue.
create function firm_delete_queues(p_firm uuid) returns table (table_name text, n_rows bigint)
language plpgsql volatile security definer
set search_path = pg_catalog, public, pg_temp
as $$
begin
  if p_firm is distinct from current_firm_id() then
    raise exception 'firm_delete_queues: firm % is not the transaction''s firm', p_firm
      using errcode = 'insufficient_privilege';
  end if;
  table_name := 'outbox';
  delete from public.outbox where firm_id = p_firm;
  get diagnostics n_rows = row_count;
  return next;
  if to_regclass('public.inbox') is not null then
    table_name := 'inbox';
    execute 'delete from public.inbox where firm_id = $1' using p_firm;
    get diagnostics n_rows = row_count;
    return next;
  end if;
end
$$;

alter function firm_row_counts(uuid) owner to {{.owner_role}};
alter function firm_delete_queues(uuid) owner to {{.owner_role}};
revoke execute on function firm_row_counts(uuid), firm_delete_queues(uuid) from public;
grant execute on function firm_row_counts(uuid), firm_delete_queues(uuid) to {{.runtime_role}};
