-- Applied Stripe event ids exist to refuse a second delivery. Stripe retries a
-- webhook for 3 days and its events API (the reconciler's source) keeps events for
-- 30, so an id is kept 35 days after it was received, then the retention run
-- removes it.
{{ template "shared/table_prune.sql" dict "function" "prune_stripe_events" "table" "stripe_events" "where" "received_at < p_now - interval '35 days'" "owner_role" .owner_role "runtime_role" .runtime_role }}
