-- workflow's webhook_subscription_disabled event joins the firm's notifications: the
-- notification's id is the event's, so a redelivered event adds nothing.
alter table notifications drop constraint notifications_kind_check;
alter table notifications add constraint notifications_kind_check check (kind in ('support_requested',
  'support_approved', 'support_denied', 'support_first_used', 'support_expired', 'support_revoked', 'incident',
  'webhook_disabled'));
alter table notifications add column webhook_subscription text;
