{{/* Usage: {{ template "shared/firm_table.sql" dict "table" "members" "runtime_role" .runtime_role "privileges" "select, insert, update, delete" }}
     Forces row-level security on a firm-owned table and grants the runtime role. */}}
alter table {{.table}} enable row level security;
alter table {{.table}} force row level security;
create policy {{.table}}_firm_isolation on {{.table}}
  using (firm_id = current_firm_id())
  with check (firm_id = current_firm_id());
grant {{.privileges}} on {{.table}} to {{.runtime_role}};
