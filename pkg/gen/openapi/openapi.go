// Package openapi embeds the OpenAPI 3.1 document of the REST API that `make gen`
// writes beside it (tools/protoc-gen-openapi31), as JSON and as YAML.
package openapi

import _ "embed"

// JSON is the OpenAPI 3.1 document as JSON.
//
//go:embed firmflow.openapi.json
var JSON []byte

// YAML is the same document as YAML.
//
//go:embed firmflow.openapi.yaml
var YAML []byte
