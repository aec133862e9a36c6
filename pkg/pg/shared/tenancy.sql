-- The firm the current transaction is scoped to (pg.DB.InFirm), or NULL.
-- Row-level security policies compare firm_id with it, so an unscoped query sees nothing.
create or replace function current_firm_id() returns uuid
language sql stable parallel safe
as $$ select nullif(current_setting('app.firm_id', true), '')::uuid $$;

-- Nothing may be created in public except by the owner.
revoke create on schema public from public;
grant usage on schema public to {{.runtime_role}};
