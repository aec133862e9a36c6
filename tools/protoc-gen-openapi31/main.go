// Command protoc-gen-openapi31 writes the OpenAPI 3.1 document of firmflow's REST API
// (firmflow.openapi.json and firmflow.openapi.yaml) from the protos: one path per
// resource from each google.api.http template, request and response schemas from the
// messages as the gateway's JSON shows them, limits from buf.validate, status codes,
// security and headers from each method's firmflow.api.v1.policy, and the gateway's
// AIP-193 error body on every operation. Run by buf with strategy "all", so that one
// request holds every file.
package main

import (
	"bytes"
	"encoding/json"
	"fmt"

	"go.yaml.in/yaml/v3"
	"google.golang.org/protobuf/compiler/protogen"
	"google.golang.org/protobuf/types/pluginpb"
)

func main() {
	protogen.Options{}.Run(func(p *protogen.Plugin) error {
		p.SupportedFeatures = uint64(pluginpb.CodeGeneratorResponse_FEATURE_PROTO3_OPTIONAL)
		doc, err := build(p)
		if err != nil {
			return err
		}
		js, err := encodeJSON(doc)
		if err != nil {
			return err
		}
		ym, err := toYAML(js)
		if err != nil {
			return err
		}
		p.NewGeneratedFile("firmflow.openapi.json", "").P(string(bytes.TrimRight(js, "\n")))
		p.NewGeneratedFile("firmflow.openapi.yaml", "").P(string(bytes.TrimRight(ym, "\n")))
		return nil
	})
}

func encodeJSON(doc *document) ([]byte, error) {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	enc.SetIndent("", "  ")
	if err := enc.Encode(doc); err != nil {
		return nil, fmt.Errorf("encode the document: %w", err)
	}
	return buf.Bytes(), nil
}

// toYAML rewrites the JSON document as block-style YAML, keys in the same order.
func toYAML(js []byte) ([]byte, error) {
	var node yaml.Node
	if err := yaml.Unmarshal(js, &node); err != nil {
		return nil, fmt.Errorf("read the document as YAML: %w", err)
	}
	var plain func(n *yaml.Node)
	plain = func(n *yaml.Node) {
		n.Style = 0
		for _, c := range n.Content {
			plain(c)
		}
	}
	plain(&node)
	var buf bytes.Buffer
	enc := yaml.NewEncoder(&buf)
	enc.SetIndent(2)
	if err := enc.Encode(&node); err != nil {
		return nil, fmt.Errorf("write the document as YAML: %w", err)
	}
	return buf.Bytes(), enc.Close()
}
