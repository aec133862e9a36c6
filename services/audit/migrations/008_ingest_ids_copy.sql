-- A batch's event ids go in with COPY too (store.ClaimNew): nearly every batch holds
-- only events the log has not seen, and COPY records their ids without the per-row
-- conflict check and answer of audit_claim_events. A batch holding an id the log
-- already has (a redelivery) fails that COPY on the primary key and is appended again
-- through audit_claim_events, which skips the ids already there. INSERT only: the
-- ingest role still reads, changes and deletes nothing.
grant insert on audit_event_ids to audit_ingest;
