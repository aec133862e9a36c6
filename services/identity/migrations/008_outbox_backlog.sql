-- The outbox backlog the relay's metrics report.
{{ template "shared/outbox_backlog.sql" . }}
