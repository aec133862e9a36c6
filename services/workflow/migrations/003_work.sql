-- The firm's work: templates and their revisions, projects and their tasks,
-- recurring series and the periods they have made, and members' weekly capacity.
--
-- Every table carries firm_id and composite foreign keys include it, so a row can only
-- point at rows of its own firm. A client with projects or series cannot be deleted
-- (ON DELETE RESTRICT): deleting a client's work is a decision, not a side effect.
-- Versions count changes for etags. Indexes follow the keyset orders List offers:
-- (firm_id[, filter], sort key, id).

-- A template's current revision, read by every Get and List.
create table templates (
  id              uuid primary key,
  firm_id         uuid not null,
  display_name    text not null check (display_name <> '' and length(display_name) <= 200),
  description     text not null default '' check (length(description) <= 10000),
  budget_minutes  integer not null default 0 check (budget_minutes >= 0),
  -- Ordered task definitions (domain.TemplateTask as JSON).
  tasks           jsonb not null default '[]' check (jsonb_typeof(tasks) = 'array'),
  -- The current revision; also the etag version, since every edit makes a revision.
  revision        bigint not null default 1 check (revision >= 1),
  create_time     timestamptz not null,
  update_time     timestamptz not null,
  unique (firm_id, id)
);
create index templates_by_create_time on templates (firm_id, create_time, id);
{{ template "shared/firm_table.sql" dict "table" "templates" "runtime_role" .runtime_role "privileges" "select, insert, update, delete" }}

-- Every revision as it was, so a project can say exactly what it was made from.
create table template_revisions (
  firm_id         uuid not null,
  template_id     uuid not null,
  revision        bigint not null,
  display_name    text not null,
  description     text not null,
  budget_minutes  integer not null,
  tasks           jsonb not null,
  create_time     timestamptz not null,
  primary key (firm_id, template_id, revision),
  foreign key (firm_id, template_id) references templates (firm_id, id) on delete cascade
);
{{ template "shared/firm_table.sql" dict "table" "template_revisions" "runtime_role" .runtime_role "privileges" "select, insert" }}

create table series (
  id                 uuid primary key,
  firm_id            uuid not null,
  client_id          uuid not null,
  template_id        uuid not null,
  display_name       text not null check (display_name <> '' and length(display_name) <= 200),
  assignee_id        uuid,
  budget_minutes     integer not null default 0 check (budget_minutes >= 0),
  frequency          text not null check (frequency in ('weekly', 'monthly', 'quarterly', 'annually')),
  interval_count     integer not null check (interval_count between 1 and 52),
  start_date         date not null,
  end_date           date check (end_date >= start_date),
  due_kind           text not null check (due_kind in ('day_of_period', 'last_day', 'nth_weekday')),
  due_day            integer not null default 0,
  due_nth            integer not null default 0,
  due_weekday        integer not null default 0 check (due_weekday between 0 and 6),
  due_lag_days       integer not null default 0 check (due_lag_days between 0 and 366),
  weekend_shift      text not null check (weekend_shift in ('none', 'previous_weekday', 'next_weekday')),
  create_ahead_days  integer not null check (create_ahead_days between 0 and 366),
  paused             boolean not null default false,
  -- When the scheduler next has a period to create; null when the series has ended.
  next_run_date      date,
  version            bigint not null default 1,
  create_time        timestamptz not null,
  update_time        timestamptz not null,
  unique (firm_id, id),
  foreign key (firm_id, client_id) references clients (firm_id, id) on delete restrict,
  foreign key (firm_id, template_id) references templates (firm_id, id) on delete restrict
);
create index series_by_create_time on series (firm_id, create_time, id);
create index series_by_client on series (firm_id, client_id, create_time, id);
create index series_by_template on series (firm_id, template_id);
-- The scheduler's queue, across firms (through series_due below).
create index series_due_queue on series (next_run_date, id) where not paused and next_run_date is not null;
{{ template "shared/firm_table.sql" dict "table" "series" "runtime_role" .runtime_role "privileges" "select, insert, update, delete" }}

