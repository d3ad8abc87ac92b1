package e2e

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/utils/ptr"

	"github.com/zzcloud/zz/internal/contract"
	"github.com/zzcloud/zz/internal/gpushare"
	"github.com/zzcloud/zz/test/e2e/framework"
)

// dpNode is a real kubelet with the device plugin on the DGX A100 mock.
type dpNode struct {
	*framework.Kubelet
	plugin     *framework.Process
	pluginArgs []string // the plugin's command line, for a restart
	healthPort int
	procRoot   string
	inv        *contract.NodeGPUInventory
}

const dpSlots = 8 // per card: 8 cards x 8 = 64 zz.io/gpu

// startDPNode starts a kubelet node and the plugin binary for it, with the
// mock's XID recovery and usage sampling shortened for the test; args are
// more plugin flags.
func startDPNode(t *testing.T, node string, args ...string) *dpNode {
	t.Helper()
	k := cluster.StartKubelet(t, framework.KubeletOptions{Node: node, Labels: map[string]string{contract.LabelGPUNode: "true"}})
	n := &dpNode{Kubelet: k, healthPort: framework.FreePort(t), procRoot: t.TempDir()}
	n.pluginArgs = append([]string{
		"--kubeconfig", cluster.Kubeconfig, "--node-name", node, "--nvml", "mock:dgxa100",
		"--device-plugin-dir", k.PluginDir, "--slots-per-card", strconv.Itoa(dpSlots),
		"--health-address", fmt.Sprintf("127.0.0.1:%d", n.healthPort), "--proc-root", n.procRoot,
		"--usage-interval", "1s", "--xid-recover-after", "2s", "--v", "2"}, args...)
	n.plugin = cluster.Start(t, "zz-device-plugin-"+node, cluster.GoBuild(t, "./deviceplugin/cmd/zz-device-plugin"), n.pluginArgs...)
	cluster.WaitHTTP(t, n.plugin, n.url("/readyz"), 60*time.Second)
	n.waitGPUs(t, 8*dpSlots, 60*time.Second)
	return n
}

func (n *dpNode) url(path string) string {
	return fmt.Sprintf("http://127.0.0.1:%d%s", n.healthPort, path)
}

// waitGPUs waits until the node's capacity and allocatable zz.io/gpu are
// want, and reads the inventory annotation.
func (n *dpNode) waitGPUs(t *testing.T, want int64, timeout time.Duration) {
	t.Helper()
	cluster.WaitFor(t, timeout, fmt.Sprintf("node %s allocatable %s = %d", n.Node, contract.ResourceGPU, want), func(ctx context.Context) (bool, string, error) {
		node, err := cluster.Client.CoreV1().Nodes().Get(ctx, n.Node, metav1.GetOptions{})
		if err != nil {
			return false, err.Error(), nil
		}
		alloc, capa := node.Status.Allocatable[contract.ResourceGPU], node.Status.Capacity[contract.ResourceGPU]
		if n.inv, err = contract.ParseInventory(node.Annotations[contract.AnnotationNodeGPUInventory]); err != nil {
			return false, err.Error(), nil
		}
		return alloc.Value() == want && capa.Value() == 8*dpSlots, fmt.Sprintf("allocatable %s, capacity %s", alloc.String(), capa.String()), nil
	})
}

