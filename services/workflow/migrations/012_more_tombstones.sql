-- Tombstones for templates, series and custom field definitions, as migration 009
-- made them for clients, contacts, projects and tasks: a delete keeps the row with
-- delete_time set (and update_time moved to the same instant) for 30 days, every
-- read leaves it out unless a list asks for show_deleted, and the retention run
-- (prune_workflow, replaced below) purges it. What a tombstone keeps is its id,
-- display name, a series' client and template, a custom field's key and type, and
-- its times; the delete erases the rest (a template's description, budget, tasks and
-- revisions; a series' assignee and its periods; a field's options and every value
-- of it). Projects made by a deleted template or series forget it, as before.
alter table templates add column delete_time timestamptz;
alter table series add column delete_time timestamptz;
alter table custom_field_definitions add column delete_time timestamptz;

-- A deleted field's key may be given to a new field.
alter table custom_field_definitions drop constraint custom_field_definitions_key;
create unique index custom_field_definitions_key on custom_field_definitions (firm_id, key) where delete_time is null;

-- Sync lists page in (update_time, id) order.
create index templates_by_update_time on templates (firm_id, update_time, id);
create index series_by_update_time on series (firm_id, update_time, id);
create index custom_field_definitions_by_update_time on custom_field_definitions (firm_id, update_time, id);
-- The retention run finds tombstones by age, across firms.
create index templates_tombstones on templates (delete_time) where delete_time is not null;
create index series_tombstones on series (delete_time) where delete_time is not null;
create index custom_field_definitions_tombstones on custom_field_definitions (delete_time) where delete_time is not null;

-- A deleted series never runs (its next_run_date is cleared too).
create or replace function series_due(today date, batch integer) returns table (firm_id uuid, series_id uuid)
language sql stable security definer
set search_path = pg_catalog, public, pg_temp
as $$
  select s.firm_id, s.id from public.series s
  where not s.paused and s.next_run_date is not null and s.next_run_date <= today and s.delete_time is null
  order by s.next_run_date, s.id
  limit batch
$$;
alter function series_due(date, integer) owner to {{.owner_role}};
revoke execute on function series_due(date, integer) from public;
grant execute on function series_due(date, integer) to {{.runtime_role}};

-- Children first, as in migration 009. A series is deleted before its client and
-- its template can be (both refuse while a live series uses them), so series go
-- before clients and templates; a client or template tombstone some tombstone still
-- refers to waits for the next run.
create or replace function prune_workflow(p_now timestamptz) returns table (table_name text, n_rows bigint)
language plpgsql volatile security definer
set search_path = pg_catalog, public, pg_temp
as $$
begin
  table_name := 'tasks';
  delete from public.tasks where delete_time < p_now - interval '30 days';
  get diagnostics n_rows = row_count;
  return next;

  table_name := 'projects';
  delete from public.projects p where p.delete_time < p_now - interval '30 days'
    and not exists (select 1 from public.tasks t where t.firm_id = p.firm_id and t.project_id = p.id);
  get diagnostics n_rows = row_count;
  return next;

  table_name := 'contacts';
  delete from public.contacts where delete_time < p_now - interval '30 days';
  get diagnostics n_rows = row_count;
  return next;

  table_name := 'series';
  delete from public.series where delete_time < p_now - interval '30 days';
  get diagnostics n_rows = row_count;
  return next;

  table_name := 'templates';
  delete from public.templates t where t.delete_time < p_now - interval '30 days'
    and not exists (select 1 from public.series s where s.firm_id = t.firm_id and s.template_id = t.id);
  get diagnostics n_rows = row_count;
  return next;

  table_name := 'custom_field_definitions';
  delete from public.custom_field_definitions where delete_time < p_now - interval '30 days';
  get diagnostics n_rows = row_count;
  return next;

  table_name := 'clients';
  delete from public.clients c where c.delete_time < p_now - interval '30 days'
    and not exists (select 1 from public.projects p where p.firm_id = c.firm_id and p.client_id = c.id)
    and not exists (select 1 from public.series s where s.firm_id = c.firm_id and s.client_id = c.id);
  get diagnostics n_rows = row_count;
  return next;
end
$$;
alter function prune_workflow(timestamptz) owner to {{.owner_role}};
revoke execute on function prune_workflow(timestamptz) from public;
grant execute on function prune_workflow(timestamptz) to {{.runtime_role}};

-- A client-contact link has update_time too, set by every change to it, so a sync
-- can ask a client's links for what changed.
alter table client_contacts add column update_time timestamptz;
update client_contacts set update_time = create_time;
alter table client_contacts alter column update_time set not null;
