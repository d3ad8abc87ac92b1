package e2e

import (
	"errors"
	"os/exec"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	corev1 "k8s.io/api/core/v1"
	podresourcesapi "k8s.io/kubelet/pkg/apis/podresources/v1"

	"github.com/zzcloud/zz/internal/contract"
	"github.com/zzcloud/zz/internal/gpushare"
)

// TestDevicePluginCDI runs the device plugin with each CDI device-list
// strategy for a real kubelet (fake runtime, DGX A100 mock): the runtime's
// CreateContainer names the pod's assigned cards as CDI devices
// nvidia.com/gpu=<UUID> (the CRI's CDIDevices for cdi-cri, a cdi.k8s.io/
// annotation for cdi-annotations), NVIDIA_VISIBLE_DEVICES is void and the zz
// env stays. The kubelet's pod-resources API shows each slot on its card's
// NUMA node (the mock: cards 0-3 on node 0, 4-7 on node 1). An unknown
// strategy stops the plugin at start, naming the allowed ones.
func TestDevicePluginCDI(t *testing.T) {
	t.Run("unknown strategy stops the plugin at start", func(t *testing.T) {
		out, err := exec.CommandContext(t.Context(), cluster.GoBuild(t, "./deviceplugin/cmd/zz-device-plugin"),
			"--node-name", "n1", "--nvml", "mock:dgxa100", "--device-list-strategy", "cdi").CombinedOutput()
		var exit *exec.ExitError
		if !errors.As(err, &exit) || exit.ExitCode() != 1 || !strings.Contains(string(out), `unknown strategy \"cdi\"; use envvar, cdi-annotations, cdi-cri`) {
			t.Fatalf("zz-device-plugin --device-list-strategy cdi: %v\n%s", err, out)
		}
	})
	ns := cluster.Namespace(t, nil)
	for _, strategy := range []string{"cdi-cri", "cdi-annotations"} {
		t.Run(strategy, func(t *testing.T) {
			n := startDPNode(t, "dp-"+strategy, "--device-list-strategy", strategy)
			now := time.Now()
			pods := []*corev1.Pod{
				n.gpuPodFor(ns, strategy+"-one", 4096, 1, n.assignment(4096, now, 1)),
				n.gpuPodFor(ns, strategy+"-two", 2048, 2, n.assignment(2048, now.Add(time.Millisecond), 3, 6)),
			}
			createPods(t, pods)
			for _, p := range pods {
				n.checkCDI(t, waitPodPhase(t, ns, p.Name, corev1.PodRunning, 60*time.Second), strategy)
			}
			n.checkNUMA(t, ns+"/"+strategy+"-two", []int64{0, 1})
		})
	}
}

// checkCDI fails unless the pod's container was created with exactly its
// assigned cards as CDI devices, the way strategy hands them over.
func (n *dpNode) checkCDI(t *testing.T, pod *corev1.Pod, strategy string) {
	t.Helper()
	a, err := gpushare.PodAssignment(pod)
	if err != nil {
		t.Fatalf("pod %s: %v", pod.Name, err)
	}
	c := n.Container(t, string(pod.UID), "cuda")
	if c == nil {
		t.Fatalf("the runtime created no container for pod %s", pod.Name)
	}
	var want []string
	for _, u := range a.UUIDs {
		want = append(want, contract.CDIKind+"="+u)
	}
	annotated := map[string]string{}
	for k, v := range c.Annotations {
		if strings.HasPrefix(k, contract.CDIAnnotationPrefix) {
			annotated[k] = v
		}
	}
	switch strategy {
	case "cdi-cri":
		if !slices.Equal(c.CDIDevices, want) || len(annotated) != 0 {
			t.Fatalf("pod %s: CDI devices %v and CDI annotations %v in the runtime; want devices %v", pod.Name, c.CDIDevices, annotated, want)
		}
	case "cdi-annotations":
		if len(annotated) != 1 || len(c.CDIDevices) != 0 {
			t.Fatalf("pod %s: CDI annotations %v and CDI devices %v in the runtime; want one annotation %v", pod.Name, annotated, c.CDIDevices, want)
		}
		for k, v := range annotated {
			if !strings.HasSuffix(k, "_"+string(pod.UID)) || v != strings.Join(want, ",") {
				t.Fatalf("pod %s: CDI annotation %s=%s; want the pod's UID in the key and %v", pod.Name, k, v, want)
			}
		}
	}
	if got := c.Env[contract.EnvVisibleDevices]; got != contract.VisibleDevicesVoid {
		t.Fatalf("pod %s: %s=%q with %s, want %q", pod.Name, contract.EnvVisibleDevices, got, strategy, contract.VisibleDevicesVoid)
	}
	if got := c.Env[contract.EnvGPUMemLimitMiB]; got != strconv.FormatInt(a.MemMiB, 10) {
		t.Fatalf("pod %s: %s=%q, want %d", pod.Name, contract.EnvGPUMemLimitMiB, got, a.MemMiB)
	}
	t.Logf("pod %s: CDI devices %v, CDI annotations %v", pod.Name, c.CDIDevices, annotated)
}

