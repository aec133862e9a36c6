-- The scheduled retention run: one row per run with what it removed, and a single
-- lease row so that, across replicas, only one runner prunes at a time.
create table retention_runs (
  id          uuid primary key,
  runner      text not null,
  state       text not null check (state in ('running', 'succeeded', 'failed')),
  start_time  timestamptz not null,
  end_time    timestamptz,
  -- [{"service": ..., "table": ..., "rows": n}, ...]
  removed     jsonb not null default '[]',
  -- {"service": "why it failed"}
  failures    jsonb not null default '{}'
);
create index retention_runs_recent on retention_runs (start_time desc);

create table retention_lease (
  id            boolean primary key default true check (id),
  runner        text,
  leased_until  timestamptz,
  -- When the last run started: the next is due an interval later.
  last_start    timestamptz
);
insert into retention_lease default values;

-- Neither table names a firm: operators read them, no member ever does.
grant select, insert, update on retention_runs, retention_lease to {{.runtime_role}};

{{ template "shared/queue_prune.sql" . }}
