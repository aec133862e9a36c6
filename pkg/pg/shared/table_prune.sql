{{/* Usage: {{ template "shared/table_prune.sql" dict "function" "prune_stripe_events" "table" "stripe_events" "where" "received_at < p_now - interval '35 days'" "owner_role" .owner_role "runtime_role" .runtime_role }}
     One table's part of the scheduled retention run (lifecycle's FirmDataService.Prune):
     a function of the run's clock, p_now, that deletes the table's rows matching
     "where" across every firm and answers (table_name, n_rows), as the Prune queries
     of pkg/firmdata.Tables expect. It runs as the owner: the run spans every firm. */}}
create function {{.function}}(p_now timestamptz) returns table (table_name text, n_rows bigint)
language plpgsql volatile security definer
set search_path = pg_catalog, public, pg_temp
as $$
begin
  table_name := '{{.table}}';
  delete from public.{{.table}} where {{.where}};
  get diagnostics n_rows = row_count;
  return next;
end
$$;
alter function {{.function}}(timestamptz) owner to {{.owner_role}};
revoke execute on function {{.function}}(timestamptz) from public;
grant execute on function {{.function}}(timestamptz) to {{.runtime_role}};
