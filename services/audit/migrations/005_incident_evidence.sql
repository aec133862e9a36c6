-- Lifecycle's impact analysis of a security incident asks across firms: which access
-- events in an attack window were made by compromised actors, in compromised firms,
-- or (p_all, when addresses are compromised) every access event of the window, whose
-- client address is in the payload and is matched by the caller. Runs as the owner
-- (BYPASSRLS); the runtime role reaches it only through IncidentEvidenceService,
-- which only lifecycle's certificate may call.
create function audit_incident_access_events(p_start timestamptz, p_end timestamptz,
    p_actors text[], p_firms uuid[], p_all boolean)
  returns table (firm_id uuid, seq bigint, event_time timestamptz, actor text, resources text[], payload bytea)
language sql stable security definer
set search_path = pg_catalog, public, pg_temp
as $$
  select e.firm_id, e.seq, e.time, e.actor, e.resources, e.payload from audit_events e
  where e.kind = 'access' and e.time >= p_start and e.time < p_end
    and (p_all or e.actor = any(p_actors) or e.firm_id = any(p_firms))
  order by e.firm_id, e.seq
$$;

-- Those of the actors that no event of any firm names: an incident naming them is
-- refused, as a typo would make the analysis miss the attacker silently.
create function audit_unknown_actors(p_actors text[]) returns setof text
language sql stable security definer
set search_path = pg_catalog, public, pg_temp
as $$
  select a from unnest(p_actors) a
  where not exists (select 1 from audit_events e where e.actor = a)
$$;

revoke all on function audit_incident_access_events(timestamptz, timestamptz, text[], uuid[], boolean),
  audit_unknown_actors(text[]) from public;
grant execute on function audit_incident_access_events(timestamptz, timestamptz, text[], uuid[], boolean),
  audit_unknown_actors(text[]) to {{.runtime_role}};
