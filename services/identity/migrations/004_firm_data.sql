-- Firm keys move to the key store (pkg/keystore, its own database): a key kept beside
-- its ciphertext would come back with every backup and defeat crypto-shredding.
-- Keys in this table are dropped with it; a development database is recreated.
drop table firm_keys;

{{ template "shared/firm_data.sql" . }}

-- Deleting a firm (lifecycle's DeleteFirmData) removes every row it owns, the firm
-- included; these tables had no DELETE for the runtime role until now.
grant delete on firms, api_keys, invitations, support_grants, notifications to {{.runtime_role}};
