-- Firm keys move to the key store (pkg/keystore, its own database): a key kept beside
-- its ciphertext would come back with every backup and defeat crypto-shredding.
-- Keys in this table are dropped with it; a development database is recreated.
drop table firm_keys;

{{ template "shared/firm_data.sql" . }}

-- Deleting a firm (lifecycle's DeleteFirmData) removes every row it owns; these
-- tables were insert-only for the runtime role until now.
grant delete on create_requests, template_revisions, series_periods, member_capacities to {{.runtime_role}};
