package e2e

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	policyv1 "k8s.io/api/policy/v1"
	schedulingv1 "k8s.io/api/scheduling/v1"
	storagev1 "k8s.io/api/storage/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/utils/ptr"

	"github.com/zzcloud/zz/internal/contract"
	"github.com/zzcloud/zz/internal/gpushare"
)

// TestGPUPreemption: a GPU pod of higher priority that fits no card gets
// its room from pods of lower priority, which kube-scheduler's own
// preemption cannot do (it sees no GPU memory): the real extender evicts the
// fewest, least important victims through the Eviction API, keeps what they
// free from a lower-priority pod waiting for the same card, and the
// preemptor runs there. A PodDisruptionBudget that allows no disruption, and
// preemptionPolicy Never, leave every victim running, with no eviction tried. The shipped
// policies are installed, so the extender's evictions pass them.
func TestGPUPreemption(t *testing.T) {
	ctx := t.Context()
	// Two 40 GiB cards of a model no other node has, tainted for this
	// test's pods, which name the model.
	node, model := "preempt-gpu", "ZZ-E2E-Preempt-40GB"
	taintedGPUNode(t, node, model)
	installPolicies(t)
	z := startZZScheduler(t)
	ns := cluster.Namespace(t, nil)
	priorityClasses(t, map[string]int32{"zz-e2e-low": 100, "zz-e2e-high": 1000, "zz-e2e-high-never": 1000})
	pod := func(name, class, app string) *corev1.Pod {
		p := ofModel(newGPUPod(ns, name, "40Gi"), model)
		p.Labels["app"] = app
		p.Spec.PriorityClassName = class
		return p
	}
	create := func(p *corev1.Pod) {
		t.Helper()
		if _, err := cluster.Client.CoreV1().Pods(ns).Create(ctx, p, metav1.CreateOptions{}); err != nil {
			t.Fatalf("create %s: %v", p.Name, err)
		}
	}
	// Two low-priority pods fill both cards.
	create(pod("low-a", "zz-e2e-low", "low"))
	create(pod("low-b", "zz-e2e-low", "low"))
	cluster.RunningPods(t, ns, "app=low", 2, 90*time.Second)
	lowsRunning := func(what string) {
		t.Helper()
		pods, err := cluster.Client.CoreV1().Pods(ns).List(ctx, metav1.ListOptions{LabelSelector: "app=low"})
		if err != nil {
			t.Fatal(err)
		}
		for _, p := range pods.Items {
			if p.DeletionTimestamp != nil || p.Status.Phase != corev1.PodRunning {
				t.Fatalf("%s: low-priority pod %s is %s (deleting: %v)", what, p.Name, p.Status.Phase, p.DeletionTimestamp != nil)
			}
		}
		if len(pods.Items) != 2 {
			t.Fatalf("%s: %d low-priority pods, want 2", what, len(pods.Items))
		}
	}
	// preemptionPolicy Never: it waits, nobody is evicted.
	create(pod("never", "zz-e2e-high-never", "never"))
	waitUnschedulable(t, ns, "never")
	lowsRunning("a pod with preemptionPolicy Never waits")
	if err := cluster.Client.CoreV1().Pods(ns).Delete(ctx, "never", metav1.DeleteOptions{GracePeriodSeconds: ptr.To[int64](0)}); err != nil {
		t.Fatal(err)
	}

	// A budget that allows no disruption: the dry run is refused, nothing
	// is evicted.
	pdb := &policyv1.PodDisruptionBudget{ObjectMeta: metav1.ObjectMeta{Name: "low"},
		Spec: policyv1.PodDisruptionBudgetSpec{MinAvailable: ptr.To(intstr.FromInt32(2)),
			Selector: &metav1.LabelSelector{MatchLabels: map[string]string{"app": "low"}}}}
	if _, err := cluster.Client.PolicyV1().PodDisruptionBudgets(ns).Create(ctx, pdb, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	cluster.WaitFor(t, 30*time.Second, "the budget to be observed", func(ctx context.Context) (bool, string, error) {
		b, err := cluster.Client.PolicyV1().PodDisruptionBudgets(ns).Get(ctx, "low", metav1.GetOptions{})
		if err != nil {
			return false, "", err
		}
		return b.Status.ObservedGeneration == b.Generation && b.Status.CurrentHealthy == 2, fmt.Sprintf("%+v", b.Status), nil
	})
	create(pod("guarded", "zz-e2e-high", "guarded"))
	waitUnschedulable(t, ns, "guarded")
	// kubectl zz gpu --fit tells what preemption would evict (without
	// reading budgets: the extender does, and starts nothing here).
	fit := exec.CommandContext(ctx, cluster.GoBuild(t, "./plugins/kubectl-zz"), "--kubeconfig", cluster.Kubeconfig, "-n", ns, "gpu", "--fit", "pod/guarded")
	if out, err := fit.CombinedOutput(); err != nil || !strings.Contains(string(out), "preemption would evict 1 pods of lower priority than 1000") {
		t.Errorf("kubectl zz gpu --fit pod/guarded: %v\n%s", err, out)
	}
	lowsRunning("a budget that allows no disruption holds")
	if m := scrape(t, z.url("/metrics")); !strings.Contains(m, `zz_extender_preemptions_total{result="started"} 0`) {
		t.Errorf("a preemption started against a budget that allows no disruption:\n%s", grepLines(m, "zz_extender_preemptions_total"))
	}
	for _, name := range []string{"guarded"} {
		if err := cluster.Client.CoreV1().Pods(ns).Delete(ctx, name, metav1.DeleteOptions{GracePeriodSeconds: ptr.To[int64](0)}); err != nil {
			t.Fatal(err)
		}
	}
	if err := cluster.Client.PolicyV1().PodDisruptionBudgets(ns).Delete(ctx, "low", metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}

	// A low-priority pod already waits for a card; then the high-priority
	// one comes: one victim goes, and the card it frees is the preemptor's.
	create(pod("low-waiting", "zz-e2e-low", "low-waiting"))
	waitUnschedulable(t, ns, "low-waiting")
	seen := annotationValues(t, ns, "high", contract.AnnotationGPUNomination)
	create(pod("high", "zz-e2e-high", "high"))
	running := cluster.RunningPods(t, ns, "app=high", 1, 90*time.Second)
	if running[0].Spec.NodeName != node {
		t.Fatalf("the preemptor runs on %s, want %s", running[0].Spec.NodeName, node)
	}
	pods, err := cluster.Client.CoreV1().Pods(ns).List(ctx, metav1.ListOptions{LabelSelector: "app=low"})
	if err != nil {
		t.Fatal(err)
	}
	left := 0
	for _, p := range pods.Items {
		if p.DeletionTimestamp == nil {
			left++
		}
	}
	if left != 1 {
		t.Fatalf("%d of the two low-priority pods left; want one evicted (the fewest victims)", left)
	}
	waiting, err := cluster.Client.CoreV1().Pods(ns).Get(ctx, "low-waiting", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if waiting.Spec.NodeName != "" {
		t.Fatalf("the waiting low-priority pod took a card on %s", waiting.Spec.NodeName)
	}
	// The preemption was recorded on the preemptor while it waited, for the
	// other replica and a restart (the shipped policies let the extender
	// write that only), and the record is gone once it is bound.
	nominationRemoved(t, ns, "high")
	recorded := false
	for _, v := range seen() {
		if rec, err := gpushare.ParseNominationRecord(v); err == nil && rec.Node == node {
			recorded = true
		}
	}
	if !recorded {
		t.Errorf("the preemptor never carried a record of its preemption on %s; values seen: %q", node, seen())
	}
	// Events name no other pod: only counts, and the preemptor's UID.
	podEvent(t, ns, "high", contract.ReasonPreempting, "Evicting 1 lower-priority pods on node "+node)
	for _, p := range pods.Items {
		if p.DeletionTimestamp != nil {
			podEvent(t, ns, p.Name, contract.ReasonPreempted, fmt.Sprintf("for pod %s of priority 1000 (> 100)", running[0].UID))
		}
	}
	m := scrape(t, z.url("/metrics"))
	if !strings.Contains(m, `zz_extender_preemptions_total{result="evicted"} 1`) {
		t.Errorf("metrics do not count one finished preemption:\n%s", grepLines(m, "zz_extender_preemptions_total"))
	}
}

// TestSchedulerPreemptionSeesGPUMemory: a GPU pod that is refused for CPU
// on every node of its model goes through kube-scheduler's own preemption,
// whose dry run picks victims for CPU alone, blind to GPU memory. It would
// pick the node whose victim matters least: a node of 16 GiB cards where
// the 40 GiB pod can never run, evicting a pod there for nothing. The
// extender's preempt verb drops that node and, on the node of 40 GiB cards,
// adds the lower-priority GPU pod holding the card to kube-scheduler's CPU
// victim, so one preemption makes the room and the pod runs there; the card
// it frees is kept for the preemptor from a lower-priority pod waiting for it.
func TestSchedulerPreemptionSeesGPUMemory(t *testing.T) {
	ctx := t.Context()
	small, big := "pcpu-small", "pcpu-big"
	taintedNode(t, small, "ZZ-E2E-PCPU-16GB", "4", 2, 16384)
	taintedNode(t, big, "ZZ-E2E-PCPU-40GB", "4", 1, 40960)
	installPolicies(t)
	z := startZZScheduler(t)
	ns := cluster.Namespace(t, nil)
	priorityClasses(t, map[string]int32{"zz-e2e-pcpu-100": 100, "zz-e2e-pcpu-200": 200, "zz-e2e-pcpu-1000": 1000})
	create := func(p *corev1.Pod) *corev1.Pod {
		t.Helper()
		got, err := cluster.Client.CoreV1().Pods(ns).Create(ctx, p, metav1.CreateOptions{})
		if err != nil {
			t.Fatalf("create %s: %v", p.Name, err)
		}
		return got
	}
	withCPU := func(p *corev1.Pod, cpu string) *corev1.Pod {
		c := &p.Spec.Containers[0]
		if c.Resources.Requests == nil {
			c.Resources.Requests = corev1.ResourceList{}
		}
		c.Resources.Requests[corev1.ResourceCPU] = resource.MustParse(cpu)
		return p
	}
	// The 40 GiB card is taken by a GPU pod of priority 100.
	gpuLow := ofModel(newGPUPod(ns, "gpu-low", "40Gi"), "ZZ-E2E-PCPU-40GB")
	gpuLow.Spec.PriorityClassName = "zz-e2e-pcpu-100"
	create(gpuLow)
	cluster.RunningPods(t, ns, "app=gpu", 1, 90*time.Second)
	// Each node's CPU is taken by a pod with no GPU: priority 100 on the
	// small node, 200 on the big one.
	hog := func(name, node, class string) *corev1.Pod {
		p := withCPU(&corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: ns, Labels: map[string]string{"app": "hog"}},
			Spec: corev1.PodSpec{NodeName: node, PriorityClassName: class, TerminationGracePeriodSeconds: ptr.To[int64](0),
				Containers: []corev1.Container{{Name: "app", Image: "registry.local/hog:1"}}}}, "3")
		return create(p)
	}
	hogSmall := hog("hog-small", small, "zz-e2e-pcpu-100")
	hog("hog-big", big, "zz-e2e-pcpu-200")
	cluster.RunningPods(t, ns, "app=hog", 2, 90*time.Second)

	// A GPU pod of priority 100 already waits for that card.
	waiting := ofModel(newGPUPod(ns, "low-waiting", "40Gi"), "ZZ-E2E-PCPU-40GB")
	waiting.Labels["app"] = "low-waiting"
	waiting.Spec.PriorityClassName = "zz-e2e-pcpu-100"
	create(waiting)
	waitUnschedulable(t, ns, "low-waiting")

	// A 40 GiB pod of priority 1000 asking for 2 CPUs, for either model.
	pre := withCPU(ofModel(newGPUPod(ns, "pre", "40Gi"), "ZZ-E2E-PCPU"), "2")
	pre.Labels["app"] = "pre"
	pre.Spec.PriorityClassName = "zz-e2e-pcpu-1000"
	create(pre)
	running := cluster.RunningPods(t, ns, "app=pre", 1, 90*time.Second)
	if running[0].Spec.NodeName != big {
		t.Fatalf("the preemptor runs on %s, want %s", running[0].Spec.NodeName, big)
	}
	// Nobody was evicted on the node of small cards.
	got, err := cluster.Client.CoreV1().Pods(ns).Get(ctx, "hog-small", metav1.GetOptions{})
	if err != nil || got.UID != hogSmall.UID || got.DeletionTimestamp != nil {
		t.Fatalf("hog-small on the node of 16 GiB cards was evicted for a pod that cannot run there: %v", err)
	}
	for _, name := range []string{"hog-big", "gpu-low"} {
		if p, err := cluster.Client.CoreV1().Pods(ns).Get(ctx, name, metav1.GetOptions{}); err == nil && p.DeletionTimestamp == nil {
			t.Errorf("%s still runs on %s; it was to make room for the preemptor", name, p.Spec.NodeName)
		}
	}
	// The card the victim freed was kept for the preemptor: the pod that
	// waited for it still waits, never placed (and so never evicted).
	got, err = cluster.Client.CoreV1().Pods(ns).Get(ctx, "low-waiting", metav1.GetOptions{})
	if err != nil || got.Spec.NodeName != "" {
		t.Fatalf("the lower-priority pod that waited took the card or was evicted (node %q): %v", got.Spec.NodeName, err)
	}
	for _, want := range []string{`zz_extender_preemption_candidates_total{result="dropped"}`, `zz_extender_preemption_candidates_total{result="extended"}`} {
		if v := metricValue(t, z.url("/metrics"), want); v < 1 {
			t.Errorf("%s = %v, want at least 1:\n%s", want, v, grepLines(scrape(t, z.url("/metrics")), "zz_extender_preemption"))
		}
	}
}

