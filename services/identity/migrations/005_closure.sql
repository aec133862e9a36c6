-- A firm whose deletion is scheduled is read-only for its grace period: lifecycle sets
-- the mark, Authenticate carries it in the principal, and every service refuses writes.
alter table firms add column deletion_scheduled boolean not null default false;
