-- Authentication in one statement. The gateway asks identity about every request;
-- these resolve a session token or API key secret to what the principal needs (the
-- credential's state, the member's role, the firm's read-only mark) in one round
-- trip to the database, instead of a lookup transaction and a firm-scoped one. They
-- read the rows as they are at that statement, so a revocation committed before it
-- is seen. Narrow SECURITY DEFINER functions like the lookups above: only the row
-- of the presented secret's hash, and only what authentication needs.

-- The session of a token hash with its member's role and its firm's mark.
create function authenticate_session(p_token_hash bytea) returns table (
  session_id uuid, firm_id uuid, member_id uuid, csrf_hash bytea, enrolling boolean,
  last_seen_time timestamptz, idle_expire_time timestamptz, expire_time timestamptz, revoke_time timestamptz,
  role text, deletion_scheduled boolean)
language sql stable security definer set search_path = public, pg_temp
as $$
  select s.id, s.firm_id, s.member_id, s.csrf_hash, s.enrolling,
    s.last_seen_time, s.idle_expire_time, s.expire_time, s.revoke_time, m.role, f.deletion_scheduled
  from sessions s
  join members m on m.id = s.member_id and m.firm_id = s.firm_id
  join firms f on f.id = s.firm_id
  where s.token_hash = p_token_hash
$$;

-- The API key of a secret hash with its firm's mark. Use of a key that can be used
-- at p_now is recorded in the same statement, at most once a minute, so that a busy
-- integration does not write on every request.
create function authenticate_api_key(p_secret_hash bytea, p_now timestamptz) returns table (
  api_key_id uuid, firm_id uuid, scopes text[], expire_time timestamptz, revoke_time timestamptz,
  deletion_scheduled boolean)
language sql volatile security definer set search_path = public, pg_temp
as $$
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
  from key join firms f on f.id = key.firm_id
$$;

revoke execute on function authenticate_session(bytea), authenticate_api_key(bytea, timestamptz) from public;
grant execute on function authenticate_session(bytea), authenticate_api_key(bytea, timestamptz) to {{.runtime_role}};

-- Replaced by the two above.
drop function lookup_session(bytea), lookup_api_key(bytea);
