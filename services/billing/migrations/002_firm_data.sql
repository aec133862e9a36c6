{{ template "shared/firm_data.sql" . }}

-- Deleting a firm (lifecycle's DeleteFirmData) removes every row it owns; these
-- tables had no DELETE for the runtime role until now.
grant delete on accounts, subscriptions, stripe_events to {{.runtime_role}};