// mock calls the plugin's mock-NVML control endpoint.
func (n *dpNode) mock(t *testing.T, method, path, body string) {
	t.Helper()
	req, err := http.NewRequestWithContext(t.Context(), method, n.url("/debug/mocknvml"+path), strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusNoContent {
		b, _ := io.ReadAll(resp.Body)
		t.Fatalf("%s %s: %s %s", method, path, resp.Status, b)
	}
}

// gpuPodFor is a GPU pod pinned to the node; with a the pod carries the
// extender's bind annotations (as if zz-scheduler had bound it).
func (n *dpNode) gpuPodFor(ns, name string, memMiB int64, cards int, a *gpushare.Assignment) *corev1.Pod {
	p := newGPUPod(ns, name, fmt.Sprintf("%dMi", memMiB))
	p.Spec.Containers[0].Resources.Limits[contract.ResourceGPU] = *resourceInt(cards)
	gpushare.SetMemTotal(p)
	p.Spec.Tolerations = []corev1.Toleration{{Key: n.Taint.Key, Operator: corev1.TolerationOpExists}}
	if a != nil {
		p.Spec.NodeName = n.Node
		p.Annotations = a.Annotations()
	} else {
		p.Spec.NodeSelector = map[string]string{"kubernetes.io/hostname": n.Node}
	}
	return p
}

// cards returns an assignment of memMiB on the inventory's cards at indexes.
func (n *dpNode) assignment(memMiB int64, assume time.Time, indexes ...int) *gpushare.Assignment {
	a := &gpushare.Assignment{MemMiB: memMiB, AssumeTime: assume}
	for _, i := range indexes {
		a.Indexes = append(a.Indexes, i)
		a.UUIDs = append(a.UUIDs, n.inv.Cards[i].UUID)
	}
	return a
}

func waitPodPhase(t *testing.T, ns, name string, phase corev1.PodPhase, timeout time.Duration) *corev1.Pod {
	t.Helper()
	var pod *corev1.Pod
	cluster.WaitFor(t, timeout, fmt.Sprintf("pod %s/%s %s", ns, name, phase), func(ctx context.Context) (bool, string, error) {
		p, err := cluster.Client.CoreV1().Pods(ns).Get(ctx, name, metav1.GetOptions{})
		if err != nil {
			return false, err.Error(), nil
		}
		pod = p
		return p.Status.Phase == phase, fmt.Sprintf("%s %s %s", p.Status.Phase, p.Status.Reason, p.Status.Message), nil
	})
	return pod
}

// checkCards fails unless the kubelet created the pod's container with
// exactly the cards its annotations name and the memory limit env.
func (n *dpNode) checkCards(t *testing.T, pod *corev1.Pod) {
	t.Helper()
	a, err := gpushare.PodAssignment(pod)
	if err != nil {
		t.Fatalf("pod %s: %v", pod.Name, err)
	}
	c := n.Container(t, string(pod.UID), "cuda")
	if c == nil {
		t.Fatalf("the runtime created no container for pod %s", pod.Name)
	}
	if got, want := c.Env[contract.EnvVisibleDevices], strings.Join(a.UUIDs, ","); got != want {
		t.Fatalf("pod %s: %s=%q in the container; the annotations name %q", pod.Name, contract.EnvVisibleDevices, got, want)
	}
	if got := c.Env[contract.EnvGPUMemLimitMiB]; got != strconv.FormatInt(a.MemMiB, 10) {
		t.Fatalf("pod %s: %s=%q, want %d", pod.Name, contract.EnvGPUMemLimitMiB, got, a.MemMiB)
	}
}

// TestDevicePluginKubelet runs the device plugin for a real kubelet (fake
// container runtime, go-nvml's DGX A100 mock): capacity and inventory, the
// cards each container really gets (by annotation and through zz-scheduler),
// refusals at admission, kubelet restart, XID health, and over-request events.
func TestDevicePluginKubelet(t *testing.T) {
	ctx := t.Context()
	n := startDPNode(t, "dp-kubelet", "--over-request", "kill", "--over-request-grace", "2s")
	if len(n.inv.Cards) != 8 || n.inv.Cards[0].MemoryMiB != 40960 {
		t.Fatalf("inventory %+v", n.inv)
	}
	ns := cluster.Namespace(t, nil)

	t.Run("bound pods get their cards", func(t *testing.T) {
		now := time.Now()
		pods := []*corev1.Pod{
			n.gpuPodFor(ns, "share-a", 10240, 1, n.assignment(10240, now, 2)),
			n.gpuPodFor(ns, "share-b", 8192, 1, n.assignment(8192, now.Add(time.Millisecond), 2)),
			n.gpuPodFor(ns, "two-cards", 4096, 2, n.assignment(4096, now.Add(2*time.Millisecond), 5, 6)),
		}
		createPods(t, pods)
		for _, p := range pods {
			n.checkCards(t, waitPodPhase(t, ns, p.Name, corev1.PodRunning, 60*time.Second))
		}
		two := n.Container(t, string(waitPodPhase(t, ns, "two-cards", corev1.PodRunning, time.Second).UID), "cuda")
		if ids := strings.Split(two.Env[contract.EnvVisibleDevices], ","); len(ids) != 2 || ids[0] == ids[1] {
			t.Fatalf("the 2-card pod got %v", ids)
		}
	})

	t.Run("refused at admission", func(t *testing.T) {
		now := time.Now()
		missing := n.gpuPodFor(ns, "no-annotations", 1024, 1, n.assignment(1024, now, 1))
		missing.Annotations = nil
		gone := n.gpuPodFor(ns, "card-gone", 1024, 1, n.assignment(1024, now, 1))
		gone.Annotations[contract.AnnotationGPUIndexes] = "12"
		gone.Annotations[contract.AnnotationGPUUUIDs] = "GPU-00000000-0000-0000-0000-000000000000"
		for _, pod := range []*corev1.Pod{missing, gone} {
			name := pod.Name
			createPods(t, []*corev1.Pod{pod})
			p := waitPodPhase(t, ns, name, corev1.PodFailed, 60*time.Second)
			if p.Status.Reason != "UnexpectedAdmissionError" || !strings.Contains(p.Status.Message, "pod "+ns+"/"+name) {
				t.Fatalf("pod %s: %s: %s", name, p.Status.Reason, p.Status.Message)
			}
			t.Logf("%s refused: %s", name, p.Status.Message)
			if c := n.Container(t, string(p.UID), "cuda"); c != nil {
				t.Fatalf("refused pod %s got a container: %+v", name, c)
			}
		}
		// Annotations that contradict each other (two indexes, one UUID).
		bad := n.gpuPodFor(ns, "inconsistent", 1024, 1, n.assignment(1024, now, 3))
		bad.Annotations[contract.AnnotationGPUIndexes] = "3,4"
		createPods(t, []*corev1.Pod{bad})
		got := waitPodPhase(t, ns, bad.Name, corev1.PodFailed, 60*time.Second)
		if !strings.Contains(got.Status.Message, contract.AnnotationGPUIndexes) || n.Container(t, string(got.UID), "cuda") != nil {
			t.Fatalf("pod %s: %s: %s", bad.Name, got.Status.Reason, got.Status.Message)
		}
	})

	t.Run("kubelet restart", func(t *testing.T) {
		running := map[string]string{} // pod UID -> container ID
		before := len(n.Containers(t))
		for _, c := range n.Containers(t) {
			running[c.PodUID] = c.ContainerID
		}
		registered := strings.Count(readFile(t, n.plugin.LogPath), "Registered with the kubelet")
		start := time.Now()
		n.Restart(t)
		cluster.WaitFor(t, 30*time.Second, "the plugin registers again", func(context.Context) (bool, string, error) {
			c := strings.Count(readFile(t, n.plugin.LogPath), "Registered with the kubelet")
			return c > registered, fmt.Sprintf("%d registrations", c), nil
		})
		t.Logf("kubelet restart: the plugin registered again %v after the kubelet was stopped", time.Since(start).Round(10*time.Millisecond))
		n.waitGPUs(t, 8*dpSlots, 30*time.Second)
		for _, name := range []string{"share-a", "share-b", "two-cards"} {
			p := waitPodPhase(t, ns, name, corev1.PodRunning, 10*time.Second)
			if cs := p.Status.ContainerStatuses; len(cs) != 1 || cs[0].RestartCount != 0 {
				t.Fatalf("pod %s touched by the restart: %+v", name, cs)
			}
		}
		if after := len(n.Containers(t)); after != before {
			t.Fatalf("the restarted kubelet created %d containers for running pods", after-before)
		}
		p := n.gpuPodFor(ns, "after-restart", 1024, 1, n.assignment(1024, time.Now(), 4))
		createPods(t, []*corev1.Pod{p})
		n.checkCards(t, waitPodPhase(t, ns, p.Name, corev1.PodRunning, 60*time.Second))
	})

	t.Run("over-request event, metrics, then the kill", func(t *testing.T) {
		p, err := cluster.Client.CoreV1().Pods(ns).Get(ctx, "share-b", metav1.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		// A process of the pod, as the host's /proc shows it under the
		// systemd cgroup driver. A real process, since the plugin kills it
		// (--over-request=kill): the fake /proc says which pod its PID runs
		// in, and the kill goes to that PID.
		proc := exec.Command("sleep", "600")
		if err := proc.Start(); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = proc.Process.Kill() })
		exited := make(chan error, 1)
		go func() { exited <- proc.Wait() }()
		pid := proc.Process.Pid
		cg := "0::/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod" + strings.ReplaceAll(string(p.UID), "-", "_") + ".slice/cri-containerd-abc.scope\n"
		if err := os.MkdirAll(filepath.Join(n.procRoot, strconv.Itoa(pid)), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(n.procRoot, strconv.Itoa(pid), "cgroup"), []byte(cg), 0o644); err != nil {
			t.Fatal(err)
		}
		uuid := n.inv.Cards[2].UUID
		n.mock(t, "PUT", "/processes?uuid="+uuid, fmt.Sprintf(`[{"pid":%d,"usedMiB":9000}]`, pid))
		cluster.WaitFor(t, 30*time.Second, "over-request event on share-b", func(ctx context.Context) (bool, string, error) {
			evs, err := cluster.Client.CoreV1().Events(ns).List(ctx, metav1.ListOptions{FieldSelector: fields.AndSelectors(
				fields.OneTermEqualSelector("involvedObject.name", "share-b"), fields.OneTermEqualSelector("reason", contract.ReasonGPUMemoryOverRequest)).String()})
			if err != nil {
				return false, err.Error(), nil
			}
			for _, e := range evs.Items {
				if e.Type == corev1.EventTypeWarning && strings.Contains(e.Message, "9000 MiB") && strings.Contains(e.Message, "8192 MiB") {
					return true, "", nil
				}
			}
			return false, fmt.Sprintf("%d events", len(evs.Items)), nil
		})
		metrics := scrape(t, n.url("/metrics"))
		for _, want := range []string{
			fmt.Sprintf(`zz_gpu_pod_memory_used_bytes{app="",index="2",namespace="%s",pod="share-b",uuid="%s"} 9.437184e+09`, ns, uuid),
			fmt.Sprintf(`zz_gpu_pod_memory_requested_bytes{app="",index="2",namespace="%s",pod="share-b",uuid="%s"} 8.589934592e+09`, ns, uuid),
			fmt.Sprintf(`zz_gpu_pod_memory_over_request{app="",index="2",namespace="%s",pod="share-b",uuid="%s"} 1`, ns, uuid),
			fmt.Sprintf(`zz_gpu_pod_memory_over_request{app="",index="2",namespace="%s",pod="share-a",uuid="%s"} 0`, ns, uuid),
		} {
			if !strings.Contains(metrics, want) {
				t.Errorf("/metrics lacks %s", want)
			}
		}
		// Over for the grace (2s): the process is killed, and the pod told.
		select {
		case err := <-exited:
			var exit *exec.ExitError
			if !errors.As(err, &exit) || exit.Sys().(syscall.WaitStatus).Signal() != syscall.SIGKILL {
				t.Fatalf("the pod's process ended with %v, want SIGKILL", err)
			}
		case <-time.After(30 * time.Second):
			t.Fatal("the process over its request was not killed within 30s")
		}
		cluster.WaitFor(t, 30*time.Second, "kill event on share-b", func(ctx context.Context) (bool, string, error) {
			evs, err := cluster.Client.CoreV1().Events(ns).List(ctx, metav1.ListOptions{FieldSelector: fields.AndSelectors(
				fields.OneTermEqualSelector("involvedObject.name", "share-b"), fields.OneTermEqualSelector("reason", contract.ReasonGPUMemoryOverRequestKilled)).String()})
			if err != nil {
				return false, err.Error(), nil
			}
			for _, e := range evs.Items {
				if e.Type == corev1.EventTypeWarning && strings.Contains(e.Message, fmt.Sprintf("killed process %d", pid)) {
					return true, "", nil
				}
			}
			return false, fmt.Sprintf("%d events", len(evs.Items)), nil
		})
		n.mock(t, "PUT", "/processes?uuid="+uuid, "[]")
		if m := scrape(t, n.url("/metrics")); !strings.Contains(m, `zz_gpu_over_request_kills_total{result="ok"} 1`) {
			t.Errorf("/metrics does not count the kill:\n%s", grepLines(m, "zz_gpu_over_request_kills_total"))
		}
	})

	t.Run("XID takes a card's slots away and back", func(t *testing.T) {
		// An ignored XID (13: an application's own fault) first: had it
		// counted, allocatable would drop by two cards, never by exactly one.
		n.mock(t, "POST", "/xid?uuid="+n.inv.Cards[0].UUID+"&xid=13", "")
		n.mock(t, "POST", "/xid?uuid="+n.inv.Cards[7].UUID+"&xid=79", "")
		n.waitGPUs(t, 7*dpSlots, 30*time.Second)
		// Healthy again after --xid-recover-after without XIDs (checked every 10s).
		n.waitGPUs(t, 8*dpSlots, 60*time.Second)
	})

	t.Run("zz-scheduler picks, the container gets that card", func(t *testing.T) {
		startZZScheduler(t)
		var pods []*corev1.Pod
		for i := range 50 {
			p := n.gpuPodFor(ns, fmt.Sprintf("sched-%02d", i), int64(512*(1+i%4)), 1, nil)
			pods = append(pods, p)
		}
		// In a row, a few at a time, so the extender's choices interleave with
		// the kubelet's allocations.
		for i := 0; i < len(pods); i += 5 {
			createPods(t, pods[i:i+5])
			for _, p := range pods[i : i+5] {
				n.checkCards(t, waitPodPhase(t, ns, p.Name, corev1.PodRunning, 90*time.Second))
			}
		}
	})

	t.Run("zz-scheduler keeps a two-card pod on one NUMA node", func(t *testing.T) {
		// The device plugin publishes each card's NUMA node (the mock: cards
		// 0-3 on node 0, 4-7 on node 1) for the extender.
		for i, c := range n.inv.Cards {
			if c.NUMANode == nil || *c.NUMANode != int64(i/4) {
				t.Fatalf("card %d: numaNode %v in the inventory, want %d", i, c.NUMANode, i/4)
			}
		}
		clearPods(t, ns)
		// Cards 0-2 nearly full: the tightest fit for two cards of 30 GiB
		// is then two of the empty cards 3-7, and in index order that is 3
		// and 4, one on each NUMA node.
		n.fillCards(t, ns, 36864, 0, 1, 2)
		startZZScheduler(t) // the previous subtest's stopped with it
		two := n.gpuPodFor(ns, "numa-two", 30720, 2, nil)
		createPods(t, []*corev1.Pod{two})
		pod := waitPodPhase(t, ns, two.Name, corev1.PodRunning, 90*time.Second)
		n.checkCards(t, pod)
		a, err := gpushare.PodAssignment(pod)
		if err != nil {
			t.Fatal(err)
		}
		if !slices.Equal(a.Indexes, []int{4, 5}) {
			t.Fatalf("the two-card pod got cards %v; want 4 and 5, alike to 3 and 4 for the packing and both on NUMA node 1", a.Indexes)
		}
		n.checkNUMA(t, ns+"/"+two.Name, []int64{1, 1})
	})

	t.Run("zz.io/gpu-numa-bind: one NUMA node, or Pending with the reason", func(t *testing.T) {
		clearPods(t, ns)
		// Cards 0, 1 (NUMA node 0) and 4 (node 1) with 8 GiB free: for three
		// cards of 8 GiB they are the tightest fit, across both nodes, and no
		// card alike to them lets the preference keep the pod on one.
		n.fillCards(t, ns, 32768, 0, 1, 4)
		startZZScheduler(t)
		bound := func(name string, cards int) *corev1.Pod {
			p := n.gpuPodFor(ns, name, 8192, cards, nil)
			p.Annotations = map[string]string{contract.AnnotationGPUNUMABind: "true", contract.AnnotationGPUPolicy: contract.PolicyBestFit}
			return p
		}
		three := bound("numa-bound", 3)
		createPods(t, []*corev1.Pod{three})
		pod := waitPodPhase(t, ns, three.Name, corev1.PodRunning, 90*time.Second)
		n.checkCards(t, pod)
		a, err := gpushare.PodAssignment(pod)
		if err != nil {
			t.Fatal(err)
		}
		if !slices.Equal(a.Indexes, []int{0, 1, 2}) {
			t.Fatalf("the bound pod got cards %v; want 0, 1 and 2 (NUMA node 0, where two of the tight cards are), not 0, 1 and 4", a.Indexes)
		}
		n.checkNUMA(t, ns+"/"+three.Name, []int64{0, 0, 0})
		// No NUMA node of the mock has five cards: the pod waits, and says why.
		five := bound("numa-five", 5)
		createPods(t, []*corev1.Pod{five})
		want := "no NUMA node has 5 cards with 8192 MiB free, and zz.io/gpu-numa-bind asks for one"
		cluster.WaitFor(t, 60*time.Second, "numa-five FailedScheduling with the NUMA reason", func(ctx context.Context) (bool, string, error) {
			evs, err := cluster.Client.CoreV1().Events(ns).List(ctx, metav1.ListOptions{FieldSelector: fields.OneTermEqualSelector("involvedObject.name", five.Name).String()})
			if err != nil {
				return false, err.Error(), nil
			}
			var last string
			for _, e := range evs.Items {
				if e.Reason == "FailedScheduling" {
					last = e.Message
					if strings.Contains(e.Message, want) {
						return true, "", nil
					}
				}
			}
			return false, last, nil
		})
		if p, err := cluster.Client.CoreV1().Pods(ns).Get(ctx, five.Name, metav1.GetOptions{}); err != nil || p.Spec.NodeName != "" {
			t.Fatalf("numa-five: %v, bound to %q", err, p.Spec.NodeName)
		}
	})
}

