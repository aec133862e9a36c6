package grpcapi

import (
	"strings"

	"github.com/firmflow/firmflow/pkg/apierr"
	"github.com/firmflow/firmflow/pkg/resource"
)

// The resource names of workflow's API, as resource.Parse reads them.
const (
	firmPattern          = "firms/{firm}"
	clientPattern        = "firms/{firm}/clients/{client}"
	contactPattern       = "firms/{firm}/contacts/{contact}"
	clientContactPattern = "firms/{firm}/clients/{client}/contacts/{contact}"
	customFieldPattern   = "firms/{firm}/customFields/{customField}"
	memberPattern        = "firms/{firm}/members/{member}"
	templatePattern      = "firms/{firm}/templates/{template}"
	projectPattern       = "firms/{firm}/projects/{project}"
	taskParentPattern    = "firms/{firm}/projects/{project|-}" // "-": every project (AIP-159)
	taskPattern          = "firms/{firm}/projects/{project}/tasks/{task}"
	seriesPattern        = "firms/{firm}/series/{series}"
	capacityPattern      = "firms/{firm}/capacities/{capacity}"
	permissionsPattern   = "firms/{firm}/permissions"
	workloadPattern      = "firms/{firm}/workload"
	myWorkPattern        = "firms/{firm}/myWork"

	webhookSubscriptionPattern = "firms/{firm}/webhookSubscriptions/{webhookSubscription}"
	webhookDeliveryPattern     = "firms/{firm}/webhookSubscriptions/{webhookSubscription}/deliveries/{delivery}"
)

// referenceID is the id in name, a reference to something of the firm in a
// collection ("firms/{firm}/clients/{client}"); "" stays "". A name in another firm
// is NOT_FOUND, as is any name the caller cannot see.
func referenceID(field, name, firmID, collection string) (string, error) {
	if name == "" {
		return "", nil
	}
	ids, err := resource.Parse(field, name, "firms/{firm}/"+collection+"/{id}")
	if err != nil {
		return "", err
	}
	if ids[0] != firmID {
		return "", apierr.NotFound(strings.TrimSuffix(collection, "s"))
	}
	return ids[1], nil
}
