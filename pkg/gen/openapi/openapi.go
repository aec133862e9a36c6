// Package openapi embeds the merged OpenAPI document that `make gen` writes beside it.
package openapi

import _ "embed"

// Document is the merged OpenAPI v2 document for every public API.
//
//go:embed firmflow.swagger.json
var Document []byte
