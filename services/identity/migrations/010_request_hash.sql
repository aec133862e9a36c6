-- The fingerprint (SHA-256) of the request that created an API key or invitation with
-- a request_id, so that the id reused for a different request is refused
-- (REQUEST_ID_REUSED) rather than answered with the first one's result. Rows made
-- before have none and are taken as retries.
alter table api_keys add column request_hash bytea;
alter table invitations add column request_hash bytea;
