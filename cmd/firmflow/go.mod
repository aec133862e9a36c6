module github.com/firmflow/firmflow/cmd/firmflow

go 1.26.7

require (
	github.com/firmflow/firmflow/pkg v0.0.0
	github.com/firmflow/firmflow/services/gateway v0.0.0
	github.com/firmflow/firmflow/services/identity v0.0.0
)

replace (
	github.com/firmflow/firmflow/pkg => ../../pkg
	github.com/firmflow/firmflow/services/gateway => ../../services/gateway
	github.com/firmflow/firmflow/services/identity => ../../services/identity
)
