-- Tombstones, so an integrator syncing with update_time sees deletes (AIP-164 style).
-- Deleting a client, contact, project or task keeps its row with delete_time set
-- (and update_time moved to the same instant) for 30 days; every read leaves such
-- rows out unless a list asks for show_deleted. What a tombstone keeps is what a
-- sync needs to recognise the object: its id, display name (or title), external
-- id, kind, links to its client or project, and its times. Sensitive and personal
-- values are erased in the delete itself (tax id and its blind index, bank numbers,
-- notes, description, tags, assignees, services, custom field values, a contact's
-- names, emails, phones and addresses). The retention run (prune_workflow below,
-- called by FirmDataService.Prune) removes tombstones older than 30 days; deleting
-- a firm removes them with everything else.
alter table clients add column delete_time timestamptz;
alter table contacts add column delete_time timestamptz;
alter table projects add column delete_time timestamptz;
alter table tasks add column delete_time timestamptz;

-- A deleted client's external id may be given to a new client. (Its tax id is
-- erased on delete, so clients_tax_id_index needs no change.)
drop index clients_external_id;
create unique index clients_external_id on clients (firm_id, external_id)
  where external_id is not null and delete_time is null;

-- Sync lists page in (update_time, id) order.
create index clients_by_update_time on clients (firm_id, update_time, id);
create index contacts_by_update_time on contacts (firm_id, update_time, id);
create index projects_by_update_time on projects (firm_id, update_time, id);
create index tasks_by_update_time on tasks (firm_id, update_time, id);
-- The retention run finds tombstones by age, across firms.
create index clients_tombstones on clients (delete_time) where delete_time is not null;
create index contacts_tombstones on contacts (delete_time) where delete_time is not null;
create index projects_tombstones on projects (delete_time) where delete_time is not null;
create index tasks_tombstones on tasks (delete_time) where delete_time is not null;

-- Across every firm, so it runs as the owner (BYPASSRLS). Children first: a
-- project's tasks are deleted with it (same delete_time), and a client can only be
-- deleted once it has no live projects, so its projects' tombstones are at least as
-- old as its own; a client tombstone some project tombstone still refers to waits
-- for the next run rather than failing this one.
create function prune_workflow(p_now timestamptz) returns table (table_name text, n_rows bigint)
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
