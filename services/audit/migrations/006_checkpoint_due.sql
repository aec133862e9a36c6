-- The firms whose chain head moved since their last checkpoint and whose last
-- checkpoint was signed before p_signed_before (or never): what audit signs when it
-- starts, so that a service restarted more often than its checkpoint interval still
-- signs, and one restarted seconds ago does not sign again.
create function audit_firms_checkpoint_due(p_signed_before timestamptz) returns setof uuid
language sql stable security definer
set search_path = pg_catalog, public, pg_temp
as $$
  select h.firm_id from public.audit_chain_heads h
  left join lateral (
    select max(c.seq) as seq, max(c.time) as time from public.audit_checkpoints c where c.firm_id = h.firm_id
  ) last on true
  where h.seq > coalesce(last.seq, 0) and coalesce(last.time, '-infinity') < p_signed_before
$$;
revoke execute on function audit_firms_checkpoint_due(timestamptz) from public;
grant execute on function audit_firms_checkpoint_due(timestamptz) to {{.runtime_role}};
