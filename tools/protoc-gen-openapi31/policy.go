package main

import (
	"fmt"
	"strings"

	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protodesc"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/reflect/protoregistry"
	"google.golang.org/protobuf/types/descriptorpb"
	"google.golang.org/protobuf/types/dynamicpb"
	"google.golang.org/protobuf/types/pluginpb"
)

// policyExtensionName is the method option every firmflow RPC declares its policy in
// (proto/firmflow/api/v1/policy.proto).
const policyExtensionName = "firmflow.api.v1.policy"

// policy is what the generator needs of a method's firmflow.api.v1.policy.
type policy struct {
	public, created, accepted, upsert, staff, noSupport, duringEnrollment bool
	roles                                                                 []string
	scope                                                                 string
}

// supportGrant reports a method staff may call under a support grant, which they
// name in X-Support-Grant.
func (p policy) supportGrant() bool { return !p.public && !p.staff && !p.noSupport && len(p.roles) > 0 }

// policyReader reads the policy option from the descriptors in the request itself,
// so the plugin follows policy.proto without being rebuilt against its Go code.
type policyReader struct {
	types     *protoregistry.Types
	extension protoreflect.ExtensionType
}

func newPolicyReader(req *pluginpb.CodeGeneratorRequest) (*policyReader, error) {
	files, err := protodesc.NewFiles(&descriptorpb.FileDescriptorSet{File: req.GetProtoFile()})
	if err != nil {
		return nil, fmt.Errorf("read the request's files: %w", err)
	}
	d, err := files.FindDescriptorByName(policyExtensionName)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", policyExtensionName, err)
	}
	xd, ok := d.(protoreflect.ExtensionDescriptor)
	if !ok {
		return nil, fmt.Errorf("%s is not an extension", policyExtensionName)
	}
	r := &policyReader{types: new(protoregistry.Types), extension: dynamicpb.NewExtensionType(xd)}
	if err := r.types.RegisterExtension(r.extension); err != nil {
		return nil, err
	}
	return r, nil
}

func (r *policyReader) read(opts proto.Message) (policy, bool) {
	raw, err := proto.Marshal(opts)
	if err != nil {
		return policy{}, false
	}
	// Parsed as the request's own MethodOptions, which the extension extends.
	parsed := dynamicpb.NewMessage(r.extension.TypeDescriptor().ContainingMessage())
	if err := (proto.UnmarshalOptions{Resolver: r.types}).Unmarshal(raw, parsed); err != nil {
		return policy{}, false
	}
	xd := r.extension.TypeDescriptor()
	if !parsed.Has(xd) {
		return policy{}, false
	}
	msg := parsed.Get(xd).Message()
	fields := msg.Descriptor().Fields()
	flag := func(name protoreflect.Name) bool {
		f := fields.ByName(name)
		return f != nil && msg.Get(f).Bool()
	}
	p := policy{
		public: flag("public"), created: flag("created"), accepted: flag("accepted"), upsert: flag("upsert"),
		staff: flag("staff"), noSupport: flag("no_support"), duringEnrollment: flag("during_enrollment"),
	}
	if f := fields.ByName("scope"); f != nil {
		p.scope = msg.Get(f).String()
	}
	if f := fields.ByName("roles"); f != nil && f.Enum() != nil {
		list := msg.Get(f).List()
		for i := range list.Len() {
			if v := f.Enum().Values().ByNumber(list.Get(i).Enum()); v != nil {
				p.roles = append(p.roles, strings.ToLower(strings.TrimPrefix(string(v.Name()), "ROLE_")))
			}
		}
	}
	return p, true
}
