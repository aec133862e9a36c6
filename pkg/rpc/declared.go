package rpc

import (
	"fmt"

	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/reflect/protoregistry"

	apiv1 "github.com/firmflow/firmflow/pkg/gen/firmflow/api/v1"
	"github.com/firmflow/firmflow/pkg/principal"
)

// DeclaredPolicies reads the (firmflow.api.v1.policy) option of every method of every
// service registered in the process's protobuf registry. A service's process links its
// generated packages, so its own methods are always among them; methods of services it
// does not serve are harmless extra entries. Methods without the option are absent and
// therefore refused.
func DeclaredPolicies() Policies {
	ps := Policies{}
	protoregistry.GlobalFiles.RangeFiles(func(fd protoreflect.FileDescriptor) bool {
		services := fd.Services()
		for i := range services.Len() {
			for name, policy := range servicePolicies(services.Get(i)) {
				ps[name] = policy
			}
		}
		return true
	})
	return ps
}

func servicePolicies(sd protoreflect.ServiceDescriptor) Policies {
	ps := Policies{}
	methods := sd.Methods()
	for i := range methods.Len() {
		md := methods.Get(i)
		declared, ok := proto.GetExtension(md.Options(), apiv1.E_Policy).(*apiv1.Policy)
		if !ok || declared == nil {
			continue
		}
		ps[fmt.Sprintf("/%s/%s", sd.FullName(), md.Name())] = policyFrom(declared)
	}
	return ps
}

func policyFrom(d *apiv1.Policy) Policy {
	p := Policy{
		Public:           d.GetPublic(),
		Peers:            d.GetPeers(),
		AnyPeer:          d.GetAnyPeer(),
		Scope:            d.GetScope(),
		DuringEnrollment: d.GetDuringEnrollment(),
		Staff:            d.GetStaff(),
		NoSupport:        d.GetNoSupport(),
		Created:          d.GetCreated(),
		Accepted:         d.GetAccepted(),
		Upsert:           d.GetUpsert(),
	}
	for _, r := range d.GetRoles() {
		switch r {
		case apiv1.Role_ROLE_OWNER:
			p.Roles = append(p.Roles, principal.RoleOwner)
		case apiv1.Role_ROLE_ADMIN:
			p.Roles = append(p.Roles, principal.RoleAdmin)
		case apiv1.Role_ROLE_MEMBER:
			p.Roles = append(p.Roles, principal.RoleMember)
		}
	}
	return p
}
