-- Ingestion appends through COPY, the bulk path PostgreSQL takes rows fastest by,
-- as a role of its own: audit_ingest. PostgreSQL refuses COPY FROM into a table under
-- row-level security, so audit_ingest bypasses it (BYPASSRLS, which only an
-- administrator may grant: server.Provision creates the role, as it does
-- audit_retention). What keeps it narrow is what it is granted: INSERT on the log and
-- nothing else on any table (it reads nothing, changes nothing, deletes nothing; the
-- append-only triggers stop it as they stop the owner), and the functions that lock
-- and move the chain heads and record event ids. The runtime role keeps its rights:
-- SELECT, and appending through audit_append.
do $$
begin
  if not exists (select from pg_roles where rolname = 'audit_ingest') then
    raise exception 'role audit_ingest does not exist: an administrator runs "create role audit_ingest login bypassrls" first';
  end if;
  execute format('grant connect on database %I to audit_ingest', current_database());
end
$$;
grant usage on schema public to audit_ingest;
grant insert on audit_events to audit_ingest;

-- Moves each head to its firm's last event, once the batch's events are in.
create function audit_move_heads(p_firm uuid[], p_seq bigint[], p_hash bytea[], p_record_time timestamptz[]) returns void
language sql volatile security definer
set search_path = pg_catalog, public, pg_temp
as $$
  update public.audit_chain_heads h set seq = n.seq, hash = n.hash, record_time = n.record_time
  from unnest(p_firm, p_seq, p_hash, p_record_time) as n(firm_id, seq, hash, record_time)
  where h.firm_id = n.firm_id;
$$;
revoke execute on function audit_move_heads(uuid[], bigint[], bytea[], timestamptz[]) from public;
grant execute on function audit_move_heads(uuid[], bigint[], bytea[], timestamptz[]), audit_lock_heads(uuid[]),
  audit_claim_events(uuid[], uuid[]) to audit_ingest;
