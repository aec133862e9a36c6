-- Identity's change events leave through the transactional outbox.
{{ template "shared/outbox.sql" . }}
