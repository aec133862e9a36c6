// Package loadbench measures the whole stack under load on loopback: a firm seeded
// with 10,000 clients and 200,000 tasks, HTTPS requests through the gateway, and
// beside them a minimal net/http + pgx server doing the same SQL as the baseline.
// It is only a benchmark (`make bench`); `go test` without -bench seeds nothing.
package loadbench
