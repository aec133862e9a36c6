-- The authentication functions of 006 as PL/pgSQL, with the same signatures, rows and
-- rights. PostgreSQL plans the body of a SQL function that it cannot inline (these are
-- SECURITY DEFINER with their own search_path) again on every call, while PL/pgSQL
-- keeps a statement's plan for the connection: planning was most of the cost of the
-- statement the gateway causes on every request (BenchmarkAuthenticateStatement
-- measures both).

create or replace function authenticate_session(p_token_hash bytea) returns table (
  session_id uuid, firm_id uuid, member_id uuid, csrf_hash bytea, enrolling boolean,
  last_seen_time timestamptz, idle_expire_time timestamptz, expire_time timestamptz, revoke_time timestamptz,
  role text, deletion_scheduled boolean)
language plpgsql stable security definer set search_path = public, pg_temp
as $$
#variable_conflict use_column
begin
  return query
  select s.id, s.firm_id, s.member_id, s.csrf_hash, s.enrolling,
    s.last_seen_time, s.idle_expire_time, s.expire_time, s.revoke_time, m.role, f.deletion_scheduled
  from sessions s
  join members m on m.id = s.member_id and m.firm_id = s.firm_id
  join firms f on f.id = s.firm_id
  where s.token_hash = p_token_hash;
end
$$;

create or replace function authenticate_api_key(p_secret_hash bytea, p_now timestamptz) returns table (
  api_key_id uuid, firm_id uuid, scopes text[], expire_time timestamptz, revoke_time timestamptz,
  deletion_scheduled boolean)
language plpgsql volatile security definer set search_path = public, pg_temp
as $$
#variable_conflict use_column
begin
  return query
  with key as (
    select k.id, k.firm_id, k.scopes, k.expire_time, k.revoke_time, k.last_used_time
    from api_keys k where k.secret_hash = p_secret_hash
  ), touched as (
    update api_keys k set last_used_time = p_now
    from key
    where k.id = key.id and key.revoke_time is null and (key.expire_time is null or key.expire_time > p_now)
      and (key.last_used_time is null or key.last_used_time < p_now - interval '1 minute')
  )
  select key.id, key.firm_id, key.scopes, key.expire_time, key.revoke_time, f.deletion_scheduled
  from key join firms f on f.id = key.firm_id;
end
$$;