// nominationRemoved waits for the extender to remove the preemption record
// from a preemptor it bound.
func nominationRemoved(t *testing.T, ns, name string) {
	t.Helper()
	cluster.WaitFor(t, 30*time.Second, "the preemption record removed from the bound preemptor", func(ctx context.Context) (bool, string, error) {
		p, err := cluster.Client.CoreV1().Pods(ns).Get(ctx, name, metav1.GetOptions{})
		if err != nil {
			return false, "", err
		}
		v, ok := p.Annotations[contract.AnnotationGPUNomination]
		return !ok, v, nil
	})
}

// annotationValues watches pod ns/name from now on and returns what it has
// seen of annotation key so far, in order (every version's value that has
// it).
func annotationValues(t *testing.T, ns, name, key string) func() []string {
	t.Helper()
	return podValues(t, ns, name, func(p *corev1.Pod) (string, bool) {
		v, ok := p.Annotations[key]
		return v, ok
	})
}

// podValues watches pod ns/name from now on and returns, in order, what get
// found in every version of it seen so far.
func podValues(t *testing.T, ns, name string, get func(*corev1.Pod) (string, bool)) func() []string {
	t.Helper()
	w, err := cluster.Client.CoreV1().Pods(ns).Watch(t.Context(), metav1.ListOptions{FieldSelector: "metadata.name=" + name})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(w.Stop)
	var mu sync.Mutex
	var values []string
	go func() {
		for ev := range w.ResultChan() {
			if p, ok := ev.Object.(*corev1.Pod); ok {
				if v, ok := get(p); ok {
					mu.Lock()
					values = append(values, v)
					mu.Unlock()
				}
			}
		}
	}()
	return func() []string {
		mu.Lock()
		defer mu.Unlock()
		return slices.Clone(values)
	}
}

