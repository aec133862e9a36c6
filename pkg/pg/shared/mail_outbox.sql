{{/* Usage: {{ template "shared/mail_outbox.sql" . }}, after shared/tenancy.sql.
     The mail outbox of pkg/mail: a service queues an email in the transaction that
     makes the change it announces, and the mail worker delivers it over SMTP. */}}
create table mail_outbox (
  -- The Message-ID: queueing the same email twice queues it once.
  message_id      text primary key,
  firm_id         uuid not null,
  recipient       text not null,
  subject         text not null,
  -- Both bodies, sealed (pkg/mail) because they may carry a single-use token; cleared
  -- once the email is delivered or given up.
  body            bytea,
  status          text not null default 'pending' check (status in ('pending', 'sent', 'failed')),
  attempts        int not null default 0,
  next_attempt_at timestamptz not null default now(),
  -- Why the last attempt failed, as pkg/mail describes it: no recipient, no credential.
  last_error      text not null default '',
  created_at      timestamptz not null default now(),
  sent_at         timestamptz
);
create index mail_outbox_due on mail_outbox (next_attempt_at) where status = 'pending';

-- The runtime role may add emails and read its own firm's, never change them except
-- through the worker's functions below.
{{ template "shared/firm_table.sql" dict "table" "mail_outbox" "runtime_role" .runtime_role "privileges" "select, insert" }}

-- The worker reads across firms through these SECURITY DEFINER functions, in one
-- transaction per batch: FOR UPDATE SKIP LOCKED keeps two workers off the same email.
create function mail_outbox_claim(batch int, due timestamptz) returns setof mail_outbox
language sql volatile security definer
set search_path = pg_catalog, public, pg_temp
as $$
  select * from public.mail_outbox
  where status = 'pending' and next_attempt_at <= due
  order by next_attempt_at, created_at
  limit batch
  for update skip locked
$$;

-- Records one attempt: sent, failed for good, or pending again from next_at.
create function mail_outbox_record(p_message_id text, p_status text, p_error text, p_next_at timestamptz, p_at timestamptz) returns void
language sql volatile security definer
set search_path = pg_catalog, public, pg_temp
as $$
  update public.mail_outbox
  set attempts = attempts + 1,
      status = p_status,
      last_error = p_error,
      next_attempt_at = coalesce(p_next_at, next_attempt_at),
      sent_at = case when p_status = 'sent' then p_at end,
      body = case when p_status = 'pending' then body end
  where message_id = p_message_id and status = 'pending'
$$;

alter function mail_outbox_claim(int, timestamptz) owner to {{.owner_role}};
alter function mail_outbox_record(text, text, text, timestamptz, timestamptz) owner to {{.owner_role}};
revoke execute on function mail_outbox_claim(int, timestamptz),
  mail_outbox_record(text, text, text, timestamptz, timestamptz) from public;
grant execute on function mail_outbox_claim(int, timestamptz),
  mail_outbox_record(text, text, text, timestamptz, timestamptz) to {{.runtime_role}};