// checkNUMA reads the kubelet's pod-resources API: every zz.io/gpu slot is
// on its card's NUMA node, and the container of pod (namespace/name) holds
// slots on the nodes want (sorted).
func (n *dpNode) checkNUMA(t *testing.T, pod string, want []int64) {
	t.Helper()
	conn, err := grpc.NewClient("unix://"+n.PodResourcesSocket(), grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	client := podresourcesapi.NewPodResourcesListerClient(conn)
	alloc, err := client.GetAllocatableResources(t.Context(), &podresourcesapi.AllocatableResourcesRequest{})
	if err != nil {
		t.Fatalf("pod-resources GetAllocatableResources: %v", err)
	}
	index := map[string]int64{}
	for _, c := range n.inv.Cards {
		index[c.UUID] = int64(c.Index)
	}
	slots := 0
	for _, d := range alloc.GetDevices() {
		if d.GetResourceName() != string(contract.ResourceGPU) {
			continue
		}
		for _, id := range d.GetDeviceIds() {
			slots++
			uuid, _, _ := strings.Cut(id, "::")
			if nodes := numaNodes(d.GetTopology()); !slices.Equal(nodes, []int64{index[uuid] / 4}) {
				t.Fatalf("slot %s of card %d: NUMA nodes %v in the kubelet, want [%d]", id, index[uuid], nodes, index[uuid]/4)
			}
		}
	}
	if slots != 8*dpSlots {
		t.Fatalf("the kubelet reports %d allocatable %s slots, want %d", slots, contract.ResourceGPU, 8*dpSlots)
	}
	list, err := client.List(t.Context(), &podresourcesapi.ListPodResourcesRequest{})
	if err != nil {
		t.Fatalf("pod-resources List: %v", err)
	}
	for _, p := range list.GetPodResources() {
		if p.GetNamespace()+"/"+p.GetName() != pod {
			continue
		}
		var got []int64
		for _, c := range p.GetContainers() {
			for _, d := range c.GetDevices() {
				if d.GetResourceName() == string(contract.ResourceGPU) {
					got = append(got, numaNodes(d.GetTopology())...)
				}
			}
		}
		slices.Sort(got)
		if !slices.Equal(got, want) {
			t.Fatalf("pod %s holds slots on NUMA nodes %v, want %v", pod, got, want)
		}
		t.Logf("%d slots, each on its card's NUMA node; pod %s on nodes %v", slots, pod, got)
		return
	}
	t.Fatalf("pod-resources List has no pod %s", pod)
}

func numaNodes(topo *podresourcesapi.TopologyInfo) []int64 {
	var out []int64
	for _, n := range topo.GetNodes() {
		out = append(out, n.GetID())
	}
	return out
}
