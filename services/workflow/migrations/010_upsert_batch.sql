-- Upserts and batches.
--
-- A contact carries its id in a CRM, unique in the firm like a client's, so a CRM
-- can upsert it by that id (UpsertContact). As with clients, a tombstone keeps it
-- (a sync recognises the deleted contact by it) and frees it for a new contact.
alter table contacts add column external_id text check (external_id <> '' and length(external_id) <= 128);
create unique index contacts_external_id on contacts (firm_id, external_id)
  where external_id is not null and delete_time is null;

-- A request_id claimed by a batch create answers its retry with every resource the
-- batch made, in request order (resource then names the first); one claimed by an
-- upsert that changed an existing resource rather than creating it says so, so the
-- retry answers as the first call did (200, not 201).
alter table create_requests add column resources text[];
alter table create_requests add column updated boolean not null default false;
