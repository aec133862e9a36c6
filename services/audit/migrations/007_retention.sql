-- What the scheduled retention run (FirmDataService.Prune) removes from the queues.
{{ template "shared/queue_prune.sql" . }}
