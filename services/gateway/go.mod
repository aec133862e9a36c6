module github.com/firmflow/firmflow/services/gateway

go 1.26.7

require github.com/firmflow/firmflow/pkg v0.0.0

replace github.com/firmflow/firmflow/pkg => ../../pkg
