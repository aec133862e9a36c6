-- Identity's email (invitations, password resets, password changes) leaves through
-- the mail outbox of pkg/mail. Deleting a firm deletes the email it has queued.
{{ template "shared/mail_outbox.sql" . }}
grant delete on mail_outbox to {{.runtime_role}};

-- A password reset asked for by email. Every request is stored the same way whether
-- or not an account has the email, so that the answer takes the same time; a worker
-- then looks the email up and, for an account, creates the reset and its email.
-- Requests also count towards the rate limits per email and per client address;
-- they are deleted a day after they were handled.
create table password_reset_requests (
  id              uuid primary key,
  email           text not null,
  client_ip       text not null default '',
  create_time     timestamptz not null,
  handled_time    timestamptz
);
create index password_reset_requests_email on password_reset_requests (lower(email), create_time);
create index password_reset_requests_client on password_reset_requests (client_ip, create_time);
create index password_reset_requests_pending on password_reset_requests (create_time) where handled_time is null;
-- No firm is known yet: the table belongs to none, and holds nothing but the request.
grant select, insert, update, delete on password_reset_requests to {{.runtime_role}};

-- A single-use token, stored as its SHA-256 only, that sets a member's password.
-- Its id is the request's, so a request handled twice makes one reset.
create table password_resets (
  id           uuid primary key,
  firm_id      uuid not null references firms (id) on delete cascade,
  member_id    uuid not null references members (id) on delete cascade,
  token_hash   bytea not null unique,
  create_time  timestamptz not null,
  expire_time  timestamptz not null,
  used_time    timestamptz
);
create index password_resets_member on password_resets (firm_id, member_id);
{{ template "shared/firm_table.sql" dict "table" "password_resets" "runtime_role" .runtime_role "privileges" "select, insert, update, delete" }}

create function lookup_password_reset(p_token_hash bytea) returns table (firm_id uuid, reset_id uuid)
language sql stable security definer set search_path = public, pg_temp
as $$ select r.firm_id, r.id from password_resets r where r.token_hash = p_token_hash $$;
revoke execute on function lookup_password_reset(bytea) from public;
grant execute on function lookup_password_reset(bytea) to {{.runtime_role}};
