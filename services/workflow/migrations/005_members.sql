-- The firm's members as identity's events tell them (member_joined, member_removed):
-- assignees and capacities may name only these. A removed member keeps a row with
-- remove_time set, so a late or redelivered member_joined cannot bring them back
-- (identity gives a member who returns a new id). A reference takes a share lock on
-- the row, so a removal waits for the write naming the member and then clears it.
create table members (
  firm_id      uuid not null,
  member_id    uuid not null,
  join_time    timestamptz not null,
  remove_time  timestamptz,
  primary key (firm_id, member_id)
);
{{ template "shared/firm_table.sql" dict "table" "members" "runtime_role" .runtime_role "privileges" "select, insert, update, delete" }}

-- Identity's events that workflow applied (pkg/inbox).
{{ template "shared/inbox.sql" . }}
