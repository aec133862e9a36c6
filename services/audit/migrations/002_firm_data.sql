{{ template "shared/firm_data.sql" . }}

-- Firm deletion is the one exception to the append-only log besides retention: a
-- firm that asked for full deletion has its whole chain removed, and only through
-- audit_delete_firm below. The triggers let a DELETE through only when the row's firm
-- is the one that function is deleting (a transaction-local setting it sets and
-- clears around its own statements); every other UPDATE, DELETE or TRUNCATE is still
-- refused, by the owner's hand too. Roles other than the owner have no DELETE
-- privilege on these tables, so no one else can use the setting.
create or replace function audit_refuse_change() returns trigger
language plpgsql
set search_path = pg_catalog, public, pg_temp
as $$
begin
  if tg_op = 'DELETE' and tg_level = 'ROW'
     and old.firm_id::text = current_setting('audit.deleting_firm', true) then
    return old;
  end if;
  raise exception 'the audit log is append-only: % on % refused', tg_op, tg_table_name
    using errcode = 'insufficient_privilege';
end
$$;

-- Deletes the firm's chain (events, their ids, checkpoints, chain starts, head) and
-- settings, and answers rows removed per table. Only for the firm the calling
-- transaction is scoped to; the caller records the head hash first.
create function audit_delete_firm(p_firm uuid) returns table (table_name text, n_rows bigint)
language plpgsql volatile security definer
set search_path = pg_catalog, public, pg_temp
as $$
begin
  if p_firm is distinct from current_firm_id() then
    raise exception 'audit_delete_firm: firm % is not the transaction''s firm', p_firm
      using errcode = 'insufficient_privilege';
  end if;
  perform set_config('audit.deleting_firm', p_firm::text, true);
  table_name := 'audit_events';
  delete from public.audit_events where firm_id = p_firm;
  get diagnostics n_rows = row_count;
  return next;
  table_name := 'audit_event_ids';
  delete from public.audit_event_ids where firm_id = p_firm;
  get diagnostics n_rows = row_count;
  return next;
  table_name := 'audit_checkpoints';
  delete from public.audit_checkpoints where firm_id = p_firm;
  get diagnostics n_rows = row_count;
  return next;
  table_name := 'audit_chain_starts';
  delete from public.audit_chain_starts where firm_id = p_firm;
  get diagnostics n_rows = row_count;
  return next;
  table_name := 'audit_chain_heads';
  delete from public.audit_chain_heads where firm_id = p_firm;
  get diagnostics n_rows = row_count;
  return next;
  table_name := 'audit_settings';
  delete from public.audit_settings where firm_id = p_firm;
  get diagnostics n_rows = row_count;
  return next;
  perform set_config('audit.deleting_firm', '', true);
end
$$;
alter function audit_delete_firm(uuid) owner to {{.owner_role}};
revoke execute on function audit_delete_firm(uuid) from public;
grant execute on function audit_delete_firm(uuid) to {{.runtime_role}};