// priorityClasses creates PriorityClasses of these values for the test;
// a name ending in -never does not preempt.
func priorityClasses(t *testing.T, values map[string]int32) {
	t.Helper()
	ctx := t.Context()
	for name, value := range values {
		pc := &schedulingv1.PriorityClass{ObjectMeta: metav1.ObjectMeta{Name: name}, Value: value}
		if strings.HasSuffix(name, "-never") {
			pc.PreemptionPolicy = ptr.To(corev1.PreemptNever)
		}
		if _, err := cluster.Client.SchedulingV1().PriorityClasses().Create(ctx, pc, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() {
			_ = cluster.Client.SchedulingV1().PriorityClasses().Delete(context.WithoutCancel(ctx), name, metav1.DeleteOptions{})
		})
	}
	// The apiserver's Priority admission reads classes from its informer:
	// a pod created right after its class was refused with "no
	// PriorityClass with name" on a loaded machine (a CI flake). A dry-run
	// pod of each class says when admission sees them.
	cluster.WaitFor(t, 30*time.Second, "the PriorityClasses seen by admission", func(ctx context.Context) (bool, string, error) {
		for name := range values {
			pod := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{GenerateName: "pc-probe-"}, Spec: corev1.PodSpec{PriorityClassName: name,
				Containers: []corev1.Container{{Name: "c", Image: "registry.local/pause:1"}}}}
			_, err := cluster.Client.CoreV1().Pods(metav1.NamespaceDefault).Create(ctx, pod, metav1.CreateOptions{DryRun: []string{metav1.DryRunAll}})
			if err != nil && strings.Contains(err.Error(), "no PriorityClass with name") {
				return false, err.Error(), nil
			}
		}
		return true, "", nil
	})
}

