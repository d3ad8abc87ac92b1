package e2e

import (
	"cmp"
	"context"
	"encoding/json"
	"fmt"
	"maps"
	"os/exec"
	"slices"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"

	"github.com/zzcloud/zz/internal/contract"
	"github.com/zzcloud/zz/internal/gpushare"
)

// TestExtender runs the real kube-scheduler with the zz extender on the kwok
// cluster. Subtests run in order and clean up, since they share the GPUs.
func TestExtender(t *testing.T) {
	z := startZZScheduler(t)

	t.Run("300 pods at once never overfill a card", func(t *testing.T) {
		ns := cluster.Namespace(t, nil)
		want := capacityFor(t, 4096)
		var pods []*corev1.Pod
		for i := range 300 {
			pods = append(pods, newGPUPod(ns, fmt.Sprintf("burst-%03d", i), "4Gi"))
		}
		createPods(t, pods)
		cluster.WaitFor(t, 3*time.Minute, fmt.Sprintf("%d of 300 pods bound (all the cards hold)", want), func(ctx context.Context) (bool, string, error) {
			bound, total, err := boundCount(ctx, ns)
			return bound >= want, fmt.Sprintf("%d of %d bound", bound, total), err
		})
		// Let the scheduler retry the rest a while: none may squeeze in.
		time.Sleep(3 * time.Second)
		if _, bound := cardUse(t); bound != want {
			t.Fatalf("%d pods bound, want exactly %d", bound, want)
		}
		deleteAllPods(t, ns)
	})

	t.Run("pods land on cards with room and carry the assignment", func(t *testing.T) {
		ns := cluster.Namespace(t, nil)
		sizes := map[string]string{"big": "70Gi", "a100": "30Gi", "t4": "12Gi", "small": "1Gi"}
		var pods []*corev1.Pod
		for name, mem := range sizes {
			pods = append(pods, newGPUPod(ns, name, mem))
		}
		createPods(t, pods)
		running := cluster.RunningPods(t, ns, "app=gpu", len(sizes), 60*time.Second)
		for _, p := range running {
			a, err := gpushare.PodAssignment(&p)
			if err != nil {
				t.Fatalf("pod %s: %v", p.Name, err)
			}
			req, _ := gpushare.PodRequest(&p)
			if a.MemMiB != req.MemMiB || len(a.UUIDs) != 1 || a.Assigned || a.AssumeTime.IsZero() {
				t.Errorf("pod %s: assignment %+v for request %v", p.Name, a, req)
			}
			if p.Name == "big" && (p.Spec.NodeName != "gpu-mixed-1" || a.Indexes[0] != 0) {
				t.Errorf("the 70Gi pod went to %s card %v; only gpu-mixed-1 card 0 (80 GB) holds it", p.Spec.NodeName, a.Indexes)
			}
		}
		use, _ := cardUse(t)
		checkKubectlZZGPU(t, ns, use, len(sizes))
		deleteAllPods(t, ns)
	})

	t.Run("a pod that fits no card stays Pending with the reason", func(t *testing.T) {
		ns := cluster.Namespace(t, nil)
		createPods(t, []*corev1.Pod{newGPUPod(ns, "huge", "100Gi")})
		cluster.WaitFor(t, 60*time.Second, "FailedScheduling event with the extender's reason", func(ctx context.Context) (bool, string, error) {
			evs, err := cluster.Client.CoreV1().Events(ns).List(ctx, metav1.ListOptions{FieldSelector: "involvedObject.name=huge,reason=FailedScheduling"})
			if err != nil || len(evs.Items) == 0 {
				return false, "no event yet", err
			}
			msg := evs.Items[0].Message
			// Cards too small even empty say never, not "no room now".
			return strings.Contains(msg, "node's largest card has 81920 MiB < 102400 MiB asked: never fits here, even empty") &&
				strings.Contains(msg, "node's largest card has 15360 MiB < 102400 MiB asked: never fits here"), msg, nil
		})
		p, err := cluster.Client.CoreV1().Pods(ns).Get(t.Context(), "huge", metav1.GetOptions{})
		if err != nil || p.Spec.NodeName != "" {
			t.Fatalf("huge pod was bound to %q (%v)", p.Spec.NodeName, err)
		}
	})

	t.Run("a pod that names card models gets only cards of them", func(t *testing.T) {
		ns := cluster.Namespace(t, nil)
		pod := func(name, cards string, annotations map[string]string) *corev1.Pod {
			p := newGPUPod(ns, name, "1Gi")
			p.Annotations = annotations
			p.Spec.Containers[0].Resources.Limits[contract.ResourceGPU] = resource.MustParse(cards)
			gpushare.SetMemTotal(p)
			return p
		}
		b200 := pod("b200", "1", map[string]string{contract.AnnotationGPUModel: "B200"})
		b200.Labels["app"] = "gpu-pending" // not among the running ones
		createPods(t, []*corev1.Pod{
			b200,
			// Only gpu-mixed-1's card 0 is an 80 GB A100.
			pod("a100-80", "1", map[string]string{contract.AnnotationGPUModel: "a100-sxm4-80gb"}),
			// gpu-mixed-1 has one T4 and one A100: two cards that are no
			// A100 are on a T4 node.
			pod("no-a100", "2", map[string]string{contract.AnnotationGPUModelAvoid: "A100"}),
			pod("t4-or-h100", "1", map[string]string{contract.AnnotationGPUModel: "H100, T4"}),
		})
		running := cluster.RunningPods(t, ns, "app=gpu", 3, 60*time.Second)
		nodes, err := cluster.Client.CoreV1().Nodes().List(t.Context(), metav1.ListOptions{})
		if err != nil {
			t.Fatal(err)
		}
		cards := map[string]string{} // card UUID → model, from the nodes' inventories
		for _, n := range nodes.Items {
			if inv, err := contract.ParseInventory(n.Annotations[contract.AnnotationNodeGPUInventory]); err == nil {
				for _, c := range inv.Cards {
					cards[c.UUID] = c.Model
				}
			}
		}
		for _, p := range running {
			a, err := gpushare.PodAssignment(&p)
			if err != nil {
				t.Fatalf("pod %s: %v", p.Name, err)
			}
			for _, uuid := range a.UUIDs {
				model := cards[uuid]
				ok := map[string]bool{
					"a100-80":    model == "NVIDIA A100-SXM4-80GB",
					"no-a100":    model == "Tesla T4",
					"t4-or-h100": model == "Tesla T4",
				}[p.Name]
				if !ok {
					t.Errorf("pod %s (%v) got card %s, a %q", p.Name, p.Annotations, uuid, model)
				}
			}
			if p.Name == "no-a100" && p.Spec.NodeName == "gpu-mixed-1" {
				t.Errorf("pod no-a100 went to gpu-mixed-1, which has one card that is no A100")
			}
		}
		cluster.WaitFor(t, 60*time.Second, "FailedScheduling event naming the models", func(ctx context.Context) (bool, string, error) {
			evs, err := cluster.Client.CoreV1().Events(ns).List(ctx, metav1.ListOptions{FieldSelector: "involvedObject.name=b200,reason=FailedScheduling"})
			if err != nil || len(evs.Items) == 0 {
				return false, "no event yet", err
			}
			msg := evs.Items[0].Message
			return strings.Contains(msg, "node has 0 healthy GPU cards of model B200 < 1 asked (its models: 1 NVIDIA A100-SXM4-80GB, 1 Tesla T4)"), msg, nil
		})
		// kubectl zz gpu --fit says the same per node, for the pod that
		// waits and for a request from flags.
		bin := cluster.GoBuild(t, "./plugins/kubectl-zz")
		fit := func(args ...string) []gpushare.NodeFit {
			t.Helper()
			out, err := exec.CommandContext(t.Context(), bin, append([]string{"--kubeconfig", cluster.Kubeconfig, "gpu", "-o", "json"}, args...)...).Output()
			if err != nil {
				t.Fatalf("kubectl zz gpu %v: %v", args, err)
			}
			var list struct{ Items []gpushare.NodeFit }
			if err := json.Unmarshal(out, &list); err != nil {
				t.Fatalf("kubectl zz gpu %v: %v\n%s", args, err, out)
			}
			return list.Items
		}
		fits := fit("--fit", "pod/b200", "-n", ns)
		if len(fits) != 3 {
			t.Errorf("--fit pod/b200 judged %d GPU nodes, want 3: %+v", len(fits), fits)
		}
		for _, f := range fits {
			if f.Fits || !strings.Contains(f.Reason, "node has 0 healthy GPU cards of model B200 < 1 asked") {
				t.Errorf("--fit pod/b200 on %s: %+v", f.Node, f)
			}
		}
		var where []string
		for _, f := range fit("--fit", "1Gi", "--gpu-model", "a100-sxm4-80gb") {
			if f.Fits {
				where = append(where, fmt.Sprint(f.Node, f.Cards))
			}
		}
		if fmt.Sprint(where) != "[gpu-mixed-1[0]]" {
			t.Errorf("--fit 1Gi --gpu-model a100-sxm4-80gb fits %v, want only gpu-mixed-1's card 0", where)
		}

		// Cards by UUID (HAMi's use-gpuuuid / nouse-gpuuuid): a pod pinned
		// to one T4 (its UUID written in lower case) gets that card; one of
		// the 80 GB A100 model that refuses the only such card waits, and
		// says why.
		var t4, a100 string
		for _, uuid := range slices.Sorted(maps.Keys(cards)) {
			switch cards[uuid] {
			case "Tesla T4":
				t4 = cmp.Or(t4, uuid)
			case "NVIDIA A100-SXM4-80GB":
				a100 = uuid
			}
		}
		pinned := pod("pinned", "1", map[string]string{contract.AnnotationGPUCard: strings.ToLower(t4)})
		pinned.Labels["app"] = "gpu-card"
		refusing := pod("a100-not-it", "1", map[string]string{contract.AnnotationGPUModel: "a100-sxm4-80gb", contract.AnnotationGPUCardAvoid: a100})
		refusing.Labels["app"] = "gpu-pending"
		createPods(t, []*corev1.Pod{pinned, refusing})
		got := cluster.RunningPods(t, ns, "app=gpu-card", 1, 60*time.Second)
		if a, err := gpushare.PodAssignment(&got[0]); err != nil || !slices.Equal(a.UUIDs, []string{t4}) {
			t.Errorf("the pod pinned to card %s got %v (%v)", t4, a, err)
		}
		podEvent(t, ns, "a100-not-it", "FailedScheduling", "node has 0 healthy GPU cards of model a100-sxm4-80gb, not card "+a100+" < 1 asked")
		where = nil
		for _, f := range fit("--fit", "1Gi", "--gpu-card", t4) {
			if f.Fits {
				where = append(where, fmt.Sprint(f.Node, f.Cards))
			}
		}
		if len(where) != 1 {
			t.Errorf("--fit 1Gi --gpu-card %s fits %v, want one node", t4, where)
		}
		deleteAllPods(t, ns)
	})

	t.Run("whole cards of any size", func(st *testing.T) { wholeCards(st, t, z) })

	t.Run("killing and restarting the extender loses and doubles nothing", func(t *testing.T) {
		ns := cluster.Namespace(t, nil)
		var pods []*corev1.Pod
		for i := range 80 {
			pods = append(pods, newGPUPod(ns, fmt.Sprintf("r-%02d", i), "2Gi"))
		}
		createPods(t, pods[:40])
		cluster.WaitFor(t, 60*time.Second, "a first batch bound", func(ctx context.Context) (bool, string, error) {
			bound, _, err := boundCount(ctx, ns)
			return bound >= 20, fmt.Sprint(bound, " bound"), err
		})
		z.extender.Kill()
		createPods(t, pods[40:])
		time.Sleep(2 * time.Second) // the scheduler fails against the dead extender
		z.startExtender(t)
		cluster.WaitFor(t, 3*time.Minute, "all 80 pods bound after the restart", func(ctx context.Context) (bool, string, error) {
			bound, total, err := boundCount(ctx, ns)
			return bound == 80, fmt.Sprintf("%d of %d bound", bound, total), err
		})
		use, _ := cardUse(t)
		// The restarted extender rebuilt exactly what the pods' annotations say.
		cluster.WaitFor(t, 30*time.Second, "extender's ledger equal to the annotations", func(ctx context.Context) (bool, string, error) {
			got := z.allocatedMetric(t)
			for uuid, mib := range use {
				if got[uuid] != mib {
					return false, fmt.Sprintf("card %s: ledger %d MiB, annotations %d MiB", uuid, got[uuid], mib), nil
				}
			}
			for uuid, mib := range got {
				if mib != use[uuid] {
					return false, fmt.Sprintf("card %s: ledger %d MiB, annotations %d MiB", uuid, mib, use[uuid]), nil
				}
			}
			return true, "", nil
		})
		deleteAllPods(t, ns)
	})
}

