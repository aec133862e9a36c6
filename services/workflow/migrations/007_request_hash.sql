-- The fingerprint (SHA-256) of the request that claimed a request_id, so that the id
-- reused for a different request is refused (REQUEST_ID_REUSED) rather than answered
-- with the first request's resource. Claims made before have none and are taken as
-- retries.
alter table create_requests add column request_hash bytea;