// fillCards runs one pod holding mib on each of the cards at indexes (by
// assignment, not through a scheduler) and waits until they all run.
func (n *dpNode) fillCards(t *testing.T, ns string, mib int64, indexes ...int) {
	t.Helper()
	now := time.Now()
	var fill []*corev1.Pod
	for i, card := range indexes {
		fill = append(fill, n.gpuPodFor(ns, fmt.Sprintf("fill-%d", card), mib, 1, n.assignment(mib, now.Add(time.Duration(i)*time.Millisecond), card)))
	}
	createPods(t, fill)
	for _, p := range fill {
		waitPodPhase(t, ns, p.Name, corev1.PodRunning, 60*time.Second)
	}
}

// clearPods deletes every pod of ns and waits until none is left.
func clearPods(t *testing.T, ns string) {
	t.Helper()
	if err := cluster.Client.CoreV1().Pods(ns).DeleteCollection(t.Context(), metav1.DeleteOptions{GracePeriodSeconds: ptr.To[int64](0)}, metav1.ListOptions{}); err != nil {
		t.Fatal(err)
	}
	cluster.WaitFor(t, 60*time.Second, "the earlier pods gone", func(ctx context.Context) (bool, string, error) {
		l, err := cluster.Client.CoreV1().Pods(ns).List(ctx, metav1.ListOptions{})
		if err != nil {
			return false, err.Error(), nil
		}
		return len(l.Items) == 0, fmt.Sprintf("%d left", len(l.Items)), nil
	})
}

func resourceInt(n int) *resource.Quantity { return resource.NewQuantity(int64(n), resource.DecimalSI) }

func scrape(t *testing.T, url string) string {
	t.Helper()
	resp, err := http.Get(url) //nolint:gosec // loopback test server
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}