// checkKubectlZZGPU runs "kubectl zz gpu -o json" and checks it shows the
// same allocation as the pods' annotations, and every pod of ns on a card.
func checkKubectlZZGPU(t *testing.T, ns string, use map[string]int64, pods int) {
	t.Helper()
	bin := cluster.GoBuild(t, "./plugins/kubectl-zz")
	out, err := exec.CommandContext(t.Context(), bin, "--kubeconfig", cluster.Kubeconfig, "gpu", "-o", "json").Output()
	if err != nil {
		t.Fatalf("kubectl zz gpu: %v", err)
	}
	var list struct{ Items []gpushare.NodeView }
	if err := json.Unmarshal(out, &list); err != nil {
		t.Fatalf("kubectl zz gpu -o json: %v\n%s", err, out)
	}
	views := list.Items
	seen := 0
	for _, v := range views {
		for _, c := range v.Cards {
			if c.UsedMiB != use[c.UUID] {
				t.Errorf("kubectl zz gpu: card %s shows %d MiB allocated, annotations say %d", c.UUID, c.UsedMiB, use[c.UUID])
			}
			for _, p := range c.Pods {
				if p.Namespace == ns {
					seen++
				}
			}
		}
	}
	if seen != pods {
		t.Errorf("kubectl zz gpu shows %d pods of %s on cards, want %d", seen, ns, pods)
	}
}

