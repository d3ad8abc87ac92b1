package e2e

import (
	"context"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	pluginapi "k8s.io/kubelet/pkg/apis/deviceplugin/v1beta1"

	"github.com/zzcloud/zz/internal/contract"
	"github.com/zzcloud/zz/internal/gpushare"
	"github.com/zzcloud/zz/test/e2e/framework"
)

// registrar is the kubelet's registration service, played by the test: the
// device plugin registers with it, and the test then calls the plugin as the
// kubelet's device manager would.
type registrar struct {
	pluginapi.UnimplementedRegistrationServer
	got chan *pluginapi.RegisterRequest
}

func (r *registrar) Register(_ context.Context, req *pluginapi.RegisterRequest) (*pluginapi.Empty, error) {
	r.got <- req
	return &pluginapi.Empty{}, nil
}

// TestDevicePlugin runs the device-plugin binary on go-nvml's DGX A100 mock
// for a kwok node, with the real extender and zz-scheduler: the plugin
// publishes the node's cards, the extender binds a GPU pod to one of them,
// and the plugin's Allocate hands exactly that card to the container.
func TestDevicePlugin(t *testing.T) {
	ctx := t.Context()
	const node = "dp-a100"
	dir, err := os.MkdirTemp("", "zzdp") // short: unix socket paths are limited
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	lis, err := net.Listen("unix", filepath.Join(dir, "kubelet.sock"))
	if err != nil {
		t.Fatal(err)
	}
	reg := &registrar{got: make(chan *pluginapi.RegisterRequest, 4)}
	grpcSrv := grpc.NewServer()
	pluginapi.RegisterRegistrationServer(grpcSrv, reg)
	go func() { _ = grpcSrv.Serve(lis) }()
	t.Cleanup(grpcSrv.Stop)

	// The kubelet would report zz.io/gpu capacity from ListAndWatch; kwok
	// nodes carry what the node file says.
	taint := corev1.Taint{Key: "zz.io/e2e-device-plugin", Value: "true", Effect: corev1.TaintEffectNoSchedule}
	res := corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("64"), corev1.ResourceMemory: resource.MustParse("512Gi"),
		corev1.ResourcePods: resource.MustParse("110"), contract.ResourceGPU: resource.MustParse("128")}
	_, err = cluster.Client.CoreV1().Nodes().Create(ctx, &corev1.Node{
		ObjectMeta: metav1.ObjectMeta{Name: node, Annotations: map[string]string{"kwok.x-k8s.io/node": "fake"},
			Labels: map[string]string{"kubernetes.io/hostname": node, contract.LabelGPUNode: "true", "type": "kwok"}},
		Spec:   corev1.NodeSpec{Taints: []corev1.Taint{taint}},
		Status: corev1.NodeStatus{Capacity: res, Allocatable: res},
	}, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = cluster.Client.CoreV1().Nodes().Delete(context.WithoutCancel(ctx), node, metav1.DeleteOptions{})
	})

	bin := cluster.GoBuild(t, "./deviceplugin/cmd/zz-device-plugin")
	healthPort := framework.FreePort(t)
	dp := cluster.Start(t, "zz-device-plugin", bin, "--kubeconfig", cluster.Kubeconfig, "--node-name", node,
		"--nvml", "mock:dgxa100", "--device-plugin-dir", dir, "--slots-per-card", "16",
		"--health-address", fmt.Sprintf("127.0.0.1:%d", healthPort), "--v", "2")
	cluster.WaitHTTP(t, dp, fmt.Sprintf("http://127.0.0.1:%d/readyz", healthPort), 60*time.Second)
	select {
	case r := <-reg.got:
		if r.ResourceName != string(contract.ResourceGPU) {
			t.Fatalf("registered %q", r.ResourceName)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("the device plugin did not register with the kubelet socket")
	}
	n, err := cluster.Client.CoreV1().Nodes().Get(ctx, node, metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	inv, err := contract.ParseInventory(n.Annotations[contract.AnnotationNodeGPUInventory])
	if err != nil || len(inv.Cards) != 8 || inv.Cards[0].MemoryMiB != 40960 {
		t.Fatalf("published inventory: %v %+v", err, inv)
	}

	startZZScheduler(t)
	ns := cluster.Namespace(t, nil)
	pod := newGPUPod(ns, "infer", "10Gi")
	pod.Spec.NodeSelector = map[string]string{"kubernetes.io/hostname": node}
	pod.Spec.Tolerations = []corev1.Toleration{{Key: taint.Key, Operator: corev1.TolerationOpExists}}
	createPods(t, []*corev1.Pod{pod})
	var a *gpushare.Assignment
	cluster.WaitFor(t, 60*time.Second, "GPU pod bound by the extender", func(ctx context.Context) (bool, string, error) {
		p, err := cluster.Client.CoreV1().Pods(ns).Get(ctx, "infer", metav1.GetOptions{})
		if err != nil {
			return false, "", err
		}
		a, err = gpushare.PodAssignment(p)
		return p.Spec.NodeName == node && err == nil, fmt.Sprintf("node %q, %v", p.Spec.NodeName, err), nil
	})

	// Now the kubelet's part: prefer, then allocate.
	conn, err := grpc.NewClient("unix://"+filepath.Join(dir, "zz-gpu.sock"), grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	client := pluginapi.NewDevicePluginClient(conn)
	stream, err := client.ListAndWatch(ctx, &pluginapi.Empty{})
	if err != nil {
		t.Fatal(err)
	}
	list, err := stream.Recv()
	if err != nil || len(list.Devices) != 8*16 {
		t.Fatalf("ListAndWatch: %v, %d devices", err, len(list.GetDevices()))
	}
	var all []string
	for _, d := range list.Devices {
		all = append(all, d.ID)
	}
	pref, err := client.GetPreferredAllocation(ctx, &pluginapi.PreferredAllocationRequest{ContainerRequests: []*pluginapi.ContainerPreferredAllocationRequest{
		{AvailableDeviceIDs: all, AllocationSize: 1}}})
	if err != nil {
		t.Fatal(err)
	}
	slots := pref.ContainerResponses[0].DeviceIDs
	if len(slots) != 1 || !strings.HasPrefix(slots[0], a.UUIDs[0]+"::") {
		t.Fatalf("preferred %v; the extender chose %s", slots, a.UUIDs[0])
	}
	resp, err := client.Allocate(ctx, &pluginapi.AllocateRequest{ContainerRequests: []*pluginapi.ContainerAllocateRequest{{DevicesIds: slots}}})
	if err != nil {
		t.Fatal(err)
	}
	env := resp.ContainerResponses[0].Envs
	if env[contract.EnvVisibleDevices] != a.UUIDs[0] || env[contract.EnvGPUMemLimitMiB] != strconv.Itoa(10240) {
		t.Fatalf("container env %v; the extender chose %s with 10240 MiB", env, a.UUIDs[0])
	}
	cluster.WaitFor(t, 30*time.Second, "pod marked allocated", func(ctx context.Context) (bool, string, error) {
		p, err := cluster.Client.CoreV1().Pods(ns).Get(ctx, "infer", metav1.GetOptions{})
		if err != nil {
			return false, "", err
		}
		return p.Annotations[contract.AnnotationGPUAssigned] == "true", p.Annotations[contract.AnnotationGPUAssigned], nil
	})
	if _, err := client.Allocate(ctx, &pluginapi.AllocateRequest{ContainerRequests: []*pluginapi.ContainerAllocateRequest{{DevicesIds: slots}}}); err == nil ||
		!strings.Contains(err.Error(), "no pod on this node waits") {
		t.Fatalf("a second container got cards with no pod waiting: %v", err)
	}
}
