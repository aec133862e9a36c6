-- Password resets served their purpose once used or expired; the retention run
-- removes them a day after that. The day leaves a reset visible to support while the
-- person who asked may still write in about it; the token is dead from the first moment.
{{ template "shared/table_prune.sql" dict "function" "prune_password_resets" "table" "password_resets" "where" "least(used_time, expire_time) < p_now - interval '1 day'" "owner_role" .owner_role "runtime_role" .runtime_role }}
