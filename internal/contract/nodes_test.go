package contract

import (
	"errors"
	"io"
	"os"
	"testing"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/util/yaml"
)

// slotsPerCard is what the test cluster's fake nodes advertise per card.
const slotsPerCard = 16

// TestClusterNodesFollowContract keeps the test cluster's fake nodes honest:
// every GPU node's inventory parses and matches its zz.io/gpu slots, and no
// node advertises the scheduler-only zz.io/gpu-mem.
func TestClusterNodesFollowContract(t *testing.T) {
	f, err := os.Open("../../hack/cluster/nodes.yaml")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	dec := yaml.NewYAMLOrJSONDecoder(f, 4096)
	gpuNodes := 0
	for {
		var n corev1.Node
		if err := dec.Decode(&n); errors.Is(err, io.EOF) {
			break
		} else if err != nil {
			t.Fatal(err)
		}
		if _, ok := n.Status.Capacity[ResourceGPUMem]; ok {
			t.Errorf("node %s advertises %s; it is scheduler-only", n.Name, ResourceGPUMem)
		}
		slots, hasSlots := n.Status.Capacity[ResourceGPU]
		value, hasInv := n.Annotations[AnnotationNodeGPUInventory]
		if hasSlots != hasInv || (n.Labels[LabelGPUNode] == "true") != hasInv {
			t.Errorf("node %s: %s, the inventory annotation and the %s label must come together", n.Name, ResourceGPU, LabelGPUNode)
			continue
		}
		if !hasInv {
			continue
		}
		gpuNodes++
		inv, err := ParseInventory(value)
		if err != nil {
			t.Errorf("node %s: %v", n.Name, err)
			continue
		}
		if got, want := slots.Value(), int64(slotsPerCard*len(inv.Cards)); got != want {
			t.Errorf("node %s advertises %d %s, want %d for %d cards", n.Name, got, ResourceGPU, want, len(inv.Cards))
		}
	}
	if gpuNodes == 0 {
		t.Fatal("the test cluster has no GPU node")
	}
}
