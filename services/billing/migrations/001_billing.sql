{{ template "shared/tenancy.sql" . }}

-- A firm's billing account: its Stripe customer, and the member count its seats
-- follow. Created from identity's firm_created event.
create table accounts (
  firm_id             uuid primary key,
  stripe_customer_id  text not null unique,
  active_members      integer not null default 0 check (active_members >= 0),
  -- When identity counted active_members: older counts arriving late are ignored.
  members_as_of       timestamptz not null default 'epoch',
  create_time         timestamptz not null default now()
);
{{ template "shared/firm_table.sql" dict "table" "accounts" "runtime_role" .runtime_role "privileges" "select, insert, update" }}

-- The firm's current subscription as Stripe last showed it (domain.Subscription).
-- No payment method, card or bank detail is kept: Stripe holds them.
create table subscriptions (
  firm_id                 uuid primary key references accounts (firm_id) on delete cascade,
  stripe_subscription_id  text not null,
  status                  text not null check (status in ('incomplete', 'incomplete_expired', 'trialing',
                            'active', 'past_due', 'unpaid', 'canceled', 'paused')),
  price_id                text not null,
  item_id                 text not null,
  quantity                bigint not null check (quantity >= 0),
  current_period_end      timestamptz,
  cancel_at_period_end    boolean not null,
  canceled_at             timestamptz,
  -- Stripe's creation time of the subscription and of the newest observation
  -- applied: together they keep older events from undoing newer ones.
  subscription_created    timestamptz not null,
  observed_at             timestamptz not null,
  lapsed_at               timestamptz,
  update_time             timestamptz not null default now()
);
{{ template "shared/firm_table.sql" dict "table" "subscriptions" "runtime_role" .runtime_role "privileges" "select, insert, update" }}

-- Stripe events applied, from the webhook or the reconciler, each written in the
-- transaction of its effect: a second delivery finds its id and changes nothing.
create table stripe_events (
  id           text primary key,
  firm_id      uuid not null,
  type         text not null,
  created      timestamptz not null,
  source       text not null check (source in ('webhook', 'reconciler')),
  received_at  timestamptz not null default now()
);
create index stripe_events_received on stripe_events (received_at);
{{ template "shared/firm_table.sql" dict "table" "stripe_events" "runtime_role" .runtime_role "privileges" "select, insert" }}

-- Where the reconciler's last complete pass over Stripe's event list got to. One
-- row; it describes no firm.
create table reconciler_position (
  id              boolean primary key default true check (id),
  events_through  timestamptz not null
);
grant select, insert, update on reconciler_position to {{.runtime_role}};

-- Stripe's webhooks name a customer, not a firm: this finds the firm, and is the only
-- read across firms. It runs as the owner, which bypasses row-level security.
create function lookup_customer(p_customer text) returns uuid
language sql stable security definer set search_path = public, pg_temp
as $$ select a.firm_id from accounts a where a.stripe_customer_id = p_customer $$;
revoke execute on function lookup_customer(text) from public;
grant execute on function lookup_customer(text) to {{.runtime_role}};

-- Identity's events that billing applied (pkg/inbox).
{{ template "shared/inbox.sql" . }}

-- Billing's change events leave through the transactional outbox.
{{ template "shared/outbox.sql" . }}
