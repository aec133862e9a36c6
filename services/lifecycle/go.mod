module github.com/firmflow/firmflow/services/lifecycle

go 1.26.7

require (
	github.com/firmflow/firmflow/pkg v0.0.0
	google.golang.org/grpc v1.85.0
)

require (
	golang.org/x/sys v0.49.0 // indirect
	google.golang.org/genproto/googleapis/rpc v0.0.0-20261104224025-d1e00e9f33ab // indirect
	google.golang.org/protobuf v1.36.12 // indirect
)

replace github.com/firmflow/firmflow/pkg => ../../pkg