// waitUnschedulable waits for kube-scheduler to find pod ns/name
// unschedulable.
func waitUnschedulable(t *testing.T, ns, name string) {
	t.Helper()
	cluster.WaitFor(t, 60*time.Second, name+" to be found unschedulable", func(ctx context.Context) (bool, string, error) {
		p, err := cluster.Client.CoreV1().Pods(ns).Get(ctx, name, metav1.GetOptions{})
		if err != nil {
			return false, "", err
		}
		for _, c := range p.Status.Conditions {
			if c.Type == corev1.PodScheduled && c.Reason == corev1.PodReasonUnschedulable {
				return true, "", nil
			}
		}
		return false, fmt.Sprint(p.Status.Conditions), nil
	})
}

// grepLines keeps the lines of s that contain sub.
func grepLines(s, sub string) string {
	var out []string
	for _, l := range strings.Split(s, "\n") {
		if strings.Contains(l, sub) {
			out = append(out, l)
		}
	}
	return strings.Join(out, "\n")
}

// podEvent waits for an event of reason about pod whose message has sub.
func podEvent(t *testing.T, ns, pod, reason, sub string) {
	t.Helper()
	cluster.WaitFor(t, 30*time.Second, fmt.Sprintf("a %s event on %s", reason, pod), func(ctx context.Context) (bool, string, error) {
		evs, err := cluster.Client.CoreV1().Events(ns).List(ctx, metav1.ListOptions{FieldSelector: "involvedObject.name=" + pod})
		if err != nil {
			return false, "", err
		}
		var seen []string
		for _, e := range evs.Items {
			if e.Reason == reason && strings.Contains(e.Message, sub) {
				return true, "", nil
			}
			seen = append(seen, e.Reason+": "+e.Message)
		}
		return false, strings.Join(seen, " | "), nil
	})
}

