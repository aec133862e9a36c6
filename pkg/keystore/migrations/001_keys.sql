-- The key store: each firm's data keys, wrapped by the key-encryption key, in a
-- database of their own (firmflow_keys) with its own roles and its own short backup
-- retention, apart from the services' data and its backups. Destroying a firm's rows
-- here (and letting the few days of key-store backups expire) makes every sealed
-- value of the firm unreadable, in the live databases and in every backup of them.
--
-- No row-level security: the runtime role serves every firm's services, and this
-- database holds nothing but keys.

create table data_keys (
  id           uuid primary key,
  firm_id      uuid not null,
  -- The service the key seals for ("identity", "workflow"): services do not share a
  -- data key.
  service      text not null check (service ~ '^[a-z][a-z0-9_-]{0,62}$'),
  wrapped_key  bytea not null,
  kek_id       text not null,
  create_time  timestamptz not null default now(),
  unique (firm_id, service)
);

-- Firms whose keys were destroyed, so that a late write cannot create a fresh key and
-- seal new data for a deleted firm.
create table destroyed_firms (
  firm_id       uuid primary key,
  key_ids       uuid[] not null,
  destroy_time  timestamptz not null default now()
);

revoke all on data_keys, destroyed_firms from public;
grant select, insert, delete on data_keys to {{.runtime_role}};
grant select, insert on destroyed_firms to {{.runtime_role}};
revoke create on schema public from public;
grant usage on schema public to {{.runtime_role}};