create table projects (
  id                    uuid primary key,
  firm_id               uuid not null,
  client_id             uuid not null,
  display_name          text not null check (display_name <> '' and length(display_name) <= 200),
  description           text not null default '' check (length(description) <= 10000),
  -- Derived from the tasks by the app in the transaction that changes them.
  status                text not null check (status in ('not_started', 'in_progress', 'completed')),
  start_date            date,
  due_date              date,
  deadline_date         date,
  -- due_date with "no due date" sorting last, so due-date keysets need no null logic.
  sort_due              date not null generated always as (coalesce(due_date, date '9999-12-31')) stored,
  assignee_id           uuid,
  budget_minutes        integer not null default 0 check (budget_minutes >= 0),
  tags                  text[] not null default '{}',
  template_id           uuid,
  template_revision     bigint,
  series_id             uuid,
  period_start          date,
  task_count            integer not null default 0,
  completed_task_count  integer not null default 0,
  version               bigint not null default 1,
  create_time           timestamptz not null,
  update_time           timestamptz not null,
  unique (firm_id, id),
  foreign key (firm_id, client_id) references clients (firm_id, id) on delete restrict,
  foreign key (firm_id, template_id) references templates (firm_id, id) on delete set null (template_id),
  foreign key (firm_id, series_id) references series (firm_id, id) on delete set null (series_id)
);
create index projects_by_client_create_time on projects (firm_id, client_id, create_time, id);
create index projects_by_client_due on projects (firm_id, client_id, sort_due, id);
create index projects_by_create_time on projects (firm_id, create_time, id);
create index projects_by_due on projects (firm_id, sort_due, id);
create index projects_by_assignee_due on projects (firm_id, assignee_id, sort_due, id) where assignee_id is not null;
create index projects_tags on projects using gin (tags);
-- Template and series edits replan the projects that have not started.
create index projects_not_started_by_template on projects (firm_id, template_id) where status = 'not_started' and template_id is not null;
create index projects_by_series on projects (firm_id, series_id, period_start) where series_id is not null;
{{ template "shared/firm_table.sql" dict "table" "projects" "runtime_role" .runtime_role "privileges" "select, insert, update, delete" }}

create table tasks (
  id                uuid primary key,
  firm_id           uuid not null,
  project_id        uuid not null,
  -- The project's client, copied so task lists filter by client without a join.
  client_id         uuid not null,
  position          integer not null check (position >= 0),
  title             text not null check (title <> '' and length(title) <= 200),
  description       text not null default '' check (length(description) <= 10000),
  role              text not null default '' check (length(role) <= 100),
  status            text not null check (status in ('ready', 'in_progress', 'complete')),
  assignee_id       uuid,
  due_date          date,
  sort_due          date not null generated always as (coalesce(due_date, date '9999-12-31')) stored,
  estimate_minutes  integer not null default 0 check (estimate_minutes >= 0),
  checklist         jsonb not null default '[]' check (jsonb_typeof(checklist) = 'array'),
  -- Made by the project's template: replaced when a template edit replans the project.
  from_template     boolean not null default false,
  complete_time     timestamptz,
  version           bigint not null default 1,
  create_time       timestamptz not null,
  update_time       timestamptz not null,
  unique (firm_id, id),
  foreign key (firm_id, project_id) references projects (firm_id, id) on delete cascade
);
create index tasks_by_project on tasks (firm_id, project_id, position, id);
create index tasks_by_due on tasks (firm_id, sort_due, id);
create index tasks_by_client_due on tasks (firm_id, client_id, sort_due, id);
-- Workload and "my work" read open tasks per member.
create index tasks_open_by_assignee on tasks (firm_id, assignee_id, sort_due, id) where status <> 'complete';
{{ template "shared/firm_table.sql" dict "table" "tasks" "runtime_role" .runtime_role "privileges" "select, insert, update, delete" }}

-- Each period a series has made a project for: the key makes a second run (or two
-- schedulers at once) create nothing new, and it outlives the project, so deleting
-- a period's project does not make the next run create it again.
create table series_periods (
  firm_id       uuid not null,
  series_id     uuid not null,
  period_start  date not null,
  project_id    uuid,
  create_time   timestamptz not null,
  unique (firm_id, series_id, period_start),
  foreign key (firm_id, series_id) references series (firm_id, id) on delete cascade,
  -- Deferred: a run claims the period first, then inserts its project.
  foreign key (firm_id, project_id) references projects (firm_id, id) on delete set null (project_id)
    deferrable initially deferred
);
{{ template "shared/firm_table.sql" dict "table" "series_periods" "runtime_role" .runtime_role "privileges" "select, insert" }}

-- Members' weekly capacity as admins set it; members without a row have the default.
create table member_capacities (
  firm_id         uuid not null,
  member_id       uuid not null,
  weekly_minutes  integer not null check (weekly_minutes between 0 and 10080),
  version         bigint not null default 1,
  update_time     timestamptz not null,
  primary key (firm_id, member_id)
);
{{ template "shared/firm_table.sql" dict "table" "member_capacities" "runtime_role" .runtime_role "privileges" "select, insert, update" }}

-- The scheduler finds the series with a period to create across firms through this
-- SECURITY DEFINER function owned by the owner role (BYPASSRLS); it returns ids only,
-- and each series is then run in a transaction scoped to its own firm.
create function series_due(today date, batch integer) returns table (firm_id uuid, series_id uuid)
language sql stable security definer
set search_path = pg_catalog, public, pg_temp
as $$
  select s.firm_id, s.id from public.series s
  where not s.paused and s.next_run_date is not null and s.next_run_date <= today
  order by s.next_run_date, s.id
  limit batch
$$;
alter function series_due(date, integer) owner to {{.owner_role}};
revoke execute on function series_due(date, integer) from public;
grant execute on function series_due(date, integer) to {{.runtime_role}};