// TestGPUPreemptionSurvivesRestart: the extender is killed while a
// preemption waits for its victim (held terminating by a finalizer), and
// started again. The new process restores the nomination from the record on
// the preemptor (zz_extender_preemptions_waiting is 1 again), keeps the card
// the victim frees from a lower-priority pod that waits for it too, and the
// preemptor runs there.
func TestGPUPreemptionSurvivesRestart(t *testing.T) {
	ctx := t.Context()
	node, model := "preempt-restart-gpu", "ZZ-E2E-Restart-40GB"
	taintedGPUNode(t, node, model)
	installPolicies(t)
	z := startZZScheduler(t)
	ns := cluster.Namespace(t, nil)
	low, high := "zz-e2e-restart-low", "zz-e2e-restart-high"
	priorityClasses(t, map[string]int32{low: 100, high: 1000})
	const hold = "zz.io/e2e-hold"
	release := func(name string) {
		_, _ = cluster.Client.CoreV1().Pods(ns).Patch(context.WithoutCancel(ctx), name, types.MergePatchType,
			[]byte(`{"metadata":{"finalizers":null}}`), metav1.PatchOptions{})
	}
	create := func(name, class, app string, finalizer bool) {
		t.Helper()
		p := ofModel(newGPUPod(ns, name, "40Gi"), model)
		p.Labels["app"] = app
		p.Spec.PriorityClassName = class
		if finalizer {
			p.Finalizers = []string{hold}
			t.Cleanup(func() { release(name) })
		}
		if _, err := cluster.Client.CoreV1().Pods(ns).Create(ctx, p, metav1.CreateOptions{}); err != nil {
			t.Fatalf("create %s: %v", name, err)
		}
	}
	// Two low-priority pods fill both cards; evicted, each stays
	// terminating until the test lifts its finalizer.
	create("low-a", low, "low", true)
	create("low-b", low, "low", true)
	cluster.RunningPods(t, ns, "app=low", 2, 90*time.Second)
	create("low-waiting", low, "low-waiting", false)
	waitUnschedulable(t, ns, "low-waiting")
	create("high", high, "high", false)
	var victim string
	cluster.WaitFor(t, 60*time.Second, "a victim evicted and the preemption recorded", func(ctx context.Context) (bool, string, error) {
		pods, err := cluster.Client.CoreV1().Pods(ns).List(ctx, metav1.ListOptions{LabelSelector: "app=low"})
		if err != nil {
			return false, "", err
		}
		for _, p := range pods.Items {
			if p.DeletionTimestamp != nil {
				victim = p.Name
			}
		}
		p, err := cluster.Client.CoreV1().Pods(ns).Get(ctx, "high", metav1.GetOptions{})
		if err != nil {
			return false, "", err
		}
		return victim != "" && p.Annotations[contract.AnnotationGPUNomination] != "", "victim " + victim, nil
	})

	z.extender.Kill()
	z.startExtender(t)
	cluster.WaitFor(t, 30*time.Second, "the restarted extender to restore the preemption", func(context.Context) (bool, string, error) {
		m := scrape(t, z.url("/metrics"))
		return strings.Contains(m, "zz_extender_preemptions_waiting 1"), grepLines(m, "zz_extender_preemptions_waiting"), nil
	})
	// kubectl zz gpu restores the record as the extender does.
	fit := exec.CommandContext(ctx, cluster.GoBuild(t, "./plugins/kubectl-zz"), "--kubeconfig", cluster.Kubeconfig, "-n", ns, "gpu", "--fit", "pod/high")
	if out, err := fit.CombinedOutput(); err != nil || !strings.Contains(string(out), "on node "+node) || !strings.Contains(string(out), "keeps the memory they free for it (1 still terminating)") {
		t.Errorf("kubectl zz gpu --fit pod/high: %v\n%s", err, out)
	}
	release(victim)
	running := cluster.RunningPods(t, ns, "app=high", 1, 90*time.Second)
	if running[0].Spec.NodeName != node {
		t.Fatalf("the preemptor runs on %s, want %s", running[0].Spec.NodeName, node)
	}
	nominationRemoved(t, ns, "high")
	waiting, err := cluster.Client.CoreV1().Pods(ns).Get(ctx, "low-waiting", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if waiting.Spec.NodeName != "" {
		t.Fatalf("the waiting low-priority pod took the card freed for the preemptor, on %s", waiting.Spec.NodeName)
	}
}

// TestGPUPodWithDelayedVolume: a GPU pod whose claim waits for its first
// consumer makes kube-scheduler bind the volume before the pod (PreBind),
// and kube-scheduler names the node in status.nominatedNodeName meanwhile;
// the extender then keeps cards for the pod there (keepNominated), and its
// bind must hand the pod exactly those: the pod runs with one assignment
// and its claim bound.
func TestGPUPodWithDelayedVolume(t *testing.T) {
	ctx := t.Context()
	z := startZZScheduler(t)
	ns := cluster.Namespace(t, nil)
	sc := &storagev1.StorageClass{ObjectMeta: metav1.ObjectMeta{Name: ns + "-wffc"}, Provisioner: "kubernetes.io/no-provisioner",
		VolumeBindingMode: ptr.To(storagev1.VolumeBindingWaitForFirstConsumer)}
	if _, err := cluster.Client.StorageV1().StorageClasses().Create(ctx, sc, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	pv := &corev1.PersistentVolume{
		ObjectMeta: metav1.ObjectMeta{Name: ns + "-models"},
		Spec: corev1.PersistentVolumeSpec{
			Capacity:               corev1.ResourceList{corev1.ResourceStorage: resource.MustParse("1Gi")},
			AccessModes:            []corev1.PersistentVolumeAccessMode{corev1.ReadWriteOnce},
			StorageClassName:       sc.Name,
			PersistentVolumeSource: corev1.PersistentVolumeSource{HostPath: &corev1.HostPathVolumeSource{Path: "/tmp/" + ns}},
		},
	}
	if _, err := cluster.Client.CoreV1().PersistentVolumes().Create(ctx, pv, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx := context.WithoutCancel(ctx)
		_ = cluster.Client.CoreV1().PersistentVolumes().Delete(ctx, pv.Name, metav1.DeleteOptions{})
		_ = cluster.Client.StorageV1().StorageClasses().Delete(ctx, sc.Name, metav1.DeleteOptions{})
	})
	// kube-controller-manager's volume binder reads the class from its
	// informer: a claim it sees before the class is bound at once, as if
	// Immediate, and then the scheduler has nothing to bind.
	time.Sleep(3 * time.Second)
	pvc := &corev1.PersistentVolumeClaim{ObjectMeta: metav1.ObjectMeta{Name: "models", Namespace: ns},
		Spec: corev1.PersistentVolumeClaimSpec{StorageClassName: &sc.Name, AccessModes: []corev1.PersistentVolumeAccessMode{corev1.ReadWriteOnce},
			Resources: corev1.VolumeResourceRequirements{Requests: corev1.ResourceList{corev1.ResourceStorage: resource.MustParse("1Gi")}}}}
	if _, err := cluster.Client.CoreV1().PersistentVolumeClaims(ns).Create(ctx, pvc, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	pod := newGPUPod(ns, "infer", "4Gi")
	pod.Spec.Volumes = []corev1.Volume{{Name: "models", VolumeSource: corev1.VolumeSource{
		PersistentVolumeClaim: &corev1.PersistentVolumeClaimVolumeSource{ClaimName: "models"}}}}
	pod.Spec.Containers[0].VolumeMounts = []corev1.VolumeMount{{Name: "models", MountPath: "/models"}}
	nominated := watchNominatedNode(t, ns, "infer")
	if _, err := cluster.Client.CoreV1().Pods(ns).Create(ctx, pod, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	running := cluster.RunningPods(t, ns, "app=gpu", 1, 90*time.Second)
	p := running[0]
	a, err := gpushare.PodAssignment(&p)
	if err != nil || len(a.UUIDs) != 1 {
		t.Fatalf("the pod runs on %s without one card assigned: %v %v", p.Spec.NodeName, a, err)
	}
	claim, err := cluster.Client.CoreV1().PersistentVolumeClaims(ns).Get(ctx, "models", metav1.GetOptions{})
	if err != nil || claim.Spec.VolumeName != pv.Name {
		t.Fatalf("the claim is not bound to %s: %+v %v", pv.Name, claim, err)
	}
	// kube-scheduler (NominatedNodeNameForExpectation, on by default)
	// named the node while it bound the volume, and the extender kept the
	// cards there for the pod: the bind handed it those.
	if n := nominated(); n != p.Spec.NodeName {
		t.Fatalf("kube-scheduler nominated %q while it bound the volume, the pod runs on %s", n, p.Spec.NodeName)
	}
	log, err := os.ReadFile(z.extender.LogPath)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(log), `"Keeping GPU memory for a pod kube-scheduler nominated a node for" pod="`+ns+`/infer"`) {
		t.Errorf("the extender kept nothing for the nominated pod; its log:\n%s", grepLines(string(log), ns))
	}
}

// watchNominatedNode watches pod ns/name from now on and returns the last
// status.nominatedNodeName it was seen with, if any.
func watchNominatedNode(t *testing.T, ns, name string) func() string {
	t.Helper()
	values := podValues(t, ns, name, func(p *corev1.Pod) (string, bool) {
		return p.Status.NominatedNodeName, p.Status.NominatedNodeName != ""
	})
	return func() string {
		if v := values(); len(v) > 0 {
			return v[len(v)-1]
		}
		return ""
	}
}
