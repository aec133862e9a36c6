-- A security incident's notice, posted by lifecycle, joins the firm's notifications:
-- one per firm and incident however often lifecycle posts it.
alter table notifications drop constraint notifications_kind_check;
alter table notifications add constraint notifications_kind_check check (kind in ('support_requested',
  'support_approved', 'support_denied', 'support_first_used', 'support_expired', 'support_revoked', 'incident'));
alter table notifications add column incident_id uuid;
create unique index notifications_one_per_incident on notifications (firm_id, incident_id) where incident_id is not null;