// wholeCards: pods asking for whole cards of up to 80 GiB (as nvidia.com/gpu
// gives on a cluster of mixed cards: A100s of 40 and 80 GB, T4s of 15) get
// every card no pod holds, one each, holding all of its memory; the one
// more waits with the reason, and runs once a card is freed. A tenant who
// breaks a bound pod's annotation (theirs to write) makes a restarted
// extender forget no card. The restarted extender belongs to parent, which
// the later subtests share.
func wholeCards(t, parent *testing.T, z *zzScheduler) {
	ns := cluster.Namespace(t, nil)
	inventory := map[string]int64{} // card UUID → MiB
	nodes, err := cluster.Client.CoreV1().Nodes().List(t.Context(), metav1.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	for _, n := range nodes.Items {
		if inv, err := contract.ParseInventory(n.Annotations[contract.AnnotationNodeGPUInventory]); err == nil {
			for _, c := range inv.Cards {
				inventory[c.UUID] = c.MemoryMiB
			}
		}
	}
	small := newGPUPod(ns, "small", "1Gi")
	small.Labels["app"] = "gpu-small"
	createPods(t, []*corev1.Pod{small})
	smallCard := ""
	if a, err := gpushare.PodAssignment(&cluster.RunningPods(t, ns, "app=gpu-small", 1, 60*time.Second)[0]); err == nil {
		smallCard = a.UUIDs[0]
	}
	var pods []*corev1.Pod
	for i := range len(inventory) {
		p := newGPUPod(ns, fmt.Sprintf("whole-%02d", i), "80Gi")
		p.Annotations = map[string]string{contract.AnnotationGPUWhole: "true"}
		pods = append(pods, p)
	}
	createPods(t, pods)
	var running []corev1.Pod
	cluster.WaitFor(t, 90*time.Second, fmt.Sprintf("%d whole-card pods running", len(inventory)-1), func(ctx context.Context) (bool, string, error) {
		l, err := cluster.Client.CoreV1().Pods(ns).List(ctx, metav1.ListOptions{LabelSelector: "app=gpu"})
		if err != nil {
			return false, "", err
		}
		running = slices.DeleteFunc(l.Items, func(p corev1.Pod) bool { return p.Status.Phase != corev1.PodRunning || p.Spec.NodeName == "" })
		return len(running) == len(inventory)-1, fmt.Sprintf("%d running", len(running)), nil
	})
	time.Sleep(2 * time.Second) // the scheduler retries the last one: it must not squeeze in
	taken := map[string]string{}
	for _, p := range running {
		a, err := gpushare.PodAssignment(&p)
		if err != nil {
			t.Fatalf("pod %s: %v", p.Name, err)
		}
		u := a.UUIDs[0]
		if other, ok := taken[u]; ok || u == smallCard || a.MemMiB != inventory[u] {
			t.Errorf("pod %s got card %s (%d MiB of %d; also held by %q, the 1 GiB pod's: %t)", p.Name, u, a.MemMiB, inventory[u], other, u == smallCard)
		}
		taken[u] = p.Name
	}
	var waiting string
	for _, p := range pods {
		if !slices.ContainsFunc(running, func(r corev1.Pod) bool { return r.Name == p.Name }) {
			waiting = p.Name
		}
	}
	podEvent(t, ns, waiting, "FailedScheduling", "no whole card of at most 81920 MiB free (cards no pod holds: 0 of ")
	broken := running[0].Name
	patch := fmt.Appendf(nil, `{"metadata":{"annotations":{%q:"maybe"}}}`, contract.AnnotationGPUWhole)
	if _, err := cluster.Client.CoreV1().Pods(ns).Patch(t.Context(), broken, types.MergePatchType, patch, metav1.PatchOptions{}); err != nil {
		t.Fatal(err)
	}
	// The 1 GiB pod goes while the extender is down: kube-scheduler retries
	// the waiting pod (its calls fail) until the restarted extender answers,
	// whose ledger must still count the broken pod's card.
	z.extender.Kill()
	if err := cluster.Client.CoreV1().Pods(ns).Delete(t.Context(), "small", metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	// Owned by parent: the next subtests need it running.
	z.extender = cluster.Start(parent, "zz-extender", z.extenderBin, append([]string{"--kubeconfig", z.kubeconfig}, z.extenderArgs...)...)
	cluster.WaitHTTP(t, z.extender, z.url("/readyz"), 30*time.Second)
	cluster.WaitFor(t, 90*time.Second, "the last whole-card pod to take the freed card, every card counted whole", func(ctx context.Context) (bool, string, error) {
		p, err := cluster.Client.CoreV1().Pods(ns).Get(ctx, waiting, metav1.GetOptions{})
		if err != nil {
			return false, "", err
		}
		a, err := gpushare.PodAssignment(p)
		if err != nil {
			return false, err.Error(), nil
		}
		if p.Spec.NodeName == "" {
			return false, "not bound yet", nil
		}
		if a.UUIDs[0] != smallCard || a.MemMiB != inventory[smallCard] {
			return false, fmt.Sprintf("it took card %s, not the freed %s: the card of %s, whose annotation broke, was given away", a.UUIDs[0], smallCard, broken), nil
		}
		got := z.allocatedMetric(t)
		for uuid, mib := range inventory {
			if got[uuid] != mib {
				return false, fmt.Sprintf("card %s: %d MiB allocated, want all %d (pod %s has gpu-whole=maybe)", uuid, got[uuid], mib, broken), nil
			}
		}
		return true, "", nil
	})
	deleteAllPods(t, ns)
}
