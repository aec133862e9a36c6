package grpcapi

import (
	"fmt"
	"slices"

	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"

	"github.com/firmflow/firmflow/pkg/apierr"
)

// itemPrefix is where the fields of a batch's item i are ("requests[3].").
func itemPrefix(i int) string { return fmt.Sprintf("requests[%d].", i) }

// batchItem checks the parts of a batch's item i that the batch itself sets
// (AIP-233): its parent is empty or the batch's, and it has no request_id of its own.
func batchItem(i int, batchParent, parent, requestID string) error {
	switch {
	case parent != "" && parent != batchParent:
		return apierr.InvalidArgument(itemPrefix(i)+"parent", "batch.parent", "must be empty or the batch's parent "+batchParent)
	case requestID != "":
		return apierr.InvalidArgument(itemPrefix(i)+"request_id", "batch.request_id", "must be empty: the batch's request_id covers every item")
	}
	return nil
}

// populatedPaths are the update mask an upsert without one means: every field m
// sets (not empty), and for a map each key it sets ("custom_fields.<key>"), so the
// fields a request leaves out stay as they are.
func populatedPaths(m proto.Message) []string {
	var paths []string
	m.ProtoReflect().Range(func(f protoreflect.FieldDescriptor, v protoreflect.Value) bool {
		if !f.IsMap() {
			paths = append(paths, string(f.Name()))
			return true
		}
		v.Map().Range(func(k protoreflect.MapKey, _ protoreflect.Value) bool {
			paths = append(paths, string(f.Name())+"."+k.String())
			return true
		})
		return true
	})
	return paths
}

// upsertPaths is an upsert's update mask: the one it gives, or populatedPaths.
func upsertPaths(m proto.Message, mask []string) []string {
	if len(mask) > 0 {
		return mask
	}
	paths := populatedPaths(m)
	slices.Sort(paths) // map keys come in no order
	return paths
}
