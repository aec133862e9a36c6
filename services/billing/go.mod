module github.com/firmflow/firmflow/services/billing

go 1.26.7

require github.com/firmflow/firmflow/pkg v0.0.0

require github.com/stripe/stripe-go/v76 v76.25.0 // indirect

replace github.com/firmflow/firmflow/pkg => ../../pkg
