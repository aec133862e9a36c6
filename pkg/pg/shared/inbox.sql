{{/* Usage: {{ template "shared/inbox.sql" . }}, after shared/tenancy.sql.
     The consumer side of pkg/inbox: the ids of the events a service has already
     applied, each written in the transaction that applied it (inbox.Record), so a
     redelivered event finds its id here and has no second effect. */}}
create table inbox (
  event_id      uuid primary key,
  firm_id       uuid not null,
  subject       text not null,
  occurred_at   timestamptz not null,
  processed_at  timestamptz not null default now()
);
{{ template "shared/firm_table.sql" dict "table" "inbox" "runtime_role" .runtime_role "privileges" "select, insert" }}
